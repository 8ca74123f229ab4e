/* SPDX-License-Identifier: MIT */
/*
 * notify-internal.h: what the notification room's files share.
 *
 *   notify.c    the room's life, events from the supervisor's transitions,
 *               the per-job records, queues, repeats, the servers' queries
 *   deliver.c   a notifier's coroutine: batches, retries with backoff,
 *               Alertmanager's re-sends of firing alerts
 *   store.c     notify.json: the queues and notified downs across restarts
 *   payload.c   what is sent: Alertmanager's alerts, the webhook payload,
 *               the mail message, the exec command's JSON (no I/O: tested
 *               on its own)
 *   send.c      how it is sent: HTTP POST and SMTP through libcurl, a
 *               command through the exec probe; ${env:} and ${file:}
 */
#ifndef CORO_DAEMON_NOTIFY_INTERNAL_H
#define CORO_DAEMON_NOTIFY_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "daemon/core/core.h"
#include "daemon/notify/notify.h"

struct co;
struct co_cond;
struct probe;

#define NOTIFY_ERROR_MAX 256
#define NOTIFY_RESEND_MS 60000      /* Alertmanager: firing alerts re-sent this often */
#define NOTIFY_ENDS_AHEAD_MS 240000 /* ... with endsAt this far ahead (as Prometheus does: 4x) */
#define NOTIFY_BACKOFF_MIN_MS 1000
#define NOTIFY_BACKOFF_MAX_MS 300000

enum nev_kind { NEV_DOWN, NEV_UP, NEV_TEST };

/* One event, as one notifier's queue holds it (each notifier has its own copy). */
struct nevent {
	enum nev_kind kind;
	bool repeat;                 /* a down sent again (notify_repeat) */
	char *job;
	char *instance;              /* the alert's instance label */
	char *member;                /* fleet job: the member that saw it; or NULL */
	char *error;                 /* down: the run's error ("" if none) */
	int64_t at_ms;               /* wall clock of the transition */
	int64_t since_ms;            /* down: when it began (= at_ms); up: when the down began, 0 if unknown */
	struct cfg_pair *labels;     /* the job's labels */
	size_t nlabels;
};

struct nevent *nevent_new(enum nev_kind kind, const char *job, const char *instance,
			  const char *member, const char *error, int64_t at_ms, int64_t since_ms,
			  const struct cfg_pair *labels, size_t nlabels);
struct nevent *nevent_copy(const struct nevent *e);
void nevent_free(struct nevent *e);
const char *nevent_kind_name(enum nev_kind k);

/* A notifier: its settings (a deep copy), queue, coroutine and figures. */
struct notifier {
	struct notify *n;
	struct cfg_notifier cfg;     /* deep copy (where.file not kept) */
	char *api_url;               /* alertmanager: URL/api/v2/alerts */

	struct nevent **q;           /* ring of qcap, qlen events from qhead */
	size_t qhead, qlen, qcap;

	struct co *co;
	struct co_cond *wake;
	bool gone;                   /* dropped by a reload: the coroutine ends, then it is freed */
	bool ended;                  /* the coroutine has returned */
	bool cancel;                 /* a delivery in flight ends at once */
	bool sending;                /* a delivery is in flight: settings change after it */
	bool test;                   /* notify_test's copy: ends when the daemon stops */
	struct notifier *test_next;  /* ... in the list of tests in flight */
	struct cfg_notifier *next_cfg; /* a reload's settings, waiting for the delivery to end */
	size_t inflight;             /* events taken from the queue for the delivery in flight */
	void *curl;                  /* CURL *, kept: its connection is reused */
	void *xfer;                  /* send.c's exchange in flight, or NULL */
	struct probe *probe;         /* exec: the command in flight, or NULL */
	unsigned fails;              /* failed attempts in a row */
	uint64_t next_try_mono;      /* after a failure: not before this */
	uint64_t next_resend_mono;   /* alertmanager: the next re-send of firing alerts */
	size_t firing;               /* alertmanager: alerts in the last re-send */

	uint64_t delivered, failed, dropped;
	int64_t last_ok_ms;
	char last_error[NOTIFY_ERROR_MAX];
};

/* What the room keeps of one job. */
struct njob {
	char *name;
	int64_t down_since_ms;       /* a down was notified and no up yet: when it began; 0 none */
	int64_t last_repeat_ms;      /* the last repeat of that down, 0 none */
	bool has_last;               /* the last notification: */
	enum nev_kind last_kind;
	char last_notifier[CFG_NAME_MAX + 1];
	const char *last_outcome;    /* static string */
	char *last_error;            /* or NULL */
	int64_t last_at_ms;
	struct njob *hnext;
};

struct notify {
	struct daemon *d;
	char *state_dir;
	char *instance, *fleet_instance, *member;
	struct notifier **v;         /* in configuration order */
	size_t nv;
	struct notifier **gone;      /* dropped by reloads, until their coroutine ends */
	size_t ngone;
	struct notifier *tests;      /* notify_test's exchanges in flight (cancelled at stop) */
	struct njob **buckets;       /* the job records, by name */
	size_t nbuckets, njobs;
	struct co *keeper;           /* repeats, notify.json, freeing gone notifiers */
	struct co_cond *wake;
	bool started, stopping, dirty;
	bool saving;                 /* a save's thread is writing (atomic) */
	size_t live;                 /* coroutines not yet ended */
	uint64_t seq;                /* for Message-IDs */
};

/* ---- notify.c -------------------------------------------------------------- */

struct njob *notify__job(struct notify *n, const char *name, bool create);

/* Appends a copy of e to the notifier's queue (dropping the oldest when full). */
void notify__enqueue(struct notifier *nf, struct nevent *e);

/* The notifier named name, or NULL. */
struct notifier *notify__find(const struct notify *n, const char *name);

/* Puts c's settings in force for nf (a copy; between deliveries). 0 or -ENOMEM. */
int notify__apply_cfg(struct notifier *nf, const struct cfg_notifier *c);
void notify__cfg_free(struct cfg_notifier *c);

/* Records an outcome as the job's last notification. */
void notify__outcome(struct notify *n, const struct nevent *e, const struct notifier *nf,
		     const char *outcome, const char *error);

/* ---- deliver.c ------------------------------------------------------------- */

void *notify__deliver_main(void *arg);

/* ---- store.c --------------------------------------------------------------- */

/*
 * Writes notify.json: now (at stop: on this thread, the coroutines ended),
 * or (the keeper) built in slices that give the loop a turn and written
 * by a thread of its own, one at a time (see notify__saving).
 */
void notify__save(struct notify *n, bool now);
/* A save's thread is still writing. */
bool notify__saving(const struct notify *n);
/* Reads notify.json into the records and queues (missing: fine; damaged: logged, ignored). */
void notify__load(struct notify *n);

/* ---- payload.c (heap strings, NULL on out of memory) ------------------------- */

/* RFC 3339 in UTC with milliseconds, into buf (at least 32 bytes). */
char *notify__time(int64_t ms, char *buf, size_t size);

/* The event as JSON, for an exec command's stdin and for notify.json. */
char *notify__event_json(const struct nevent *e, const char *notifier);
struct json_t;
struct nevent *notify__event_from_json(struct json_t *obj);

/*
 * Alertmanager's POST /api/v2/alerts body for events [0, n); now_ms sets
 * endsAt: a firing alert ends NOTIFY_ENDS_AHEAD_MS later unless re-sent, a
 * resolved one ends at its up event.
 */
char *notify__am_alerts(struct nevent *const *ev, size_t n, int64_t now_ms);

/* Alertmanager's webhook payload (version "4") for one event. */
char *notify__webhook(const struct nevent *e, const char *receiver, const char *external_url);

/* An RFC 5322 message (CRLF lines) for events [0, n) (a digest past one). */
char *notify__mail(struct nevent *const *ev, size_t n, const struct cfg_notifier *c,
		   int64_t now_ms, uint64_t seq, const char *host);

/* The address of "Name <addr>" or "addr". */
char *notify__bare_address(const char *addr);

/* ---- send.c ---------------------------------------------------------------- */

/*
 * Delivers events [0, count) through nf; count is 1 but for batches of
 * Alertmanager (alerts) and email (a digest). Returns 0, or -1 with the
 * reason in err. Yields.
 */
int notify__send(struct notifier *nf, struct nevent *const *ev, size_t count, char *err,
		 size_t err_size);

/* Ends a delivery in flight at once (its sockets shut, its command killed). */
void notify__send_cancel(struct notifier *nf);

/* Frees the notifier's kept curl handle (NULL: nothing). */
void notify__send_free(struct notifier *nf);

/*
 * ${env:NAME} and ${file:PATH} in text, expanded (heap); NULL with the
 * reason in err (never the value) if a variable is unset or a file
 * unreadable.
 */
char *notify__expand(const char *text, const char *what, char *err, size_t err_size);

#endif
