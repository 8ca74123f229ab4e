/* SPDX-License-Identifier: MIT */
/*
 * core-internal.h: what the supervisor's files (supervisor.c, schedule.c,
 * results.c) and the state file (state.c) share, below core.h.
 */
#ifndef CORO_DAEMON_CORE_INTERNAL_H
#define CORO_DAEMON_CORE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "daemon/core/core.h"

struct probe_result;

#define WAIT_CHUNK_MS (3600 * 1000) /* co_cond_timedwait takes an int */
/* The window's p99 is read to 50 us up to 25 ms (the coarse buckets are a third of an octave). */
#define LAG_FINE_US 50
#define LAG_FINE_BUCKETS 500

struct supervisor {
	struct co_sharestack *stacks;
	unsigned nstacks;

	struct job_state **jobs;     /* in definition order; removed ones until reaped */
	size_t njobs, cap;
	size_t nremoved;             /* removed entries still in jobs[] */
	struct job_state **buckets;  /* name hash table (live jobs only) */
	size_t nbuckets, nlive;

	struct co_cond *done;        /* broadcast when a run or a job ends */
	struct job_state *dead;      /* ended coroutines, to release */
	size_t running_coroutines;   /* job coroutines not yet ended */
	uint64_t next_id;
	bool stopping;
	uint64_t rng;
	struct {
		sup_health_fn *fn;
		void *arg;
	} observers[SUP_OBSERVERS_MAX]; /* sup_add_health_observer */
	struct {
		sup_result_fn *fn;
		void *arg;
	} result_observers[SUP_OBSERVERS_MAX]; /* sup_add_result_observer */

	uint64_t runs, failures, skipped;
	size_t nrunning, npaused, ndown; /* live jobs running, paused, down (kept as they change) */
	uint64_t reloads_ok, reloads_failed;
	bool last_reload_ok;
	int64_t last_reload_ms;

	uint64_t lag[LAG_BUCKETS];   /* since start */
	uint64_t lag_sum_us, lag_count;
	uint32_t win_fine[LAG_FINE_BUCKETS]; /* the current window, in steps of LAG_FINE_US ... */
	uint64_t win[LAG_BUCKETS];   /* ... and past LAG_FINE_BUCKETS steps, in the coarse buckets */
	uint64_t win_max_us, win_count, win_start_ms;
	uint64_t prev_p99_us, prev_max_us, prev_count; /* the last full window */
};

/* ---- supervisor.c ------------------------------------------------------- */

/* Points js at a definition of ref's configuration (taking a reference). */
void sup__set_definition(struct job_state *js, const struct job *job, struct cfg_ref *ref);

/* Drops a reference to a configuration; the last frees it. Safe with NULL. */
void sup__cfg_ref_put(struct cfg_ref *r);

/* ---- schedule.c --------------------------------------------------------- */

/* A stable 64-bit hash of a job's name (its phase, its bucket in the table). */
uint64_t sup__name_hash(const char *name);

/* CLOCK_MONOTONIC in microseconds. */
uint64_t sup__mono_us(void);

/* A job's coroutine: its ticks and runs until it is removed or the supervisor stops. */
void *sup__job_main(void *arg);

/* ---- results.c ---------------------------------------------------------- */

/* Records the result of a run (counters, last result, history, health) and logs it. */
void sup__record(struct job_state *js, const struct probe_result *r);

#endif
