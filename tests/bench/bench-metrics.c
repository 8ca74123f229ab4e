/* SPDX-License-Identifier: MIT */
/*
 * bench-metrics: the /metrics page of 10k and 100k jobs (issue 8; goal:
 * under 100 ms for 100k jobs, without stalling the jobs).
 *
 *   bench-metrics [RUNS]      (default 7 runs of each measure)
 *
 * A real supervisor is filled with N jobs (from a generated configuration;
 * every 24h so that they sit still), each given a last result and
 * counters as if it had run. Then, for each N:
 *
 * - render: the whole page into one buffer with the daemon's renderer,
 *   timed and measured in bytes; interleaved (A B A B) with the baseline,
 *   the same per-job samples written with snprintf and "%g" values, the
 *   obvious way; the ratio is ours / snprintf's;
 * - scrape: the daemon's HTTP server (metrics_configure) on loopback, and
 *   a client thread that GETs /metrics and reads it all, timed from
 *   connect to the last byte; meanwhile a coroutine on the loop sleeps
 *   1 ms again and again and records how late it wakes (the lag any job
 *   timer would see); the same is measured with no scrape going on.
 *
 * Output: a table, then BENCH lines (names stable across commits).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/bench/bench.h"

#include "config/config.h"
#include "coro/coro.h"
#include "daemon/core/core.h"
#include "daemon/http/http-internal.h"
#include "daemon/http/http.h"

/* main.c's, which the benchmark does not link. */
uint64_t daemon_rss_bytes(void)
{
	return (uint64_t)bench_status_kb("VmRSS") * 1024;
}

static int runs = 7;
static bool finished;
static struct supervisor *current; /* reaped by the loop function, as main.c does */

struct result {
	double render_ms[BENCH_RUNS_MAX], printf_ms[BENCH_RUNS_MAX], scrape_ms[BENCH_RUNS_MAX];
	double bytes, scrape_bytes;
	double lag_idle_max_ms, lag_scrape_max_ms, lag_scrape_p99_ms;
};

static struct result results[2];
static const size_t sizes[2] = { 10000, 100000 };

static struct config *make_config(size_t n)
{
	size_t cap = n * 120 + 256, len = 0;
	char *text = malloc(cap);
	struct config *cfg = NULL;
	struct cfg_errors errs = { 0 };

	if (!text)
		bench_die("out of memory");
	len += (size_t)snprintf(text, cap, "defaults:\n  every: 24h\n  timeout: 5s\n"
				"  labels: {team: web, env: prod}\njobs:\n");
	for (size_t i = 0; i < n; i++) {
		if (i % 4 == 0)
			len += (size_t)snprintf(text + len, cap - len,
						"  - {name: job-%zu, type: http, url: \"http://127.0.0.1:1/\"}\n", i);
		else
			len += (size_t)snprintf(text + len, cap - len,
						"  - {name: job-%zu, type: tcp, target: \"127.0.0.1:1\"}\n", i);
	}
	if (config_load_buffer("bench.yaml", text, len, &cfg, &errs) < 0)
		bench_die("generated configuration refused: %s", errs.n ? errs.v[0].text : "?");
	cfg_errors_free(&errs);
	free(text);
	return cfg;
}

/* Gives every job a last result and counters, as if it had run a while. */
static void fill(struct supervisor *sup)
{
	int64_t now = sup_wall_ms();

	for (size_t i = 0; i < sup_count(sup); i++) {
		struct job_state *js = sup_job(sup, i);

		js->has_last = true;
		js->last.outcome = i % 10 ? OUTCOME_OK : OUTCOME_FAILED;
		js->last.duration_us = (uint32_t)(1234 + i * 7);
		js->last.end_ms = now - (int64_t)(i % 30000);
		js->by_outcome[OUTCOME_OK] = 1000 + i;
		js->by_outcome[OUTCOME_FAILED] = i % 97;
		js->by_outcome[OUTCOME_TIMEOUT] = i % 13;
		js->runs = js->by_outcome[0] + js->by_outcome[1] + js->by_outcome[2];
		js->consecutive_failures = i % 10 ? 0 : 3;
		js->health = i % 10 ? HEALTH_UP : HEALTH_DOWN;
		js->last_http_status = js->job->type == JOB_HTTP ? 200 : 0;
	}
}

/* The baseline: the per-job samples the obvious way, snprintf into a growing buffer. */
static size_t render_printf(struct supervisor *sup, struct mbuf *b)
{
	static const char *const names[] = { "probe_success", "probe_duration_seconds",
					     "probe_http_status_code", "coro_runner_job_runs_total",
					     "coro_runner_job_consecutive_failures",
					     "coro_runner_job_up", "coro_runner_job_skipped_total",
					     "coro_runner_job_last_run_timestamp_seconds" };
	char line[1024], labels[512];

	b->len = 0;
	for (size_t f = 0; f < sizeof names / sizeof *names; f++) {
		for (size_t i = 0; i < sup_count(sup); i++) {
			const struct job_state *js = sup_job(sup, i);
			const struct job *j = js->job;
			int n = 0, ln = snprintf(labels, sizeof labels, "job=\"%s\"", j->name);

			for (size_t k = 0; k < j->nlabels; k++)
				ln += snprintf(labels + ln, sizeof labels - (size_t)ln, ",%s=\"%s\"",
					       j->labels[k].key, j->labels[k].value);
			switch (f) {
			case 0:
				n = snprintf(line, sizeof line, "%s{%s} %d\n", names[f], labels,
					     js->last.outcome == OUTCOME_OK);
				break;
			case 1:
				n = snprintf(line, sizeof line, "%s{%s} %g\n", names[f], labels,
					     js->last.duration_us / 1e6);
				break;
			case 2:
				if (j->type == JOB_HTTP)
					n = snprintf(line, sizeof line, "%s{%s} %d\n", names[f], labels,
						     js->last_http_status);
				break;
			case 3:
				for (int o = 0; o < OUTCOME_COUNT; o++)
					n += snprintf(line + n, sizeof line - (size_t)n,
						      "%s{%s,result=\"%s\"} %llu\n", names[f], labels,
						      run_outcome_name((enum run_outcome)o),
						      (unsigned long long)js->by_outcome[o]);
				break;
			case 4:
				n = snprintf(line, sizeof line, "%s{%s} %u\n", names[f], labels,
					     js->consecutive_failures);
				break;
			case 5:
				n = snprintf(line, sizeof line, "%s{%s} %d\n", names[f], labels,
					     js->health == HEALTH_UP);
				break;
			case 6:
				n = snprintf(line, sizeof line, "%s{%s} %llu\n", names[f], labels,
					     (unsigned long long)js->skipped);
				break;
			default:
				n = snprintf(line, sizeof line, "%s{%s} %.3f\n", names[f], labels,
					     js->last.end_ms / 1e3);
			}
			metrics__put(b, line, (size_t)n);
		}
	}
	return b->len;
}

static size_t render_ours(struct daemon *d, struct mbuf *b)
{
	struct metrics_render r;

	b->len = 0;
	metrics__render_begin(&r, d, d->start_wall_ms);
	while (!metrics__render_step(&r, b, SIZE_MAX))
		;
	metrics__render_end(&r);
	if (b->oom)
		bench_die("out of memory rendering");
	return b->len;
}

/* ---- the scrape: a client thread, and a lag probe on the loop ----------- */

struct scrape {
	int port;
	atomic_bool done;
	double ms;
	size_t bytes;
};

static void *client_thread(void *arg)
{
	struct scrape *sc = arg;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)sc->port) };
	static const char req[] = "GET /metrics HTTP/1.1\r\nHost: bench\r\n\r\n";
	static char buf[1 << 16];
	double t0 = bench_now_ns();
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ssize_t n;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sc->bytes = 0;
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
	    write(fd, req, sizeof req - 1) != (ssize_t)(sizeof req - 1))
		bench_die("scrape: %s", strerror(errno));
	while ((n = read(fd, buf, sizeof buf)) > 0)
		sc->bytes += (size_t)n;
	sc->ms = (bench_now_ns() - t0) / 1e6;
	close(fd);
	atomic_store(&sc->done, true);
	return NULL;
}

/* Sleeps 1 ms at a time until *stop (or for ms if stop is NULL); returns the lags seen. */
static size_t lag_probe(atomic_bool *stop, double ms, double *lag, size_t cap)
{
	double start = bench_now_ns();
	size_t n = 0;

	while (stop ? !atomic_load(stop) : bench_now_ns() - start < ms * 1e6) {
		double t0 = bench_now_ns();

		co_poll(NULL, NULL, 0, 1);
		if (n < cap)
			lag[n++] = (bench_now_ns() - t0) / 1e6 - 1.0;
	}
	return n;
}

static struct bench_stats stats(const double *v)
{
	return bench_stats_of(v, runs > 1 ? runs : 1);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof sa;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
		bench_die("free port: %s", strerror(errno));
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

static void scrape_runs(struct daemon *d, struct result *res)
{
	static double lag[200000];
	char addr[64];
	size_t n;
	struct scrape sc;

	snprintf(addr, sizeof addr, "127.0.0.1:%d", free_port());
	if (metrics_configure(d, addr) < 0)
		bench_die("metrics_configure %s failed", addr);
	sc.port = atoi(strchr(addr, ':') + 1);

	n = lag_probe(NULL, 300, lag, sizeof lag / sizeof *lag);
	qsort(lag, n, sizeof *lag, cmp_double);
	res->lag_idle_max_ms = n ? lag[n - 1] : 0;

	res->lag_scrape_max_ms = res->lag_scrape_p99_ms = 0;
	for (int i = 0; i < runs; i++) {
		pthread_t t;

		atomic_store(&sc.done, false);
		if (pthread_create(&t, NULL, client_thread, &sc) != 0)
			bench_die("pthread_create failed");
		n = lag_probe(&sc.done, 0, lag, sizeof lag / sizeof *lag);
		pthread_join(t, NULL);
		res->scrape_ms[i] = sc.ms;
		res->scrape_bytes = (double)sc.bytes;
		qsort(lag, n, sizeof *lag, cmp_double);
		if (n && lag[n - 1] > res->lag_scrape_max_ms)
			res->lag_scrape_max_ms = lag[n - 1];
		if (n && lag[n * 99 / 100] > res->lag_scrape_p99_ms)
			res->lag_scrape_p99_ms = lag[n * 99 / 100];
	}
	metrics_stop(d);
}

static void *driver(void *arg)
{
	for (int s = 0; s < 2; s++) {
		struct daemon d = { 0 };
		struct result *res = &results[s];
		struct mbuf b = { 0 }, pb = { 0 };

		d.sup = sup_new(NULL);
		d.start_wall_ms = sup_wall_ms();
		d.start_mono_ms = sup_mono_ms();
		if (!d.sup || sup_add(d.sup, make_config(sizes[s]), ORIGIN_FILE, NULL, 0) < 0)
			bench_die("cannot set up %zu jobs", sizes[s]);
		current = d.sup;
		fill(d.sup);
		for (int i = 0; i < runs; i++) {
			double t0 = bench_now_ns();

			res->bytes = (double)render_ours(&d, &b);
			res->render_ms[i] = (bench_now_ns() - t0) / 1e6;
			t0 = bench_now_ns();
			render_printf(d.sup, &pb);
			res->printf_ms[i] = (bench_now_ns() - t0) / 1e6;
		}
		metrics__mbuf_free(&b);
		metrics__mbuf_free(&pb);
		scrape_runs(&d, res);
		sup_stop(d.sup, 5000);
		/* A coroutine cannot release itself: the loop function reaps them. */
		co_poll(NULL, NULL, 0, 10);
		current = NULL;
		sup_reap(d.sup);
		sup_free(d.sup);
	}
	finished = true;
	return NULL;
}

static int loop_fn(void *arg)
{
	if (current)
		sup_reap(current);
	return finished ? -1 : 0;
}

int main(int argc, char **argv)
{
	struct co *co;
	struct co_attr attr = { .stack_size = 256 << 10 };

	if (argc > 1)
		runs = (int)bench_count(argv[1], "RUNS");
	if (runs > BENCH_RUNS_MAX)
		runs = BENCH_RUNS_MAX;
	if (co_create(&co, &attr, driver, NULL) < 0)
		bench_die("co_create failed");
	co_resume(co);
	co_eventloop(NULL, loop_fn, NULL);
	co_release(co);

	printf("%-8s %12s %12s %8s %12s %8s %12s %10s %10s %10s\n", "jobs", "render ms",
	       "bytes", "MB/s", "snprintf ms", "ratio", "scrape ms", "lag idle", "lag p99",
	       "lag max");
	for (int s = 0; s < 2; s++) {
		struct result *r = &results[s];
		struct bench_stats rs = stats(r->render_ms);
		struct bench_stats ps = stats(r->printf_ms);
		struct bench_stats ss = stats(r->scrape_ms);

		printf("%-8zu %5.1f (%4.1f-%4.1f) %12.0f %8.0f %12.1f %8.2f %5.1f (%4.0f) %10.2f %10.2f %10.2f\n",
		       sizes[s], rs.med, rs.min, rs.max, r->bytes, r->bytes / rs.med / 1e3, ps.med,
		       rs.med / ps.med, ss.med, ss.max, r->lag_idle_max_ms, r->lag_scrape_p99_ms,
		       r->lag_scrape_max_ms);
	}
	printf("(render: the whole page into memory, median (min-max) of %d runs; snprintf: the\n"
	       " per-job samples the obvious way, ratio ours/snprintf; scrape: GET over loopback,\n"
	       " median (max); lag: ms late of a 1 ms sleep on the loop, idle vs during scrapes)\n",
	       runs);
	for (int s = 0; s < 2; s++) {
		struct result *r = &results[s];
		const char *k = s ? "100k" : "10k";
		char name[64];

		snprintf(name, sizeof name, "metrics_render_%s_ms", k);
		bench_headline(name, stats(r->render_ms).med, 2, "ms");
		snprintf(name, sizeof name, "metrics_render_%s_bytes", k);
		bench_headline(name, r->bytes, 0, "bytes");
		snprintf(name, sizeof name, "metrics_render_%s_vs_snprintf", k);
		bench_headline(name, stats(r->render_ms).med /
				     stats(r->printf_ms).med, 2, "ratio");
		snprintf(name, sizeof name, "metrics_scrape_%s_ms", k);
		bench_headline(name, stats(r->scrape_ms).med, 2, "ms");
		snprintf(name, sizeof name, "metrics_scrape_lag_max_%s_ms", k);
		bench_headline(name, r->lag_scrape_max_ms, 2, "ms");
		snprintf(name, sizeof name, "metrics_idle_lag_max_%s_ms", k);
		bench_headline(name, r->lag_idle_max_ms, 2, "ms");
	}
	return 0;
}
