/* SPDX-License-Identifier: MIT */
/*
 * schedule.c: a job's coroutine, its ticks on the timing wheel (each wait
 * is a co_cond_timedwait on the job's own condition variable, so a kill, a
 * `coctl run` or a stop wakes it at once) and its runs with their retries.
 *
 * Ticks are at wall-clock times t with t mod every == offset, where the
 * offset is a hash of the job's name. Two daemons (or two starts of one)
 * put a job at the same phase, and a thousand jobs with one interval
 * spread over it. The first tick is located on the wall clock; from then
 * on ticks advance on CLOCK_MONOTONIC, so a clock step does not make a
 * burst. Each tick gets a fresh jitter on top. After a run, every tick
 * whose time has passed is skipped (counted, not queued).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "coro/coro.h"
#include "daemon/core/core-internal.h"
#include "daemon/probe/probe.h"

/* ---- clocks, hashing, randomness --------------------------------------- */

uint64_t sup_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int64_t sup_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t sup__mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

uint64_t sup__name_hash(const char *name)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		h ^= *p;
		h *= 0x100000001b3ull;
	}
	return mix64(h);
}

static uint64_t next_rand(struct supervisor *s)
{
	s->rng += 0x9e3779b97f4a7c15ull;
	return mix64(s->rng);
}

/* ---- one job's life ----------------------------------------------------- */

static uint64_t jitter_of(struct supervisor *s, const struct job *job)
{
	uint64_t span = job->jitter_ms;

	if (job->jitter_percent)
		span = job->every_ms * job->jitter_percent / 100;
	if (span >= job->every_ms)
		span = job->every_ms ? job->every_ms - 1 : 0;
	return span ? next_rand(s) % (span + 1) : 0;
}

/* The first tick: the next wall-clock time at the job's phase, as a monotonic time. */
static void schedule_first(struct job_state *js)
{
	const struct job *job = js->job;
	uint64_t every = job->every_ms ? job->every_ms : 1;
	int64_t wall = sup_wall_ms();
	uint64_t now = sup_mono_ms();
	uint64_t w = wall > 0 ? (uint64_t)wall : 0;
	uint64_t phase = w % every;
	uint64_t wait = js->offset_ms > phase ? js->offset_ms - phase
					      : every - (phase - js->offset_ms);

	js->base_ms = now + wait;
	js->next_ms = js->base_ms + jitter_of(js->sup, job);
}

/* After a run (or a skipped tick): the next tick still ahead; the passed ones are skipped. */
static void schedule_next(struct job_state *js, bool count_skips)
{
	const struct job *job = js->job;
	uint64_t every = job->every_ms ? job->every_ms : 1;
	uint64_t now = sup_mono_ms();

	js->base_ms += every;
	if (js->base_ms <= now) {
		uint64_t missed = (now - js->base_ms) / every + 1;

		js->base_ms += missed * every;
		if (count_skips) {
			js->skipped += missed;
			js->sup->skipped += missed;
		}
	}
	js->next_ms = js->base_ms + jitter_of(js->sup, job);
}
/*
 * Sleeps until deadline_ms (0: until woken); returns early when woken.
 * The wait is counted from the current millisecond rounded up, as the
 * wheel counts it (co_cond_timedwait never fires early), so that the
 * timer is due at deadline_ms itself rather than a millisecond later.
 */
static void wait_until(struct job_state *js, uint64_t deadline_ms)
{
	uint64_t now_us = sup__mono_us(), now_up = (now_us + 999) / 1000;
	uint64_t ms;

	if (deadline_ms && deadline_ms * 1000 <= now_us)
		return;
	ms = !deadline_ms ? WAIT_CHUNK_MS : deadline_ms > now_up ? deadline_ms - now_up : 1;
	if (ms > WAIT_CHUNK_MS)
		ms = WAIT_CHUNK_MS;
	co_cond_timedwait(js->wake, (int)ms);
}

/*
 * One run: the probe, and its retries while it fails. Not inlined, so
 * that its frame (the probe and its result, about half a KiB) is off the
 * stack while the job sleeps: a parked job saves only job_main's frame.
 */
__attribute__((noinline))
static void run_once(struct job_state *js)
{
	struct probe p;
	int rc;

	js->running = true;
	js->sup->nrunning++;
	for (unsigned attempt = 0;; attempt++) {
		probe_init(&p, js->job);
		js->probe = &p;
		rc = probe_run(&p);
		js->probe = NULL;
		js->attempts++;
		if (rc < 0 || js->removed) {
			/* Cancelled (kill, reload, stop): no result to record. */
			probe_result_free(&p.result);
			break;
		}
		if (p.result.ok || attempt >= js->job->retries) {
			sup__record(js, &p.result);
			probe_result_free(&p.result);
			break;
		}
		log_job(LOG_INFO, js->job->name, "attempt %u failed: %s; retrying", attempt + 1,
			p.result.error);
		probe_result_free(&p.result);
		uint64_t until = sup_mono_ms() + js->job->retry_delay_ms;
		while (!js->removed && sup_mono_ms() < until)
			wait_until(js, until);
		if (js->removed)
			break;
	}
	js->running = false;
	js->sup->nrunning--;
	co_cond_broadcast(js->sup->done);
}

static bool tick_due(const struct job_state *js, uint64_t now)
{
	return js->job->enabled && js->next_ms && now >= js->next_ms;
}

void *sup__job_main(void *arg)
{
	struct job_state *js = arg;
	struct supervisor *s = js->sup;

	co_enable_hook_sys();
	schedule_first(js);
	while (!js->removed && !s->stopping) {
		uint64_t now = sup_mono_ms();

		if (js->run_now) {
			js->run_now = false;
			run_once(js);
		} else if (tick_due(js, now)) {
			uint64_t late_us = sup__mono_us() - js->next_ms * 1000;

			sup_note_lag(s, late_us);
			if (!js->paused)
				run_once(js);
			if (js->removed || s->stopping)
				break;
			schedule_next(js, !js->paused);
		} else {
			wait_until(js, js->job->enabled ? js->next_ms : 0);
			continue;
		}
		if (js->next_job) {
			/* A reload found an equal definition: take it now that no run uses the old one. */
			sup__set_definition(js, js->next_job, js->next_cfg);
			sup__cfg_ref_put(js->next_cfg);
			js->next_job = NULL;
			js->next_cfg = NULL;
		}
		if (js->next_ms && js->next_ms <= sup_mono_ms())
			schedule_next(js, !js->paused);
	}
	js->ended = true;
	js->dnext = s->dead;
	s->dead = js;
	s->running_coroutines--;
	co_cond_broadcast(s->done);
	return NULL;
}
int64_t job_next_wall_ms(const struct job_state *js)
{
	if (!js->next_ms || !js->job->enabled || js->removed)
		return 0;
	return sup_wall_ms() + ((int64_t)js->next_ms - (int64_t)sup_mono_ms());
}
