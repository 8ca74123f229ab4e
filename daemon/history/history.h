/* SPDX-License-Identifier: MIT */
/*
 * history.h: result history in SQLite (issue 15): every result (the last
 * raw_results of each job), hourly and daily rollups, and every up/down
 * transition, so that an operator can ask "was it down last night, and
 * for how long?" and "what is this job's uptime this month?". This is the
 * room's interface, for main.c (life), control/ (coctl history, events,
 * the uptime in status) and http/ (the status page, its JSON).
 *
 * The event loop never waits for the disk: results go into a bounded
 * queue that a writer thread drains in transactions (WAL mode); a full
 * queue drops, with a counter, and never blocks. Reads run on a reader
 * thread with its own connection, and a coroutine that asks waits on an
 * eventfd, yielding. What the status page draws for every job (the bar
 * of the last 90 hours, uptime over 24 hours and 30 days, the last
 * outage) is also kept in memory, updated by each result, so the page
 * never reads the database.
 *
 * A database that cannot be opened or is corrupt: the daemon runs on
 * without history, and history_get_stats says why (coctl stats, STATUS=).
 */
#ifndef CORO_DAEMON_HISTORY_H
#define CORO_DAEMON_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

struct daemon;
struct history;

#define HISTORY_BAR_HOURS 90

/*
 * The history of daemon d, as cfg says (NULL: the defaults); the database
 * is cfg's path or <state_dir>/history.db. Opens (or creates, or
 * migrates) the database now. Never NULL but on out of memory: a history
 * that could not open its database is disabled and says why.
 */
struct history *history_new(struct daemon *d, const struct cfg_history *cfg, const char *state_dir);

/* Starts the threads and listens to the supervisor (results, transitions). 0 or -errno. */
int history_start(struct history *h);

/* Writes what is queued, stops the threads. Blocks (at stop only) for the last batch. */
void history_stop(struct history *h);

void history_free(struct history *h);

/* ---- figures ------------------------------------------------------------------- */

struct history_stats {
	bool enabled;                /* configured on */
	bool working;                /* the database is open and written */
	const char *path;
	const char *error;           /* why it is not working, or NULL */
	uint64_t queued;             /* records waiting for the writer */
	uint64_t written;            /* results written */
	uint64_t events;             /* transitions written */
	uint64_t dropped;            /* records dropped from a full queue */
	uint64_t batches;            /* transactions committed */
	uint64_t write_errors;       /* batches that failed */
	uint64_t db_bytes;           /* the database file's size (its last look) */
};
void history_get_stats(const struct history *h, struct history_stats *ret);

/* Whether the configuration turned history on (working or not). */
bool history_enabled(const struct history *h);

/* ---- what the status page draws (in memory, never yields) ------------------------- */

struct history_summary {
	/*
	 * The last HISTORY_BAR_HOURS hours, oldest first, the last one the
	 * hour now (so far): successful runs per mille, -1 for no runs.
	 */
	int16_t hour_permille[HISTORY_BAR_HOURS];
	int64_t last_hour_start_ms;  /* the start of the newest cell (the hour now) */
	double uptime_24h;           /* ok / runs, -1 if no runs */
	double uptime_7d;
	double uptime_30d;
	int64_t outage_down_ms;      /* the last outage: down at (0: none known) */
	int64_t outage_up_ms;        /* up again at, 0 if it lasts */
	const char *outage_error;    /* its error (in outage_error_buf), or NULL */
	char outage_error_buf[256];
};

/* true with *ret filled for a job the history knows (it had a result), else false. */
bool history_summary(struct history *h, const char *job, struct history_summary *ret);

/* ---- reads from the database (may yield: they run on the reader thread) ------------- */

struct history_result {
	int64_t end_ms;
	uint32_t duration_us;
	uint8_t outcome;             /* enum run_outcome */
	char *error;                 /* or NULL */
};

struct history_event {
	char *job;
	int64_t at_ms;               /* the transition */
	bool up;                     /* up (an outage ended) or down */
	char *error;                 /* down: its error */
	int64_t down_ms;             /* up: how long it was down, 0 if unknown */
};

/*
 * A job's raw results in [since_ms, until_ms] (0: no bound), newest first,
 * at most limit, only failures if failed_only. 0 with *ret (free with
 * history_results_free) or -errno (-ENOTSUP: no history; -ENOENT: no job).
 */
int history_results(struct history *h, const char *job, int64_t since_ms, int64_t until_ms,
		    bool failed_only, size_t limit, struct history_result **ret, size_t *ret_n);
void history_results_free(struct history_result *v, size_t n);

/* Transitions (of job, or of every job if NULL) since since_ms, newest first, at most limit. */
int history_events(struct history *h, const char *job, int64_t since_ms, size_t limit,
		   struct history_event **ret, size_t *ret_n);
void history_events_free(struct history_event *v, size_t n);

/* A job's uptime (ok / runs) over the last window_ms, from the rollups: -1 with no runs. */
int history_uptime(struct history *h, const char *job, int64_t window_ms, double *ret);

#endif
