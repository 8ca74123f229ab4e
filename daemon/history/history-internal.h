/* SPDX-License-Identifier: MIT */
/*
 * history-internal.h: what the history room's files share.
 *
 *   history.c  life, the loop's side: the observers that queue records,
 *              the queue, figures, the summaries the page reads
 *   writer.c   the writer thread: the schema and its migrations, batches,
 *              rollups, retention, the summaries it publishes
 *   reader.c   the reader thread and the reads coroutines ask of it
 *
 * Threads: the loop's (observers, summaries' readers), the writer (its
 * own connection, the only one that writes) and the reader (its own
 * read-only connection). h->lock guards the queue, the figures and the
 * published summaries; nothing holds it across a call into SQLite.
 */
#ifndef CORO_DAEMON_HISTORY_INTERNAL_H
#define CORO_DAEMON_HISTORY_INTERNAL_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "daemon/core/core.h"
#include "daemon/history/history.h"

#define HISTORY_QUEUE_MAX 65536        /* records between the loop and the writer */
#define HISTORY_BATCH_MAX 8192         /* records per transaction */
#define HISTORY_FLUSH_MS 500           /* the writer commits at least this often when busy */
#define HISTORY_SCHEMA_VERSION 1
#define HOUR_MS 3600000LL
#define DAY_MS 86400000LL
#define SKETCH_BUCKETS 64              /* durations: two buckets an octave from 1 us */
#define HISTORY_WRITER_STMTS 24

enum hrec_kind { HREC_RESULT, HREC_EVENT };

/* One record for the writer. */
struct hrec {
	uint8_t kind;                /* enum hrec_kind */
	uint8_t outcome;             /* result: enum run_outcome; event: 1 up, 0 down */
	uint32_t duration_us;
	int64_t at_ms;               /* result: when it ended; event: the transition */
	int64_t down_ms;             /* event up: how long it was down, 0 if unknown */
	char *error;                 /* heap, or NULL */
	char name[CFG_NAME_MAX + 1];
};

/* A rollup being built: an hour's or a day's. */
struct agg {
	int64_t start;               /* hour or day index (ms / HOUR_MS or DAY_MS), 0: none */
	uint32_t runs, ok, failed, timeout;
	uint32_t dmin, dmax;         /* us */
	uint64_t dsum;
	uint16_t sketch[SKETCH_BUCKETS];
};

/* What the page reads of a job, published by the writer under h->lock. */
struct hsum {
	int16_t bar[HISTORY_BAR_HOURS]; /* ok per mille of each finished hour, oldest first; -1 none */
	int64_t bar_end;             /* hour index just after the newest finished cell */
	uint32_t cur_runs, cur_ok;   /* the hour now, so far */
	uint64_t runs_24h, ok_24h;   /* the finished hours of the last 24 (23 + now) */
	uint64_t runs_7d, ok_7d;
	uint64_t runs_30d, ok_30d;
	int64_t down_ms, up_ms;      /* the last outage */
	char *down_error;
};

/* The writer's own record of a job. */
struct wjob {
	char *name;
	int64_t id;                  /* jobs.id */
	int64_t seq;                 /* results written so far: the ring's slot is seq % raw */
	int64_t last_ms;             /* its newest record's time (jobs.last_ms) */
	struct agg hour, day;
	bool touched;                /* in this batch */
	struct wjob *hnext;          /* by name */
	struct wjob *tnext;          /* touched in this batch */
	struct hsum sum;             /* under h->lock */
};

struct reader_req;

struct history {
	struct daemon *d;
	struct cfg_history cfg;      /* a copy (path owned) */
	char *path;
	char *error;                 /* why it is not working, or NULL */
	bool enabled, working, started, stopping;

	pthread_mutex_t lock;
	pthread_cond_t wake;         /* the writer's */
	struct hrec *q;              /* ring of HISTORY_QUEUE_MAX */
	size_t qhead, qlen;

	uint64_t written, events, dropped, batches, write_errors, db_bytes;

	pthread_t writer, reader;
	bool writer_running, reader_running;
	sqlite3 *wdb;                /* the writer's connection */
	sqlite3_stmt *wstmt[HISTORY_WRITER_STMTS]; /* its prepared statements (writer.c) */
	sqlite3 *rdb;                /* the reader's */

	/* The writer's jobs (h->lock for inserts and for sum; the writer reads without it). */
	struct wjob **buckets;
	size_t nbuckets, njobs;
	struct wjob *touched;

	/* The reader's requests. */
	pthread_cond_t rwake;
	struct reader_req *rq, **rq_tail;
};

/* ---- history.c ---------------------------------------------------------------- */

/* Records a problem that turns history off (logged once). h->lock held or not started. */
void history__fail(struct history *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The job's record (h->lock held), or NULL. */
struct wjob *history__find(const struct history *h, const char *name);

/* ---- writer.c ----------------------------------------------------------------- */

/* Opens (creates, migrates) the database for writing: 0, or -1 with h->error set. */
int history__open_writer(struct history *h);
void *history__writer_main(void *arg);

/*
 * What the writer thread does, for it and for tests that drive the clock
 * (records with made-up times, no threads): reads the jobs and their
 * summaries; writes n records in one transaction (their errors freed);
 * forgets jobs with no record for longer than every retention (rows
 * only: the name stays in jobs, it may come back).
 */
void history__load_jobs(struct history *h);
void history__write_batch(struct history *h, struct hrec *v, size_t n);
void history__sweep(struct history *h, int64_t now_ms);

/* The bucket of a duration in the sketch, and a bucket's representative value. */
unsigned history__bucket(uint32_t us);
uint32_t history__bucket_value(unsigned b);
/* The p-th percentile (0..100) of a sketch, in us; 0 if empty. */
uint32_t history__percentile(const uint16_t *sketch, unsigned p);

/* The writer's prepared statements, h->wstmt[] (their SQL is in writer.c). */
enum stmt {
	S_INS_JOB, S_UPD_JOB, S_INS_RESULT, S_TRIM_RESULTS, S_UP_HOUR, S_UP_DAY, S_DEL_HOURS,
	S_DEL_DAYS, S_SUM_HOURS, S_SUM_DAYS, S_INS_EVENT, S_DEL_EVENTS, S_CAP_EVENTS, S_UP_SUMMARY,
	S_GET_HOUR, S_GET_DAY, S_BEGIN, S_COMMIT, S_ROLLBACK, NSTMTS
};

/* ---- rollup.c (the writer thread's) --------------------------------------------- */

void history__agg_add(struct agg *a, uint8_t outcome, uint32_t us);
/* Deletes job id's rows before `before` (s: a DELETE ... WHERE job = ?1 AND ... < ?2). */
void history__delete_before(sqlite3_stmt *s, int64_t id, int64_t before);
/* Writes a's row (hourly or daily, as s is); SQLITE_DONE, or SQLite's error. */
int history__upsert_agg(sqlite3_stmt *s, int64_t id, const struct agg *a);
void history__save_summary(struct history *h, struct wjob *j, const struct hsum *sum);
/* The job enters a new hour (day): the last one is final, the summary moves on. */
void history__roll_hour(struct history *h, struct wjob *j, int64_t hour);
void history__roll_day(struct history *h, struct wjob *j, int64_t day);

/* ---- reader.c ----------------------------------------------------------------- */

int history__open_reader(struct history *h);
void *history__reader_main(void *arg);

#endif
