/* SPDX-License-Identifier: MIT */
/*
 * deliver.c: a notifier's coroutine. It takes a batch from the head of
 * its queue (Alertmanager: up to 25 alerts in one POST; mail: a digest of
 * up to 50 events; a webhook or a command: one event), delivers it, and
 * on failure puts it back at the head and waits: 1 s, 2 s, 4 s ... up to
 * 5 min, each with up to 20% jitter so that many daemons do not retry in
 * step. An Alertmanager notifier also re-sends, once a minute, the alert
 * of every job that is down now and names it, with endsAt four minutes
 * ahead: Alertmanager keeps a firing alert while it is re-sent and
 * resolves it by itself when a dead daemon stops re-sending.
 *
 * Events of one job never share a batch: Alertmanager would keep only one
 * of a down and an up given together.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coro/coro.h"
#include "daemon/notify/notify-internal.h"

#define BATCH_ALERTMANAGER 25   /* alerts per POST: building each costs the loop about 50k instructions */
#define BATCH_EMAIL 50
#define LOG_EACH_MAX 10          /* a failed batch larger than this is logged in one line */
#define FIRST_RESEND_MS 10000    /* after start: the state file has been read by then */

static size_t batch_max(const struct notifier *nf)
{
	return nf->cfg.type == NOTIFIER_ALERTMANAGER ? BATCH_ALERTMANAGER :
	       nf->cfg.type == NOTIFIER_EMAIL ? BATCH_EMAIL : 1;
}

/* A cheap random number for jitter (xorshift, seeded from the clock). */
static uint64_t rng(void)
{
	static uint64_t s;

	if (!s)
		s = sup_mono_ms() * 0x9e3779b97f4a7c15ULL | 1;
	s ^= s << 13;
	s ^= s >> 7;
	s ^= s << 17;
	return s;
}

static uint64_t backoff_ms(unsigned fails)
{
	uint64_t ms = NOTIFY_BACKOFF_MIN_MS;

	for (unsigned i = 1; i < fails && ms < NOTIFY_BACKOFF_MAX_MS; i++)
		ms *= 2;
	if (ms > NOTIFY_BACKOFF_MAX_MS)
		ms = NOTIFY_BACKOFF_MAX_MS;
	return ms - ms / 5 + rng() % (ms / 5 * 2 + 1); /* +-20% */
}

/* Puts e back at the head of the queue (the ring has room: e came from it). */
static void push_front(struct notifier *nf, struct nevent *e)
{
	if (nf->qlen == nf->qcap) {
		size_t cap = nf->qcap ? nf->qcap * 2 : 16;
		struct nevent **q = malloc(cap * sizeof *q);

		if (!q) {
			log_notifier(LOG_ERR, nf->cfg.name, e->job,
				     "notify %s: out of memory: a %s event is lost", nf->cfg.name,
				     nevent_kind_name(e->kind));
			nf->dropped++;
			nevent_free(e);
			return;
		}
		for (size_t i = 0; i < nf->qlen; i++)
			q[i + 1] = nf->q[(nf->qhead + i) % nf->qcap];
		free(nf->q);
		nf->q = q;
		nf->qcap = cap;
		nf->qhead = 1;
	}
	nf->qhead = (nf->qhead + nf->qcap - 1) % nf->qcap;
	nf->q[nf->qhead] = e;
	nf->qlen++;
}

/* Past the queue's bound (new events came while a failed batch was out): the oldest go. */
static void trim(struct notifier *nf)
{
	while (nf->qlen > nf->cfg.queue) {
		struct nevent *old = nf->q[nf->qhead];

		nf->qhead = (nf->qhead + 1) % nf->qcap;
		nf->qlen--;
		nf->dropped++;
		log_notifier(LOG_WARNING, nf->cfg.name, old->job,
			     "notify %s: queue full (%u events): the oldest, a %s event, is dropped",
			     nf->cfg.name, nf->cfg.queue, nevent_kind_name(old->kind));
		notify__outcome(nf->n, old, nf, "dropped", "the notifier's queue was full");
		nevent_free(old);
	}
}

static bool in_batch(struct nevent *const *batch, size_t k, const char *job)
{
	for (size_t i = 0; i < k; i++)
		if (strcmp(batch[i]->job, job) == 0)
			return true;
	return false;
}

static void deliver_batch(struct notifier *nf)
{
	struct notify *n = nf->n;
	struct nevent *batch[BATCH_ALERTMANAGER];
	size_t max = batch_max(nf), k = 0;
	char err[NOTIFY_ERROR_MAX], wait[32];
	uint64_t delay;
	int ret;

	while (k < max && nf->qlen) {
		struct nevent *e = nf->q[nf->qhead];

		if (k && in_batch(batch, k, e->job))
			break;
		batch[k++] = e;
		nf->qhead = (nf->qhead + 1) % nf->qcap;
		nf->qlen--;
	}
	nf->inflight = k;
	nf->sending = true;
	nf->cancel = false;
	ret = notify__send(nf, batch, k, err, sizeof err);
	nf->sending = false;
	nf->inflight = 0;
	if (ret == 0) {
		nf->fails = 0;
		nf->next_try_mono = 0;
		nf->delivered += k;
		nf->last_ok_ms = sup_wall_ms();
		for (size_t i = 0; i < k; i++) {
			log_notifier(LOG_INFO, nf->cfg.name, batch[i]->job, "notify %s: %s%s delivered",
				     nf->cfg.name, nevent_kind_name(batch[i]->kind),
				     batch[i]->repeat ? " (repeat)" : "");
			notify__outcome(n, batch[i], nf, "delivered", NULL);
			nevent_free(batch[i]);
		}
		n->dirty = true;
		return;
	}
	/* Not delivered: back to the head of the queue, in their order. */
	for (size_t i = k; i-- > 0;)
		push_front(nf, batch[i]);
	trim(nf);
	if (n->stopping || nf->gone)
		return; /* cancelled: they stay queued (notify.json keeps them) */
	nf->fails++;
	nf->failed += k;
	snprintf(nf->last_error, sizeof nf->last_error, "%s", err);
	delay = backoff_ms(nf->fails);
	nf->next_try_mono = sup_mono_ms() + delay;
	snprintf(wait, sizeof wait, "%llu.%llus", (unsigned long long)(delay / 1000),
		 (unsigned long long)(delay % 1000 / 100));
	if (k > LOG_EACH_MAX) {
		log_notifier(LOG_WARNING, nf->cfg.name, NULL,
			     "notify %s: %zu events (the first for job %s) not delivered, attempt %u: "
			     "%s; next try in %s", nf->cfg.name, k, batch[0]->job, nf->fails, err, wait);
	}
	for (size_t i = 0; i < k; i++) {
		if (k <= LOG_EACH_MAX)
			log_notifier(LOG_WARNING, nf->cfg.name, batch[i]->job,
				     "notify %s: %s not delivered, attempt %u: %s; next try in %s",
				     nf->cfg.name, nevent_kind_name(batch[i]->kind), nf->fails, err,
				     wait);
		notify__outcome(n, batch[i], nf, "failed", err);
	}
}

/* Whether the job names this notifier. */
static bool names(const struct job *job, const char *notifier)
{
	for (size_t i = 0; i < job->nnotify; i++)
		if (strcmp(job->notify[i], notifier) == 0)
			return true;
	return false;
}

/*
 * Alertmanager: the alert of every job that is down now and names this
 * notifier, in batches, with endsAt ahead. Returns 0, or -1 if a batch
 * failed (the rest waits for the next round).
 */
static int resend(struct notifier *nf)
{
	struct notify *n = nf->n;
	struct supervisor *s = n->d->sup;
	struct nevent *batch[BATCH_ALERTMANAGER];
	size_t k = 0, total = 0, count = sup_count(s);
	char err[NOTIFY_ERROR_MAX];
	int ret = 0;

	for (size_t i = 0; i <= count && ret == 0; i++) {
		struct job_state *js = i < count ? sup_job(s, i) : NULL;

		if (js && js->health == HEALTH_DOWN && !js->removed && names(js->job, nf->cfg.name)) {
			bool fleet = js->origin == ORIGIN_FLEET && n->fleet_instance;
			struct nevent *e = nevent_new(NEV_DOWN, js->job->name,
						      fleet ? n->fleet_instance : n->instance,
						      fleet ? n->member : NULL, js->last_error,
						      sup_wall_ms(), js->health_since_ms,
						      js->job->labels, js->job->nlabels);

			if (e)
				batch[k++] = e;
		}
		if (k && (k == BATCH_ALERTMANAGER || !js)) {
			/*
			 * The supervisor's table may change while we send (we
			 * yield): the batch holds copies, and the walk goes on by
			 * index, which at worst skips or repeats a job this round.
			 */
			nf->sending = true;
			nf->cancel = false;
			ret = notify__send(nf, batch, k, err, sizeof err);
			nf->sending = false;
			total += ret == 0 ? k : 0;
			for (size_t b = 0; b < k; b++)
				nevent_free(batch[b]);
			k = 0;
			if (n->stopping || nf->gone)
				return -1;
			count = sup_count(s);
		}
	}
	nf->firing = total;
	if (ret < 0) {
		snprintf(nf->last_error, sizeof nf->last_error, "%s", err);
		log_notifier(LOG_WARNING, nf->cfg.name, NULL,
			     "notify %s: re-sending the firing alerts failed: %s", nf->cfg.name, err);
		return -1;
	}
	if (total)
		log_notifier(LOG_DEBUG, nf->cfg.name, NULL, "notify %s: %zu firing alert%s re-sent",
			     nf->cfg.name, total, total == 1 ? "" : "s");
	return 0;
}

void *notify__deliver_main(void *arg)
{
	struct notifier *nf = arg;
	struct notify *n = nf->n;
	bool am;

	co_enable_hook_sys();
	nf->next_resend_mono = sup_mono_ms() + FIRST_RESEND_MS;
	while (!n->stopping && !nf->gone) {
		uint64_t now = sup_mono_ms(), until = UINT64_MAX;

		if (nf->next_cfg) {
			if (notify__apply_cfg(nf, nf->next_cfg) < 0)
				log_notifier(LOG_ERR, nf->cfg.name, NULL,
					     "notify %s: out of memory: its old settings stay",
					     nf->cfg.name);
			notify__cfg_free(nf->next_cfg);
			free(nf->next_cfg);
			nf->next_cfg = NULL;
		}
		am = nf->cfg.type == NOTIFIER_ALERTMANAGER;
		if (nf->qlen)
			until = nf->next_try_mono > now ? nf->next_try_mono : now;
		if (am && nf->next_resend_mono < until)
			until = nf->next_resend_mono;
		if (until > now) {
			uint64_t wait = until == UINT64_MAX ? 0 : until - now;

			co_cond_timedwait(nf->wake, wait > 60000 ? 60000 : (int)wait);
			continue;
		}
		if (am && now >= nf->next_resend_mono) {
			int r = resend(nf);

			nf->next_resend_mono = sup_mono_ms() +
					       (r == 0 ? NOTIFY_RESEND_MS : backoff_ms(nf->fails + 1));
			continue;
		}
		deliver_batch(nf);
	}
	nf->ended = true;
	n->live--;
	return NULL;
}
