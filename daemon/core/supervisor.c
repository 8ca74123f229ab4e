/* SPDX-License-Identifier: MIT */
/*
 * supervisor.c: the table of jobs and its operations: every job a
 * coroutine (schedule.c) on a pool of shared stacks, added, matched on
 * reload, killed, paused, run now, and stopped.
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

#define DEFAULT_SHARESTACKS 16
#define DEFAULT_STACK_SIZE (256 * 1024)

/* ---- the table of jobs -------------------------------------------------- */

static struct job_state **bucket_of(const struct supervisor *s, const char *name)
{
	return &s->buckets[sup__name_hash(name) & (s->nbuckets - 1)];
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
			struct job_state **head = &b[sup__name_hash(js->job->name) & (n - 1)];

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

void sup__cfg_ref_put(struct cfg_ref *r)
{
	if (r && --r->refs == 0) {
		config_free(r->cfg);
		free(r);
	}
}

void sup__set_definition(struct job_state *js, const struct job *job, struct cfg_ref *ref)
{
	ref->refs++;
	sup__cfg_ref_put(js->cfg);
	js->job = job;
	js->cfg = ref;
}

static void job_free(struct job_state *js)
{
	if (!js)
		return;
	co_cond_free(js->wake);
	sup__cfg_ref_put(js->cfg);
	sup__cfg_ref_put(js->next_cfg);
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
	js->offset_ms = job->every_ms ? sup__name_hash(job->name) % job->every_ms : 0;
	sup__set_definition(js, job, ref);
	js->wake = co_cond_alloc();
	if (!js->wake || co_create(&js->co, &attr, sup__job_main, js) < 0) {
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
	sup__cfg_ref_put(ref);
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
	sup__cfg_ref_put(ref);
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
				sup__set_definition(old, job, ref);
			else {
				sup__cfg_ref_put(old->next_cfg);
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
	sup__cfg_ref_put(ref);
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

bool sup_unwinding(const struct supervisor *s, const char *name)
{
	for (size_t i = 0; i < s->njobs; i++) {
		const struct job_state *js = s->jobs[i];

		if (js->removed && !js->ended && strcmp(js->job->name, name) == 0)
			return true;
	}
	return false;
}

int sup_add_health_observer(struct supervisor *s, sup_health_fn *fn, void *arg)
{
	for (size_t i = 0; i < SUP_OBSERVERS_MAX; i++) {
		if (!s->observers[i].fn) {
			s->observers[i].fn = fn;
			s->observers[i].arg = arg;
			return 0;
		}
	}
	return -ENOSPC;
}

void sup_remove_health_observer(struct supervisor *s, sup_health_fn *fn, void *arg)
{
	for (size_t i = 0; i < SUP_OBSERVERS_MAX; i++)
		if (s->observers[i].fn == fn && s->observers[i].arg == arg)
			s->observers[i].fn = NULL;
}

int sup_add_result_observer(struct supervisor *s, sup_result_fn *fn, void *arg)
{
	for (size_t i = 0; i < SUP_OBSERVERS_MAX; i++) {
		if (!s->result_observers[i].fn) {
			s->result_observers[i].fn = fn;
			s->result_observers[i].arg = arg;
			return 0;
		}
	}
	return -ENOSPC;
}

void sup_remove_result_observer(struct supervisor *s, sup_result_fn *fn, void *arg)
{
	for (size_t i = 0; i < SUP_OBSERVERS_MAX; i++)
		if (s->result_observers[i].fn == fn && s->result_observers[i].arg == arg)
			s->result_observers[i].fn = NULL;
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
