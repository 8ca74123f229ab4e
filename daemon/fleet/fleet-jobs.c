/* SPDX-License-Identifier: MIT */
/*
 * fleet-jobs.c: the fleet jobs as this member knows them, where each one
 * runs, and making that true here.
 *
 * Placement is rendezvous (highest-random-weight) hashing: a job runs on
 * the live member whose score(member, job) is the highest. Every member
 * computes the same answer from the same set of members, with no
 * coordination; a member that joins takes from each other member only the
 * jobs it now scores highest on (about 1/N of all), and one that leaves
 * hands each of its jobs to that job's second-best member.
 *
 * An exclusive job runs only while this member holds locks/NAME (a key
 * attached to its lease, taken with a create-if-absent transaction) and
 * its lease is surely alive; the lock passes to the next owner only after
 * the job's run has unwound here (or when the lease expires, if this
 * member died). docs/fleet.md has the argument.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coro/coro.h"
#include "daemon/fleet/fleet-internal.h"

#define RETRY_MS 250
#define UNWIND_WAIT_MS 30000   /* an exclusive job's run gets this long to end after its cancel */

/* ---- hashing --------------------------------------------------------------- */

/* MurmurHash3's 64-bit finaliser: a bijection with full avalanche. */
static uint64_t fmix64(uint64_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdULL;
	k ^= k >> 33;
	k *= 0xc4ceb9fe1a85ec53ULL;
	k ^= k >> 33;
	return k;
}

uint64_t fleet__hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return fmix64(h);
}

uint64_t fleet__score(uint64_t member, uint64_t job)
{
	return fmix64(job ^ fmix64(member + 0x9e3779b97f4a7c15ULL));
}

/* ---- the table --------------------------------------------------------------- */

struct fjob *fleet__job_find(const struct fleet *f, const char *name)
{
	uint64_t h;

	if (!f->nbuckets)
		return NULL;
	h = fleet__hash(name);
	for (struct fjob *j = f->buckets[h & (f->nbuckets - 1)]; j; j = j->hnext)
		if (j->hash == h && strcmp(j->name, name) == 0)
			return j;
	return NULL;
}

static int grow(struct fleet *f)
{
	size_t n = f->nbuckets ? f->nbuckets * 2 : 256;
	struct fjob **b = calloc(n, sizeof *b);

	if (!b)
		return -ENOMEM;
	for (size_t i = 0; i < f->njobs; i++) {
		struct fjob *j = f->jobs[i];

		j->hnext = b[j->hash & (n - 1)];
		b[j->hash & (n - 1)] = j;
	}
	free(f->buckets);
	f->buckets = b;
	f->nbuckets = n;
	return 0;
}

static int insert(struct fleet *f, struct fjob *j)
{
	struct fjob **head;

	if (f->njobs == f->jobs_cap) {
		size_t n = f->jobs_cap ? f->jobs_cap * 2 : 256;
		struct fjob **v = realloc(f->jobs, n * sizeof *v);

		if (!v)
			return -ENOMEM;
		f->jobs = v;
		f->jobs_cap = n;
	}
	if (f->njobs + 1 > f->nbuckets && grow(f) < 0)
		return -ENOMEM;
	head = &f->buckets[j->hash & (f->nbuckets - 1)];
	j->hnext = *head;
	*head = j;
	j->index = f->njobs;
	f->jobs[f->njobs++] = j;
	return 0;
}

static void unlink_job(struct fleet *f, struct fjob *j)
{
	for (struct fjob **pp = &f->buckets[j->hash & (f->nbuckets - 1)]; *pp; pp = &(*pp)->hnext) {
		if (*pp == j) {
			*pp = j->hnext;
			break;
		}
	}
	f->jobs[j->index] = f->jobs[--f->njobs];
	f->jobs[j->index]->index = j->index;
}

static void job_free(struct fjob *j)
{
	free(j->name);
	free(j->text);
	free(j);
}

void fleet__jobs_clear(struct fleet *f)
{
	for (size_t i = 0; i < f->njobs; i++)
		job_free(f->jobs[i]);
	f->njobs = 0;
	if (f->buckets)
		memset(f->buckets, 0, f->nbuckets * sizeof *f->buckets);
}

/* ---- definitions -------------------------------------------------------------- */

/*
 * Parses a fleet job's definition: one job, named as its key says, and
 * nothing but jobs and defaults. Returns 0 with *ret, or -EINVAL with the
 * first error in err.
 */
static int parse(const char *key, const char *name, const char *text, size_t len,
		 struct config **ret, char *err, size_t err_size)
{
	struct cfg_errors errs = { 0 };
	struct config *cfg = NULL;
	int r = config_load_buffer(key, text, len, &cfg, &errs);

	*ret = NULL;
	if (r < 0) {
		snprintf(err, err_size, "%s", errs.n ? errs.v[0].text : strerror(-r));
		cfg_errors_free(&errs);
		return -EINVAL;
	}
	cfg_errors_free(&errs);
	if (cfg->njobs != 1)
		snprintf(err, err_size, "%s: a fleet job's key holds one job, not %zu", key,
			 cfg->njobs);
	else if (strcmp(cfg->jobs[0].name, name) != 0)
		snprintf(err, err_size, "%s: the job is named \"%s\", not \"%s\" as its key", key,
			 cfg->jobs[0].name, name);
	else if (cfg->fleet || cfg->metrics_listen)
		snprintf(err, err_size, "%s: a fleet job's definition holds only jobs and defaults",
			 key);
	else {
		*ret = cfg;
		return 0;
	}
	config_free(cfg);
	return -EINVAL;
}

static void stop_here(struct fleet *f, struct fjob *j);

struct fjob *fleet__job_put(struct fleet *f, const char *name, const struct etcd_kv *kv)
{
	struct fjob *j = fleet__job_find(f, name);
	struct config *cfg;
	char err[512];
	char *text;

	if (j && j->mod_revision == kv->mod_revision) {
		j->seen = true;
		return j;
	}
	if (parse(kv->key, name, kv->value, kv->value_len, &cfg, err, sizeof err) < 0) {
		log_member(LOG_ERR, f->cfg.member, NULL, "fleet: %s: invalid job definition, skipped: %s",
			   kv->key, err);
		f->jobs_invalid++;
		if (j)
			fleet__job_delete(f, name);
		return NULL;
	}
	text = malloc(kv->value_len + 1);
	if (!text || (!j && !(j = calloc(1, sizeof *j)))) {
		free(text);
		config_free(cfg);
		log_member(LOG_ERR, f->cfg.member, name, "fleet: out of memory: job skipped");
		return NULL;
	}
	memcpy(text, kv->value, kv->value_len);
	text[kv->value_len] = '\0';
	if (!j->name) {
		j->owner = -1;
		if (!(j->name = strdup(name)) || (j->hash = fleet__hash(name), insert(f, j) < 0)) {
			free(text);
			job_free(j);
			config_free(cfg);
			return NULL;
		}
	} else if (j->running && (j->len != kv->value_len || memcmp(j->text, text, j->len) != 0)) {
		/* A changed definition starts over, as a reload does. */
		stop_here(f, j);
	}
	free(j->text);
	j->text = text;
	j->len = kv->value_len;
	j->mod_revision = kv->mod_revision;
	j->type = cfg->jobs[0].type;
	j->every_ms = cfg->jobs[0].every_ms;
	j->exclusive = cfg->jobs[0].exclusive;
	j->seen = true;
	config_free(cfg);
	return j;
}

static void uncount(struct fleet *f, struct fjob *j)
{
	if (j->owner >= 0 && (size_t)j->owner < f->nmembers) {
		struct fmember *m = &f->members[j->owner];

		if (m->jobs)
			m->jobs--;
		if (m->self && f->owned)
			f->owned--;
	}
}

void fleet__job_delete(struct fleet *f, const char *name)
{
	struct fjob *j = fleet__job_find(f, name);

	if (!j)
		return;
	stop_here(f, j);
	uncount(f, j);
	unlink_job(f, j);
	job_free(j);
}

void fleet__state_put(struct fleet *f, const char *name, const char *value, size_t len)
{
	struct fjob *j = fleet__job_find(f, name);
	json_t *v;
	const char *health = NULL;
	json_int_t cf = 0, cs = 0, since = 0;

	if (!j || j->running) /* running here: this member's own publication */
		return;
	v = json_loadb(value, len, 0, NULL);
	if (!v || json_unpack(v, "{s:s, s?I, s?I, s?I}", "health", &health,
			      "consecutive_failures", &cf, "consecutive_successes", &cs,
			      "since_ms", &since) < 0) {
		json_decref(v);
		return;
	}
	j->has_state = true;
	j->health = strcmp(health, "up") == 0 ? HEALTH_UP :
		    strcmp(health, "down") == 0 ? HEALTH_DOWN : HEALTH_UNKNOWN;
	j->consecutive_failures = cf > 0 && cf < 1000000 ? (unsigned)cf : 0;
	j->consecutive_successes = cs > 0 && cs < 1000000 ? (unsigned)cs : 0;
	j->since_ms = since;
	json_decref(v);
}

/* ---- placement -------------------------------------------------------------- */

void fleet__place(struct fleet *f, struct fjob *j)
{
	int best = -1;
	uint64_t best_score = 0;

	uncount(f, j);
	for (size_t i = 0; i < f->nmembers; i++) {
		uint64_t sc = fleet__score(f->members[i].hash, j->hash);

		/* Ties (astronomically rare) go to the first name: members are sorted. */
		if (best < 0 || sc > best_score) {
			best = (int)i;
			best_score = sc;
		}
	}
	j->owner = best;
	j->owner_hash = best >= 0 ? f->members[best].hash : 0;
	if (best >= 0) {
		f->members[best].jobs++;
		f->owned += f->members[best].self;
	}
}

void fleet__place_all(struct fleet *f, const char *why)
{
	size_t moved = 0, to_me = 0, from_me = 0;
	const struct fmember *self = NULL;

	for (size_t i = 0; i < f->nmembers; i++) {
		f->members[i].jobs = 0;
		if (f->members[i].self)
			self = &f->members[i];
	}
	f->owned = 0;
	for (size_t i = 0; i < f->njobs; i++) {
		struct fjob *j = f->jobs[i];
		uint64_t was = j->owner_hash;
		bool is_mine;

		j->owner = -1;
		fleet__place(f, j);
		is_mine = self && j->owner >= 0 && &f->members[j->owner] == self;
		if (was && was != j->owner_hash) {
			moved++;
			to_me += is_mine;
			from_me += self && was == self->hash;
		}
	}
	f->moves += moved;
	fleet__reconcile_all(f);
	if (moved)
		log_member(LOG_NOTICE, f->cfg.member, NULL,
			   "fleet: %zu job%s moved (%s, %zu member%s): %zu to this member, %zu from it; "
			   "it owns %zu of %zu",
			   moved, moved == 1 ? "" : "s", why, f->nmembers, f->nmembers == 1 ? "" : "s",
			   to_me, from_me, f->owned, f->njobs);
}

/* ---- running here ------------------------------------------------------------- */

static bool mine(const struct fleet *f, const struct fjob *j)
{
	if (!f->joined || f->stopping || j->owner < 0 || (size_t)j->owner >= f->nmembers ||
	    !f->members[j->owner].self)
		return false;
	return !j->exclusive || f->exclusive_ok;
}

static void start_here(struct fleet *f, struct fjob *j)
{
	struct supervisor *s = f->d->sup;
	struct job_state *js = sup_find(s, j->name);
	struct config *cfg;
	char key[512], err[512];
	int ret;

	if (js) {
		if (js->origin != ORIGIN_FLEET && !j->clash)
			log_member(LOG_ERR, f->cfg.member, j->name,
				   "fleet: a local job of this name runs here: the fleet job does not");
		j->clash = js->origin != ORIGIN_FLEET;
		j->running = js->origin == ORIGIN_FLEET;
		return;
	}
	j->clash = false;
	fleet__key(f, "jobs/", j->name, key, sizeof key);
	if (parse(key, j->name, j->text, j->len, &cfg, err, sizeof err) < 0)
		return; /* it parsed when it came: only out of memory gets here */
	ret = sup_add(s, cfg, ORIGIN_FLEET, NULL, 0);
	if (ret < 0) {
		log_member(LOG_ERR, f->cfg.member, j->name, "fleet: cannot start: %s", strerror(-ret));
		return;
	}
	j->running = true;
	js = sup_find(s, j->name);
	if (js && j->has_state) {
		/* Carry on from the last owner's state instead of starting from unknown. */
		sup_set_health(js, j->health, j->since_ms, j->consecutive_failures,
			       j->consecutive_successes);
	}
	log_member(LOG_DEBUG, f->cfg.member, j->name, "fleet: runs here");
}

/* Stops j here (exclusive: through the sync coroutine, which waits for its end). */
static void stop_here(struct fleet *f, struct fjob *j)
{
	if (j->exclusive && (j->running || j->lock_held)) {
		j->running = false;
		fleet__queue(f, TASK_RELEASE, j->name, NULL);
		return;
	}
	if (!j->running)
		return;
	j->running = false;
	sup_kill(f->d->sup, j->name);
	log_member(LOG_DEBUG, f->cfg.member, j->name, "fleet: no longer runs here");
}

void fleet__reconcile(struct fleet *f, struct fjob *j)
{
	bool want = mine(f, j);

	if (want && !j->running) {
		if (!j->exclusive)
			start_here(f, j);
		else if (!j->lock_queued) {
			j->lock_queued = true;
			fleet__queue(f, TASK_ACQUIRE, j->name, NULL);
		}
	} else if (!want && (j->running || (j->exclusive && j->lock_held && !j->lock_queued))) {
		if (j->exclusive)
			j->lock_queued = true;
		stop_here(f, j);
	}
}

void fleet__reconcile_all(struct fleet *f)
{
	for (size_t i = 0; i < f->njobs; i++)
		fleet__reconcile(f, f->jobs[i]);
}

void fleet_reloaded(struct fleet *f)
{
	for (size_t i = 0; i < f->njobs; i++) {
		struct fjob *j = f->jobs[i];
		struct job_state *js = sup_find(f->d->sup, j->name);

		if (j->running && (!js || js->origin != ORIGIN_FLEET))
			j->running = false;
		if (!js)
			j->clash = false;
		fleet__reconcile(f, j);
	}
}

void fleet__stop_exclusive(struct fleet *f)
{
	for (size_t i = 0; i < f->njobs; i++) {
		struct fjob *j = f->jobs[i];

		if (j->exclusive && j->running) {
			/* Cancelled now, without etcd; the lock is released later or expires. */
			j->running = false;
			sup_kill(f->d->sup, j->name);
		}
	}
}

void fleet__lock_gone(struct fleet *f, const char *name)
{
	struct fjob *j = fleet__job_find(f, name);

	if (!j || !j->exclusive)
		return;
	if (j->lock_held) {
		/* Ours, gone: the lease expired. Whoever takes it next runs the job. */
		j->lock_held = false;
		if (j->running) {
			j->running = false;
			sup_kill(f->d->sup, j->name);
		}
	}
	fleet__reconcile(f, j);
}

/* ---- the sync coroutine ---------------------------------------------------------- */

void fleet__queue(struct fleet *f, enum fleet_task_kind kind, const char *name, char *value)
{
	struct fleet_task *t = calloc(1, sizeof *t);

	if (!t || !(t->name = strdup(name))) {
		free(t);
		free(value);
		log_member(LOG_ERR, f->cfg.member, name, "fleet: out of memory: a change is lost");
		return;
	}
	t->kind = kind;
	t->value = value;
	*f->tasks_tail = t;
	f->tasks_tail = &t->next;
	co_cond_broadcast(f->wake);
}

static struct fleet_task *dequeue(struct fleet *f)
{
	struct fleet_task *t = f->tasks;

	if (t && !(f->tasks = t->next))
		f->tasks_tail = &f->tasks;
	return t;
}

static void acquire(struct fleet *f, const char *name)
{
	struct fjob *j = fleet__job_find(f, name);
	struct etcd_kv held = { 0 };
	bool created = false;
	char key[512];
	int ret;

	if (!j)
		return;
	j->lock_queued = false;
	if (j->running || !mine(f, j))
		return;
	fleet__key(f, "locks/", name, key, sizeof key);
	ret = etcd_create(f->sync_etcd, key, f->cfg.member, strlen(f->cfg.member), f->lease,
			  &created, &held);
	j = fleet__job_find(f, name); /* it may have gone while we waited */
	if (ret < 0) {
		if (j && !f->stopping) {
			poll(NULL, 0, RETRY_MS);
			if ((j = fleet__job_find(f, name)) && !j->lock_queued) {
				j->lock_queued = true;
				fleet__queue(f, TASK_ACQUIRE, name, NULL);
			}
		}
		etcd_kv_free(&held);
		return;
	}
	if (!created && held.lease != f->lease) {
		/* Another member's run has not unwound yet: its delete of the lock wakes us. */
		log_member(LOG_DEBUG, f->cfg.member, name, "fleet: waiting for the lock (lease %llx)",
			   (unsigned long long)held.lease);
		etcd_kv_free(&held);
		return;
	}
	etcd_kv_free(&held);
	if (!j) {
		etcd_delete(f->sync_etcd, key, f->lease, NULL);
		return;
	}
	j->lock_held = true;
	if (mine(f, j) && !j->running)
		start_here(f, j);
	else
		fleet__reconcile(f, j);
}

static void release(struct fleet *f, const char *name)
{
	struct job_state *js = sup_find(f->d->sup, name);
	uint64_t deadline = sup_mono_ms() + UNWIND_WAIT_MS;
	struct fjob *j;
	char key[512];
	int ret;

	if (js && js->origin == ORIGIN_FLEET)
		sup_kill(f->d->sup, name);
	while (sup_unwinding(f->d->sup, name)) {
		if (sup_mono_ms() >= deadline) {
			/* Keep the lock: better no run anywhere than two at once. */
			log_member(LOG_ERR, f->cfg.member, name,
				   "fleet: exclusive run still unwinding after %d s: keeping its lock",
				   UNWIND_WAIT_MS / 1000);
			return;
		}
		poll(NULL, 0, 20);
	}
	if ((j = fleet__job_find(f, name)) && j->running)
		return; /* started again meanwhile (ownership came back): keep the lock */
	fleet__key(f, "locks/", name, key, sizeof key);
	ret = f->lease ? etcd_delete(f->sync_etcd, key, f->lease, NULL) : 0;
	j = fleet__job_find(f, name);
	if (ret < 0) {
		if (!f->stopping) {
			poll(NULL, 0, RETRY_MS);
			fleet__queue(f, TASK_RELEASE, name, NULL);
		}
		return;
	}
	if (j) {
		j->lock_held = false;
		j->lock_queued = false;
		fleet__reconcile(f, j);
	}
}

static void publish(struct fleet *f, struct fleet_task *t)
{
	char key[512];

	fleet__key(f, "state/", t->name, key, sizeof key);
	if (etcd_put(f->sync_etcd, key, t->value, strlen(t->value), 0) < 0 && !f->stopping) {
		log_member(LOG_WARNING, f->cfg.member, t->name,
			   "fleet: cannot publish the job's state: %s", etcd_error(f->sync_etcd));
	}
}

void *fleet__sync_main(void *arg)
{
	struct fleet *f = arg;

	co_enable_hook_sys();
	while (!f->stopping || f->tasks) {
		struct fleet_task *t = dequeue(f);

		if (!t) {
			co_cond_timedwait(f->wake, 1000);
			continue;
		}
		if (f->stopping && t->kind != TASK_RELEASE) {
			/* Leaving: only releases matter (the lease goes with the rest). */
		} else if (t->kind == TASK_ACQUIRE)
			acquire(f, t->name);
		else if (t->kind == TASK_RELEASE)
			release(f, t->name);
		else
			publish(f, t);
		free(t->name);
		free(t->value);
		free(t);
	}
	f->live_coroutines--;
	return NULL;
}

void fleet__on_health(void *arg, struct job_state *js, enum job_health was)
{
	struct fleet *f = arg;
	struct fjob *j;
	json_t *v;
	char *text;

	if (js->origin != ORIGIN_FLEET || !(j = fleet__job_find(f, js->job->name)))
		return;
	/*
	 * A first verdict of up (from unknown) tells the next owner nothing
	 * it needs: it would start from unknown and come up at its first
	 * good runs, notifying no one. Not writing it spares etcd a write per
	 * job at start (100,000 writes for 100,000 jobs). A down, and an up
	 * that ends a published down, are written.
	 */
	if (was == HEALTH_UNKNOWN && js->health == HEALTH_UP &&
	    !(j->has_state && j->health == HEALTH_DOWN))
		return;
	j->has_state = true;
	j->health = js->health;
	j->consecutive_failures = js->consecutive_failures;
	j->consecutive_successes = js->consecutive_successes;
	j->since_ms = js->health_since_ms;
	v = json_pack("{s:s, s:i, s:i, s:I, s:s}", "health", job_health_name(js->health),
		      "consecutive_failures", (int)js->consecutive_failures,
		      "consecutive_successes", (int)js->consecutive_successes, "since_ms",
		      (json_int_t)js->health_since_ms, "member", f->cfg.member);
	text = v ? json_dumps(v, JSON_COMPACT) : NULL;
	json_decref(v);
	if (text)
		fleet__queue(f, TASK_PUBLISH, js->job->name, text);
}

/* ---- the servers' queries ------------------------------------------------------ */

static int job_cmp(const void *a, const void *b)
{
	return strcmp((*(struct fjob *const *)a)->name, (*(struct fjob *const *)b)->name);
}

size_t fleet_job_count(const struct fleet *f)
{
	return f->njobs;
}

static void info(const struct fleet *f, const struct fjob *j, struct fleet_job_info *ret)
{
	*ret = (struct fleet_job_info){
		.name = j->name,
		.type = j->type,
		.every_ms = j->every_ms,
		.exclusive = j->exclusive,
		.owner = j->owner >= 0 && (size_t)j->owner < f->nmembers ? f->members[j->owner].name :
									     NULL,
		.health = j->has_state ? job_health_name(j->health) : "unknown",
	};
	if (j->running) {
		const struct job_state *js = sup_find(f->d->sup, j->name);

		if (js)
			ret->health = job_health_name(js->health);
	}
}

void fleet_job_get(const struct fleet *f, size_t i, struct fleet_job_info *ret)
{
	/* Sorted by name on the first of a series of calls (the table is in no order). */
	struct fleet *mf = (struct fleet *)f;

	if (i == 0)
		qsort(mf->jobs, mf->njobs, sizeof *mf->jobs, job_cmp);
	if (i == 0)
		for (size_t k = 0; k < mf->njobs; k++)
			mf->jobs[k]->index = k;
	info(f, f->jobs[i], ret);
}

bool fleet_job_find(const struct fleet *f, const char *name, struct fleet_job_info *ret)
{
	const struct fjob *j = fleet__job_find(f, name);

	if (j && ret)
		info(f, j, ret);
	return j != NULL;
}

bool fleet_owns(const struct fleet *f, const char *name)
{
	const struct fjob *j = fleet__job_find(f, name);

	return j && j->running;
}

/* ---- control's changes ------------------------------------------------------------ */

static void ctl_take(struct fleet *f)
{
	while (f->ctl_busy)
		poll(NULL, 0, 5);
	f->ctl_busy = true;
}

int fleet_add(struct fleet *f, const struct config *cfg, char *name_buf, size_t name_size,
	      char *err, size_t err_size)
{
	size_t done = 0;
	int ret = 0;

	ctl_take(f);
	for (; done < cfg->njobs; done++) {
		const struct job *job = &cfg->jobs[done];
		char key[512], *text = persist_job_yaml(job);
		bool created = false;

		if (!text || !fleet__key(f, "jobs/", job->name, key, sizeof key)) {
			free(text);
			snprintf(err, err_size, "out of memory");
			ret = -ENOMEM;
			break;
		}
		ret = etcd_create(f->ctl_etcd, key, text, strlen(text), 0, &created, NULL);
		free(text);
		if (ret < 0) {
			snprintf(err, err_size, "etcd: %s", etcd_error(f->ctl_etcd));
			ret = -EIO;
			break;
		}
		if (!created) {
			snprintf(name_buf, name_size, "%s", job->name);
			ret = -EEXIST;
			break;
		}
	}
	if (ret < 0) {
		/* All or nothing: what this call wrote goes again. */
		for (size_t i = 0; i < done; i++) {
			char key[512];

			if (fleet__key(f, "jobs/", cfg->jobs[i].name, key, sizeof key))
				etcd_delete(f->ctl_etcd, key, 0, NULL);
		}
	}
	f->ctl_busy = false;
	return ret;
}

int fleet_kill(struct fleet *f, const char *name, char *err, size_t err_size)
{
	char key[512];
	bool deleted = false;
	int ret;

	if (!fleet__key(f, "jobs/", name, key, sizeof key))
		return -ENOENT;
	ctl_take(f);
	ret = etcd_delete(f->ctl_etcd, key, 0, &deleted);
	if (ret == 0 && deleted) {
		char skey[512];

		if (fleet__key(f, "state/", name, skey, sizeof skey))
			etcd_delete(f->ctl_etcd, skey, 0, NULL);
	}
	f->ctl_busy = false;
	if (ret < 0) {
		snprintf(err, err_size, "etcd: %s", etcd_error(f->ctl_etcd));
		return -EIO;
	}
	return deleted ? 0 : -ENOENT;
}
