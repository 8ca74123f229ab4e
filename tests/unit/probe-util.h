/* SPDX-License-Identifier: MIT */
/*
 * probe-util.h: what the probe tests share: a job from a YAML string, a
 * run of it in a hooked coroutine on the loop, an optional peer beside it
 * and an optional canceller, and the clock and descriptor count they
 * check. Header-only, for tests/unit/test-probe-*.c.
 */
#ifndef CORO_TESTS_PROBE_UTIL_H
#define CORO_TESTS_PROBE_UTIL_H

#include <dirent.h>
#include <stdarg.h>
#include <stdbool.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/config.h"
#include "coro/coro.h"
#include "daemon/probe/probe.h"
#include "tests/unit/tap.h"

/*
 * The probe under test, called directly rather than through probe_run, so
 * that a test links only its own probe from the daemon library.
 */
#ifndef PT_PROBE
#error "define PT_PROBE (probe_http, probe_exec, ...) before including probe-util.h"
#endif

struct probe_test {
	struct config *cfg;
	struct probe p;
	int ret;                 /* probe_run's */
	int cancel_after_ms;     /* > 0: another coroutine cancels after this */
	bool cancel_twice;       /* and cancels again at once (harmless) */
	co_fn *peer;             /* if set, run beside the probe, not waited for */
	void *peer_arg;
	int finished;            /* coroutines done */
	int total;
	double elapsed;          /* seconds probe_run took */
};

static inline double pt_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline int pt_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	ASSERT(d);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own */
}

/* Loads the one job of yaml (printf-style) into t. */
__attribute__((format(printf, 2, 3)))
static inline void pt_load(struct probe_test *t, const char *fmt, ...)
{
	struct cfg_errors errs = { 0 };
	char yaml[2048];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(yaml, sizeof yaml, fmt, ap);
	va_end(ap);
	rc = config_load_buffer("t.yaml", yaml, strlen(yaml), &t->cfg, &errs);
	if (rc != 0)
		tap__fail(__FILE__, __LINE__, "config: %s", errs.n ? errs.v[0].text : "?");
	cfg_errors_free(&errs);
	ASSERT_EQ(t->cfg->njobs, 1);
	probe_init(&t->p, &t->cfg->jobs[0]);
}

static inline void *pt_run_fn(void *arg)
{
	struct probe_test *t = arg;
	double t0 = pt_now();

	co_enable_hook_sys();
	t->ret = PT_PROBE(&t->p);
	t->elapsed = pt_now() - t0;
	t->finished++;
	return NULL;
}

static inline void *pt_cancel_fn(void *arg)
{
	struct probe_test *t = arg;

	co_enable_hook_sys();
	poll(NULL, 0, t->cancel_after_ms);
	probe_cancel(&t->p);
	if (t->cancel_twice)
		probe_cancel(&t->p);
	t->finished++;
	return NULL;
}

static inline int pt_all_done(void *arg)
{
	struct probe_test *t = arg;

	return t->finished == t->total ? -1 : 0;
}

/*
 * Runs the probe (and the canceller) to the end on this thread's loop. The
 * peer starts first, so that it is waiting when the probe begins; it must
 * be done by the time the probe is, for it is released then.
 */
static inline void pt_run(struct probe_test *t)
{
	struct co *run, *cancel = NULL, *peer = NULL;

	t->total = t->cancel_after_ms > 0 ? 2 : 1;
	if (t->peer) {
		ASSERT_EQ(co_create(&peer, NULL, t->peer, t->peer_arg), 0);
		co_resume(peer);
	}
	ASSERT_EQ(co_create(&run, NULL, pt_run_fn, t), 0);
	if (t->cancel_after_ms > 0)
		ASSERT_EQ(co_create(&cancel, NULL, pt_cancel_fn, t), 0);
	co_resume(run);
	if (cancel)
		co_resume(cancel);
	co_eventloop(co_get_epoll_ct(), pt_all_done, t);
	co_release(run);
	if (cancel)
		co_release(cancel);
	if (peer)
		co_release(peer);
}

/* Frees what pt_load and pt_run made; t is then as new, for another pt_load. */
static inline void pt_done(struct probe_test *t)
{
	probe_result_free(&t->p.result);
	config_free(t->cfg);
	*t = (struct probe_test){ 0 };
}

#endif
