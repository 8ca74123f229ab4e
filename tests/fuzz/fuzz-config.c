/* SPDX-License-Identifier: MIT */
/*
 * fuzz-config: libFuzzer harness for the configuration loader (config/).
 *
 *   make fuzz FUZZ_SECONDS=60        build with clang, ASan and UBSan, and
 *                                    run from tests/fuzz/corpus/config
 *   build/fuzz/fuzz-config FILE...   replay inputs (a crash, a new seed)
 *
 * Each input is one file's contents, given to config_load_buffer() as
 * "fuzz.yaml"; the configuration and the errors are then freed, so that
 * LeakSanitizer sees anything the loader keeps. The input's first line (at
 * most DURATION_MAX bytes) also goes to config_parse_duration() as a
 * NUL-terminated string of its own allocation, so that ASan catches a read
 * past its end.
 *
 * Beyond crashes, leaks and hangs, the harness checks what config.h
 * promises, and aborts (a finding, with a message saying which promise)
 * when one is broken:
 *
 *   - 0 comes with a configuration and no error; a failure with an error
 *     code, no configuration (nothing is half-loaded, and *ret is not
 *     written) and, for -EINVAL, at least one error message;
 *   - at most CFG_MAX_ERRORS messages are kept, n <= total, and each is
 *     "fuzz.yaml:..." with a location that can still be read after the
 *     loader returned (a where.file pointing into freed memory is a
 *     use-after-free for every caller that prints it);
 *   - a loaded configuration is walked in full (every string read to its
 *     end, argv NULL-terminated) and holds the documented ranges: names of
 *     [A-Za-z0-9_.-]{1,64}, unique, found by config_find(); timeout < every;
 *     retries <= 10; thresholds in 1..1000; jitter as a duration or a
 *     percentage, not both; expected HTTP statuses in 100..599; exec
 *     workdirs absolute;
 *   - an accepted duration is the sum its text says (computed here in 128
 *     bits, so a silently wrapped product is caught), at most 100 years,
 *     and config_format_duration() of it parses back to the same value.
 *
 * A failed input of at most AGAIN_MAX bytes is loaded once more with errs
 * NULL (callers that do not want the messages): it must fail the same way.
 * The harness itself keeps no state between inputs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"

/* The longest duration text tried (the input's first line, cut here). */
#define DURATION_MAX 40

/* Failed inputs up to this size are loaded a second time, with errs NULL. */
#define AGAIN_MAX 4096

/* 100 years: a little more than 100 x 365.25 days, whatever the loader counts. */
#define HUNDRED_YEARS_MS (UINT64_C(36525) * 86400 * 1000 + UINT64_C(86400) * 1000)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

__attribute__((noreturn, format(printf, 1, 2)))
static void broken(const char *fmt, ...)
{
	va_list ap;

	fputs("fuzz-config: broken promise: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

/* Reads s to its end, so that ASan checks every byte; NULL allowed. */
static size_t touch(const char *s)
{
	return s ? strlen(s) : 0;
}

static void touch_pairs(const struct cfg_pair *v, size_t n, const char *what)
{
	if (n && !v)
		broken("%zu %s but no array", n, what);
	for (size_t i = 0; i < n; i++) {
		if (!v[i].key || !v[i].value)
			broken("%s %zu has a NULL key or value", what, i);
		touch(v[i].key);
		touch(v[i].value);
	}
}

static int name_ok(const char *name)
{
	size_t len = touch(name);

	if (len < 1 || len > CFG_NAME_MAX)
		return 0;
	return strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			    "0123456789_.-") == len;
}

static void check_job(const struct config *cfg, const struct job *j)
{
	if (!name_ok(j->name))
		broken("job name \"%s\" is not [A-Za-z0-9_.-]{1,64}", j->name ? j->name : "(null)");
	if (config_find(cfg, j->name) != j)
		broken("config_find(\"%s\") does not return the job (a duplicate name?)", j->name);
	if (!j->where.file || j->where.line == 0)
		broken("job \"%s\" has no location", j->name);
	touch(j->where.file);
	if (j->every_ms == 0)
		broken("job \"%s\": every is 0", j->name);
	if (j->timeout_ms >= j->every_ms)
		broken("job \"%s\": timeout %llu ms is not shorter than every %llu ms", j->name,
		       (unsigned long long)j->timeout_ms, (unsigned long long)j->every_ms);
	if (j->jitter_ms && j->jitter_percent)
		broken("job \"%s\": jitter both as a duration and as a percentage", j->name);
	if (j->retries > 10)
		broken("job \"%s\": retries %u > 10", j->name, j->retries);
	if (j->failures_before_down < 1 || j->failures_before_down > 1000 ||
	    j->successes_before_up < 1 || j->successes_before_up > 1000)
		broken("job \"%s\": thresholds %u/%u out of 1..1000", j->name,
		       j->failures_before_down, j->successes_before_up);
	touch_pairs(j->labels, j->nlabels, "labels");

	switch (j->type) {
	case JOB_HTTP:
		if (!touch(j->u.http.url) || !touch(j->u.http.method))
			broken("http job \"%s\" without url or method", j->name);
		touch_pairs(j->u.http.headers, j->u.http.nheaders, "headers");
		touch(j->u.http.body);
		touch(j->u.http.expect_body);
		touch(j->u.http.expect_body_regex);
		if (j->u.http.nexpect_status && !j->u.http.expect_status)
			broken("http job \"%s\": expect_status count without array", j->name);
		for (size_t i = 0; i < j->u.http.nexpect_status; i++) {
			int st = j->u.http.expect_status[i];

			if (st < 100 || st > 599)
				broken("http job \"%s\": expected status %d", j->name, st);
		}
		break;
	case JOB_TCP:
		if (!touch(j->u.tcp.host))
			broken("tcp job \"%s\" without host", j->name);
		touch(j->u.tcp.send);
		touch(j->u.tcp.expect);
		break;
	case JOB_DNS:
		if (!touch(j->u.dns.query) || !touch(j->u.dns.record))
			broken("dns job \"%s\" without query or record", j->name);
		touch(j->u.dns.server_host);
		touch(j->u.dns.expect_rcode);
		touch(j->u.dns.expect_answer);
		break;
	case JOB_EXEC:
		if (j->u.exec.argc < 1 || !j->u.exec.argv)
			broken("exec job \"%s\" without a command", j->name);
		for (size_t i = 0; i < j->u.exec.argc; i++) {
			if (!j->u.exec.argv[i])
				broken("exec job \"%s\": argv[%zu] is NULL before argc", j->name, i);
			touch(j->u.exec.argv[i]);
		}
		if (j->u.exec.argv[j->u.exec.argc])
			broken("exec job \"%s\": argv is not NULL-terminated", j->name);
		touch_pairs(j->u.exec.env, j->u.exec.nenv, "env");
		if (j->u.exec.workdir && j->u.exec.workdir[0] != '/')
			broken("exec job \"%s\": workdir \"%s\" is not absolute", j->name,
			       j->u.exec.workdir);
		break;
	default:
		broken("job \"%s\": type %d is none of the four", j->name, (int)j->type);
	}
	touch(job_type_name(j->type));
}

static void check_config(const struct config *cfg)
{
	if (cfg->njobs && !cfg->jobs)
		broken("%zu jobs but no array", cfg->njobs);
	if (cfg->nfiles != 1 || !cfg->files || strcmp(cfg->files[0], "fuzz.yaml") != 0)
		broken("one buffer read, but %zu files listed", cfg->nfiles);
	touch(cfg->metrics_listen);
	for (size_t i = 0; i < cfg->njobs; i++) {
		check_job(cfg, &cfg->jobs[i]);
		if (strcmp(cfg->jobs[i].where.file, "fuzz.yaml") != 0)
			broken("job \"%s\" placed in \"%s\"", cfg->jobs[i].name,
			       cfg->jobs[i].where.file);
	}
}

static void check_errors(const struct cfg_errors *errs)
{
	if (errs->n > CFG_MAX_ERRORS || errs->n > errs->total)
		broken("%zu errors kept of %zu found (at most %d are kept)", errs->n, errs->total,
		       CFG_MAX_ERRORS);
	if (errs->n && !errs->v)
		broken("%zu errors but no array", errs->n);
	for (size_t i = 0; i < errs->n; i++) {
		const struct cfg_error *e = &errs->v[i];

		if (!e->text || strncmp(e->text, "fuzz.yaml:", 10) != 0)
			broken("error %zu is not \"fuzz.yaml:...\": \"%s\"", i,
			       e->text ? e->text : "(null)");
		/* Read after the loader returned: it must not point into freed memory. */
		touch(e->where.file);
	}
}

/*
 * The value of a duration's text computed here, the way config.h defines
 * it (<number><unit>..., unit ms, s, m, h, d, w), in 128 bits; -1 when the
 * text is not a plain sequence of those (then nothing is compared). The
 * order of the units is the loader's business, not checked here.
 */
static __int128 duration_sum(const char *s)
{
	static const struct {
		const char *unit;
		uint64_t ms;
	} units[] = {
		{ "ms", 1 },       { "s", 1000 },      { "m", 60000 },
		{ "h", 3600000 },  { "d", 86400000 },  { "w", 604800000 },
	};
	__int128 sum = 0;

	if (!*s)
		return -1;
	while (*s) {
		__int128 v = 0;
		int digits = 0;
		size_t k;

		for (; *s >= '0' && *s <= '9'; s++, digits++) {
			if (digits >= 30)
				return -1;
			v = v * 10 + (*s - '0');
		}
		if (!digits)
			return -1;
		for (k = 0; k < sizeof units / sizeof units[0]; k++) {
			size_t len = strlen(units[k].unit);

			if (strncmp(s, units[k].unit, len) == 0 &&
			    !(len == 1 && s[0] == 'm' && s[1] == 's'))
				break;
		}
		if (k == sizeof units / sizeof units[0])
			return -1;
		s += strlen(units[k].unit);
		sum += v * units[k].ms;
	}
	return sum;
}

static void check_duration(const uint8_t *data, size_t size)
{
	char buf[64];
	size_t len = 0;
	uint64_t ms = 0, again = 0;
	__int128 want;
	char *text, *out;
	int rc;

	while (len < size && len < DURATION_MAX && data[len] != '\n')
		len++;
	/* Its own allocation of exactly len + 1 bytes: ASan sees a read past the NUL. */
	text = malloc(len + 1);
	if (!text)
		return;
	memcpy(text, data, len);
	text[len] = '\0';

	rc = config_parse_duration(text, &ms);
	if (rc != 0 && rc != -EINVAL && rc != -ERANGE)
		broken("config_parse_duration(\"%s\") returned %d", text, rc);
	if (rc == 0) {
		if (ms > HUNDRED_YEARS_MS)
			broken("config_parse_duration(\"%s\") accepted %llu ms, past 100 years", text,
			       (unsigned long long)ms);
		want = duration_sum(text);
		if (want >= 0 && want != (__int128)ms)
			broken("config_parse_duration(\"%s\") = %llu ms, expected %llu", text,
			       (unsigned long long)ms, (unsigned long long)want);
		out = config_format_duration(ms, buf, sizeof buf);
		if (out) {
			if (strnlen(out, sizeof buf) >= sizeof buf)
				broken("config_format_duration(%llu) is not NUL-terminated",
				       (unsigned long long)ms);
			if (config_parse_duration(out, &again) != 0 || again != ms)
				broken("%llu ms formats as \"%s\", which parses as %llu",
				       (unsigned long long)ms, out, (unsigned long long)again);
		}
	}
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cfg_errors errs = { 0 };
	struct config *cfg = NULL;
	int rc;

	rc = config_load_buffer("fuzz.yaml", (const char *)data, size, &cfg, &errs);
	check_errors(&errs);
	if (rc == 0) {
		if (!cfg)
			broken("config_load_buffer returned 0 without a configuration");
		if (errs.total)
			broken("config_load_buffer returned 0 with %zu errors", errs.total);
		check_config(cfg);
	} else {
		if (rc > 0)
			broken("config_load_buffer returned %d", rc);
		if (cfg)
			broken("config_load_buffer failed (%d) but stored a configuration", rc);
		if (rc == -EINVAL && errs.total == 0)
			broken("config_load_buffer returned -EINVAL without an error message");
	}
	if (cfg)
		config_free(cfg);
	cfg_errors_free(&errs);

	/*
	 * A failure again without the messages (errs may be NULL): the same
	 * code, and no configuration. Small inputs only, to keep the pace.
	 */
	if (rc != 0 && size <= AGAIN_MAX) {
		int rc2 = config_load_buffer("fuzz.yaml", (const char *)data, size, &cfg, NULL);

		if (rc2 != rc || cfg)
			broken("the same input loaded without errs returned %d (before: %d)%s", rc2,
			       rc, cfg ? " and a configuration" : "");
	}

	check_duration(data, size);
	return 0;
}
