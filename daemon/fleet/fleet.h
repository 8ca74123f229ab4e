/* SPDX-License-Identifier: MIT */
/*
 * fleet.h: fleet mode (issue 13, SPEC §8): many coro-runnerd daemons, the
 * members of a fleet, share one set of fleet jobs through etcd, and each
 * fleet job runs on exactly one live member. docs/fleet.md has the design
 * and the argument for exclusive jobs; this is the room's interface, for
 * main.c (start, stop), control/ (add, kill, the fleet command) and http/
 * (metrics).
 *
 * Keys under the prefix (default /coro-runner/):
 *   members/NAME  a member, attached to its lease: JSON {version, start_ms, metrics}
 *   jobs/NAME     a fleet job's definition: YAML text of one job (jobs: [...])
 *   state/NAME    its last published up/down state: JSON, written on transitions
 *   locks/NAME    an exclusive job's owner while it may run, attached to its lease
 *
 * Everything runs on the daemon's thread; functions marked "may yield"
 * need a coroutine with hooks on.
 */
#ifndef CORO_DAEMON_FLEET_H
#define CORO_DAEMON_FLEET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

struct daemon;
struct fleet;

/*
 * A fleet for daemon d, from the configuration's fleet section (copied);
 * metrics is the daemon's metrics address or NULL. NULL on out of memory.
 */
struct fleet *fleet_new(struct daemon *d, const struct cfg_fleet *cfg, const char *metrics);

/*
 * Starts the fleet's coroutines: it joins (a lease and the member key),
 * reads and watches the prefix, and runs the fleet jobs it owns. Never
 * waits for etcd: local jobs run whatever etcd does. Returns 0 or -ENOMEM.
 */
int fleet_start(struct fleet *f);

/*
 * Leaves the fleet: stops the fleet jobs this member runs, revokes the
 * lease (so that the other members take the jobs at once, without
 * waiting for it to expire) and ends the coroutines, within about
 * wait_ms. May yield.
 */
void fleet_stop(struct fleet *f, uint64_t wait_ms);

void fleet_free(struct fleet *f);

/*
 * After a reload: a file now defining a fleet job's name wins on this
 * member (the fleet job does not run here and says so); a fleet job whose
 * clash is gone runs again.
 */
void fleet_reloaded(struct fleet *f);

/* ---- what the servers read ------------------------------------------------- */

struct fleet_stats {
	const char *member;          /* this member's name */
	const char *state;           /* "joining", "joined", "waiting: ...", "etcd unreachable: ..." */
	const char *endpoint;        /* the etcd endpoint in use */
	bool etcd_up;                /* the last call to etcd succeeded */
	int64_t lease_id;            /* 0: none */
	int64_t last_renewal_ms;     /* wall clock of the last successful renewal, 0 if none */
	int64_t watch_revision;      /* the last revision seen */
	size_t members;              /* live members (this one included once joined) */
	size_t jobs;                 /* fleet jobs defined */
	size_t jobs_owned;           /* of those, this member's */
	size_t jobs_invalid;         /* keys under jobs/ that are not a valid job */
	uint64_t moves;              /* jobs whose owner changed, as seen here */
	uint64_t renewals;           /* successful lease renewals */
};

void fleet_get_stats(const struct fleet *f, struct fleet_stats *ret);

/* This member's name. */
const char *fleet_member(const struct fleet *f);

/* The members, sorted by name: i in [0, fleet_member_count()). */
struct fleet_member_info {
	const char *name;
	bool self;
	int64_t since_ms;            /* start_ms from its key's value, 0 if unknown */
	size_t jobs;                 /* fleet jobs it owns */
	const char *version;         /* NULL if unknown */
	const char *metrics;         /* NULL if none */
	int64_t lease;
};
size_t fleet_member_count(const struct fleet *f);
void fleet_member_get(const struct fleet *f, size_t i, struct fleet_member_info *ret);

/*
 * The seconds left on a member's lease, asked of etcd (-1 if unknown).
 * May yield.
 */
int64_t fleet_lease_ttl(struct fleet *f, int64_t lease);

/* The fleet jobs, sorted by name: i in [0, fleet_job_count()). */
struct fleet_job_info {
	const char *name;
	enum job_type type;
	uint64_t every_ms;
	bool exclusive;
	const char *owner;           /* NULL: no live member */
	const char *health;          /* the last published state: "up", "down", "unknown" */
};
size_t fleet_job_count(const struct fleet *f);
void fleet_job_get(const struct fleet *f, size_t i, struct fleet_job_info *ret);

/* The fleet job named name (into *ret): true, or false if there is none. */
bool fleet_job_find(const struct fleet *f, const char *name, struct fleet_job_info *ret);

/* True if this daemon runs name as a fleet job it owns. */
bool fleet_owns(const struct fleet *f, const char *name);

/* ---- what control/ changes (may yield) ------------------------------------ */

/*
 * Writes the jobs of cfg (validated by the caller) to etcd as fleet jobs,
 * each only if no fleet job of its name exists (a transaction, so that two
 * adds of one name cannot both win). A name in *clash is copied to
 * name_buf. Returns 0; -EEXIST (a fleet job of that name exists; jobs
 * written before it in this call are deleted again); -EIO with the
 * reason in err (etcd unreachable).
 */
int fleet_add(struct fleet *f, const struct config *cfg, char *name_buf, size_t name_size,
	      char *err, size_t err_size);

/* Deletes a fleet job. Returns 0, -ENOENT, or -EIO with the reason in err. */
int fleet_kill(struct fleet *f, const char *name, char *err, size_t err_size);

#endif
