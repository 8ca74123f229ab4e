/* SPDX-License-Identifier: MIT */
/*
 * load.c: loading (SPEC §4): the main file, then each drop-in
 * directory's *.yaml files in byte order, each read whole and handed to
 * validate.c; and the rest of the API of config.h.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config-internal.h"

/* ---- files -------------------------------------------------------------- */

/* The name errors give a file: kept with the configuration. */
static const char *keep_file(struct load *ld, const char *path)
{
	struct config *c = &ld->cfg->pub;
	char **v = realloc(c->files, (c->nfiles + 1) * sizeof *v);

	if (!v)
		return NULL;
	c->files = v;
	v[c->nfiles] = cfg__keep(ld, path);
	return v[c->nfiles] ? v[c->nfiles++] : NULL;
}

static int load_file(struct load *ld, const char *path, bool main)
{
	const char *name = keep_file(ld, path);
	struct stat st;
	char *data;
	size_t got = 0;
	int fd, err = 0;

	if (!name)
		return -ENOMEM;
	ld->ctx.file = name;
	ld->ctx.job = NULL;
	if (main) /* until it is read: then jobs' `notify` are not checked */
		ld->notifiers_bad = true;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		cfg__error_at(&ld->ctx, 0, 0, "cannot open: %s", strerror(errno));
		return 0;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		cfg__error_at(&ld->ctx, 0, 0, "not a regular file");
		close(fd);
		return 0;
	}
	if ((uint64_t)st.st_size > CFG_MAX_FILE_BYTES) {
		cfg__error_at(&ld->ctx, 0, 0, "the file is %lld bytes, more than the %u a configuration "
					      "file may have", (long long)st.st_size, CFG_MAX_FILE_BYTES);
		close(fd);
		return 0;
	}
	data = malloc((size_t)st.st_size + 1);
	if (!data) {
		close(fd);
		return -ENOMEM;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, data + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n < 0)
				cfg__error_at(&ld->ctx, 0, 0, "cannot read: %s", strerror(errno));
			break;
		}
		got += (size_t)n;
	}
	close(fd);
	if (got == (size_t)st.st_size)
		err = cfg__load_text(ld, name, data, got, main);
	free(data);
	return err;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every *.yaml of dir, in byte order; a missing directory is no error. */
static int load_dir(struct load *ld, const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **names = NULL;
	size_t n = 0, cap = 0;
	int err = 0;

	if (!d) {
		int why = errno;

		if (why != ENOENT) {
			ld->ctx.file = keep_file(ld, dir);
			if (!ld->ctx.file)
				return -ENOMEM;
			cfg__error_at(&ld->ctx, 0, 0, "cannot read the directory: %s", strerror(why));
		}
		return 0;
	}
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);

		if (e->d_name[0] == '.' || len < 6 || strcmp(e->d_name + len - 5, ".yaml") != 0)
			continue;
		if (n == cap) {
			char **v = realloc(names, (cap = cap ? 2 * cap : 16) * sizeof *v);

			if (!v) {
				err = -ENOMEM;
				break;
			}
			names = v;
		}
		if (asprintf(&names[n], "%s/%s", dir, e->d_name) < 0) {
			err = -ENOMEM;
			break;
		}
		n++;
	}
	closedir(d);
	if (!err && n)
		qsort(names, n, sizeof *names, by_name);
	for (size_t i = 0; i < n; i++) {
		if (!err)
			err = load_file(ld, names[i], false);
		free(names[i]);
	}
	free(names);
	return err;
}

/* ---- the API ------------------------------------------------------------ */

/* check_notify: whether jobs' `notify` must name notifiers of the main file. */
static struct load *load_begin(struct cfg_errors *errs, bool check_notify)
{
	struct load *ld = calloc(1, sizeof *ld);

	if (!ld)
		return NULL;
	ld->cfg = calloc(1, sizeof *ld->cfg);
	if (!ld->cfg) {
		free(ld);
		return NULL;
	}
	if (errs)
		memset(errs, 0, sizeof *errs);
	ld->ctx.errs = errs;
	ld->check_notify = check_notify;
	return ld;
}

static int load_end(struct load *ld, int err, struct config **ret)
{
	struct config_full *c = ld->cfg;

	if (!err)
		cfg__check_web_listen(ld);
	cfg__sort_errors(ld->ctx.errs);
	if (!err && ld->ctx.nerrors)
		err = -EINVAL;
	cfg__arena_free(&ld->main_tree);
	cfg__arena_free(&ld->ctx.arena);
	free(ld->notifier_names);
	free(ld);
	free(c->names);
	c->names = NULL;
	if (err) {
		config_free(&c->pub);
		*ret = NULL;
		return err;
	}
	*ret = &c->pub;
	return 0;
}

int config_load(const char *main_file, const char *const *dirs, size_t ndirs,
		struct config **ret, struct cfg_errors *errs)
{
	struct load *ld = load_begin(errs, true);
	int err = 0;

	*ret = NULL;
	if (!ld)
		return -ENOMEM;
	if (main_file)
		err = load_file(ld, main_file, true);
	for (size_t i = 0; i < ndirs && !err; i++)
		err = load_dir(ld, dirs[i]);
	return load_end(ld, err, ret);
}

int config_load_files(const char *const *files, size_t nfiles, struct config **ret,
		      struct cfg_errors *errs)
{
	struct load *ld = load_begin(errs, true);
	int err = 0;

	*ret = NULL;
	if (!ld)
		return -ENOMEM;
	for (size_t i = 0; i < nfiles && !err; i++)
		err = load_file(ld, files[i], i == 0);
	return load_end(ld, err, ret);
}

int config_load_buffer(const char *name, const char *data, size_t len, struct config **ret,
		       struct cfg_errors *errs)
{
	struct load *ld = load_begin(errs, false);
	const char *kept;
	int err;

	*ret = NULL;
	if (!ld)
		return -ENOMEM;
	kept = keep_file(ld, name ? name : "-");
	if (!kept)
		err = -ENOMEM;
	else if (len > CFG_MAX_FILE_BYTES) {
		ld->ctx.file = kept;
		cfg__error_at(&ld->ctx, 0, 0, "more than the %u bytes a configuration file may have",
			      CFG_MAX_FILE_BYTES);
		err = 0;
	} else {
		err = cfg__load_text(ld, kept, data, len, true);
	}
	return load_end(ld, err, ret);
}

void config_free(struct config *cfg)
{
	struct config_full *c = (struct config_full *)cfg;

	if (!cfg)
		return;
	cfg__arena_free(&c->arena);
	free(c->pub.jobs);
	free(c->pub.notifiers);
	free(c->pub.files);
	free(c->names);
	free(c);
}

const struct job *config_find(const struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->njobs; i++)
		if (strcmp(cfg->jobs[i].name, name) == 0)
			return &cfg->jobs[i];
	return NULL;
}
