/* SPDX-License-Identifier: MIT */
/*
 * fleet-internal.h: what the fleet's files share. fleet.c: the lease, the
 * member key, the watch and the events it brings; fleet-jobs.c: the table
 * of fleet jobs, placement (rendezvous hashing), running what this member
 * owns, exclusive jobs' locks, published state, and the servers' queries.
 */
#ifndef CORO_DAEMON_FLEET_INTERNAL_H
#define CORO_DAEMON_FLEET_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "daemon/core/core.h"
#include "daemon/fleet/etcd.h"
#include "daemon/fleet/fleet.h"

struct co;
struct co_cond;

struct fmember {
	char *name;
	uint64_t hash;               /* of the name, for placement */
	int64_t lease;
	int64_t since_ms;
	char *version;               /* or NULL */
	char *metrics;               /* or NULL */
	size_t jobs;                 /* fleet jobs it owns (placement) */
	bool self;
};

struct fjob {
	char *name;
	uint64_t hash;               /* of the name, for placement */
	char *text;                  /* the definition as stored in etcd */
	size_t len;
	int64_t mod_revision;
	enum job_type type;
	uint64_t every_ms;
	bool exclusive;
	int owner;                   /* index into f->members, -1: none */
	uint64_t owner_hash;         /* the owner's name hash, 0: none (survives a rebuild of members) */
	size_t index;                /* in f->jobs */
	struct fjob *hnext;

	/* Its last published state (state/NAME). */
	bool has_state;
	enum job_health health;
	unsigned consecutive_failures, consecutive_successes;
	int64_t since_ms;

	/* Here. */
	bool seen;                   /* in the range being read */
	bool running;                /* added to the supervisor (ORIGIN_FLEET) */
	bool clash;                  /* a local job of its name runs here instead */
	bool lock_held;              /* exclusive: locks/NAME is ours */
	bool lock_queued;            /* exclusive: an acquire or release is queued */
};

enum fleet_task_kind {
	TASK_ACQUIRE,                /* take locks/NAME, then run the job if still ours */
	TASK_RELEASE,                /* stop the job, wait for its end, delete locks/NAME */
	TASK_PUBLISH,                /* write state/NAME = value */
};

struct fleet_task {
	enum fleet_task_kind kind;
	char *name;
	char *value;                 /* TASK_PUBLISH */
	struct fleet_task *next;
};

struct fleet {
	struct daemon *d;
	struct cfg_fleet cfg;        /* a deep copy */
	char *metrics;
	char *self_value;            /* members/NAME's value */
	size_t prefix_len;

	struct etcd *lease_etcd;     /* the lease coroutine's handle */
	struct etcd *watch_etcd;     /* the watch coroutine's */
	struct etcd *sync_etcd;      /* the sync coroutine's */
	struct etcd *ctl_etcd;       /* control requests' (add, kill, timetolive), one at a time */
	bool ctl_busy;
	struct co *lease_co, *watch_co, *sync_co, *guard_co;
	struct co_cond *wake;        /* broadcast on changes the coroutines wait for */
	size_t live_coroutines;
	bool stopping;

	/* The lease. */
	int64_t lease;               /* 0: none */
	int64_t ttl_ms;              /* the TTL etcd granted */
	bool joined;                 /* members/NAME is ours */
	bool waiting_logged;
	uint64_t last_ok_sent_mono;  /* when the last successful renewal (or the grant) was sent */
	int64_t last_renewal_wall;
	bool exclusive_ok;           /* the lease is surely alive: exclusive jobs may run */
	bool etcd_up;
	char state[160];
	uint64_t renewals;

	/* What etcd holds, as the watch keeps it. */
	struct fmember *members;     /* sorted by name */
	size_t nmembers;
	struct fjob **jobs;          /* in no order (swap-removed) */
	size_t njobs, jobs_cap;
	struct fjob **buckets;
	size_t nbuckets;
	size_t jobs_invalid;
	int64_t revision;
	bool need_range;
	bool ranged;                 /* the first range is applied: the member may join */
	bool ranging;                /* a range is being applied: placement waits for its end */
	uint64_t moves;
	size_t owned;

	struct fleet_task *tasks, **tasks_tail;
};

/* ---- fleet.c --------------------------------------------------------------- */

/* prefix + part + name, into buf (NULL if it does not fit). */
char *fleet__key(const struct fleet *f, const char *part, const char *name, char *buf,
		 size_t size);

/* ---- fleet-jobs.c ------------------------------------------------------------ */

uint64_t fleet__hash(const char *s);

/* A job's rendezvous score on a member (both hashes from fleet__hash): the highest wins. */
uint64_t fleet__score(uint64_t member, uint64_t job);

struct fjob *fleet__job_find(const struct fleet *f, const char *name);

/*
 * A put of jobs/NAME: parsed and validated; an invalid one is logged with
 * its key and dropped from the table. Returns the job if it is in the
 * table afterwards (new or changed), else NULL.
 */
struct fjob *fleet__job_put(struct fleet *f, const char *name, const struct etcd_kv *kv);
void fleet__job_delete(struct fleet *f, const char *name);

/* A put of state/NAME. */
void fleet__state_put(struct fleet *f, const char *name, const char *value, size_t len);

/* Drops every job (a fresh range follows). */
void fleet__jobs_clear(struct fleet *f);

/* Placement of every job over the members (after they changed); logs the moves. */
void fleet__place_all(struct fleet *f, const char *why);
void fleet__place(struct fleet *f, struct fjob *j);

/*
 * Makes what runs here match placement: starts the owned jobs that do not
 * run, stops the others (exclusive ones through the sync coroutine).
 */
void fleet__reconcile(struct fleet *f, struct fjob *j);
void fleet__reconcile_all(struct fleet *f);

/* Stops every exclusive job at once, without etcd (the lease may have expired). */
void fleet__stop_exclusive(struct fleet *f);

/* A delete of locks/NAME: an exclusive job waiting for it tries again. */
void fleet__lock_gone(struct fleet *f, const char *name);

void fleet__queue(struct fleet *f, enum fleet_task_kind kind, const char *name, char *value);

/* The sync coroutine: runs the queued tasks. */
void *fleet__sync_main(void *arg);

/* The supervisor's health observer: queues a publication. */
void fleet__on_health(void *arg, struct job_state *js, enum job_health was);

void fleet__members_clear(struct fleet *f);

#endif
