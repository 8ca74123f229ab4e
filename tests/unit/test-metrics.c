/* SPDX-License-Identifier: MIT */
/*
 * test-metrics: the pieces of the /metrics page below its HTTP server
 * (daemon/http/http-internal.h): numbers, label escaping, a job's label set,
 * and whole renders of a real supervisor's jobs - in one piece or a byte
 * at a time, and with jobs removed and added between two steps. The HTTP
 * server itself is tested against the real daemon (tests/bats/metrics.bats).
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "coro/coro.h"
#include "daemon/core/core.h"
#include "daemon/http/http-internal.h"
#include "tests/unit/tap.h"

/* main.c's, which the test does not link. */
uint64_t daemon_rss_bytes(void)
{
	return 12345678;
}

static const char *fmt_scaled(int64_t v, unsigned scale)
{
	static char buf[32];

	buf[metrics__fmt_scaled(buf, v, scale)] = '\0';
	return buf;
}

TEST(numbers)
{
	char buf[32];

	buf[metrics__fmt_u64(buf, 0)] = '\0';
	ASSERT_STR_EQ(buf, "0");
	buf[metrics__fmt_u64(buf, 7)] = '\0';
	ASSERT_STR_EQ(buf, "7");
	buf[metrics__fmt_u64(buf, 10)] = '\0';
	ASSERT_STR_EQ(buf, "10");
	buf[metrics__fmt_u64(buf, 1234567)] = '\0';
	ASSERT_STR_EQ(buf, "1234567");
	buf[metrics__fmt_u64(buf, UINT64_MAX)] = '\0';
	ASSERT_STR_EQ(buf, "18446744073709551615");
	for (uint64_t v = 1; v < UINT64_MAX / 3; v = v * 3 + 1) {
		char want[32];

		snprintf(want, sizeof want, "%llu", (unsigned long long)v);
		buf[metrics__fmt_u64(buf, v)] = '\0';
		ASSERT_STR_EQ(buf, want);
	}
	ASSERT_STR_EQ(fmt_scaled(0, 6), "0");
	ASSERT_STR_EQ(fmt_scaled(1, 6), "0.000001");
	ASSERT_STR_EQ(fmt_scaled(1500000, 6), "1.5");
	ASSERT_STR_EQ(fmt_scaled(12000000, 6), "12");
	ASSERT_STR_EQ(fmt_scaled(123, 6), "0.000123");
	ASSERT_STR_EQ(fmt_scaled(1795694479259, 3), "1795694479.259");
	ASSERT_STR_EQ(fmt_scaled(1795694479050, 3), "1795694479.05");
	ASSERT_STR_EQ(fmt_scaled(-2500, 3), "-2.5");
	ASSERT_STR_EQ(fmt_scaled(INT64_MIN, 3), "-9223372036854775.808");
	ASSERT_STR_EQ(fmt_scaled(4294967295, 6), "4294.967295");
}

static const char *escaped(const char *value)
{
	static struct mbuf b;

	b.len = 0;
	ASSERT(metrics__put_label_value(&b, value));
	metrics__put(&b, "", 1);
	return b.p;
}

TEST(label_escaping)
{
	ASSERT_STR_EQ(escaped(""), "");
	ASSERT_STR_EQ(escaped("plain value, with = and {}"), "plain value, with = and {}");
	ASSERT_STR_EQ(escaped("a\"b"), "a\\\"b");
	ASSERT_STR_EQ(escaped("back\\slash"), "back\\\\slash");
	ASSERT_STR_EQ(escaped("two\nlines\n"), "two\\nlines\\n");
	ASSERT_STR_EQ(escaped("\\\"\n"), "\\\\\\\"\\n");
	ASSERT_STR_EQ(escaped("tab\tand é"), "tab\tand é"); /* the format escapes only those three */
}

static struct config *load(const char *yaml)
{
	struct config *cfg = NULL;
	struct cfg_errors errs = { 0 };
	int r = config_load_buffer("test.yaml", yaml, strlen(yaml), &cfg, &errs);

	if (r < 0)
		tap__fail(__FILE__, __LINE__, "config: %s", errs.n ? errs.v[0].text : "?");
	cfg_errors_free(&errs);
	return cfg;
}

TEST(job_labels)
{
	struct config *cfg = load("jobs:\n"
				  "  - name: api\n    type: tcp\n    target: \"db:5432\"\n    every: 1m\n"
				  "    labels: {team: \"a\\\"b\\\\c\\nd\", result: mine, zone: eu}\n"
				  "  - name: bare\n    type: tcp\n    target: \"db:5432\"\n    every: 1m\n");
	struct job_state js = { 0 };
	struct mbuf b = { 0 };

	js.job = &cfg->jobs[0];
	metrics__put_job_labels(&b, &js);
	metrics__put(&b, "", 1);
	ASSERT_STR_EQ(b.p, "job=\"api\",team=\"a\\\"b\\\\c\\nd\",exported_result=\"mine\",zone=\"eu\"");
	b.len = 0;
	js.job = &cfg->jobs[1];
	metrics__put_job_labels(&b, &js);
	metrics__put(&b, "", 1);
	ASSERT_STR_EQ(b.p, "job=\"bare\"");
	metrics__mbuf_free(&b);
	config_free(cfg);
}

/* ---- whole renders -------------------------------------------------------- */

static struct daemon d;

/* n jobs named PREFIX-i (http for even i, dns for i % 3 == 0, else tcp), every 24h. */
static struct config *jobs(const char *prefix, size_t n)
{
	size_t cap = 256 + n * 160, len = 0;
	char *text = malloc(cap);
	struct config *cfg;

	ASSERT(text);
	len += (size_t)snprintf(text, cap, "defaults: {every: 24h}\njobs:\n");
	for (size_t i = 0; i < n; i++) {
		if (i % 2 == 0)
			len += (size_t)snprintf(text + len, cap - len,
						"  - {name: %s-%zu, type: http, url: \"http://h/\"}\n", prefix, i);
		else if (i % 3 == 0)
			len += (size_t)snprintf(text + len, cap - len,
						"  - {name: %s-%zu, type: dns, query: example.org}\n", prefix, i);
		else
			len += (size_t)snprintf(text + len, cap - len,
						"  - {name: %s-%zu, type: tcp, target: \"h:1\"}\n", prefix, i);
	}
	cfg = load(text);
	free(text);
	return cfg;
}

static void setup(size_t n)
{
	d.sup = sup_new(NULL);
	ASSERT(d.sup);
	d.start_wall_ms = 1795694479259;
	ASSERT_EQ(sup_add(d.sup, jobs("j", n), ORIGIN_FILE, NULL, 0), 0);
	for (size_t i = 0; i < sup_count(d.sup); i++) {
		struct job_state *js = sup_job(d.sup, i);

		if (i % 5 == 4)
			continue; /* never ran */
		js->has_last = true;
		js->last.outcome = i % 5 == 3 ? OUTCOME_TIMEOUT : i % 5 == 2 ? OUTCOME_FAILED : OUTCOME_OK;
		js->last.duration_us = 1500;
		js->last.end_ms = 1795694480000 + (int64_t)i;
		js->by_outcome[js->last.outcome] = 1;
		js->health = i % 5 < 2 ? HEALTH_UP : HEALTH_DOWN;
		js->last_http_status = 200;
	}
}

/* The page in one piece (limit SIZE_MAX) or in steps of at most limit bytes. */
static char *render(size_t limit)
{
	struct metrics_render r;
	struct mbuf b = { 0 };
	bool done;

	metrics__render_begin(&r, &d, 1795694479000);
	do
		done = metrics__render_step(&r, &b, limit == SIZE_MAX ? SIZE_MAX : b.len + limit);
	while (!done);
	metrics__render_end(&r);
	ASSERT(!b.oom);
	metrics__put(&b, "", 1);
	return b.p;
}

static size_t count_lines(const char *page, const char *prefix)
{
	size_t n = 0, len = strlen(prefix);

	for (const char *p = page; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (!strncmp(p, prefix, len))
			n++;
	return n;
}

TEST(render_page)
{
	char *page;

	setup(10);
	page = render(SIZE_MAX);
	/* Each family once, with its help, in one block. */
	ASSERT_EQ(count_lines(page, "# TYPE probe_success gauge\n"), 1);
	ASSERT_EQ(count_lines(page, "# HELP probe_success "), 1);
	ASSERT_EQ(count_lines(page, "# TYPE coro_runner_job_runs_total counter\n"), 1);
	ASSERT_EQ(count_lines(page, "# TYPE coro_runner_loop_lag_seconds histogram\n"), 1);
	ASSERT(strstr(page, "\nprobe_success{job=\"j-0\"} 1\nprobe_success{job=\"j-1\"} 1\n"
			    "probe_success{job=\"j-2\"} 0\nprobe_success{job=\"j-3\"} 0\n"
			    "probe_success{job=\"j-5\"} 1\n"));
	ASSERT(strstr(page, "\nprobe_duration_seconds{job=\"j-0\"} 0.0015\n"));
	ASSERT(strstr(page, "\nprobe_http_status_code{job=\"j-0\"} 200\nprobe_http_status_code{job=\"j-2\"} 200\n"));
	ASSERT(strstr(page, "\nprobe_dns_lookup_time_seconds{job=\"j-3\"} 0.0015\n"));
	ASSERT_EQ(count_lines(page, "probe_dns_lookup_time_seconds{"), 1); /* j-9 never ran */
	ASSERT(strstr(page, "\ncoro_runner_job_runs_total{job=\"j-3\",result=\"ok\"} 0\n"
			    "coro_runner_job_runs_total{job=\"j-3\",result=\"failed\"} 0\n"
			    "coro_runner_job_runs_total{job=\"j-3\",result=\"timeout\"} 1\n"));
	ASSERT(strstr(page, "\ncoro_runner_job_up{job=\"j-1\"} 1\ncoro_runner_job_up{job=\"j-2\"} 0\n"));
	ASSERT_EQ(count_lines(page, "coro_runner_job_up{"), 8); /* unknown health: absent */
	ASSERT_EQ(count_lines(page, "coro_runner_job_skipped_total{"), 10);
	ASSERT(strstr(page, "\ncoro_runner_job_last_run_timestamp_seconds{job=\"j-1\"} 1795694480.001\n"));
	ASSERT(strstr(page, "\ncoro_runner_jobs 10\n"));
	ASSERT(strstr(page, "\nprocess_start_time_seconds 1795694479.259\n"));
	ASSERT(strstr(page, "\nprocess_resident_memory_bytes 12345678\n"));
	ASSERT(strstr(page, "\ncoro_runner_config_last_reload_success_timestamp_seconds 1795694479\n"));
	ASSERT(strstr(page, "\ncoro_runner_loop_lag_seconds_bucket{le=\"+Inf\"} "));
	ASSERT(strstr(page, "\ncoro_runner_loop_lag_seconds_count "));
	/* Pages end with a line feed, and no line is empty. */
	ASSERT_EQ(page[strlen(page) - 1], '\n');
	ASSERT(!strstr(page, "\n\n"));
	free(page);
}

TEST(render_in_steps_is_the_same_page)
{
	char *whole, *steps, *bytes;

	setup(3000);
	whole = render(SIZE_MAX);
	steps = render(4096);
	bytes = render(1);
	/* The switch count and the CPU time move between renders: compare the jobs' part. */
	ASSERT_STR_EQ(strstr(steps, "# HELP probe_success"), strstr(whole, "# HELP probe_success"));
	ASSERT_STR_EQ(strstr(bytes, "# HELP probe_success"), strstr(whole, "# HELP probe_success"));
	ASSERT_EQ(count_lines(whole, "coro_runner_job_skipped_total{"), 3000);
	free(whole);
	free(steps);
	free(bytes);
}

static bool stop_loop;

static int loop_fn(void *arg)
{
	sup_reap(d.sup);
	return stop_loop ? -1 : 0;
}

static void *pause_co(void *arg)
{
	co_poll(NULL, NULL, 0, 50);
	stop_loop = true;
	return NULL;
}

/* Lets the loop run for 50 ms: killed jobs end and are reaped (the list shifts). */
static void run_loop(void)
{
	struct co *co;

	ASSERT_EQ(co_create(&co, NULL, pause_co, NULL), 0);
	stop_loop = false;
	co_resume(co);
	co_eventloop(NULL, loop_fn, NULL);
	co_release(co);
}

TEST(jobs_removed_and_added_during_a_render)
{
	struct metrics_render r;
	struct mbuf b = { 0 };
	size_t before;
	char *page;

	setup(3000);
	metrics__render_begin(&r, &d, 0);
	ASSERT(!metrics__render_step(&r, &b, SIZE_MAX)); /* the first slice of the snapshot */
	/* One job already taken and one not yet go; 10 new ones come. */
	ASSERT_EQ(sup_kill(d.sup, "j-5"), 0);
	ASSERT_EQ(sup_kill(d.sup, "j-2000"), 0);
	before = sup_count(d.sup);
	run_loop();
	ASSERT_EQ(sup_count(d.sup), before - 2);
	ASSERT_EQ(sup_add(d.sup, jobs("new", 10), ORIGIN_FILE, NULL, 0), 0);
	while (!metrics__render_step(&r, &b, SIZE_MAX))
		;
	metrics__render_end(&r);
	metrics__put(&b, "", 1);
	/* Every job taken once: none twice, none of the old missed, none of the new. */
	ASSERT_EQ(count_lines(b.p, "coro_runner_job_skipped_total{"), 2999);
	ASSERT_EQ(count_lines(b.p, "coro_runner_job_skipped_total{job=\"j-5\"}"), 1);
	ASSERT_EQ(count_lines(b.p, "coro_runner_job_skipped_total{job=\"j-2000\"}"), 0);
	ASSERT_EQ(count_lines(b.p, "coro_runner_job_skipped_total{job=\"j-1024\"}"), 1);
	ASSERT_EQ(count_lines(b.p, "coro_runner_job_skipped_total{job=\"new-"), 0);
	metrics__mbuf_free(&b);
	/* The next render has the new ones. */
	page = render(SIZE_MAX);
	ASSERT_EQ(count_lines(page, "coro_runner_job_skipped_total{job=\"new-"), 10);
	free(page);
}
