/* SPDX-License-Identifier: MIT */
/*
 * notify.c: the notification room's life, the events it makes of the
 * supervisor's up/down transitions, what it keeps of each job (a notified
 * down that lasts, the last notification), the notifiers' queues, repeats
 * of a lasting down (notify_repeat) and the servers' queries.
 *
 * An event is made once per transition and copied into the queue of each
 * notifier the job names; the notifiers deliver on their own coroutines
 * (deliver.c), so the job's coroutine, which calls the observer, never
 * waits. A down that was notified is recorded (and kept in notify.json)
 * until the job is up again: a job that comes back down after a restart,
 * its state file lost, is not notified twice.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coro/coro.h"
#include "daemon/notify/notify-internal.h"

#define KEEPER_MS 1000          /* the keeper's period */
#define SAVE_EVERY_MS 2000      /* notify.json at most this often while it changes */
#define SCAN_EVERY_MS 10000     /* repeats and forgotten jobs */
#define FORGET_AFTER_MS 600000  /* a job gone this long is forgotten */

static char *dup0(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* ---- notifiers' settings ---------------------------------------------------------- */

void notify__cfg_free(struct cfg_notifier *c)
{
	free(c->name);
	free(c->url);
	for (size_t i = 0; i < c->nheaders; i++) {
		free(c->headers[i].key);
		free(c->headers[i].value);
	}
	free(c->headers);
	free(c->smtp);
	free(c->from);
	for (size_t i = 0; i < c->nto; i++)
		free(c->to[i]);
	free(c->to);
	free(c->username);
	free(c->password);
	for (size_t i = 0; i < c->argc; i++)
		free(c->argv[i]);
	free(c->argv);
	memset(c, 0, sizeof *c);
}

static char **strv_copy(char *const *v, size_t n)
{
	char **c = calloc(n + 1, sizeof *c);

	for (size_t i = 0; c && i < n; i++) {
		if (!(c[i] = strdup(v[i]))) {
			while (i--)
				free(c[i]);
			free(c);
			return NULL;
		}
	}
	return c;
}

static int cfg_copy(struct cfg_notifier *d, const struct cfg_notifier *s)
{
	bool ok;

	*d = (struct cfg_notifier){
		.type = s->type,
		.tls_verify = s->tls_verify,
		.timeout_ms = s->timeout_ms ? s->timeout_ms : CFG_NOTIFY_TIMEOUT_DEFAULT_MS,
		.queue = s->queue ? s->queue : CFG_NOTIFY_QUEUE_DEFAULT,
	};
	d->name = dup0(s->name);
	d->url = dup0(s->url);
	d->smtp = dup0(s->smtp);
	d->from = dup0(s->from);
	d->username = dup0(s->username);
	d->password = dup0(s->password);
	ok = d->name && (!s->url || d->url) && (!s->smtp || d->smtp) && (!s->from || d->from) &&
	     (!s->username || d->username) && (!s->password || d->password);
	if (ok && s->nheaders) {
		ok = (d->headers = calloc(s->nheaders, sizeof *d->headers)) != NULL;
		for (size_t i = 0; ok && i < s->nheaders; i++) {
			d->headers[i].key = strdup(s->headers[i].key);
			d->headers[i].value = strdup(s->headers[i].value);
			d->nheaders = i + 1;
			ok = d->headers[i].key && d->headers[i].value;
		}
	}
	if (ok && s->nto) {
		ok = (d->to = strv_copy(s->to, s->nto)) != NULL;
		d->nto = ok ? s->nto : 0;
	}
	if (ok && s->argc) {
		ok = (d->argv = strv_copy(s->argv, s->argc)) != NULL;
		d->argc = ok ? s->argc : 0;
	}
	if (!ok) {
		notify__cfg_free(d);
		return -ENOMEM;
	}
	return 0;
}

/* Alertmanager's endpoint for alerts: URL (without its trailing slashes) + /api/v2/alerts. */
static char *am_url(const char *url)
{
	size_t len = strlen(url);
	char *s;

	while (len && url[len - 1] == '/')
		len--;
	if (asprintf(&s, "%.*s/api/v2/alerts", (int)len, url) < 0)
		return NULL;
	return s;
}

/* Puts the settings of c in force for nf (between deliveries). */
int notify__apply_cfg(struct notifier *nf, const struct cfg_notifier *c)
{
	struct cfg_notifier fresh;
	char *api = NULL;

	if (cfg_copy(&fresh, c) < 0)
		return -ENOMEM;
	if (fresh.type == NOTIFIER_ALERTMANAGER && fresh.url && !(api = am_url(fresh.url))) {
		notify__cfg_free(&fresh);
		return -ENOMEM;
	}
	notify__cfg_free(&nf->cfg);
	free(nf->api_url);
	nf->cfg = fresh;
	nf->api_url = api;
	/* A new address: the kept connection goes with the old one. */
	notify__send_free(nf);
	return 0;
}

/* ---- events --------------------------------------------------------------------- */

struct notifier *notify__find(const struct notify *n, const char *name)
{
	for (size_t i = 0; i < n->nv; i++)
		if (strcmp(n->v[i]->cfg.name, name) == 0)
			return n->v[i];
	return NULL;
}

bool notify_has(const struct notify *n, const char *name)
{
	return notify__find(n, name) != NULL;
}

void notify__outcome(struct notify *n, const struct nevent *e, const struct notifier *nf,
		     const char *outcome, const char *error)
{
	struct njob *j;

	if (e->kind == NEV_TEST || !(j = notify__job(n, e->job, true)))
		return;
	j->has_last = true;
	j->last_kind = e->kind;
	snprintf(j->last_notifier, sizeof j->last_notifier, "%s", nf->cfg.name);
	j->last_outcome = outcome;
	free(j->last_error);
	j->last_error = error && *error ? strdup(error) : NULL;
	j->last_at_ms = sup_wall_ms();
}

void notify__enqueue(struct notifier *nf, struct nevent *e)
{
	struct notify *n = nf->n;
	struct nevent *c = nevent_copy(e);

	if (!c) {
		log_job(LOG_ERR, e->job, "notify %s: out of memory: a %s event is lost", nf->cfg.name,
			nevent_kind_name(e->kind));
		nf->dropped++;
		return;
	}
	if (nf->qlen >= nf->cfg.queue) {
		struct nevent *old = nf->q[nf->qhead];

		nf->qhead = (nf->qhead + 1) % nf->qcap;
		nf->qlen--;
		nf->dropped++;
		log_job(LOG_WARNING, old->job,
			"notify %s: queue full (%u events): the oldest, a %s event, is dropped",
			nf->cfg.name, nf->cfg.queue, nevent_kind_name(old->kind));
		notify__outcome(n, old, nf, "dropped", "the notifier's queue was full");
		nevent_free(old);
	}
	if (nf->qlen == nf->qcap) {
		size_t cap = nf->qcap ? nf->qcap * 2 : 16;
		struct nevent **q = malloc(cap * sizeof *q);

		if (!q) {
			log_job(LOG_ERR, e->job, "notify %s: out of memory: a %s event is lost",
				nf->cfg.name, nevent_kind_name(e->kind));
			nevent_free(c);
			nf->dropped++;
			return;
		}
		for (size_t i = 0; i < nf->qlen; i++)
			q[i] = nf->q[(nf->qhead + i) % nf->qcap];
		free(nf->q);
		nf->q = q;
		nf->qcap = cap;
		nf->qhead = 0;
	}
	nf->q[(nf->qhead + nf->qlen) % nf->qcap] = c;
	nf->qlen++;
	notify__outcome(n, c, nf, "queued", NULL);
	n->dirty = true;
	co_cond_signal(nf->wake);
}

/* Makes one event and queues it for each notifier in the job's notify list. */
static void emit(struct notify *n, struct job_state *js, enum nev_kind kind, int64_t since,
		 bool repeat, bool direct_only)
{
	const struct job *job = js->job;
	bool fleet = js->origin == ORIGIN_FLEET && n->fleet_instance;
	struct nevent *e = nevent_new(kind, job->name, fleet ? n->fleet_instance : n->instance,
				      fleet ? n->member : NULL,
				      kind == NEV_DOWN ? js->last_error : NULL, sup_wall_ms(), since,
				      job->labels, job->nlabels);

	if (!e) {
		log_job(LOG_ERR, job->name, "notify: out of memory: a %s event is lost",
			nevent_kind_name(kind));
		return;
	}
	e->repeat = repeat;
	for (size_t i = 0; i < job->nnotify; i++) {
		struct notifier *nf = notify__find(n, job->notify[i]);

		if (!nf) {
			/* A fleet job may name a notifier this member lacks. */
			log_job(LOG_WARNING, job->name, "notify: no notifier named \"%s\" here: "
				"its %s event goes nowhere", job->notify[i], nevent_kind_name(kind));
			continue;
		}
		if (direct_only && nf->cfg.type == NOTIFIER_ALERTMANAGER)
			continue; /* Alertmanager re-sends firing alerts itself */
		notify__enqueue(nf, e);
	}
	nevent_free(e);
}

/* The supervisor's observer: on the job's coroutine, never waits. */
static void on_health(void *arg, struct job_state *js, enum job_health was)
{
	struct notify *n = arg;
	struct njob *rec;

	if (!js->job->nnotify || n->stopping)
		return;
	if (js->health == HEALTH_DOWN) {
		rec = notify__job(n, js->job->name, true);
		if (rec && rec->down_since_ms) {
			log_job(LOG_INFO, js->job->name, "notify: down again, already notified "
				"(since a down before a restart): no new event");
			return;
		}
		if (rec) {
			rec->down_since_ms = js->health_since_ms;
			rec->last_repeat_ms = 0;
		}
		n->dirty = true;
		emit(n, js, NEV_DOWN, js->health_since_ms, false, false);
	} else if (js->health == HEALTH_UP) {
		int64_t since;

		rec = notify__job(n, js->job->name, false);
		if (was != HEALTH_DOWN && !(rec && rec->down_since_ms))
			return; /* unknown to up: nothing was notified */
		since = rec && rec->down_since_ms ? rec->down_since_ms : js->health_prev_since_ms;
		if (rec)
			rec->down_since_ms = 0;
		n->dirty = true;
		emit(n, js, NEV_UP, since, false, false);
	}
}

/* ---- the job records ---------------------------------------------------------------- */

static uint64_t name_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return h ^ (h >> 29);
}

struct njob *notify__job(struct notify *n, const char *name, bool create)
{
	uint64_t h = name_hash(name);
	struct njob *j;

	if (n->nbuckets) {
		for (j = n->buckets[h & (n->nbuckets - 1)]; j; j = j->hnext)
			if (strcmp(j->name, name) == 0)
				return j;
	}
	if (!create)
		return NULL;
	if (n->njobs + 1 > n->nbuckets) {
		size_t cap = n->nbuckets ? n->nbuckets * 2 : 256;
		struct njob **b = calloc(cap, sizeof *b);

		if (!b)
			return NULL;
		for (size_t i = 0; i < n->nbuckets; i++) {
			while ((j = n->buckets[i])) {
				n->buckets[i] = j->hnext;
				j->hnext = b[name_hash(j->name) & (cap - 1)];
				b[name_hash(j->name) & (cap - 1)] = j;
			}
		}
		free(n->buckets);
		n->buckets = b;
		n->nbuckets = cap;
	}
	if (!(j = calloc(1, sizeof *j)) || !(j->name = strdup(name))) {
		free(j);
		return NULL;
	}
	j->hnext = n->buckets[h & (n->nbuckets - 1)];
	n->buckets[h & (n->nbuckets - 1)] = j;
	n->njobs++;
	return j;
}

static void njob_free(struct njob *j)
{
	free(j->name);
	free(j->last_error);
	free(j);
}

/*
 * Repeats of lasting downs (direct channels; Alertmanager re-sends by
 * itself) and forgetting jobs long gone.
 */
static void scan(struct notify *n, int64_t now)
{
	for (size_t b = 0; b < n->nbuckets; b++) {
		for (struct njob **pp = &n->buckets[b]; *pp;) {
			struct njob *j = *pp;
			struct job_state *js = sup_find(n->d->sup, j->name);
			int64_t last = j->last_repeat_ms > j->down_since_ms ? j->last_repeat_ms :
									  j->down_since_ms;

			if (!js && now - (j->last_at_ms > last ? j->last_at_ms : last) > FORGET_AFTER_MS) {
				*pp = j->hnext;
				njob_free(j);
				n->njobs--;
				n->dirty = true;
				continue;
			}
			if (js && js->health == HEALTH_DOWN && j->down_since_ms &&
			    js->job->notify_repeat_ms &&
			    now - last >= (int64_t)js->job->notify_repeat_ms) {
				j->last_repeat_ms = now;
				n->dirty = true;
				emit(n, js, NEV_DOWN, j->down_since_ms, true, true);
			}
			pp = &j->hnext;
		}
	}
}

/* ---- life ---------------------------------------------------------------------------- */

struct notify *notify_new(struct daemon *d, const char *state_dir, const char *instance,
			  const char *fleet_instance)
{
	struct notify *n = calloc(1, sizeof *n);

	if (!n)
		return NULL;
	n->d = d;
	n->state_dir = dup0(state_dir);
	n->instance = dup0(instance ? instance : "localhost");
	n->member = dup0(instance);
	n->fleet_instance = dup0(fleet_instance);
	n->wake = co_cond_alloc();
	if ((state_dir && !n->state_dir) || !n->instance || !n->wake ||
	    (fleet_instance && !n->fleet_instance) || (instance && !n->member)) {
		notify_free(n);
		return NULL;
	}
	return n;
}

static struct notifier *notifier_new(struct notify *n, const struct cfg_notifier *c)
{
	struct notifier *nf = calloc(1, sizeof *nf);

	if (!nf)
		return NULL;
	nf->n = n;
	nf->wake = co_cond_alloc();
	if (!nf->wake || notify__apply_cfg(nf, c) < 0) {
		co_cond_free(nf->wake);
		free(nf);
		return NULL;
	}
	return nf;
}

static void notifier_free(struct notifier *nf)
{
	if (!nf)
		return;
	for (size_t i = 0; i < nf->qlen; i++)
		nevent_free(nf->q[(nf->qhead + i) % nf->qcap]);
	free(nf->q);
	notify__send_free(nf);
	if (nf->co)
		co_release(nf->co);
	co_cond_free(nf->wake);
	notify__cfg_free(&nf->cfg);
	if (nf->next_cfg) {
		notify__cfg_free(nf->next_cfg);
		free(nf->next_cfg);
	}
	free(nf->api_url);
	free(nf);
}

static int spawn(struct notify *n, struct co **ret, co_fn *fn, void *arg, const char *name)
{
	struct co_attr attr = { 256 * 1024, NULL };

	if (co_create(ret, &attr, fn, arg) < 0)
		return -ENOMEM;
	co_set_name(*ret, name);
	n->live++;
	co_resume(*ret);
	return 0;
}

int notify_configure(struct notify *n, const struct config *cfg)
{
	struct notifier **v = calloc(cfg->nnotifiers ? cfg->nnotifiers : 1, sizeof *v);
	size_t nv = 0;

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < cfg->nnotifiers; i++) {
		const struct cfg_notifier *c = &cfg->notifiers[i];
		struct notifier *nf = notify__find(n, c->name);

		if (nf && nf->sending) {
			/* In the middle of a delivery: the coroutine switches after it. */
			struct cfg_notifier *next = malloc(sizeof *next);

			if (next && cfg_copy(next, c) == 0) {
				if (nf->next_cfg) {
					notify__cfg_free(nf->next_cfg);
					free(nf->next_cfg);
				}
				nf->next_cfg = next;
			} else {
				free(next);
				log_msg(LOG_ERR, "notify %s: out of memory: its old settings stay",
					c->name);
			}
		} else if (nf && notify__apply_cfg(nf, c) < 0) {
			log_msg(LOG_ERR, "notify %s: out of memory: its old settings stay", c->name);
		} else if (!nf && !(nf = notifier_new(n, c))) {
			log_msg(LOG_ERR, "notify %s: out of memory: this notifier is not set up",
				c->name);
			continue;
		}
		v[nv++] = nf;
	}
	/* The notifiers that are gone end their coroutine; their queue goes with them. */
	for (size_t i = 0; i < n->nv; i++) {
		struct notifier *nf = n->v[i];
		bool kept = false;

		for (size_t k = 0; k < nv && !kept; k++)
			kept = v[k] == nf;
		if (kept)
			continue;
		/* Those of a delivery in flight go too: it is cancelled. */
		size_t lost = nf->qlen + nf->inflight;

		if (lost)
			log_msg(LOG_WARNING, "notify %s: removed from the configuration: its %zu "
				"queued event%s %s dropped", nf->cfg.name, lost,
				lost == 1 ? "" : "s", lost == 1 ? "is" : "are");
		nf->gone = true;
		notify__send_cancel(nf);
		co_cond_broadcast(nf->wake);
		if (!nf->co || nf->ended) {
			notifier_free(nf);
			continue;
		}
		struct notifier **g = realloc(n->gone, (n->ngone + 1) * sizeof *g);
		if (!g) {
			log_msg(LOG_ERR, "notify: out of memory: a removed notifier is leaked");
			continue;
		}
		n->gone = g;
		n->gone[n->ngone++] = nf;
	}
	free(n->v);
	n->v = v;
	n->nv = nv;
	for (size_t i = 0; n->started && i < nv; i++) {
		char name[CFG_NAME_MAX + 16];

		snprintf(name, sizeof name, "notify-%s", v[i]->cfg.name);
		if (!v[i]->co && spawn(n, &v[i]->co, notify__deliver_main, v[i], name) < 0)
			log_msg(LOG_ERR, "notify %s: out of memory: nothing is delivered",
				v[i]->cfg.name);
	}
	n->dirty = true;
	return 0;
}

static void free_gone(struct notify *n)
{
	for (size_t i = 0; i < n->ngone;) {
		if (n->gone[i]->ended) {
			notifier_free(n->gone[i]);
			n->gone[i] = n->gone[--n->ngone];
		} else {
			i++;
		}
	}
}

static void *keeper_main(void *arg)
{
	struct notify *n = arg;
	uint64_t last_save = 0, last_scan = sup_mono_ms();

	co_enable_hook_sys();
	while (!n->stopping) {
		uint64_t now = sup_mono_ms();

		co_cond_timedwait(n->wake, KEEPER_MS);
		if (n->stopping)
			break;
		free_gone(n);
		if (now - last_scan >= SCAN_EVERY_MS) {
			last_scan = now;
			scan(n, sup_wall_ms());
		}
		if (n->dirty && now - last_save >= SAVE_EVERY_MS && !notify__saving(n)) {
			last_save = now;
			n->dirty = false;
			notify__save(n, false);
		}
	}
	n->live--;
	return NULL;
}

int notify_start(struct notify *n)
{
	char name[CFG_NAME_MAX + 16];

	notify__load(n);
	if (sup_add_health_observer(n->d->sup, on_health, n) < 0)
		return -ENOSPC;
	n->started = true;
	if (spawn(n, &n->keeper, keeper_main, n, "notify-keeper") < 0)
		return -ENOMEM;
	for (size_t i = 0; i < n->nv; i++) {
		snprintf(name, sizeof name, "notify-%s", n->v[i]->cfg.name);
		if (spawn(n, &n->v[i]->co, notify__deliver_main, n->v[i], name) < 0)
			return -ENOMEM;
	}
	if (n->nv)
		log_msg(LOG_INFO, "notify: %zu notifier%s", n->nv, n->nv == 1 ? "" : "s");
	return 0;
}

void notify_stop(struct notify *n, uint64_t wait_ms)
{
	uint64_t deadline = sup_mono_ms() + wait_ms;

	if (!n || !n->started)
		return;
	n->stopping = true;
	sup_remove_health_observer(n->d->sup, on_health, n);
	while ((n->live || n->tests) && sup_mono_ms() < deadline) {
		for (size_t i = 0; i < n->nv; i++) {
			notify__send_cancel(n->v[i]);
			co_cond_broadcast(n->v[i]->wake);
		}
		for (struct notifier *t = n->tests; t; t = t->test_next)
			notify__send_cancel(t);
		for (size_t i = 0; i < n->ngone; i++)
			co_cond_broadcast(n->gone[i]->wake);
		co_cond_broadcast(n->wake);
		poll(NULL, 0, 10);
	}
	/* The last word: after any save's thread, on this one. */
	for (int i = 0; i < 500 && notify__saving(n); i++)
		poll(NULL, 0, 10);
	notify__save(n, true);
	n->started = false;
}

void notify_free(struct notify *n)
{
	if (!n || notify__saving(n))
		return; /* a save's thread still holds n (a disk that hangs): left be, at exit */
	for (size_t i = 0; i < n->nv; i++)
		notifier_free(n->v[i]);
	free(n->v);
	for (size_t i = 0; i < n->ngone; i++)
		notifier_free(n->gone[i]);
	free(n->gone);
	for (size_t b = 0; b < n->nbuckets; b++) {
		while (n->buckets[b]) {
			struct njob *j = n->buckets[b];

			n->buckets[b] = j->hnext;
			njob_free(j);
		}
	}
	free(n->buckets);
	if (n->keeper)
		co_release(n->keeper);
	co_cond_free(n->wake);
	free(n->state_dir);
	free(n->instance);
	free(n->member);
	free(n->fleet_instance);
	free(n);
}

/* ---- what the servers read --------------------------------------------------------------- */

bool notify_job_last(const struct notify *n, const char *job, struct notify_job_info *ret)
{
	struct njob *j = notify__job((struct notify *)n, job, false);

	if (!j || (!j->has_last && !j->down_since_ms))
		return false;
	*ret = (struct notify_job_info){
		.event = j->has_last ? nevent_kind_name(j->last_kind) : NULL,
		.notifier = j->has_last ? j->last_notifier : NULL,
		.outcome = j->has_last ? j->last_outcome : NULL,
		.error = j->last_error,
		.at_ms = j->last_at_ms,
		.down_since_ms = j->down_since_ms,
	};
	return true;
}

size_t notify_count(const struct notify *n)
{
	return n ? n->nv : 0;
}

void notify_get(const struct notify *n, size_t i, struct notify_stats *ret)
{
	const struct notifier *nf = n->v[i];

	*ret = (struct notify_stats){
		.name = nf->cfg.name,
		.type = notifier_type_name(nf->cfg.type),
		.delivered = nf->delivered,
		.failed = nf->failed,
		.dropped = nf->dropped,
		.queued = nf->qlen + nf->inflight,
		.firing = nf->firing,
		.last_ok_ms = nf->last_ok_ms,
		.last_error = nf->last_error[0] ? nf->last_error : NULL,
	};
}

int notify_test(struct notify *n, const char *notifier, char *err, size_t err_size)
{
	struct notifier *nf = notify__find(n, notifier), tmp;
	struct nevent *e;
	int ret;

	if (!nf)
		return -ENOENT;
	if (n->stopping || (n->d && n->d->stopping)) {
		snprintf(err, err_size, "the daemon is stopping");
		return -ECANCELED;
	}
	e = nevent_new(NEV_TEST, "notify-test", n->instance, NULL, NULL, sup_wall_ms(),
		       sup_wall_ms(), NULL, 0);
	if (!e) {
		snprintf(err, err_size, "out of memory");
		return -ENOMEM;
	}
	/* Its own handle and exchange: the notifier's coroutine may be sending meanwhile. */
	tmp = (struct notifier){ .n = n, .api_url = dup0(nf->api_url), .test = true };
	if ((nf->api_url && !tmp.api_url) || cfg_copy(&tmp.cfg, &nf->cfg) < 0) {
		free(tmp.api_url);
		nevent_free(e);
		snprintf(err, err_size, "out of memory");
		return -ENOMEM;
	}
	/* Listed while in flight: a stop cancels it (notify_stop waits for it to end). */
	tmp.test_next = n->tests;
	n->tests = &tmp;
	ret = notify__send(&tmp, &e, 1, err, err_size);
	for (struct notifier **pp = &n->tests; *pp; pp = &(*pp)->test_next) {
		if (*pp == &tmp) {
			*pp = tmp.test_next;
			break;
		}
	}
	notify__send_free(&tmp);
	notify__cfg_free(&tmp.cfg);
	free(tmp.api_url);
	if (ret == 0)
		log_msg(LOG_NOTICE, "notify %s: test event delivered", notifier);
	else
		log_msg(LOG_WARNING, "notify %s: test event not delivered: %s", notifier, err);
	nevent_free(e);
	return ret < 0 ? -EIO : 0;
}
