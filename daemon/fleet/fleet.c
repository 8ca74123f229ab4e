/* SPDX-License-Identifier: MIT */
/*
 * fleet.c: a member's life in the fleet: its lease and member key (the
 * lease coroutine), the guard that stops exclusive jobs when the lease may
 * have expired, and the watch that keeps this member's copy of the prefix
 * (members, jobs, state, locks) and hands changes to fleet-jobs.c.
 *
 * The coroutines, each with its own etcd handle (one call in flight each):
 *   lease  grants the lease, creates members/NAME under it (waits while
 *          another daemon holds the name), renews every ttl/3;
 *   guard  every 50 ms: past last successful renewal + ttl - margin, stops
 *          exclusive jobs (docs/fleet.md argues why that is enough);
 *   watch  ranges the prefix, then watches it from the next revision,
 *          resuming after a disconnect and ranging afresh after compaction;
 *   sync   the etcd writes that follow from placement (fleet-jobs.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coro/coro.h"
#include "daemon/fleet/fleet-internal.h"

#ifndef CORO_VERSION
#define CORO_VERSION "unknown"
#endif

#define GUARD_MS 50            /* how often the guard looks at the lease's age */
#define RETRY_MS 250           /* after a failed call to etcd */

char *fleet__key(const struct fleet *f, const char *part, const char *name, char *buf,
		 size_t size)
{
	int n = snprintf(buf, size, "%s%s%s", f->cfg.prefix, part, name ? name : "");

	return n < 0 || (size_t)n >= size ? NULL : buf;
}

static void sleep_ms(uint64_t ms)
{
	poll(NULL, 0, (int)ms);
}

/* How long before the lease may expire the guard stops exclusive jobs. */
static uint64_t margin_ms(const struct fleet *f)
{
	uint64_t m = (uint64_t)f->ttl_ms / 4;

	return m < 500 ? 500 : m;
}

/* ---- life ---------------------------------------------------------------- */

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static void cfg_copy_free(struct cfg_fleet *c)
{
	for (size_t i = 0; i < c->netcd; i++)
		free(c->etcd[i]);
	free(c->etcd);
	free(c->prefix);
	free(c->member);
	free(c->ca_file);
	free(c->cert_file);
	free(c->key_file);
}

static struct etcd *handle(const struct fleet *f, uint64_t timeout_ms)
{
	struct etcd_options o = {
		.endpoints = (const char *const *)f->cfg.etcd,
		.nendpoints = f->cfg.netcd,
		.ca_file = f->cfg.ca_file,
		.cert_file = f->cfg.cert_file,
		.key_file = f->cfg.key_file,
		.timeout_ms = timeout_ms,
	};

	return etcd_new(&o);
}

struct fleet *fleet_new(struct daemon *d, const struct cfg_fleet *cfg, const char *metrics)
{
	struct fleet *f = calloc(1, sizeof *f);
	uint64_t lease_timeout = cfg->ttl_ms / 3;
	bool ok;

	if (!f)
		return NULL;
	f->d = d;
	f->cfg.etcd = calloc(cfg->netcd ? cfg->netcd : 1, sizeof *f->cfg.etcd);
	ok = f->cfg.etcd != NULL;
	for (size_t i = 0; ok && i < cfg->netcd; i++) {
		ok = (f->cfg.etcd[i] = strdup(cfg->etcd[i])) != NULL;
		f->cfg.netcd = i + 1;
	}
	f->cfg.prefix = strdup(cfg->prefix ? cfg->prefix : CFG_FLEET_PREFIX_DEFAULT);
	f->cfg.member = dup_or_null(cfg->member);
	f->cfg.ttl_ms = cfg->ttl_ms ? cfg->ttl_ms : CFG_FLEET_TTL_DEFAULT_MS;
	f->cfg.ca_file = dup_or_null(cfg->ca_file);
	f->cfg.cert_file = dup_or_null(cfg->cert_file);
	f->cfg.key_file = dup_or_null(cfg->key_file);
	f->metrics = dup_or_null(metrics);
	f->ttl_ms = (int64_t)f->cfg.ttl_ms;
	f->wake = co_cond_alloc();
	f->tasks_tail = &f->tasks;
	ok = ok && f->cfg.prefix && f->cfg.member && f->wake && (!metrics || f->metrics);
	if (ok) {
		f->prefix_len = strlen(f->cfg.prefix);
		if (lease_timeout < 500)
			lease_timeout = 500;
		if (lease_timeout > 3000)
			lease_timeout = 3000;
		f->lease_etcd = handle(f, lease_timeout);
		f->watch_etcd = handle(f, 5000);
		f->sync_etcd = handle(f, 5000);
		f->ctl_etcd = handle(f, 5000);
		ok = f->lease_etcd && f->watch_etcd && f->sync_etcd && f->ctl_etcd;
	}
	snprintf(f->state, sizeof f->state, "joining");
	if (!ok) {
		fleet_free(f);
		return NULL;
	}
	return f;
}

void fleet_free(struct fleet *f)
{
	if (!f)
		return;
	fleet__jobs_clear(f);
	free(f->jobs);
	free(f->buckets);
	fleet__members_clear(f);
	while (f->tasks) {
		struct fleet_task *t = f->tasks;

		f->tasks = t->next;
		free(t->name);
		free(t->value);
		free(t);
	}
	etcd_free(f->lease_etcd);
	etcd_free(f->watch_etcd);
	etcd_free(f->sync_etcd);
	etcd_free(f->ctl_etcd);
	co_cond_free(f->wake);
	cfg_copy_free(&f->cfg);
	free(f->metrics);
	free(f->self_value);
	free(f);
}

/* ---- the lease ------------------------------------------------------------- */

static char *member_value(const struct fleet *f)
{
	json_t *v = json_pack("{s:s, s:I, s:I, s:s?}", "version", CORO_VERSION, "start_ms",
			      (json_int_t)f->d->start_wall_ms, "pid", (json_int_t)getpid(),
			      "metrics", f->metrics);
	char *text = v ? json_dumps(v, JSON_COMPACT) : NULL;

	json_decref(v);
	return text;
}

static void set_state(struct fleet *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_state(struct fleet *f, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(f->state, sizeof f->state, fmt, ap);
	va_end(ap);
}

static void etcd_failed(struct fleet *f, const char *what, struct etcd *e)
{
	if (f->etcd_up || strncmp(f->state, "etcd unreachable", 16) != 0)
		log_member(LOG_WARNING, f->cfg.member, NULL, "fleet: etcd unreachable (%s): %s",
			   what, etcd_error(e));
	f->etcd_up = false;
	set_state(f, "etcd unreachable: %s", etcd_error(e));
	/* A watch on a connection that went silent would never notice. */
	etcd_cancel(f->watch_etcd);
}

/* A call to etcd succeeded: says so if the last one had failed. */
static void etcd_answered(struct fleet *f, struct etcd *e)
{
	if (!f->etcd_up && strncmp(f->state, "etcd unreachable", 16) == 0)
		log_member(LOG_NOTICE, f->cfg.member, NULL, "fleet: etcd answers again (%s)",
			   etcd_endpoint(e));
	f->etcd_up = true;
}

/* The lease is gone (expired or revoked): this member owns nothing until it rejoins. */
static void lease_lost(struct fleet *f)
{
	log_member(LOG_WARNING, f->cfg.member, NULL,
		   "fleet: lease %llx expired; leaving the fleet jobs to the other members and "
		   "rejoining", (unsigned long long)f->lease);
	f->lease = 0;
	f->joined = false;
	f->exclusive_ok = false;
	fleet__stop_exclusive(f);
	fleet__reconcile_all(f);
	set_state(f, "joining");
}

/* Grants a lease and takes members/NAME under it. Returns true once joined. */
static bool join(struct fleet *f)
{
	char key[512];
	struct etcd_kv held = { 0 };
	bool created = false;
	int64_t ttl_s;
	uint64_t sent;
	int ret;

	if (!f->lease) {
		sent = sup_mono_ms();
		ret = etcd_grant(f->lease_etcd, f->ttl_ms / 1000, &f->lease, &ttl_s);
		if (ret < 0) {
			etcd_failed(f, "grant", f->lease_etcd);
			return false;
		}
		f->ttl_ms = ttl_s * 1000;
		f->last_ok_sent_mono = sent;
		etcd_answered(f, f->lease_etcd);
	}
	if (!f->self_value && !(f->self_value = member_value(f)))
		return false;
	fleet__key(f, "members/", f->cfg.member, key, sizeof key);
	ret = etcd_create(f->lease_etcd, key, f->self_value, strlen(f->self_value), f->lease,
			  &created, &held);
	if (ret == -ENOENT) {
		etcd_answered(f, f->lease_etcd); /* that the lease is gone */
		lease_lost(f);
		return false;
	}
	if (ret < 0) {
		etcd_failed(f, "join", f->lease_etcd);
		return false;
	}
	etcd_answered(f, f->lease_etcd);
	if (!created && held.lease != f->lease) {
		if (!f->waiting_logged)
			log_member(LOG_ERR, f->cfg.member, NULL,
				   "fleet: member name %s is held by another daemon (lease %llx): "
				   "not joining while it lives; local jobs run, fleet jobs do not",
				   f->cfg.member, (unsigned long long)held.lease);
		f->waiting_logged = true;
		set_state(f, "waiting: member name held by another daemon");
		etcd_kv_free(&held);
		return false;
	}
	etcd_kv_free(&held);
	f->joined = true;
	f->waiting_logged = false;
	f->exclusive_ok = true;
	set_state(f, "joined");
	log_member(LOG_NOTICE, f->cfg.member, NULL, "fleet: joined as member %s (lease %llx, ttl %llds)",
		   f->cfg.member, (unsigned long long)f->lease, (long long)(f->ttl_ms / 1000));
	/*
	 * The watch may have seen members/NAME (and placed jobs here) before
	 * the create's answer came back; nothing ran them while not joined.
	 */
	fleet__reconcile_all(f);
	co_cond_broadcast(f->wake);
	return true;
}

static void renew(struct fleet *f)
{
	uint64_t sent = sup_mono_ms();
	int64_t ttl_s;
	int ret = etcd_keepalive(f->lease_etcd, f->lease, &ttl_s);

	if (ret == -ENOENT) {
		etcd_answered(f, f->lease_etcd); /* that the lease is gone */
		lease_lost(f);
		return;
	}
	if (ret < 0) {
		etcd_failed(f, "lease renewal", f->lease_etcd);
		return;
	}
	etcd_answered(f, f->lease_etcd);
	f->last_ok_sent_mono = sent;
	f->last_renewal_wall = sup_wall_ms();
	f->renewals++;
	/* A daemon waiting for its name renews its lease too: it stays waiting. */
	if (f->joined && strcmp(f->state, "joined") != 0)
		set_state(f, "joined");
	if (!f->exclusive_ok) {
		/* The lease lived through the outage: exclusive jobs may run again. */
		f->exclusive_ok = true;
		fleet__reconcile_all(f);
	}
}

/* Sleeps ms, or less if the fleet stops (fleet_stop broadcasts f->wake). */
static void nap(struct fleet *f, uint64_t ms)
{
	uint64_t until = sup_mono_ms() + ms, now;

	while (!f->stopping && (now = sup_mono_ms()) < until)
		co_cond_timedwait(f->wake, (int)(until - now));
}

static void *lease_main(void *arg)
{
	struct fleet *f = arg;

	co_enable_hook_sys();
	/*
	 * Join once this member holds a copy of the fleet: its key tells the
	 * others to drop the jobs that move to it, and it must be ready to
	 * start them then (a range of 100,000 jobs takes seconds).
	 */
	while (!f->stopping && !f->ranged)
		nap(f, RETRY_MS);
	while (!f->stopping) {
		uint64_t start = sup_mono_ms(), period = (uint64_t)f->ttl_ms / 3, took;

		if (!f->joined) {
			if (!join(f)) {
				/* Waiting for the name: keep the lease we have alive meanwhile. */
				if (f->lease && strncmp(f->state, "waiting", 7) == 0)
					renew(f);
				if (!f->stopping)
					nap(f, f->etcd_up ? period : RETRY_MS);
				continue;
			}
		} else
			renew(f);
		if (f->stopping)
			break;
		took = sup_mono_ms() - start;
		if (!f->etcd_up)
			nap(f, RETRY_MS);
		else if (took < period)
			nap(f, period - took);
	}
	f->live_coroutines--;
	return NULL;
}

static void *guard_main(void *arg)
{
	struct fleet *f = arg;

	co_enable_hook_sys();
	while (!f->stopping) {
		if (f->exclusive_ok &&
		    sup_mono_ms() >= f->last_ok_sent_mono + (uint64_t)f->ttl_ms - margin_ms(f)) {
			f->exclusive_ok = false;
			log_member(LOG_WARNING, f->cfg.member, NULL,
				   "fleet: no lease renewal for %llu ms: stopping exclusive jobs "
				   "before the lease may expire",
				   (unsigned long long)(sup_mono_ms() - f->last_ok_sent_mono));
			fleet__stop_exclusive(f);
		}
		sleep_ms(GUARD_MS);
	}
	f->live_coroutines--;
	return NULL;
}

/* ---- the watch ------------------------------------------------------------- */

static int member_cmp(const void *a, const void *b)
{
	return strcmp(((const struct fmember *)a)->name, ((const struct fmember *)b)->name);
}

static void member_free(struct fmember *m)
{
	free(m->name);
	free(m->version);
	free(m->metrics);
}

void fleet__members_clear(struct fleet *f)
{
	for (size_t i = 0; i < f->nmembers; i++)
		member_free(&f->members[i]);
	free(f->members);
	f->members = NULL;
	f->nmembers = 0;
}

static struct fmember *member_find(struct fleet *f, const char *name)
{
	struct fmember key = { .name = (char *)name };

	return f->nmembers ? bsearch(&key, f->members, f->nmembers, sizeof key, member_cmp) : NULL;
}

/* members/NAME put: true if the set of members changed. */
static bool member_put(struct fleet *f, const char *name, const struct etcd_kv *kv, bool quiet)
{
	struct fmember *m = member_find(f, name), fresh = { 0 };
	json_t *v = json_loadb(kv->value, kv->value_len, 0, NULL);
	const char *version = NULL, *metrics = NULL;
	json_int_t since = 0;
	bool is_new = !m;

	if (v)
		json_unpack(v, "{s?s, s?I, s?s}", "version", &version, "start_ms", &since,
			    "metrics", &metrics);
	if (!m) {
		struct fmember *mv = realloc(f->members, (f->nmembers + 1) * sizeof *mv);

		if (mv)
			f->members = mv;
		if (!mv || !(fresh.name = strdup(name))) {
			json_decref(v);
			return false;
		}
		fresh.hash = fleet__hash(name);
		f->members[f->nmembers++] = fresh;
		qsort(f->members, f->nmembers, sizeof *f->members, member_cmp);
		m = member_find(f, name);
	}
	/*
	 * This daemon's key only if under its lease: while another daemon
	 * holds the name, that one is another member, not this one.
	 */
	m->self = strcmp(name, f->cfg.member) == 0 && f->lease && kv->lease == f->lease;
	free(m->version);
	free(m->metrics);
	m->version = dup_or_null(version);
	m->metrics = dup_or_null(metrics);
	m->since_ms = since;
	m->lease = kv->lease;
	json_decref(v);
	if (is_new && !m->self && !quiet)
		log_member(LOG_NOTICE, name, NULL, "fleet: member %s joined", name);
	return is_new;
}

static bool member_delete(struct fleet *f, const char *name)
{
	struct fmember *m = member_find(f, name);
	size_t i;

	if (!m)
		return false;
	if (!m->self)
		log_member(LOG_NOTICE, name, NULL, "fleet: member %s left", name);
	i = (size_t)(m - f->members);
	member_free(m);
	memmove(m, m + 1, (f->nmembers - i - 1) * sizeof *m);
	f->nmembers--;
	return true;
}

/*
 * One key's change. Returns true if the members changed (placement of
 * every job follows); a job's own change is placed here.
 */
static bool apply(struct fleet *f, enum etcd_event_type type, const struct etcd_kv *kv)
{
	const char *rest;
	struct fjob *j;

	if (kv->key_len < f->prefix_len || memcmp(kv->key, f->cfg.prefix, f->prefix_len) != 0)
		return false;
	rest = kv->key + f->prefix_len;
	if (strncmp(rest, "members/", 8) == 0 && rest[8]) {
		bool quiet = f->ranging; /* a range rebuilds the members: no joined lines */

		if (type == ETCD_PUT)
			return member_put(f, rest + 8, kv, quiet);
		return member_delete(f, rest + 8);
	}
	if (strncmp(rest, "jobs/", 5) == 0 && rest[5]) {
		if (type == ETCD_DELETE) {
			fleet__job_delete(f, rest + 5);
		} else if ((j = fleet__job_put(f, rest + 5, kv)) && !f->ranging) {
			fleet__place(f, j);
			fleet__reconcile(f, j);
		}
	} else if (strncmp(rest, "state/", 6) == 0 && rest[6]) {
		if (type == ETCD_PUT)
			fleet__state_put(f, rest + 6, kv->value, kv->value_len);
	} else if (strncmp(rest, "locks/", 6) == 0 && rest[6]) {
		if (type == ETCD_DELETE)
			fleet__lock_gone(f, rest + 6);
	}
	return false;
}

static int on_events(void *arg, const struct etcd_event *ev, size_t n, int64_t revision)
{
	struct fleet *f = arg;
	bool members = false;

	for (size_t i = 0; i < n; i++)
		members |= apply(f, ev[i].type, &ev[i].kv);
	if (revision > f->revision)
		f->revision = revision;
	if (members)
		fleet__place_all(f, "members changed");
	return f->stopping ? -ECANCELED : 0;
}

/* A fresh copy of the prefix: everything known before is replaced. */
static int range(struct fleet *f)
{
	struct etcd_kvs kvs = { 0 };
	int64_t rev = 0;
	int ret = etcd_range_prefix(f->watch_etcd, f->cfg.prefix, &kvs, &rev);

	if (ret < 0) {
		etcd_kvs_free(&kvs);
		return ret;
	}
	/* Mark and sweep: jobs the range does not hold stop; members are rebuilt. */
	for (size_t i = 0; i < f->njobs; i++)
		f->jobs[i]->seen = false;
	fleet__members_clear(f);
	f->ranging = true;
	for (size_t k = 0; k < kvs.n; k++)
		apply(f, ETCD_PUT, &kvs.v[k]);
	f->ranging = false;
	etcd_kvs_free(&kvs);
	for (size_t i = 0; i < f->njobs;) {
		if (!f->jobs[i]->seen)
			fleet__job_delete(f, f->jobs[i]->name); /* swap-removes: i stays */
		else
			i++;
	}
	f->revision = rev;
	log_member(LOG_INFO, f->cfg.member, NULL,
		   "fleet: read %zu fleet job%s and %zu member%s at revision %lld", f->njobs,
		   f->njobs == 1 ? "" : "s", f->nmembers, f->nmembers == 1 ? "" : "s",
		   (long long)rev);
	fleet__place_all(f, "read the fleet");
	return 0;
}

static void *watch_main(void *arg)
{
	struct fleet *f = arg;

	co_enable_hook_sys();
	f->need_range = true;
	while (!f->stopping) {
		int64_t compacted = 0;
		int ret;

		if (f->need_range) {
			ret = range(f);
			if (ret < 0) {
				if (f->stopping)
					break;
				/* Before the first range, the lease coroutine waits: say why here. */
				if (!f->ranged && ret != -ECANCELED)
					etcd_failed(f, "reading the fleet", f->watch_etcd);
				sleep_ms(RETRY_MS);
				continue;
			}
			f->need_range = false;
			f->ranged = true;
			co_cond_broadcast(f->wake); /* the lease coroutine may join now */
		}
		ret = etcd_watch(f->watch_etcd, f->cfg.prefix, f->revision + 1, on_events, f,
				 &compacted);
		if (f->stopping)
			break;
		if (ret == -ESTALE) {
			log_member(LOG_WARNING, f->cfg.member, NULL,
				   "fleet: revision %lld was compacted (to %lld): reading the fleet afresh",
				   (long long)f->revision + 1, (long long)compacted);
			f->need_range = true;
			continue;
		}
		/* Broken off or cancelled (etcd unreachable): resume from where it was. */
		sleep_ms(RETRY_MS);
	}
	f->live_coroutines--;
	return NULL;
}

/* ---- start and stop -------------------------------------------------------- */

static struct co *spawn(struct fleet *f, co_fn *fn, const char *name)
{
	struct co_attr attr = { 256 * 1024, NULL };
	struct co *co;

	if (co_create(&co, &attr, fn, f) < 0)
		return NULL;
	co_set_name(co, name);
	f->live_coroutines++;
	co_resume(co);
	return co;
}

int fleet_start(struct fleet *f)
{
	sup_add_health_observer(f->d->sup, fleet__on_health, f);
	log_member(LOG_INFO, f->cfg.member, NULL, "fleet: member %s, etcd %s%s, prefix %s, ttl %llus",
		   f->cfg.member, f->cfg.etcd[0], f->cfg.netcd > 1 ? " (and others)" : "",
		   f->cfg.prefix, (unsigned long long)(f->cfg.ttl_ms / 1000));
	if (!(f->lease_co = spawn(f, lease_main, "fleet-lease")) ||
	    !(f->guard_co = spawn(f, guard_main, "fleet-guard")) ||
	    !(f->watch_co = spawn(f, watch_main, "fleet-watch")) ||
	    !(f->sync_co = spawn(f, fleet__sync_main, "fleet-sync")))
		return -ENOMEM;
	return 0;
}

void fleet_stop(struct fleet *f, uint64_t wait_ms)
{
	uint64_t deadline = sup_mono_ms() + wait_ms;

	if (!f)
		return;
	f->stopping = true;
	f->joined = false;
	f->exclusive_ok = false;
	/* Exclusive jobs end before the lease goes, so no one else starts them early. */
	fleet__stop_exclusive(f);
	fleet__reconcile_all(f);
	while (f->live_coroutines && sup_mono_ms() < deadline) {
		etcd_cancel(f->lease_etcd);
		etcd_cancel(f->watch_etcd);
		etcd_cancel(f->sync_etcd);
		co_cond_broadcast(f->wake);
		sleep_ms(10);
	}
	if (f->lease) {
		/* The other members take this one's jobs at once, not after the TTL. */
		if (etcd_revoke(f->lease_etcd, f->lease) == 0)
			log_member(LOG_NOTICE, f->cfg.member, NULL, "fleet: left the fleet (lease revoked)");
		else
			log_member(LOG_WARNING, f->cfg.member, NULL,
				   "fleet: cannot revoke the lease (%s): the others take over "
				   "when it expires", etcd_error(f->lease_etcd));
		f->lease = 0;
	}
	sup_remove_health_observer(f->d->sup, fleet__on_health, f);
	if (!f->live_coroutines) {
		if (f->lease_co)
			co_release(f->lease_co);
		if (f->guard_co)
			co_release(f->guard_co);
		if (f->watch_co)
			co_release(f->watch_co);
		if (f->sync_co)
			co_release(f->sync_co);
		f->lease_co = f->guard_co = f->watch_co = f->sync_co = NULL;
	}
}

/* ---- what the servers read ----------------------------------------------------- */

void fleet_get_stats(const struct fleet *f, struct fleet_stats *ret)
{
	*ret = (struct fleet_stats){
		.member = f->cfg.member,
		.state = f->state,
		.endpoint = etcd_endpoint(f->lease_etcd),
		.etcd_up = f->etcd_up,
		.lease_id = f->lease,
		.last_renewal_ms = f->last_renewal_wall,
		.watch_revision = f->revision,
		.members = f->nmembers,
		.jobs = f->njobs,
		.jobs_owned = f->owned,
		.jobs_invalid = f->jobs_invalid,
		.moves = f->moves,
		.renewals = f->renewals,
	};
}

const char *fleet_member(const struct fleet *f)
{
	return f->cfg.member;
}

size_t fleet_member_count(const struct fleet *f)
{
	return f->nmembers;
}

void fleet_member_get(const struct fleet *f, size_t i, struct fleet_member_info *ret)
{
	const struct fmember *m = &f->members[i];

	*ret = (struct fleet_member_info){ m->name, m->self, m->since_ms, m->jobs, m->version,
					   m->metrics, m->lease };
}

int64_t fleet_lease_ttl(struct fleet *f, int64_t lease)
{
	int64_t ttl = -1;

	if (f->ctl_busy || !lease)
		return -1;
	f->ctl_busy = true;
	if (etcd_timetolive(f->ctl_etcd, lease, &ttl) < 0)
		ttl = -1;
	f->ctl_busy = false;
	return ttl;
}
