/*
 * supervisor.c: every job a coroutine on a pool of shared stacks, its
 * schedule on the timing wheel (each wait is a co_cond_timedwait on the
 * job's own condition variable, so a kill, a `coctl run` or a stop wakes
 * it at once), its results and counters.
 *
 * Schedule: ticks are at wall-clock times t with t mod every == offset,
 * where the offset is a hash of the job's name. Two daemons (or two
 * starts of one) put a job at the same phase, and a thousand jobs with
 * one interval spread over it. The first tick is located on the wall
 * clock; from then on ticks advance on CLOCK_MONOTONIC, so a clock step
 * does not make a burst. Each tick gets a fresh jitter on top. After a
 * run, every tick whose time has passed is skipped (counted, not queued).
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
#include "daemon/log.h"
#include "daemon/supervisor.h"

#define DEFAULT_SHARESTACKS 16
#define DEFAULT_STACK_SIZE (256 * 1024)
#define LAG_WINDOW_MS 10000
/* The window's p99 is read to 50 us up to 25 ms (the coarse buckets are a third of an octave). */
#define LAG_FINE_US 50
#define LAG_FINE_BUCKETS 500
#define WAIT_CHUNK_MS (3600 * 1000) /* co_cond_timedwait takes an int */

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

static uint64_t mono_us(void)
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

static uint64_t name_hash(const char *name)
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

/* ---- the table of jobs -------------------------------------------------- */

static struct job_state **bucket_of(const struct supervisor *s, const char *name)
{
	return &s->buckets[name_hash(name) & (s->nbuckets - 1)];
}

struct job_state *sup_find(struct supervisor *s, const char *name)
{
	if (!s->nbuckets)
		return NULL;
	for (struct job_state *js = *bucket_of(s, name); js; js = js->hnext)
		if (strcmp(js->job->name, name) == 0)
			return js;
	return NULL;
}

static int table_grow(struct supervisor *s)
{
	size_t n = s->nbuckets ? s->nbuckets * 2 : 64;
	struct job_state **b = calloc(n, sizeof *b);

	if (!b)
		return -ENOMEM;
	for (size_t i = 0; i < s->nbuckets; i++) {
		struct job_state *js = s->buckets[i], *next;

		for (; js; js = next) {
			struct job_state **head = &b[name_hash(js->job->name) & (n - 1)];

			next = js->hnext;
			js->hnext = *head;
			*head = js;
		}
	}
	free(s->buckets);
	s->buckets = b;
	s->nbuckets = n;
	return 0;
}

static void table_unlink(struct supervisor *s, struct job_state *js)
{
	for (struct job_state **pp = bucket_of(s, js->job->name); *pp; pp = &(*pp)->hnext) {
		if (*pp == js) {
			*pp = js->hnext;
			js->hnext = NULL;
			s->nlive--;
			return;
		}
	}
}

size_t sup_count(const struct supervisor *s)
{
	return s->njobs;
}

struct job_state *sup_job(const struct supervisor *s, size_t i)
{
	return i < s->njobs ? s->jobs[i] : NULL;
}

/* ---- definitions and their configurations ------------------------------ */

static struct cfg_ref *cfg_ref_new(struct config *cfg)
{
	struct cfg_ref *r = malloc(sizeof *r);

	if (!r)
		return NULL;
	r->cfg = cfg;
	r->refs = 1; /* the caller's, dropped with cfg_ref_put when done with it */
	return r;
}

static void cfg_ref_put(struct cfg_ref *r)
{
	if (r && --r->refs == 0) {
		config_free(r->cfg);
		free(r);
	}
}

static void set_definition(struct job_state *js, const struct job *job, struct cfg_ref *ref)
{
	ref->refs++;
	cfg_ref_put(js->cfg);
	js->job = job;
	js->cfg = ref;
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
	js->health_since_ms = sup_wall_ms();
	if (js->health == HEALTH_DOWN)
		log_job(LOG_WARNING, job->name, "down after %u consecutive failure%s",
			js->consecutive_failures, js->consecutive_failures == 1 ? "" : "s");
	else
		log_job(was == HEALTH_DOWN ? LOG_NOTICE : LOG_INFO, job->name, "up");
}

static void record(struct job_state *js, const struct probe_result *r)
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
	update_health(js, r->ok);
}

/*
 * Sleeps until deadline_ms (0: until woken); returns early when woken.
 * The wait is counted from the current millisecond rounded up, as the
 * wheel counts it (co_cond_timedwait never fires early), so that the
 * timer is due at deadline_ms itself rather than a millisecond later.
 */
static void wait_until(struct job_state *js, uint64_t deadline_ms)
{
	uint64_t now_us = mono_us(), now_up = (now_us + 999) / 1000;
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
			record(js, &p.result);
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

static void *job_main(void *arg)
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
			uint64_t late_us = mono_us() - js->next_ms * 1000;

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
			set_definition(js, js->next_job, js->next_cfg);
			cfg_ref_put(js->next_cfg);
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

static void job_free(struct job_state *js)
{
	if (!js)
		return;
	co_cond_free(js->wake);
	cfg_ref_put(js->cfg);
	cfg_ref_put(js->next_cfg);
	free(js->last_error);
	free(js);
}

/* Makes the state and coroutine of a job (not yet in the table). */
static struct job_state *job_new(struct supervisor *s, const struct job *job, struct cfg_ref *ref,
				 enum job_origin origin)
{
	struct job_state *js = calloc(1, sizeof *js);
	struct co_attr attr = { 0, s->stacks };

	if (!js)
		return NULL;
	js->sup = s;
	js->origin = origin;
	js->id = ++s->next_id;
	js->last_exit_status = -1;
	js->offset_ms = job->every_ms ? name_hash(job->name) % job->every_ms : 0;
	set_definition(js, job, ref);
	js->wake = co_cond_alloc();
	if (!js->wake || co_create(&js->co, &attr, job_main, js) < 0) {
		job_free(js);
		return NULL;
	}
	return js;
}

static int insert(struct supervisor *s, struct job_state *js)
{
	struct job_state **head;

	if (s->njobs == s->cap) {
		size_t n = s->cap ? s->cap * 2 : 64;
		struct job_state **v = realloc(s->jobs, n * sizeof *v);

		if (!v)
			return -ENOMEM;
		s->jobs = v;
		s->cap = n;
	}
	if (s->nlive + 1 > s->nbuckets && table_grow(s) < 0)
		return -ENOMEM;
	head = bucket_of(s, js->job->name);
	js->hnext = *head;
	*head = js;
	s->nlive++;
	s->jobs[s->njobs++] = js;
	return 0;
}

/* Starts a job's coroutine: it runs until its first wait. */
static void start(struct supervisor *s, struct job_state *js)
{
	s->running_coroutines++;
	co_resume(js->co);
}

/* Cancels a job: out of the name table at once, its coroutine ending soon. */
static void cancel(struct supervisor *s, struct job_state *js)
{
	if (js->removed)
		return;
	js->removed = true;
	table_unlink(s, js);
	s->nremoved++;
	s->npaused -= js->paused;
	s->ndown -= js->health == HEALTH_DOWN;
	if (js->probe)
		probe_cancel(js->probe);
	co_cond_signal(js->wake);
}

/* ---- the public operations ---------------------------------------------- */

struct supervisor *sup_new(const struct sup_options *opt)
{
	struct supervisor *s = calloc(1, sizeof *s);
	unsigned n = opt && opt->sharestacks ? opt->sharestacks : DEFAULT_SHARESTACKS;
	size_t size = opt && opt->stack_size ? opt->stack_size : DEFAULT_STACK_SIZE;

	if (!s)
		return NULL;
	s->nstacks = n;
	s->stacks = co_alloc_sharestack((int)n, (int)size);
	s->done = co_cond_alloc();
	if (!s->stacks || !s->done) {
		co_free_sharestack(s->stacks);
		co_cond_free(s->done);
		free(s);
		return NULL;
	}
	if (getrandom(&s->rng, sizeof s->rng, GRND_NONBLOCK) != sizeof s->rng)
		s->rng = (uint64_t)sup_wall_ms() ^ (uint64_t)(uintptr_t)s;
	s->last_reload_ok = true;
	s->win_start_ms = sup_mono_ms();
	return s;
}

void sup_reap(struct supervisor *s)
{
	while (s->dead) {
		struct job_state *js = s->dead;

		s->dead = js->dnext;
		co_release(js->co);
		js->co = NULL;
	}
	if (!s->nremoved)
		return;
	/* Drop removed jobs whose coroutine is gone; keep the order of the others. */
	size_t j = 0;

	for (size_t i = 0; i < s->njobs; i++) {
		struct job_state *js = s->jobs[i];

		if (js->removed && !js->co) {
			job_free(js);
			s->nremoved--;
		} else
			s->jobs[j++] = js;
	}
	s->njobs = j;
}

void sup_free(struct supervisor *s)
{
	if (!s)
		return;
	sup_reap(s);
	for (size_t i = 0; i < s->njobs; i++) {
		struct job_state *js = s->jobs[i];

		if (js->co && !js->ended)
			log_msg(LOG_WARNING, "job %s: freed while its coroutine lives", js->job->name);
		if (js->co)
			co_release(js->co);
		job_free(js);
	}
	free(s->jobs);
	free(s->buckets);
	co_cond_free(s->done);
	co_free_sharestack(s->stacks);
	free(s);
}

int sup_add(struct supervisor *s, struct config *cfg, enum job_origin origin,
	    char *name_buf, size_t name_size)
{
	struct cfg_ref *ref;
	struct job_state **made;
	size_t i;

	if (s->stopping) {
		config_free(cfg);
		return -ESHUTDOWN;
	}
	for (i = 0; i < cfg->njobs; i++) {
		if (sup_find(s, cfg->jobs[i].name)) {
			if (name_buf)
				snprintf(name_buf, name_size, "%s", cfg->jobs[i].name);
			config_free(cfg);
			return -EEXIST;
		}
	}
	ref = cfg_ref_new(cfg);
	made = calloc(cfg->njobs ? cfg->njobs : 1, sizeof *made);
	if (!ref || !made) {
		free(made);
		free(ref);
		config_free(cfg);
		return -ENOMEM;
	}
	for (i = 0; i < cfg->njobs; i++) {
		made[i] = job_new(s, &cfg->jobs[i], ref, origin);
		if (!made[i] || insert(s, made[i]) < 0)
			goto fail;
	}
	for (i = 0; i < cfg->njobs; i++)
		start(s, made[i]);
	free(made);
	cfg_ref_put(ref);
	return 0;

fail:
	/* Undo: nothing of this configuration stays. */
	for (size_t k = 0; k <= i && k < cfg->njobs; k++) {
		if (!made[k])
			continue;
		if (s->njobs && s->jobs[s->njobs - 1] == made[k])
			s->njobs--;
		if (sup_find(s, made[k]->job->name) == made[k])
			table_unlink(s, made[k]);
		co_release(made[k]->co);
		job_free(made[k]);
	}
	free(made);
	cfg_ref_put(ref);
	return -ENOMEM;
}

int sup_apply(struct supervisor *s, struct config *cfg, size_t *ret_added,
	      size_t *ret_changed, size_t *ret_removed)
{
	size_t added = 0, changed = 0, removed = 0;
	struct cfg_ref *ref = cfg_ref_new(cfg);
	size_t before = s->njobs;

	if (!ref) {
		config_free(cfg);
		return -ENOMEM;
	}
	/* Jobs of the files that the new files no longer define: cancelled. */
	for (size_t i = 0; i < before; i++) {
		struct job_state *js = s->jobs[i];

		if (js->removed || js->origin != ORIGIN_FILE)
			continue;
		if (!config_find(cfg, js->job->name)) {
			cancel(s, js);
			removed++;
		}
	}
	for (size_t i = 0; i < cfg->njobs; i++) {
		const struct job *job = &cfg->jobs[i];
		struct job_state *old = sup_find(s, job->name), *js;
		bool paused = false;

		if (old && old->origin == ORIGIN_FILE && config_job_equal(old->job, job)) {
			/* Unchanged: same state and schedule; the new copy of the definition. */
			if (!old->running)
				set_definition(old, job, ref);
			else {
				cfg_ref_put(old->next_cfg);
				old->next_job = job;
				old->next_cfg = ref;
				ref->refs++;
			}
			continue;
		}
		if (old) {
			/* Changed (or a runtime job the files now define): start over. */
			paused = old->paused;
			cancel(s, old);
			changed++;
		} else
			added++;
		js = job_new(s, job, ref, ORIGIN_FILE);
		if (!js || insert(s, js) < 0) {
			log_job(LOG_ERR, job->name, "out of memory: not started");
			if (js) {
				co_release(js->co);
				job_free(js);
			}
			continue;
		}
		js->paused = paused;
		s->npaused += paused;
		start(s, js);
	}
	cfg_ref_put(ref);
	if (ret_added)
		*ret_added = added;
	if (ret_changed)
		*ret_changed = changed;
	if (ret_removed)
		*ret_removed = removed;
	return 0;
}

int sup_kill(struct supervisor *s, const char *name)
{
	struct job_state *js = sup_find(s, name);

	if (!js)
		return -ENOENT;
	cancel(s, js);
	return 0;
}

int sup_pause(struct supervisor *s, const char *name, bool pause)
{
	struct job_state *js = sup_find(s, name);

	if (!js)
		return -ENOENT;
	s->npaused += (size_t)pause - (size_t)js->paused;
	js->paused = pause;
	return 0;
}

int sup_run(struct supervisor *s, const char *name, uint64_t wait_ms,
	    struct job_state **ret)
{
	struct job_state *js = sup_find(s, name);
	uint64_t deadline = wait_ms ? sup_mono_ms() + wait_ms : 0;
	uint64_t id, target;

	if (!js)
		return -ENOENT;
	if (s->stopping)
		return -ECANCELED;
	id = js->id;
	target = js->runs + 1;
	if (!js->running) {
		js->run_now = true;
		co_cond_signal(js->wake);
	}
	for (;;) {
		uint64_t now = sup_mono_ms(), ms;

		js = sup_find(s, name);
		if (!js || js->id != id || s->stopping)
			return -ECANCELED;
		if (js->runs >= target)
			break;
		if (!js->running && !js->run_now) {
			/* The run ended without a result (cancelled): ask again. */
			if (js->removed)
				return -ECANCELED;
			js->run_now = true;
			co_cond_signal(js->wake);
		}
		if (deadline && now >= deadline)
			return -ETIMEDOUT;
		ms = deadline ? deadline - now : WAIT_CHUNK_MS;
		co_cond_timedwait(s->done, (int)(ms > WAIT_CHUNK_MS ? WAIT_CHUNK_MS : ms));
	}
	if (ret)
		*ret = js;
	return 0;
}

void sup_stop(struct supervisor *s, uint64_t wait_ms)
{
	uint64_t deadline = sup_mono_ms() + wait_ms;

	s->stopping = true;
	for (size_t i = 0; i < s->njobs; i++) {
		struct job_state *js = s->jobs[i];

		if (js->probe)
			probe_cancel(js->probe);
		co_cond_signal(js->wake);
	}
	while (s->running_coroutines) {
		uint64_t now = sup_mono_ms();

		if (now >= deadline)
			break;
		co_cond_timedwait(s->done, (int)(deadline - now));
	}
}

bool sup_stopped(const struct supervisor *s)
{
	return s->stopping && s->running_coroutines == 0;
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

int64_t job_next_wall_ms(const struct job_state *js)
{
	if (!js->next_ms || !js->job->enabled || js->removed)
		return 0;
	return sup_wall_ms() + ((int64_t)js->next_ms - (int64_t)sup_mono_ms());
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
