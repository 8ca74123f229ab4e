/* SPDX-License-Identifier: MIT */
/*
 * test-supervisor.c: the daemon's jobs as coroutines, on the real event
 * loop and clocks, with exec jobs (/bin/true, /bin/false, /bin/sleep) and
 * tcp jobs to a port where nothing listens (an immediate failure).
 *
 * Each case runs a scenario in a driver coroutine while the loop turns;
 * the loop's function releases ended job coroutines as the daemon does.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coro/coro.h"
#include "daemon/core/core.h"
#include "daemon/probe/probe.h"
#include "tests/unit/tap.h"

static struct supervisor *sup;
static int scenario_done;

static struct config *load(const char *yaml)
{
	struct config *cfg = NULL;
	struct cfg_errors errs;

	if (config_load_buffer("t.yaml", yaml, strlen(yaml), &cfg, &errs))
		tap__fail(__FILE__, __LINE__, "%s", errs.n ? errs.v[0].text : "config");
	cfg_errors_free(&errs);
	return cfg;
}

/* Adds the jobs of yaml as runtime jobs (they start at their first tick). */
static void add_runtime(const char *yaml)
{
	ASSERT_EQ(sup_add(sup, load(yaml), ORIGIN_RUNTIME, NULL, 0), 0);
}

static int loop_fn(void *arg)
{
	(void)arg;
	sup_reap(sup);
	return scenario_done ? -1 : 0;
}

static void *driver(void *arg)
{
	void (*scenario)(void) = (void (*)(void))arg;

	co_enable_hook_sys();
	scenario();
	sup_stop(sup, 2000);
	ASSERT(sup_stopped(sup));
	scenario_done = 1;
	return NULL;
}

/* Runs scenario in a coroutine with a fresh supervisor, then frees everything. */
static void run_scenario(void (*scenario)(void))
{
	struct co *co;
	struct co_attr attr = { 256 * 1024, NULL };

	log_set_level(LOG_ERR);
	sup = sup_new(NULL);
	ASSERT(sup != NULL);
	scenario_done = 0;
	ASSERT_EQ(co_create(&co, &attr, driver, (void *)scenario), 0);
	co_resume(co);
	co_eventloop(co_get_epoll_ct(), loop_fn, NULL);
	co_release(co);
	sup_reap(sup);
	sup_free(sup);
	sup = NULL;
}

static void sleep_ms(int ms)
{
	usleep((useconds_t)ms * 1000); /* hooked: only the driver sleeps */
}

static struct job_state *must_find(const char *name)
{
	struct job_state *js = sup_find(sup, name);

	if (!js)
		tap__fail(__FILE__, __LINE__, "no job %s", name);
	return js;
}

/* ---- schedule ------------------------------------------------------------ */

static void scenario_phase(void)
{
	char yaml[64 * 1024];
	size_t n = 0;
	unsigned per_second[10] = { 0 };

	n += (size_t)snprintf(yaml + n, sizeof yaml - n,
			      "defaults: {type: exec, command: [/bin/true], every: 10s, jitter: 0s}\njobs:\n");
	for (int i = 0; i < 1000; i++)
		n += (size_t)snprintf(yaml + n, sizeof yaml - n, "  - name: job-%d\n", i);
	ASSERT_EQ(sup_apply(sup, load(yaml), NULL, NULL, NULL), 0);
	ASSERT_EQ(sup_count(sup), 1000);
	for (size_t i = 0; i < sup_count(sup); i++) {
		struct job_state *js = sup_job(sup, i);
		int64_t next = job_next_wall_ms(js);

		ASSERT_LT(js->offset_ms, 10000);
		/* The first tick is the next wall-clock time at the job's phase (1 ms of slack). */
		ASSERT_LE(labs((long)(next % 10000) - (long)js->offset_ms) % 9999, 2);
		ASSERT_LE(next - sup_wall_ms(), 10000);
		per_second[js->offset_ms / 1000]++;
	}
	/* A thousand jobs of one interval spread over it: about 100 a second, none crowded. */
	for (int s = 0; s < 10; s++) {
		ASSERT_GT(per_second[s], 60);
		ASSERT_LT(per_second[s], 140);
	}
}

static uint64_t offset_seen;

static void scenario_offset_true(void)
{
	add_runtime("jobs: [{name: job-7, type: exec, command: [/bin/true], every: 10s}]");
	offset_seen = must_find("job-7")->offset_ms;
}

static void scenario_offset_false(void)
{
	add_runtime("jobs: [{name: job-7, type: exec, command: [/bin/false], every: 10s}]");
	/* The phase depends on the name and interval only: the same in another supervisor. */
	ASSERT_EQ(must_find("job-7")->offset_ms, offset_seen);
}

TEST(thousand_jobs_spread_at_stable_phases)
{
	run_scenario(scenario_phase);
	run_scenario(scenario_offset_true);
	run_scenario(scenario_offset_false);
}

static void scenario_every(void)
{
	struct job_state *js;
	uint64_t t0 = sup_mono_ms();

	add_runtime("jobs: [{name: fast, type: exec, command: [/bin/true], "
				    "every: 100ms, timeout: 90ms, jitter: 0s}]");
	sleep_ms(1050);
	js = must_find("fast");
	/* 10 or 11 ticks in 1.05 s (the first somewhere in the first 100 ms). */
	ASSERT_GE(js->runs, 9);
	ASSERT_LE(js->runs, 11);
	ASSERT_EQ(js->by_outcome[OUTCOME_OK], js->runs);
	ASSERT_EQ(js->health, HEALTH_UP);
	ASSERT(sup_mono_ms() - t0 >= 1050);
}

TEST(every_100ms_runs_ten_times_a_second)
{
	run_scenario(scenario_every);
}

/*
 * A run that overruns its interval (retries with delays) skips the ticks
 * it missed instead of running them back to back afterwards.
 */
static void scenario_skip(void)
{
	struct job_state *js;
	int64_t last_end = 0;

	add_runtime("jobs: [{name: slow, type: tcp, target: '127.0.0.1:1', "
				    "every: 100ms, timeout: 50ms, jitter: 0s, retries: 3, "
				    "retry_delay: 100ms}]");
	sleep_ms(2000);
	js = must_find("slow");
	/* Each run takes 300+ ms: at most 7 runs in 2 s, and the missed ticks counted. */
	ASSERT_GE(js->runs, 4);
	ASSERT_LE(js->runs, 7);
	ASSERT_GE(js->skipped, 2 * (js->runs - 1));
	/* Every run made its four attempts (the one in progress, up to four more). */
	ASSERT_GE(js->attempts, 4 * js->runs);
	ASSERT_LE(js->attempts, 4 * js->runs + 4);
	for (unsigned i = 0; i < js->hist_len; i++) {
		const struct run_record *r = job_history(js, i);

		/* No burst: consecutive runs end at least 300 ms apart. */
		if (last_end)
			ASSERT_GE(r->end_ms - last_end, 290);
		last_end = r->end_ms;
		ASSERT_EQ(r->outcome, OUTCOME_FAILED);
	}
	ASSERT_STR_EQ(js->last_error, "connect 127.0.0.1:1: connection refused");
}

TEST(overrun_skips_ticks_instead_of_queueing)
{
	run_scenario(scenario_skip);
}

/* ---- run now, kill, pause ------------------------------------------------ */

static void scenario_run_now(void)
{
	struct job_state *js;

	add_runtime("jobs: [{name: hourly, type: exec, command: [/bin/true], every: 1h},"
				    " {name: bad, type: exec, command: [/bin/false], every: 1h}]");
	ASSERT_EQ(sup_run(sup, "hourly", 5000, &js), 0);
	ASSERT_EQ(js->runs, 1);
	ASSERT(js->has_last);
	ASSERT_EQ(js->last.outcome, OUTCOME_OK);
	ASSERT_EQ(sup_run(sup, "bad", 5000, &js), 0);
	ASSERT_EQ(js->last.outcome, OUTCOME_FAILED);
	ASSERT_STR_EQ(js->last_error, "exit 1");
	ASSERT_EQ(sup_run(sup, "nope", 5000, &js), -ENOENT);
	/* Still on its hourly schedule afterwards. */
	ASSERT_GT(job_next_wall_ms(must_find("hourly")), sup_wall_ms());
}

TEST(run_now_waits_for_the_result)
{
	run_scenario(scenario_run_now);
}

static pid_t child_of(const struct job_state *js)
{
	return js->probe ? js->probe->pid : 0;
}

static void scenario_kill(void)
{
	struct job_state *js;
	uint64_t t0;
	pid_t pid = 0;
	char yaml[] = "jobs: [{name: long, type: exec, command: [/bin/sleep, '30'], every: 1m, "
		      "timeout: 40s}]";

	add_runtime(yaml);
	js = must_find("long");
	js->run_now = true;
	co_cond_signal(js->wake);
	for (int i = 0; i < 200 && !pid; i++) {
		sleep_ms(10);
		pid = child_of(js);
	}
	ASSERT_GT(pid, 0);
	t0 = sup_mono_ms();
	ASSERT_EQ(sup_kill(sup, "long"), 0);
	ASSERT(sup_find(sup, "long") == NULL);
	ASSERT_EQ(sup_kill(sup, "long"), -ENOENT);
	/* The name is free at once: a new job may take it. */
	add_runtime(yaml);
	for (int i = 0; i < 100 && kill(pid, 0) == 0; i++)
		sleep_ms(10);
	ASSERT_NE(kill(pid, 0), 0); /* the child is gone (and reaped: no zombie) */
	ASSERT_LT(sup_mono_ms() - t0, 1000);
}

TEST(kill_aborts_the_run_and_its_child)
{
	run_scenario(scenario_kill);
}

static void scenario_pause(void)
{
	struct job_state *js;
	uint64_t runs;

	add_runtime("jobs: [{name: p, type: exec, command: [/bin/true], every: 100ms, "
				    "timeout: 90ms}]");
	js = must_find("p");
	ASSERT_EQ(sup_pause(sup, "p", true), 0);
	ASSERT_EQ(sup_pause(sup, "p", true), 0);
	struct sup_stats st;
	sup_get_stats(sup, &st);
	ASSERT_EQ(st.jobs_paused, 1);
	sleep_ms(400);
	ASSERT_EQ(js->runs, 0);
	ASSERT_EQ(sup_pause(sup, "p", false), 0);
	sleep_ms(400);
	runs = js->runs;
	ASSERT_GE(runs, 2);
	ASSERT_EQ(sup_pause(sup, "nope", true), -ENOENT);
}

TEST(pause_and_resume)
{
	run_scenario(scenario_pause);
}

/* ---- results ------------------------------------------------------------- */

static void scenario_thresholds(void)
{
	struct job_state *js;

	add_runtime("jobs: [{name: f, type: exec, command: [/bin/false], every: 1h, "
				    "failures_before_down: 2, successes_before_up: 2}]");
	ASSERT_EQ(sup_run(sup, "f", 5000, &js), 0);
	ASSERT_EQ(js->health, HEALTH_UNKNOWN);
	ASSERT_EQ(js->consecutive_failures, 1);
	ASSERT_EQ(sup_run(sup, "f", 5000, &js), 0);
	ASSERT_EQ(js->health, HEALTH_DOWN);
	ASSERT_GT(js->health_since_ms, 0);
	struct sup_stats st;
	sup_get_stats(sup, &st);
	ASSERT_EQ(st.jobs, 1);
	ASSERT_EQ(st.jobs_down, 1);
	ASSERT_EQ(st.runs, 2);
	ASSERT_EQ(st.failures, 2);
	for (int i = 0; i < 25; i++)
		ASSERT_EQ(sup_run(sup, "f", 5000, &js), 0);
	ASSERT_EQ(js->runs, 27);
	ASSERT_EQ(js->hist_len, JOB_HISTORY);
	ASSERT_EQ(js->by_outcome[OUTCOME_FAILED], 27);
	for (unsigned i = 1; i < JOB_HISTORY; i++)
		ASSERT_GE(job_history(js, i)->end_ms, job_history(js, i - 1)->end_ms);
	ASSERT(job_history(js, JOB_HISTORY) == NULL);
}

TEST(thresholds_counters_and_history_ring)
{
	run_scenario(scenario_thresholds);
}

static void scenario_timeout(void)
{
	struct job_state *js;

	add_runtime("jobs: [{name: t, type: exec, command: [/bin/sleep, '5'], every: 1h, "
				    "timeout: 200ms, kill_grace: 100ms}]");
	ASSERT_EQ(sup_run(sup, "t", 5000, &js), 0);
	ASSERT_EQ(js->last.outcome, OUTCOME_TIMEOUT);
	ASSERT_EQ(js->by_outcome[OUTCOME_TIMEOUT], 1);
	ASSERT_STR_EQ(js->last_error, "timeout after 200ms (terminated)");
}

TEST(timeout_counted_as_such)
{
	run_scenario(scenario_timeout);
}

/* ---- reload ------------------------------------------------------------- */

static const char reload_a[] =
	"defaults: {type: exec, every: 1h}\n"
	"jobs:\n"
	"  - {name: same, command: [/bin/true]}\n"
	"  - {name: changed, command: [/bin/true]}\n"
	"  - {name: gone, command: [/bin/sleep, '30'], timeout: 40s}\n";
static const char reload_b[] =
	"defaults: {type: exec, every: 1h}\n"
	"jobs:\n"
	"  - {name: new, command: [/bin/true]}\n"
	"  - {name: same, command: [/bin/true]}\n"
	"  - {name: changed, command: [/bin/false]}\n";

static void scenario_reload(void)
{
	size_t added, changed, removed;
	struct job_state *js;
	uint64_t same_id, changed_id;

	ASSERT_EQ(sup_apply(sup, load(reload_a), &added, &changed, &removed), 0);
	ASSERT_EQ(added, 3);
	ASSERT_EQ(sup_run(sup, "same", 5000, &js), 0);
	ASSERT_EQ(sup_run(sup, "changed", 5000, &js), 0);
	ASSERT_EQ(sup_pause(sup, "changed", true), 0);
	same_id = must_find("same")->id;
	changed_id = must_find("changed")->id;
	/* A runtime job is kept across reloads. */
	add_runtime("jobs: [{name: rt, type: exec, command: [/bin/true], every: 1h}]");
	/* "gone" is mid-run when the reload removes it. */
	js = must_find("gone");
	js->run_now = true;
	co_cond_signal(js->wake);
	sleep_ms(100);
	ASSERT(js->running);

	ASSERT_EQ(sup_apply(sup, load(reload_b), &added, &changed, &removed), 0);
	ASSERT_EQ(added, 1);
	ASSERT_EQ(changed, 1);
	ASSERT_EQ(removed, 1);
	ASSERT(sup_find(sup, "gone") == NULL);
	js = must_find("same");
	ASSERT_EQ(js->id, same_id);
	ASSERT_EQ(js->runs, 1);              /* kept its state */
	js = must_find("changed");
	ASSERT_NE(js->id, changed_id);
	ASSERT_EQ(js->runs, 0);              /* starts over ... */
	ASSERT(js->paused);                  /* ... still paused */
	ASSERT_GT(job_next_wall_ms(js), sup_wall_ms()); /* at its next tick, not at once */
	ASSERT(sup_find(sup, "rt") != NULL);
	ASSERT(sup_find(sup, "new") != NULL);
	/* Adding a name in use is refused, naming it, and adds nothing. */
	char clash[CFG_NAME_MAX + 1] = "";
	ASSERT_EQ(sup_add(sup, load("jobs: [{name: x1, type: exec, command: [/bin/true], every: 1h},"
				    " {name: same, type: exec, command: [/bin/true], every: 1h}]"),
			  ORIGIN_RUNTIME, clash, sizeof clash), -EEXIST);
	ASSERT_STR_EQ(clash, "same");
	ASSERT(sup_find(sup, "x1") == NULL);
}

TEST(reload_keeps_unchanged_restarts_changed_drops_removed)
{
	run_scenario(scenario_reload);
}

/* ---- the state file ----------------------------------------------------- */

static char state_path[64];

static void scenario_state_save(void)
{
	struct job_state *js;

	ASSERT_EQ(sup_apply(sup, load(reload_a), NULL, NULL, NULL), 0);
	for (int i = 0; i < 3; i++)
		ASSERT_EQ(sup_run(sup, "same", 5000, &js), 0);
	ASSERT_EQ(sup_run(sup, "changed", 5000, &js), 0);
	ASSERT_EQ(sup_pause(sup, "same", true), 0);
	ASSERT_EQ(sup_save_state(sup, state_path), 0);
}

static void scenario_state_load(void)
{
	struct job_state *js;

	ASSERT_EQ(sup_apply(sup, load(reload_b), NULL, NULL, NULL), 0);
	ASSERT_EQ(sup_load_state(sup, state_path), 0);
	js = must_find("same");
	ASSERT_EQ(js->runs, 3);
	ASSERT_EQ(js->by_outcome[OUTCOME_OK], 3);
	struct sup_stats st;
	sup_get_stats(sup, &st);
	ASSERT_EQ(st.jobs_paused, 1); /* recounted after the restore */
	ASSERT_EQ(js->hist_len, 3);
	ASSERT_EQ(js->health, HEALTH_UP);
	ASSERT(js->paused);
	ASSERT(js->has_last);
	/* Its definition changed while the daemon was down: nothing restored. */
	ASSERT_EQ(must_find("changed")->runs, 0);
}

TEST(state_file_round_trip)
{
	FILE *f;

	snprintf(state_path, sizeof state_path, "/tmp/test-supervisor-%ld.json", (long)getpid());
	run_scenario(scenario_state_save);
	run_scenario(scenario_state_load);
	/* A damaged file is refused, not trusted. */
	f = fopen(state_path, "w");
	ASSERT(f != NULL);
	fputs("{\"version\": 1, \"jobs\": [", f);
	fclose(f);
	sup = sup_new(NULL);
	ASSERT_EQ(sup_load_state(sup, state_path), -EINVAL);
	sup_free(sup);
	unlink(state_path);
}
