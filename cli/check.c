/* SPDX-License-Identifier: MIT */
/*
 * check.c: `coctl check [-c FILE] [-d DIR]... [FILE...]`, the offline
 * validation of job configuration, like `nginx -t`: it loads the files with
 * the daemon's own loader (config/) and either prints one summary line on
 * stdout (with the fleet member it would join as, if any) and exits 0, or prints every error on stderr, one per line, and
 * exits 1. It needs no daemon and changes nothing.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/coctl.h"
#include "config/config.h"

/* Where the daemon looks by default (shared/SPEC.md section 4.1). */
#define DEFAULT_MAIN_FILE "/etc/coro-runner/jobs.yaml"
static const char *const default_dirs[] = {
	"/etc/coro-runner/jobs.d",      /* drop-ins, by the administrator */
	"/var/lib/coro-runner/jobs.d",  /* jobs added with `coctl add` */
};

static void print_check_help(void)
{
	printf("Usage: coctl check [-c FILE] [-d DIR]...\n"
	       "       coctl check FILE...\n"
	       "\n"
	       "Validate job configuration without the daemon, and change nothing.\n"
	       "\n"
	       "With no FILE, check what the daemon would load: the main file\n"
	       "  %s, then the *.yaml files of\n"
	       "  %s and %s,\n"
	       "  each directory in lexical order (a missing directory is skipped).\n"
	       "With FILEs, check those; the first is read as the main file and the\n"
	       "  others as its drop-ins.\n"
	       "\n"
	       "Options:\n"
	       "  -c, --config FILE  the main file instead of %s\n"
	       "  -d, --dir DIR      a drop-in directory; repeat for more. Given once or\n"
	       "                     more, these replace the default directories\n"
	       "  -h, --help         show this help and exit\n"
	       "\n"
	       "Valid: exit 0 and one summary line on stdout. Invalid: exit 1 and\n"
	       "every error as FILE:LINE:COLUMN: message on stderr. Usage errors: exit 2.\n",
	       DEFAULT_MAIN_FILE, default_dirs[0], default_dirs[1], DEFAULT_MAIN_FILE);
}

static void errors_freep(struct cfg_errors *errs)
{
	cfg_errors_free(errs);
}

static void config_freep(struct config **cfg)
{
	config_free(*cfg);
}

static const char *plural(size_t n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

/*
 * The length of the file name an error's text starts with ("FILE:LINE:COLUMN:
 * message", or "FILE: message" for a whole file), or 0 if there is none.
 *
 * This reads the text rather than where.file, which points into the
 * configuration's storage: config_load frees that when it fails, which is
 * exactly when there are errors to report.
 */
static size_t error_file_len(const struct cfg_error *e)
{
	char tail[48];
	const char *at;

	if (e->where.line)
		snprintf(tail, sizeof(tail), ":%u:%u: ", e->where.line, e->where.column);
	else
		snprintf(tail, sizeof(tail), ": ");
	at = strstr(e->text, tail);
	return at ? (size_t)(at - e->text) : 0;
}

/* How many different files the listed errors name. */
static size_t count_error_files(const struct cfg_errors *errs)
{
	size_t nfiles = 0;

	for (size_t i = 0; i < errs->n; i++) {
		size_t len = error_file_len(&errs->v[i]), j;

		if (!len)
			continue;
		for (j = 0; j < i; j++)
			if (error_file_len(&errs->v[j]) == len &&
			    memcmp(errs->v[j].text, errs->v[i].text, len) == 0)
				break;
		if (j == i)
			nfiles++;
	}
	return nfiles;
}

/* Prints the errors, one per line, and a last line that counts them. */
static void report_errors(const struct cfg_errors *errs, int ret)
{
	size_t total = errs->total > errs->n ? errs->total : errs->n;
	size_t nfiles = count_error_files(errs);

	for (size_t i = 0; i < errs->n; i++)
		fprintf(stderr, "%s\n", errs->v[i].text);

	if (total > 0) {
		fprintf(stderr, "coctl: %zu %s", total, plural(total, "error", "errors"));
		if (nfiles > 0)
			fprintf(stderr, " in %zu %s", nfiles, plural(nfiles, "file", "files"));
		if (total > errs->n)
			fprintf(stderr, " (%zu more than the %zu listed)", total - errs->n, errs->n);
		fputc('\n', stderr);
	}
	/* -EINVAL is what the errors above say; anything else (out of memory)
	 * stopped the loader and is said here. */
	if (total == 0 || ret != -EINVAL)
		fprintf(stderr, "coctl: cannot load the configuration: %s\n", strerror(-ret));
}

/*
 * One line: the counts, and for a fleet member the name it joins as (the
 * host name unless `member:` says otherwise: worth seeing before a start).
 */
static void report_ok(const struct config *cfg)
{
	const struct cfg_fleet *f = cfg->fleet;
	size_t enabled = 0;
	char ttl[32];

	for (size_t i = 0; i < cfg->njobs; i++)
		enabled += cfg->jobs[i].enabled;
	printf("coctl: configuration OK: %zu %s, %zu %s (%zu enabled)",
	       cfg->nfiles, plural(cfg->nfiles, "file", "files"),
	       cfg->njobs, plural(cfg->njobs, "job", "jobs"), enabled);
	if (f)
		printf("; fleet member %s, %zu etcd %s, prefix %s, ttl %s", f->member, f->netcd,
		       plural(f->netcd, "endpoint", "endpoints"), f->prefix,
		       config_format_duration(f->ttl_ms, ttl, sizeof ttl));
	putchar('\n');
}

int cmd_check(int argc, char **argv)
{
	static const struct option options[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "dir",    required_argument, NULL, 'd' },
		{ "help",   no_argument,       NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	_cleanup_(errors_freep) struct cfg_errors errs = { 0 };
	_cleanup_(config_freep) struct config *cfg = NULL;
	/* -d options: at most argc of them, so no growing. */
	_cleanup_(freep) const char **dirs = calloc((size_t)argc, sizeof(*dirs));
	const char *main_file = NULL;
	size_t ndirs = 0;
	int c, ret;

	if (!dirs) {
		fputs("coctl: check: out of memory\n", stderr);
		return EXIT_FAILED;
	}
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":c:d:h", options, NULL)) != -1) {
		switch (c) {
		case 'c':
			if (!*optarg)
				return usage_error("check", "check: -c needs a file name");
			if (main_file)
				return usage_error("check", "check: give -c once: there is one main file");
			main_file = optarg;
			break;
		case 'd':
			if (!*optarg)
				return usage_error("check", "check: -d needs a directory name");
			dirs[ndirs++] = optarg;
			break;
		case 'h':
			print_check_help();
			return EXIT_OK;
		default:
			return option_error("check", c, argv);
		}
	}

	if (optind < argc) {
		if (main_file || ndirs)
			return usage_error("check", "check: give FILEs, or -c and -d, not both");
		ret = config_load_files((const char *const *)argv + optind, (size_t)(argc - optind),
					&cfg, &errs);
	} else {
		const char *const *use_dirs = ndirs ? dirs : default_dirs;
		size_t use_ndirs = ndirs ? ndirs : sizeof(default_dirs) / sizeof(default_dirs[0]);

		ret = config_load(main_file ? main_file : DEFAULT_MAIN_FILE, use_dirs, use_ndirs,
				  &cfg, &errs);
	}

	if (ret < 0 || !cfg) {
		report_errors(&errs, ret < 0 ? ret : -EINVAL);
		return EXIT_FAILED;
	}
	report_ok(cfg);
	return EXIT_OK;
}
