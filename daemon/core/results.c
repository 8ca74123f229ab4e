/* SPDX-License-Identifier: MIT */
/*
 * results.c: what the runs leave: a job's counters, last result, history
 * and up/down health (Consul-style thresholds), the daemon's totals, and
 * the event-loop lag histogram with its 10-second windows.
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

#define LAG_WINDOW_MS 10000

/* ---- lag histogram ------------------------------------------------------ */

uint64_t sup_lag_bucket_le_us(unsigned bucket)
{
	/* 25 us * 2^(bucket / 3), rounded; the last bucket is unbounded. */
	static const double third[3] = { 1.0, 1.2599210498948732, 1.5874010519681994 };

	if (bucket >= LAG_BUCKETS - 1)
		return UINT64_MAX;
	return (uint64_t)(25.0 * (double)(1ull << (bucket / 3)) * third[bucket % 3] + 0.5);
}

static unsigned lag_bucket(uint64_t us)
{
	unsigned lo = 0, hi = LAG_BUCKETS - 1;

	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;

		if (us <= sup_lag_bucket_le_us(mid))
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

static void rotate_window(struct supervisor *s, uint64_t now_ms)
{
	uint64_t want = s->win_count - s->win_count / 100, seen = 0;

	s->prev_count = s->win_count;
	s->prev_max_us = s->win_max_us;
	s->prev_p99_us = 0;
	for (unsigned i = 0; i < LAG_FINE_BUCKETS + LAG_BUCKETS && s->win_count; i++) {
		uint64_t le;

		if (i < LAG_FINE_BUCKETS) {
			seen += s->win_fine[i];
			le = (uint64_t)(i + 1) * LAG_FINE_US;
		} else {
			seen += s->win[i - LAG_FINE_BUCKETS];
			le = sup_lag_bucket_le_us(i - LAG_FINE_BUCKETS);
		}
		if (seen >= want) {
			/* A bucket's bound, but never above the largest sample seen. */
			s->prev_p99_us = le < s->win_max_us ? le : s->win_max_us;
			break;
		}
	}
	memset(s->win_fine, 0, sizeof s->win_fine);
	memset(s->win, 0, sizeof s->win);
	s->win_count = 0;
	s->win_max_us = 0;
	s->win_start_ms = now_ms;
}

void sup_note_lag(struct supervisor *s, uint64_t lag_us)
{
	unsigned b = lag_bucket(lag_us);
	uint64_t now = sup_mono_ms();

	if (now - s->win_start_ms >= LAG_WINDOW_MS)
		rotate_window(s, now);
	s->lag[b]++;
	s->lag_sum_us += lag_us;
	s->lag_count++;
	if (lag_us < (uint64_t)LAG_FINE_BUCKETS * LAG_FINE_US)
		s->win_fine[lag_us / LAG_FINE_US]++;
	else
		s->win[b]++;
	s->win_count++;
	if (lag_us > s->win_max_us)
		s->win_max_us = lag_us;
}

const uint64_t *sup_lag_buckets(const struct supervisor *s, uint64_t *ret_sum_us,
				uint64_t *ret_count)
{
	if (ret_sum_us)
		*ret_sum_us = s->lag_sum_us;
	if (ret_count)
		*ret_count = s->lag_count;
	return s->lag;
}

static enum run_outcome outcome_of(const struct probe_result *r)
{
	if (r->ok)
		return OUTCOME_OK;
	if (strncmp(r->error, "timeout", 7) == 0)
		return OUTCOME_TIMEOUT;
	return OUTCOME_FAILED;
}

static void update_health(struct job_state *js, bool ok)
{
	const struct job *job = js->job;
	enum job_health was = js->health;

	if (ok) {
		js->consecutive_failures = 0;
		js->consecutive_successes++;
		if (was != HEALTH_UP && js->consecutive_successes >= job->successes_before_up)
			js->health = HEALTH_UP;
	} else {
		js->consecutive_successes = 0;
		js->consecutive_failures++;
		if (was != HEALTH_DOWN && js->consecutive_failures >= job->failures_before_down)
			js->health = HEALTH_DOWN;
	}
	if (js->health == was)
		return;
	js->sup->ndown += (js->health == HEALTH_DOWN) - (was == HEALTH_DOWN);
	js->health_prev_since_ms = js->health_since_ms;
	js->health_since_ms = sup_wall_ms();
	if (js->health == HEALTH_DOWN)
		log_job(LOG_WARNING, job->name, "down after %u consecutive failure%s",
			js->consecutive_failures, js->consecutive_failures == 1 ? "" : "s");
	else
		log_job(was == HEALTH_DOWN ? LOG_NOTICE : LOG_INFO, job->name, "up");
	for (size_t i = 0; i < SUP_OBSERVERS_MAX; i++)
		if (js->sup->observers[i].fn)
			js->sup->observers[i].fn(js->sup->observers[i].arg, js, was);
}

void sup__record(struct job_state *js, const struct probe_result *r)
{
	struct supervisor *s = js->sup;
	enum run_outcome o = outcome_of(r);
	struct run_record rec = {
		.end_ms = sup_wall_ms(),
		.duration_us = r->duration_us > UINT32_MAX ? UINT32_MAX : (uint32_t)r->duration_us,
		.outcome = (uint8_t)o,
	};

	js->runs++;
	js->by_outcome[o]++;
	s->runs++;
	if (o != OUTCOME_OK)
		s->failures++;
	js->has_last = true;
	js->last = rec;
	free(js->last_error);
	js->last_error = r->ok ? NULL : strdup(r->error);
	js->last_http_status = r->http_status;
	js->last_exit_status = r->exit_status;
	if (js->hist_len < JOB_HISTORY)
		js->history[(js->hist_start + js->hist_len++) % JOB_HISTORY] = rec;
	else {
		js->history[js->hist_start] = rec;
		js->hist_start = (uint8_t)((js->hist_start + 1) % JOB_HISTORY);
	}
	if (r->output_len || r->output_truncated)
		log_output(js->job->name, r->output, r->output_len, r->output_truncated);
	log_result(js->job->name, run_outcome_name(o), r->duration_us, r->ok ? NULL : r->error);
	for (size_t i = 0; i < SUP_OBSERVERS_MAX; i++)
		if (s->result_observers[i].fn)
			s->result_observers[i].fn(s->result_observers[i].arg, js);
	update_health(js, r->ok);
}
void sup_note_reload(struct supervisor *s, bool ok)
{
	if (ok)
		s->reloads_ok++;
	else
		s->reloads_failed++;
	s->last_reload_ok = ok;
	s->last_reload_ms = sup_wall_ms();
}

void sup_set_health(struct job_state *js, enum job_health health, int64_t since_ms,
		    unsigned consecutive_failures, unsigned consecutive_successes)
{
	if (!js->removed)
		js->sup->ndown += (health == HEALTH_DOWN) - (js->health == HEALTH_DOWN);
	js->health = health;
	js->health_since_ms = since_ms;
	js->consecutive_failures = consecutive_failures;
	js->consecutive_successes = consecutive_successes;
}

void sup_recount(struct supervisor *s)
{
	s->npaused = s->ndown = 0;
	for (size_t i = 0; i < s->njobs; i++) {
		const struct job_state *js = s->jobs[i];

		if (js->removed)
			continue;
		s->npaused += js->paused;
		s->ndown += js->health == HEALTH_DOWN;
	}
}

/* O(1): called every second for STATUS=, and by every stats request. */
void sup_get_stats(const struct supervisor *s, struct sup_stats *ret)
{
	memset(ret, 0, sizeof *ret);
	ret->jobs = s->nlive;
	ret->jobs_running = s->nrunning;
	ret->jobs_paused = s->npaused;
	ret->jobs_down = s->ndown;
	ret->runs = s->runs;
	ret->failures = s->failures;
	ret->skipped = s->skipped;
	ret->sharestacks = s->nstacks;
	ret->lag_p99_us = s->prev_p99_us;
	ret->lag_max_us = s->prev_max_us;
	ret->lag_samples = s->prev_count;
	ret->reloads_ok = s->reloads_ok;
	ret->reloads_failed = s->reloads_failed;
	ret->last_reload_ok = s->last_reload_ok;
	ret->last_reload_ms = s->last_reload_ms;
}

const struct run_record *job_history(const struct job_state *js, unsigned i)
{
	if (i >= js->hist_len)
		return NULL;
	return &js->history[(js->hist_start + i) % JOB_HISTORY];
}

const char *job_health_name(enum job_health h)
{
	switch (h) {
	case HEALTH_UP:
		return "up";
	case HEALTH_DOWN:
		return "down";
	default:
		return "unknown";
	}
}

const char *run_outcome_name(enum run_outcome o)
{
	switch (o) {
	case OUTCOME_OK:
		return "ok";
	case OUTCOME_TIMEOUT:
		return "timeout";
	default:
		return "failed";
	}
}
