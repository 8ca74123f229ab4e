/* SPDX-License-Identifier: MIT */
/*
 * persist.c: the files of jobs added with `coctl add` (see persist.h).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "daemon/core/core.h"

/* ---- the YAML text ------------------------------------------------------ */

/*
 * A double-quoted YAML scalar: backslash escapes for the quote, the
 * backslash and control characters; other bytes (valid UTF-8, as the
 * loader checked) as they are.
 */
static void put_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"':  fputs("\\\"", f); break;
		case '\\': fputs("\\\\", f); break;
		case '\n': fputs("\\n", f); break;
		case '\r': fputs("\\r", f); break;
		case '\t': fputs("\\t", f); break;
		default:
			if (*p < 0x20 || *p == 0x7f)
				fprintf(f, "\\x%02x", *p);
			else
				fputc(*p, f);
		}
	}
	fputc('"', f);
}

static void put_key_str(FILE *f, const char *key, const char *value)
{
	if (!value)
		return;
	fprintf(f, "    %s: ", key);
	put_str(f, value);
	fputc('\n', f);
}

static void put_key_duration(FILE *f, const char *key, uint64_t ms)
{
	char buf[64];

	fprintf(f, "    %s: %s\n", key, config_format_duration(ms, buf, sizeof buf));
}

static void put_pairs(FILE *f, const char *key, const struct cfg_pair *p, size_t n)
{
	if (!n)
		return;
	fprintf(f, "    %s:\n", key);
	for (size_t i = 0; i < n; i++) {
		fputs("      ", f);
		put_str(f, p[i].key);
		fputs(": ", f);
		put_str(f, p[i].value);
		fputc('\n', f);
	}
}

/* "host:port", with brackets around an IPv6 address. */
static void put_key_hostport(FILE *f, const char *key, const char *host, unsigned port)
{
	char buf[512];

	snprintf(buf, sizeof buf, strchr(host, ':') ? "[%s]:%u" : "%s:%u", host, port);
	put_key_str(f, key, buf);
}

static void put_type_keys(FILE *f, const struct job *j)
{
	switch (j->type) {
	case JOB_HTTP:
		put_key_str(f, "url", j->u.http.url);
		put_key_str(f, "method", j->u.http.method);
		put_pairs(f, "headers", j->u.http.headers, j->u.http.nheaders);
		put_key_str(f, "body", j->u.http.body);
		if (j->u.http.nexpect_status) {
			fputs("    expect_status: [", f);
			for (size_t i = 0; i < j->u.http.nexpect_status; i++)
				fprintf(f, "%s%d", i ? ", " : "", j->u.http.expect_status[i]);
			fputs("]\n", f);
		}
		put_key_str(f, "expect_body", j->u.http.expect_body);
		put_key_str(f, "expect_body_regex", j->u.http.expect_body_regex);
		fprintf(f, "    tls_verify: %s\n", j->u.http.tls_verify ? "true" : "false");
		fprintf(f, "    follow_redirects: %s\n", j->u.http.follow_redirects ? "true" : "false");
		break;
	case JOB_TCP:
		put_key_hostport(f, "target", j->u.tcp.host, j->u.tcp.port);
		put_key_str(f, "send", j->u.tcp.send);
		put_key_str(f, "expect", j->u.tcp.expect);
		break;
	case JOB_DNS:
		put_key_str(f, "query", j->u.dns.query);
		put_key_str(f, "record", j->u.dns.record);
		if (j->u.dns.server_host)
			put_key_hostport(f, "server", j->u.dns.server_host, j->u.dns.server_port);
		put_key_str(f, "expect_rcode", j->u.dns.expect_rcode);
		put_key_str(f, "expect_answer", j->u.dns.expect_answer);
		break;
	case JOB_EXEC:
		fputs("    command: [", f);
		for (size_t i = 0; i < j->u.exec.argc; i++) {
			if (i)
				fputs(", ", f);
			put_str(f, j->u.exec.argv[i]);
		}
		fputs("]\n", f);
		put_pairs(f, "env", j->u.exec.env, j->u.exec.nenv);
		put_key_str(f, "workdir", j->u.exec.workdir);
		fprintf(f, "    output_limit: %llu\n", (unsigned long long)j->u.exec.output_limit);
		put_key_duration(f, "kill_grace", j->u.exec.kill_grace_ms);
		break;
	}
}

char *persist_job_yaml(const struct job *j)
{
	char *text = NULL, stamp[64];
	size_t len = 0;
	time_t now = time(NULL);
	struct tm tm;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return NULL;
	strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
	fprintf(f, "# Added with 'coctl add' on %s. coro-runnerd writes this file and\n"
		   "# removes it on 'coctl kill %s'; edit it, then 'coctl reload'.\n"
		   "jobs:\n  - name: ", stamp, j->name);
	put_str(f, j->name);
	fprintf(f, "\n    type: %s\n", job_type_name(j->type));
	put_key_duration(f, "every", j->every_ms);
	if (j->jitter_percent)
		fprintf(f, "    jitter: %u%%\n", j->jitter_percent);
	else
		put_key_duration(f, "jitter", j->jitter_ms);
	put_key_duration(f, "timeout", j->timeout_ms);
	fprintf(f, "    retries: %u\n", j->retries);
	put_key_duration(f, "retry_delay", j->retry_delay_ms);
	fprintf(f, "    failures_before_down: %u\n", j->failures_before_down);
	fprintf(f, "    successes_before_up: %u\n", j->successes_before_up);
	put_pairs(f, "labels", j->labels, j->nlabels);
	fprintf(f, "    enabled: %s\n", j->enabled ? "true" : "false");
	if (j->exclusive)
		fprintf(f, "    exclusive: true\n");
	if (j->nnotify) {
		fputs("    notify: [", f);
		for (size_t i = 0; i < j->nnotify; i++) {
			fputs(i ? ", " : "", f);
			put_str(f, j->notify[i]);
		}
		fputs("]\n", f);
	}
	if (j->notify_repeat_ms)
		put_key_duration(f, "notify_repeat", j->notify_repeat_ms);
	put_type_keys(f, j);
	if (ferror(f) | fclose(f)) {
		free(text);
		return NULL;
	}
	return text;
}

/* ---- the files ---------------------------------------------------------- */

char *persist_path(const char *dir, const char *name, char *buf, size_t size)
{
	/*
	 * The loader skips hidden files: a name starting with a dot (".x",
	 * "..") gets an '@', which no job name contains, in front.
	 */
	int n = snprintf(buf, size, "%s/%s%s.yaml", dir, name[0] == '.' ? "@" : "", name);

	return n < 0 || (size_t)n >= size ? NULL : buf;
}

/* Flushes a directory's entries to disk. */
static int sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		r = -errno;
	close(fd);
	return r;
}

/* mkdir -p for the state directory's path. */
static int make_dirs(const char *dir)
{
	char path[4096];
	size_t len = strlen(dir);

	if (len >= sizeof path)
		return -ENAMETOOLONG;
	memcpy(path, dir, len + 1);
	for (char *p = path + 1; ; p++) {
		if (*p == '/' || !*p) {
			char c = *p;

			*p = '\0';
			if (mkdir(path, 0755) < 0 && errno != EEXIST)
				return -errno;
			*p = c;
			if (!c)
				break;
		}
	}
	return 0;
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int persist_write_file(const char *dir, const char *file, const char *text, size_t len,
		       mode_t mode)
{
	char final[4096], tmp[4096];
	int fd, r;

	if (snprintf(final, sizeof final, "%s/%s", dir, file) >= (int)sizeof final ||
	    snprintf(tmp, sizeof tmp, "%s/.%s.XXXXXX", dir, file) >= (int)sizeof tmp)
		return -ENAMETOOLONG;
	r = make_dirs(dir);
	if (r < 0)
		return r;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = write_all(fd, text, len);
	if (r == 0 && fchmod(fd, mode) < 0)
		r = -errno;
	/* A full disk may only show here, when the blocks are allocated. */
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, final) < 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		return r;
	}
	return sync_dir(dir);
}

int persist_write(const char *dir, const char *name, const char *text, size_t len)
{
	char final[4096];

	if (!persist_path(dir, name, final, sizeof final))
		return -ENAMETOOLONG;
	return persist_write_file(dir, final + strlen(dir) + 1, text, len, 0644);
}

int persist_remove(const char *dir, const char *name)
{
	char path[4096];

	if (!persist_path(dir, name, path, sizeof path))
		return -ENAMETOOLONG;
	if (unlink(path) < 0)
		return -errno;
	return sync_dir(dir);
}

bool persist_owns(const char *dir, const char *file)
{
	size_t n = strlen(dir);

	while (n > 1 && dir[n - 1] == '/')
		n--;
	return file && strncmp(file, dir, n) == 0 && file[n] == '/' && !strchr(file + n + 1, '/');
}

/* ".NAME.yaml.XXXXXX", as persist_write makes them. */
static bool is_temp_name(const char *name)
{
	const char *dot = strrchr(name, '.');

	return name[0] == '.' && dot && dot > name + 5 && strlen(dot) == 7 &&
	       strncmp(dot - 5, ".yaml", 5) == 0;
}

int persist_clean(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int removed = 0;

	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((e = readdir(d)) != NULL) {
		if (is_temp_name(e->d_name) && unlinkat(dirfd(d), e->d_name, 0) == 0)
			removed++;
	}
	closedir(d);
	if (removed)
		sync_dir(dir);
	return removed;
}
