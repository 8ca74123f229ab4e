/* SPDX-License-Identifier: MIT */
/*
 * notify.h: notifications (issue 14): when a job goes down or comes back,
 * tell someone, through Alertmanager, a webhook, mail or a command, and
 * lose no event. docs/notify.md has the design; this is the room's
 * interface, for main.c (life), control/ (coctl notify test, the job's
 * last notification in status) and http/ (metrics).
 *
 * An event is a transition of a job's up/down state as its thresholds
 * decide it: "down" (with the run's error) and "up" (with how long the job
 * was down). Each notifier named by the job's `notify` gets its own copy
 * in its own bounded queue, and its own coroutine delivers the queue,
 * retrying with exponential backoff and jitter; a probe never waits for a
 * delivery. Alertmanager notifiers also re-send every firing alert once a
 * minute (endsAt four minutes ahead), so the alerts of a dead daemon
 * resolve by themselves.
 *
 * What must survive a restart (the queues, and which downs were notified,
 * so that a job that is still down after a restart is not notified again)
 * lives in <state-dir>/notify.json, written atomically when it changed (at
 * most every few seconds) and at stop.
 *
 * Everything runs on the daemon's thread; functions marked "may yield"
 * need a coroutine with hooks on.
 */
#ifndef CORO_DAEMON_NOTIFY_H
#define CORO_DAEMON_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

struct daemon;
struct notify;

/*
 * The notifications of daemon d; state_dir holds notify.json (NULL: nothing
 * persists). instance is the `instance` label of local jobs' alerts (the
 * host name, or the fleet member's name), fleet_instance that of fleet jobs
 * (the same on every member, so that a job's move keeps its alert), or
 * NULL without a fleet. NULL on out of memory.
 */
struct notify *notify_new(struct daemon *d, const char *state_dir, const char *instance,
			  const char *fleet_instance);

/*
 * Takes the notifiers of cfg (copied; cfg is not kept). At start, before
 * notify_start; at a reload, after it succeeded. A notifier of the same
 * name keeps its queue and counters under its new settings; one that is
 * gone drops its queue (logged). Returns 0 or -ENOMEM.
 */
int notify_configure(struct notify *n, const struct config *cfg);

/*
 * Loads notify.json (queued events, notified downs), starts the
 * notifiers' coroutines and listens to the supervisor's up/down
 * transitions. Returns 0 or -ENOMEM.
 */
int notify_start(struct notify *n);

/*
 * Ends the coroutines within about wait_ms (a delivery in flight is
 * cancelled and stays queued) and writes notify.json. May yield.
 */
void notify_stop(struct notify *n, uint64_t wait_ms);

void notify_free(struct notify *n);

/* ---- what the servers read ------------------------------------------------- */

/* A job's last notification, for coctl status. */
struct notify_job_info {
	const char *event;           /* "down", "up" */
	const char *notifier;
	const char *outcome;         /* "queued", "delivered", "failed", "dropped" */
	const char *error;           /* the last failure, or NULL */
	int64_t at_ms;               /* wall clock of the outcome */
	int64_t down_since_ms;       /* a notified down that lasts: since when; 0 if none */
};

/* true with *ret filled if the job has had a notification, else false. */
bool notify_job_last(const struct notify *n, const char *job, struct notify_job_info *ret);

/* One notifier's figures, i in [0, notify_count()), in configuration order. */
struct notify_stats {
	const char *name;
	const char *type;            /* "alertmanager", ... */
	uint64_t delivered;          /* events delivered (a batch counts each event) */
	uint64_t failed;             /* delivery attempts that failed (each event of a batch) */
	uint64_t dropped;            /* events dropped from a full queue */
	size_t queued;               /* events waiting now */
	size_t firing;               /* alertmanager: alerts it re-sends now */
	int64_t last_ok_ms;          /* wall clock of the last delivery, 0 if none */
	const char *last_error;      /* of the last failed attempt, or NULL */
};
size_t notify_count(const struct notify *n);
void notify_get(const struct notify *n, size_t i, struct notify_stats *ret);

/* Whether a notifier of that name exists. */
bool notify_has(const struct notify *n, const char *name);

/*
 * Sends a test event through the notifier now, outside its queue, and
 * waits for the outcome (within the notifier's timeout). Returns 0 once
 * delivered; -ENOENT (no such notifier); another negative errno with the
 * reason in err. May yield.
 */
int notify_test(struct notify *n, const char *notifier, char *err, size_t err_size);

#endif
