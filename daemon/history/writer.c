/* SPDX-License-Identifier: MIT */
/*
 * writer.c: the history's writer thread, the only one that writes the
 * database. It drains the loop's queue in transactions (at most
 * HISTORY_BATCH_MAX records, at least every HISTORY_FLUSH_MS while busy):
 *
 *   results  the last raw_results of each job, as a ring: the slot of a
 *            result is its sequence number modulo raw_results, so the
 *            table never grows past jobs x raw_results rows;
 *   hourly,  rollups kept as the hour (day) fills, written at the end of
 *   daily    every batch that touched the job, so a crash keeps all but
 *            the last batch; a job's rows older than the retention go when
 *            it enters a new hour (day);
 *   events   every up/down transition, at most EVENTS_PER_JOB a job;
 *   summary  a row per job with what the status page draws (the bar of the
 *            last 90 hours, the 24-hour and 30-day counts, the last
 *            outage), so that a restart reads one row a job.
 *
 * WAL mode with synchronous=NORMAL: a process killed at any moment leaves
 * a database that opens cleanly with every committed batch (only a power
 * loss may lose the last ones). The schema's version is SQLite's
 * user_version; an older one is migrated at start, a newer one refused.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "daemon/history/history-internal.h"

#define EVENTS_PER_JOB 1000      /* transitions kept per job, whatever their age */
#define SWEEP_EVERY_MS 3600000   /* jobs long gone are forgotten this often */
#define STAT_EVERY_MS 10000      /* the file's size is looked at this often */

static const char schema_v1[] =
	"CREATE TABLE IF NOT EXISTS jobs(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
	" seq INTEGER NOT NULL, last_ms INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS results(job INTEGER NOT NULL, slot INTEGER NOT NULL,"
	" seq INTEGER NOT NULL, end_ms INTEGER NOT NULL, duration_us INTEGER NOT NULL,"
	" outcome INTEGER NOT NULL, error TEXT, PRIMARY KEY(job, slot)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS hourly(job INTEGER NOT NULL, hour INTEGER NOT NULL,"
	" runs INTEGER NOT NULL, ok INTEGER NOT NULL, timeout INTEGER NOT NULL,"
	" dmin INTEGER NOT NULL, dmax INTEGER NOT NULL, dsum INTEGER NOT NULL, p95 INTEGER NOT NULL,"
	" PRIMARY KEY(job, hour)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS daily(job INTEGER NOT NULL, day INTEGER NOT NULL,"
	" runs INTEGER NOT NULL, ok INTEGER NOT NULL, timeout INTEGER NOT NULL,"
	" dmin INTEGER NOT NULL, dmax INTEGER NOT NULL, dsum INTEGER NOT NULL, p95 INTEGER NOT NULL,"
	" PRIMARY KEY(job, day)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS events(job INTEGER NOT NULL, at_ms INTEGER NOT NULL,"
	" up INTEGER NOT NULL, error TEXT, down_ms INTEGER NOT NULL,"
	" PRIMARY KEY(job, at_ms)) WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS events_at ON events(at_ms);"
	"CREATE TABLE IF NOT EXISTS summary(job INTEGER PRIMARY KEY, bar_end INTEGER NOT NULL,"
	" bar BLOB NOT NULL, runs_24h INTEGER NOT NULL, ok_24h INTEGER NOT NULL,"
	" runs_7d INTEGER NOT NULL, ok_7d INTEGER NOT NULL,"
	" runs_30d INTEGER NOT NULL, ok_30d INTEGER NOT NULL, down_ms INTEGER NOT NULL,"
	" up_ms INTEGER NOT NULL, down_error TEXT);"
	"PRAGMA user_version = 1;";


static const char *const stmt_sql[NSTMTS] = {
	[S_INS_JOB] = "INSERT INTO jobs(name, seq, last_ms) VALUES(?1, 0, ?2)",
	[S_UPD_JOB] = "UPDATE jobs SET seq = ?2, last_ms = ?3 WHERE id = ?1",
	[S_INS_RESULT] = "INSERT OR REPLACE INTO results(job, slot, seq, end_ms, duration_us, outcome,"
			 " error) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	[S_TRIM_RESULTS] = "DELETE FROM results WHERE slot >= ?1",
	[S_UP_HOUR] = "INSERT OR REPLACE INTO hourly(job, hour, runs, ok, timeout, dmin, dmax, dsum,"
		      " p95) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
	[S_UP_DAY] = "INSERT OR REPLACE INTO daily(job, day, runs, ok, timeout, dmin, dmax, dsum, p95)"
		     " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
	[S_DEL_HOURS] = "DELETE FROM hourly WHERE job = ?1 AND hour < ?2",
	[S_DEL_DAYS] = "DELETE FROM daily WHERE job = ?1 AND day < ?2",
	[S_SUM_HOURS] = "SELECT coalesce(sum(runs), 0), coalesce(sum(ok), 0) FROM hourly"
			" WHERE job = ?1 AND hour >= ?2 AND hour < ?3",
	[S_SUM_DAYS] = "SELECT coalesce(sum(runs), 0), coalesce(sum(ok), 0) FROM daily"
		       " WHERE job = ?1 AND day >= ?2 AND day < ?3",
	[S_INS_EVENT] = "INSERT OR REPLACE INTO events(job, at_ms, up, error, down_ms)"
			" VALUES(?1, ?2, ?3, ?4, ?5)",
	[S_DEL_EVENTS] = "DELETE FROM events WHERE job = ?1 AND at_ms < ?2",
	[S_CAP_EVENTS] = "DELETE FROM events WHERE job = ?1 AND at_ms < (SELECT at_ms FROM events"
			 " WHERE job = ?1 ORDER BY at_ms DESC LIMIT 1 OFFSET ?2)",
	[S_UP_SUMMARY] = "INSERT OR REPLACE INTO summary(job, bar_end, bar, runs_24h, ok_24h,"
			 " runs_7d, ok_7d, runs_30d, ok_30d, down_ms, up_ms, down_error)"
			 " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
	[S_GET_HOUR] = "SELECT runs, ok, timeout, dmin, dmax, dsum, p95 FROM hourly WHERE job = ?1"
		       " AND hour = ?2",
	[S_GET_DAY] = "SELECT runs, ok, timeout, dmin, dmax, dsum, p95 FROM daily WHERE job = ?1"
		      " AND day = ?2",
	[S_BEGIN] = "BEGIN IMMEDIATE",
	[S_COMMIT] = "COMMIT",
	[S_ROLLBACK] = "ROLLBACK",
};

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- opening ------------------------------------------------------------------------ */

static int exec(struct history *h, sqlite3 *db, const char *sql, const char *what)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK)
		return 0;
	history__fail(h, "%s: %s: %s", h->path, what, msg ? msg : sqlite3_errmsg(db));
	sqlite3_free(msg);
	return -1;
}

/*
 * Why a database could not be opened, as " (DIR: Read-only file system)"
 * when its directory cannot be written (SQLite makes its -wal and -shm
 * files there, also to read a database in WAL mode), else what the system
 * said of SQLite's last call, or "".
 */
static const char *os_error(const struct history *h, sqlite3 *db, char *buf, size_t size)
{
	char *dir = strdup(h->path), *slash = dir ? strrchr(dir, '/') : NULL;
	const char *d = slash ? dir : ".";
	int e = db ? sqlite3_system_errno(db) : 0, de = 0;
	struct stat sb;

	if (slash)
		*(slash == dir ? slash + 1 : slash) = '\0';
	if (dir && stat(d, &sb) == 0 && !S_ISDIR(sb.st_mode))
		de = ENOTDIR;
	else if (dir && access(d, W_OK | X_OK) < 0)
		de = errno;
	if (de) {
		snprintf(buf, size, " (%s: %s)", d, strerror(de));
		free(dir);
		return buf;
	}
	free(dir);
	if (!e)
		return "";
	snprintf(buf, size, " (%s)", strerror(e));
	return buf;
}

int history__open_writer(struct history *h)
{
	sqlite3_stmt *s;
	int version = -1, rc;
	char ebuf[4200];

	rc = sqlite3_open_v2(h->path, &h->wdb,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		history__fail(h, "cannot open %s: %s%s", h->path,
			      h->wdb ? sqlite3_errmsg(h->wdb) : sqlite3_errstr(rc),
			      os_error(h, h->wdb, ebuf, sizeof ebuf));
		return -1;
	}
	sqlite3_busy_timeout(h->wdb, 5000);
	/* Error texts can say more than a passer-by should read (SQLite makes it 0644). */
	if (chmod(h->path, 0640) < 0 && errno != EPERM)
		log_msg(LOG_WARNING, "history: cannot make %s private: %s", h->path, strerror(errno));
	/*
	 * A file that is not a database shows here, at the first read; so
	 * does a database in WAL mode whose -wal and -shm files cannot be
	 * made (a read-only file system): that one is not to be moved away.
	 */
	if (sqlite3_prepare_v2(h->wdb, "PRAGMA user_version", -1, &s, NULL) != SQLITE_OK ||
	    sqlite3_step(s) != SQLITE_ROW) {
		rc = sqlite3_errcode(h->wdb);
		if (rc == SQLITE_NOTADB || rc == SQLITE_CORRUPT)
			history__fail(h, "%s is not a usable SQLite database (%s): move it away to start "
				      "a new one", h->path, sqlite3_errmsg(h->wdb));
		else
			history__fail(h, "cannot open %s: %s%s", h->path, sqlite3_errmsg(h->wdb),
				      os_error(h, h->wdb, ebuf, sizeof ebuf));
		sqlite3_finalize(s);
		return -1;
	}
	version = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	if (version > HISTORY_SCHEMA_VERSION) {
		history__fail(h, "%s has schema version %d, newer than this daemon's %d", h->path,
			      version, HISTORY_SCHEMA_VERSION);
		return -1;
	}
	if (exec(h, h->wdb, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;",
		 "cannot use the write-ahead log") < 0)
		return -1;
	/* Version 0 (a new file) to 1: the whole schema. Later versions migrate from here. */
	if (version < 1 && exec(h, h->wdb, schema_v1, "cannot create the schema") < 0)
		return -1;
	for (int i = 0; i < NSTMTS; i++) {
		if (sqlite3_prepare_v3(h->wdb, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &h->wstmt[i],
				       NULL) != SQLITE_OK) {
			history__fail(h, "%s: %s", h->path, sqlite3_errmsg(h->wdb));
			return -1;
		}
	}
	/* raw_results made smaller: the slots past it go. */
	sqlite3_bind_int64(h->wstmt[S_TRIM_RESULTS], 1, h->cfg.raw_results);
	sqlite3_step(h->wstmt[S_TRIM_RESULTS]);
	sqlite3_reset(h->wstmt[S_TRIM_RESULTS]);
	return 0;
}

/* ---- jobs ------------------------------------------------------------------------------ */

static uint64_t name_hash(const char *s)
{
	uint64_t x = 0xcbf29ce484222325ULL;

	for (; *s; s++)
		x = (x ^ (unsigned char)*s) * 0x100000001b3ULL;
	return x ^ (x >> 31);
}

/* Adds j to the table (h->lock held). */
static int insert(struct history *h, struct wjob *j)
{
	if (h->njobs + 1 > h->nbuckets) {
		size_t cap = h->nbuckets ? h->nbuckets * 2 : 1024;
		struct wjob **b = calloc(cap, sizeof *b);

		if (!b)
			return -ENOMEM;
		for (size_t i = 0; i < h->nbuckets; i++) {
			struct wjob *x;

			while ((x = h->buckets[i])) {
				h->buckets[i] = x->hnext;
				x->hnext = b[name_hash(x->name) & (cap - 1)];
				b[name_hash(x->name) & (cap - 1)] = x;
			}
		}
		free(h->buckets);
		h->buckets = b;
		h->nbuckets = cap;
	}
	j->hnext = h->buckets[name_hash(j->name) & (h->nbuckets - 1)];
	h->buckets[name_hash(j->name) & (h->nbuckets - 1)] = j;
	h->njobs++;
	return 0;
}

static struct wjob *new_wjob(const char *name, int64_t id)
{
	struct wjob *j = calloc(1, sizeof *j);

	if (!j || !(j->name = strdup(name))) {
		free(j);
		return NULL;
	}
	j->id = id;
	for (int i = 0; i < HISTORY_BAR_HOURS; i++)
		j->sum.bar[i] = -1;
	return j;
}

static void load_agg(sqlite3_stmt *s, int64_t id, int64_t start, struct agg *a)
{
	memset(a, 0, sizeof *a);
	a->start = start;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int64(s, 2, start);
	if (sqlite3_step(s) == SQLITE_ROW) {
		a->runs = (uint32_t)sqlite3_column_int64(s, 0);
		a->ok = (uint32_t)sqlite3_column_int64(s, 1);
		a->timeout = (uint32_t)sqlite3_column_int64(s, 2);
		a->failed = a->runs - a->ok - a->timeout;
		a->dmin = (uint32_t)sqlite3_column_int64(s, 3);
		a->dmax = (uint32_t)sqlite3_column_int64(s, 4);
		a->dsum = (uint64_t)sqlite3_column_int64(s, 5);
		/*
		 * The sketch is not stored: the runs so far count as runs of
		 * their p95, so that the rollup rewritten with more runs keeps
		 * a p95 near it (an empty sketch made it the new runs' alone).
		 */
		if (a->runs)
			a->sketch[history__bucket((uint32_t)sqlite3_column_int64(s, 6))] =
				a->runs > UINT16_MAX ? UINT16_MAX : (uint16_t)a->runs;
	}
	sqlite3_reset(s);
}

void history__load_jobs(struct history *h)
{
	sqlite3_stmt *s;
	int64_t now = wall_ms();
	size_t n = 0;

	if (sqlite3_prepare_v2(h->wdb, "SELECT j.id, j.name, j.seq, s.bar_end, s.bar, s.runs_24h,"
				       " s.ok_24h, s.runs_30d, s.ok_30d, s.down_ms, s.up_ms,"
				       " s.down_error, s.runs_7d, s.ok_7d FROM jobs j"
				       " LEFT JOIN summary s ON s.job = j.id",
			       -1, &s, NULL) != SQLITE_OK)
		return;
	while (sqlite3_step(s) == SQLITE_ROW) {
		struct wjob *j = new_wjob((const char *)sqlite3_column_text(s, 1),
					  sqlite3_column_int64(s, 0));
		const void *bar = sqlite3_column_blob(s, 4);
		int barlen = sqlite3_column_bytes(s, 4);
		const unsigned char *err = sqlite3_column_text(s, 11);

		if (!j)
			break;
		j->seq = sqlite3_column_int64(s, 2);
		j->sum.bar_end = sqlite3_column_int64(s, 3);
		if (bar && barlen == (int)sizeof j->sum.bar)
			memcpy(j->sum.bar, bar, sizeof j->sum.bar);
		j->sum.runs_24h = (uint64_t)sqlite3_column_int64(s, 5);
		j->sum.ok_24h = (uint64_t)sqlite3_column_int64(s, 6);
		j->sum.runs_7d = (uint64_t)sqlite3_column_int64(s, 12);
		j->sum.ok_7d = (uint64_t)sqlite3_column_int64(s, 13);
		j->sum.runs_30d = (uint64_t)sqlite3_column_int64(s, 7);
		j->sum.ok_30d = (uint64_t)sqlite3_column_int64(s, 8);
		j->sum.down_ms = sqlite3_column_int64(s, 9);
		j->sum.up_ms = sqlite3_column_int64(s, 10);
		j->sum.down_error = err ? strdup((const char *)err) : NULL;
		/*
		 * The hour the writer was filling (the bar ends there), even if
		 * it is over: the next record rolls it into the bar. Loading the
		 * hour now instead left that hour out of the bar and the uptimes
		 * for good, and the hour now out of them until the next hour.
		 */
		load_agg(h->wstmt[S_GET_HOUR], j->id, j->sum.bar_end ? j->sum.bar_end : now / HOUR_MS,
			 &j->hour);
		load_agg(h->wstmt[S_GET_DAY], j->id, now / DAY_MS, &j->day);
		if (j->sum.bar_end == j->hour.start) {
			j->sum.cur_runs = j->hour.runs;
			j->sum.cur_ok = j->hour.ok;
		}
		pthread_mutex_lock(&h->lock);
		if (insert(h, j) < 0) {
			pthread_mutex_unlock(&h->lock);
			free(j->name);
			free(j);
			break;
		}
		pthread_mutex_unlock(&h->lock);
		n++;
	}
	sqlite3_finalize(s);
	if (n)
		log_msg(LOG_INFO, "history: %zu jobs known from %s", n, h->path);
}

static void touch(struct history *h, struct wjob *j);

/*
 * The writer's record of a job, its row inserted if it has none (a new
 * job, or one whose row went with a failed batch: id 0). A new row is
 * touched at once, so that a batch that fails checks it (forget_lost_jobs).
 */
static struct wjob *get_job(struct history *h, const char *name, int64_t now)
{
	struct wjob *j = history__find(h, name); /* only this thread inserts: no lock to read */
	int64_t id;

	if (j && j->id > 0)
		return j;
	sqlite3_bind_text(h->wstmt[S_INS_JOB], 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(h->wstmt[S_INS_JOB], 2, now);
	if (sqlite3_step(h->wstmt[S_INS_JOB]) != SQLITE_DONE) {
		sqlite3_reset(h->wstmt[S_INS_JOB]);
		return NULL;
	}
	sqlite3_reset(h->wstmt[S_INS_JOB]);
	id = sqlite3_last_insert_rowid(h->wdb);
	if (j) {
		j->id = id;
		touch(h, j);
		return j;
	}
	j = new_wjob(name, id);
	if (!j)
		return NULL;
	pthread_mutex_lock(&h->lock);
	if (insert(h, j) < 0) {
		pthread_mutex_unlock(&h->lock);
		free(j->name);
		free(j);
		return NULL;
	}
	pthread_mutex_unlock(&h->lock);
	touch(h, j);
	return j;
}

/*
 * After a rollback: a job whose row was inserted in the failed batch has
 * an id that no row holds (and that SQLite hands out again): its row is
 * inserted anew with its next record, instead of its rows going under an
 * id of no job, or of another one.
 */
static void forget_lost_jobs(struct history *h)
{
	sqlite3_stmt *s;

	if (sqlite3_prepare_v2(h->wdb, "SELECT 1 FROM jobs WHERE id = ?1 AND name = ?2", -1, &s,
			       NULL) != SQLITE_OK)
		return;
	for (struct wjob *j = h->touched; j; j = j->tnext) {
		sqlite3_bind_int64(s, 1, j->id);
		sqlite3_bind_text(s, 2, j->name, -1, SQLITE_STATIC);
		if (sqlite3_step(s) == SQLITE_DONE)
			j->id = 0;
		sqlite3_reset(s);
	}
	sqlite3_finalize(s);
}

static void touch(struct history *h, struct wjob *j)
{
	if (!j->touched) {
		j->touched = true;
		j->tnext = h->touched;
		h->touched = j;
	}
}

static int write_result(struct history *h, const struct hrec *r)
{
	struct wjob *j = get_job(h, r->name, r->at_ms);
	int64_t hour = r->at_ms / HOUR_MS, day = r->at_ms / DAY_MS;
	sqlite3_stmt *s = h->wstmt[S_INS_RESULT];
	int rc = SQLITE_DONE;

	if (!j)
		return SQLITE_ERROR;
	if (h->cfg.raw_results) {
		sqlite3_bind_int64(s, 1, j->id);
		sqlite3_bind_int64(s, 2, j->seq % h->cfg.raw_results);
		sqlite3_bind_int64(s, 3, j->seq);
		sqlite3_bind_int64(s, 4, r->at_ms);
		sqlite3_bind_int64(s, 5, r->duration_us);
		sqlite3_bind_int(s, 6, r->outcome);
		if (r->error)
			sqlite3_bind_text(s, 7, r->error, -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(s, 7);
		rc = sqlite3_step(s);
		sqlite3_reset(s);
		if (rc != SQLITE_DONE)
			return rc;
	}
	j->seq++;
	if (r->at_ms > j->last_ms)
		j->last_ms = r->at_ms;
	if (j->hour.start != hour)
		history__roll_hour(h, j, hour);
	if (j->day.start != day)
		history__roll_day(h, j, day);
	history__agg_add(&j->hour, r->outcome, r->duration_us);
	history__agg_add(&j->day, r->outcome, r->duration_us);
	touch(h, j);
	return rc;
}

static int write_event(struct history *h, const struct hrec *r)
{
	struct wjob *j = get_job(h, r->name, r->at_ms);
	sqlite3_stmt *s = h->wstmt[S_INS_EVENT];
	char *err = NULL;
	int rc;

	if (!j)
		return SQLITE_ERROR;
	sqlite3_bind_int64(s, 1, j->id);
	sqlite3_bind_int64(s, 2, r->at_ms);
	sqlite3_bind_int(s, 3, r->outcome);
	if (r->error)
		sqlite3_bind_text(s, 4, r->error, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, 4);
	sqlite3_bind_int64(s, 5, r->down_ms);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return rc;
	history__delete_before(h->wstmt[S_DEL_EVENTS], j->id, r->at_ms - (int64_t)h->cfg.events_ms);
	/*
	 * At every event of the job: transitions are rare, and the look-up
	 * walks at most EVENTS_PER_JOB entries of the job's key. (Once every
	 * 64 events of all jobs, two jobs flapping in turn left one of them
	 * uncapped.)
	 */
	sqlite3_bind_int64(h->wstmt[S_CAP_EVENTS], 1, j->id);
	sqlite3_bind_int64(h->wstmt[S_CAP_EVENTS], 2, EVENTS_PER_JOB - 1);
	sqlite3_step(h->wstmt[S_CAP_EVENTS]);
	sqlite3_reset(h->wstmt[S_CAP_EVENTS]);
	if (r->at_ms > j->last_ms)
		j->last_ms = r->at_ms;
	if (!r->outcome && r->error)
		err = strdup(r->error);
	pthread_mutex_lock(&h->lock);
	if (r->outcome) {
		j->sum.up_ms = r->at_ms;
	} else {
		j->sum.down_ms = r->at_ms;
		j->sum.up_ms = 0;
		free(j->sum.down_error);
		j->sum.down_error = err;
	}
	h->events++;
	pthread_mutex_unlock(&h->lock);
	/*
	 * The last outage goes into the summary row now (only this thread
	 * changes j->sum: no lock to read it): else a restart before the next
	 * hour read the outage before it.
	 */
	history__save_summary(h, j, &j->sum);
	touch(h, j);
	return rc;
}

static bool step_ok(sqlite3_stmt *s)
{
	int rc = sqlite3_step(s);

	sqlite3_reset(s);
	return rc == SQLITE_DONE;
}

void history__write_batch(struct history *h, struct hrec *v, size_t n)
{
	uint64_t results = 0;
	int rc = SQLITE_DONE;
	bool ok;

	ok = step_ok(h->wstmt[S_BEGIN]);
	for (size_t i = 0; ok && i < n; i++) {
		rc = v[i].kind == HREC_RESULT ? write_result(h, &v[i]) : write_event(h, &v[i]);
		results += v[i].kind == HREC_RESULT;
		ok = rc == SQLITE_DONE || rc == SQLITE_ROW;
	}
	for (struct wjob *j = h->touched; ok && j; j = j->tnext) {
		sqlite3_bind_int64(h->wstmt[S_UPD_JOB], 1, j->id);
		sqlite3_bind_int64(h->wstmt[S_UPD_JOB], 2, j->seq);
		sqlite3_bind_int64(h->wstmt[S_UPD_JOB], 3, j->last_ms);
		ok = step_ok(h->wstmt[S_UPD_JOB]) && history__upsert_agg(h->wstmt[S_UP_HOUR], j->id, &j->hour) == SQLITE_DONE &&
		     history__upsert_agg(h->wstmt[S_UP_DAY], j->id, &j->day) == SQLITE_DONE;
	}
	if (ok)
		ok = step_ok(h->wstmt[S_COMMIT]);
	if (!ok) {
		/* Read before the rollback, which sets both anew (and may free the text). */
		int code = sqlite3_errcode(h->wdb);
		char why[256];

		snprintf(why, sizeof why, "%s", sqlite3_errmsg(h->wdb));
		step_ok(h->wstmt[S_ROLLBACK]);
		forget_lost_jobs(h);
		pthread_mutex_lock(&h->lock);
		h->write_errors++;
		pthread_mutex_unlock(&h->lock);
		/* A full disk passes; a damaged file does not. */
		log_msg(LOG_ERR, "history: %zu records not written to %s: %s", n, h->path, why);
		if (code == SQLITE_CORRUPT || code == SQLITE_NOTADB) {
			pthread_mutex_lock(&h->lock);
			history__fail(h, "%s is damaged (%s): move it away to start a new one", h->path,
				      why);
			pthread_mutex_unlock(&h->lock);
		}
	}
	pthread_mutex_lock(&h->lock);
	for (struct wjob *j = h->touched, *next; j; j = next) {
		next = j->tnext;
		j->touched = false;
		j->tnext = NULL;
		if (ok && j->sum.bar_end == j->hour.start) {
			j->sum.cur_runs = j->hour.runs;
			j->sum.cur_ok = j->hour.ok;
		}
	}
	h->touched = NULL;
	if (ok) {
		h->written += results;
		h->batches++;
	}
	pthread_mutex_unlock(&h->lock);
	for (size_t i = 0; i < n; i++)
		free(v[i].error);
}

void history__sweep(struct history *h, int64_t now_ms)
{
	static const char *const tables[] = { "results", "hourly", "daily", "events", "summary" };
	uint64_t keep = h->cfg.hourly_ms;
	char q[256];

	if (h->cfg.daily_ms > keep)
		keep = h->cfg.daily_ms;
	if (h->cfg.events_ms > keep)
		keep = h->cfg.events_ms;
	if (sqlite3_exec(h->wdb, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return;
	for (size_t i = 0; i < sizeof tables / sizeof *tables; i++) {
		snprintf(q, sizeof q, "DELETE FROM %s WHERE job IN (SELECT id FROM jobs WHERE "
			 "last_ms < %lld)", tables[i], (long long)(now_ms - (int64_t)keep));
		sqlite3_exec(h->wdb, q, NULL, NULL, NULL);
	}
	sqlite3_exec(h->wdb, "COMMIT", NULL, NULL, NULL);
}

static void look_at_size(struct history *h)
{
	struct stat sb;
	uint64_t bytes = 0;
	char wal[4096 + 8];

	if (stat(h->path, &sb) == 0)
		bytes += (uint64_t)sb.st_size;
	snprintf(wal, sizeof wal, "%s-wal", h->path);
	if (stat(wal, &sb) == 0)
		bytes += (uint64_t)sb.st_size;
	pthread_mutex_lock(&h->lock);
	h->db_bytes = bytes;
	pthread_mutex_unlock(&h->lock);
}

void *history__writer_main(void *arg)
{
	struct history *h = arg;
	struct hrec *batch = malloc(HISTORY_BATCH_MAX * sizeof *batch);
	uint64_t last_sweep = mono_ms(), last_stat = 0;
	bool done = false;

	history__load_jobs(h);
	look_at_size(h);
	while (!done) {
		size_t n = 0;
		struct timespec until;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += HISTORY_FLUSH_MS * 1000000L;
		until.tv_sec += until.tv_nsec / 1000000000L;
		until.tv_nsec %= 1000000000L;
		pthread_mutex_lock(&h->lock);
		while (!h->stopping && h->qlen < HISTORY_BATCH_MAX &&
		       pthread_cond_timedwait(&h->wake, &h->lock, &until) == 0)
			;
		while (batch && n < HISTORY_BATCH_MAX && h->qlen) {
			batch[n++] = h->q[h->qhead];
			h->qhead = (h->qhead + 1) % HISTORY_QUEUE_MAX;
			h->qlen--;
		}
		done = h->stopping && !h->qlen;
		pthread_mutex_unlock(&h->lock);
		if (n && h->working)
			history__write_batch(h, batch, n);
		else
			for (size_t i = 0; i < n; i++)
				free(batch[i].error);
		if (mono_ms() - last_stat >= STAT_EVERY_MS) {
			last_stat = mono_ms();
			look_at_size(h);
		}
		if (mono_ms() - last_sweep >= SWEEP_EVERY_MS && h->working) {
			last_sweep = mono_ms();
			history__sweep(h, wall_ms());
		}
	}
	free(batch);
	/* A clean stop leaves no write-ahead log behind. */
	sqlite3_exec(h->wdb, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
	for (int i = 0; i < NSTMTS; i++) {
		sqlite3_finalize(h->wstmt[i]);
		h->wstmt[i] = NULL;
	}
	return NULL;
}
