/* SPDX-License-Identifier: MIT */
/*
 * test-history.c: the history's database (daemon/history/) on a driven
 * clock, without threads: records with made-up times go through
 * history__write_batch, as the writer thread sends them, and the test
 * reads the file back with SQLite itself. The results ring (exactly
 * raw_results a job, the newest), hourly and daily rollups (runs, ok,
 * timeouts, min, max, sum, a plausible p95), events, the page's summary
 * (the bar of the last 90 hours, uptime over 24 hours, 7 and 30 days),
 * retention over two simulated months (the file stops growing), a
 * restart (the sequence goes on, the summary survives), a batch that
 * fails on a full disk, the cap on events a job, and files that are not
 * a database or cannot be written.
 *
 * Summaries are computed against the real clock (history_summary asks
 * sup_wall_ms), so the cases about them write records in the last hours;
 * the others use times far in the past.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "daemon/history/history-internal.h"
#include "tests/unit/tap.h"

#define T0 1767225600000LL /* 2026-01-01T00:00:00Z: the start of a day */
#define MIN_MS 60000LL

static char dir[64];
static char dbpath[128];

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
	(void)sb;
	(void)flag;
	(void)f;
	remove(p);
	return 0;
}

static void rm_dir(void)
{
	if (dir[0]) {
		chmod(dir, 0700);
		nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	}
}

/* A directory of this case's own (removed when the case passes), and dbpath in it. */
static void tmp_dir(void)
{
	const char *t = getenv("TMPDIR");

	snprintf(dir, sizeof dir, "%s/test-history-XXXXXX", t && strlen(t) < 30 ? t : "/tmp");
	ASSERT(mkdtemp(dir));
	atexit(rm_dir);
	snprintf(dbpath, sizeof dbpath, "%s/history.db", dir);
}

static struct cfg_history config(unsigned raw, unsigned hourly_d, unsigned daily_d,
				 unsigned events_d)
{
	return (struct cfg_history){
		.enabled = true,
		.path = dbpath,
		.raw_results = raw,
		.hourly_ms = (uint64_t)hourly_d * DAY_MS,
		.daily_ms = (uint64_t)daily_d * DAY_MS,
		.events_ms = (uint64_t)events_d * DAY_MS,
	};
}

static struct history *open_history(const struct cfg_history *cfg)
{
	struct history *h = history_new(NULL, cfg, NULL);

	ASSERT(h);
	if (!h->working)
		fprintf(stderr, "# history not working: %s\n", h->error ? h->error : "(no error)");
	ASSERT(h->working);
	return h;
}

static struct hrec result(const char *name, int64_t at, uint8_t outcome, uint32_t us,
			  const char *error)
{
	struct hrec r = { .kind = HREC_RESULT, .outcome = outcome, .duration_us = us, .at_ms = at };

	snprintf(r.name, sizeof r.name, "%s", name);
	if (error)
		ASSERT((r.error = strdup(error)));
	return r;
}

static struct hrec event(const char *name, int64_t at, bool up, int64_t down_ms, const char *error)
{
	struct hrec r = { .kind = HREC_EVENT, .outcome = up, .at_ms = at, .down_ms = down_ms };

	snprintf(r.name, sizeof r.name, "%s", name);
	if (error)
		ASSERT((r.error = strdup(error)));
	return r;
}

static void write1(struct history *h, struct hrec r)
{
	history__write_batch(h, &r, 1);
}

/* ---- reading the file back ------------------------------------------------------------- */

static sqlite3 *db_open(void)
{
	sqlite3 *db = NULL;

	ASSERT_EQ(sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	return db;
}

/* The first column of the first row of a query (printf-style), or def with no row. */
/* No format attribute: SQLite's %Q (a quoted string) is not printf's. */
static long long qint(sqlite3 *db, long long def, const char *fmt, ...)
{
	sqlite3_stmt *s;
	long long v = def;
	va_list ap;
	char *sql;

	va_start(ap, fmt);
	sql = sqlite3_vmprintf(fmt, ap);
	va_end(ap);
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
		tap__fail(__FILE__, __LINE__, "%s: %s", sql, sqlite3_errmsg(db));
	if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_free(sql);
	return v;
}

static long long job_id(sqlite3 *db, const char *name)
{
	return qint(db, -1, "SELECT id FROM jobs WHERE name = %Q", name);
}

/* The file's size and its write-ahead log's. */
static long long file_size(const char *suffix)
{
	char p[160];
	struct stat sb;

	snprintf(p, sizeof p, "%s%s", dbpath, suffix);
	return stat(p, &sb) == 0 ? (long long)sb.st_size : 0;
}

/* ---- the clock --------------------------------------------------------------------------- */

/*
 * The real time, at least 1 s into an hour and 15 s from its end, so that
 * the hour a case writes in is still the hour when it reads its summary
 * (a case takes well under a second; waiting stays within the timeout).
 */
static int64_t safe_now(void)
{
	for (;;) {
		int64_t now = sup_wall_ms(), in = now % HOUR_MS;

		if (in >= 1000 && in <= HOUR_MS - 15000)
			return now;
		usleep(200000);
	}
}

static bool near(double a, double b)
{
	return fabs(a - b) < 1e-9;
}

#define ASSERT_RATIO(v, ok, runs)                                                          \
	do {                                                                               \
		double tap__v = (v), tap__w = (double)(ok) / (double)(runs);                 \
		if (!near(tap__v, tap__w))                                                 \
			tap__fail(__FILE__, __LINE__, "%s == %s / %s: %.6f vs %.6f", #v, #ok, \
				  #runs, tap__v, tap__w);                                    \
	} while (0)

/* ---- the results ring -------------------------------------------------------------------- */

TEST(results_ring_keeps_exactly_raw_results_the_newest)
{
	struct cfg_history cfg;
	struct history *h;
	struct hrec v[25];
	sqlite3 *db, *s_db;
	sqlite3_stmt *s;
	long long id;
	int rows = 0;

	tmp_dir();
	cfg = config(10, 30, 400, 400);
	h = open_history(&cfg);
	for (int i = 0; i < 25; i++) {
		char err[32];

		snprintf(err, sizeof err, "exit %d", i);
		v[i] = result("api", T0 + i * MIN_MS, i % 3 ? OUTCOME_OK : OUTCOME_FAILED,
			      1000 + (uint32_t)i, i % 3 ? NULL : err);
	}
	/* Three batches, one of them across the ring's wrap. */
	history__write_batch(h, v, 7);
	history__write_batch(h, v + 7, 7);
	history__write_batch(h, v + 14, 11);
	write1(h, result("db", T0, OUTCOME_OK, 5, NULL));
	ASSERT_EQ(history__find(h, "api")->seq, 25);
	ASSERT_EQ(h->written, 26);
	ASSERT_EQ(h->write_errors, 0);

	db = db_open();
	id = job_id(db, "api");
	ASSERT_GT(id, 0);
	ASSERT_EQ(qint(db, -1, "SELECT seq FROM jobs WHERE id = %lld", id), 25);
	ASSERT_EQ(qint(db, -1, "SELECT count(*) FROM results WHERE job = %lld", id), 10);
	ASSERT_EQ(qint(db, -1, "SELECT min(seq) FROM results WHERE job = %lld", id), 15);
	ASSERT_EQ(qint(db, -1, "SELECT max(seq) FROM results WHERE job = %lld", id), 24);
	ASSERT_EQ(qint(db, -1, "SELECT count(*) FROM results WHERE job = %lld", job_id(db, "db")), 1);
	s_db = db;
	ASSERT_EQ(sqlite3_prepare_v2(s_db, "SELECT slot, seq, end_ms, duration_us, outcome, error FROM"
					   " results WHERE job = ?1 ORDER BY seq", -1, &s, NULL),
		  SQLITE_OK);
	sqlite3_bind_int64(s, 1, id);
	while (sqlite3_step(s) == SQLITE_ROW) {
		long long seq = sqlite3_column_int64(s, 1);
		const char *err = (const char *)sqlite3_column_text(s, 5);
		char want[32];

		ASSERT_EQ(sqlite3_column_int64(s, 0), seq % 10);
		ASSERT_EQ(sqlite3_column_int64(s, 2), T0 + seq * MIN_MS);
		ASSERT_EQ(sqlite3_column_int64(s, 3), 1000 + seq);
		ASSERT_EQ(sqlite3_column_int(s, 4), seq % 3 ? OUTCOME_OK : OUTCOME_FAILED);
		if (seq % 3) {
			ASSERT(!err);
		} else {
			snprintf(want, sizeof want, "exit %lld", seq);
			ASSERT_STR_EQ(err, want);
		}
		rows++;
	}
	sqlite3_finalize(s);
	ASSERT_EQ(rows, 10);
	sqlite3_close(db);
	history_free(h);

	/* Fewer results a job after a restart: no more rows, and soon exactly the newest. */
	cfg = config(4, 30, 400, 400);
	h = open_history(&cfg);
	history__load_jobs(h);
	db = db_open();
	ASSERT_LE(qint(db, -1, "SELECT count(*) FROM results WHERE job = %lld", id), 4);
	for (int i = 25; i < 29; i++)
		write1(h, result("api", T0 + i * MIN_MS, OUTCOME_OK, 1000, NULL));
	ASSERT_EQ(qint(db, -1, "SELECT count(*) FROM results WHERE job = %lld", id), 4);
	ASSERT_EQ(qint(db, -1, "SELECT min(seq) FROM results WHERE job = %lld", id), 25);
	ASSERT_EQ(qint(db, -1, "SELECT max(seq) FROM results WHERE job = %lld", id), 28);
	sqlite3_close(db);
	history_free(h);

	/* raw_results: 0 keeps no results, and the rollups all the same. */
	cfg = config(0, 30, 400, 400);
	h = open_history(&cfg);
	history__load_jobs(h);
	write1(h, result("rollups-only", T0 + HOUR_MS, OUTCOME_OK, 10, NULL));
	db = db_open();
	ASSERT_EQ(qint(db, -1, "SELECT count(*) FROM results"), 0);
	ASSERT_EQ(qint(db, -1, "SELECT runs FROM hourly WHERE job = %lld",
		       job_id(db, "rollups-only")), 1);
	sqlite3_close(db);
	history_free(h);
}

/* ---- rollups -------------------------------------------------------------------------------- */

struct rollup {
	long long runs, ok, timeout, dmin, dmax, dsum, p95;
};

static struct rollup get_rollup(sqlite3 *db, const char *table, const char *col, long long id,
				long long at)
{
	struct rollup r = { -1, -1, -1, -1, -1, -1, -1 };
	sqlite3_stmt *s;
	char *sql = sqlite3_mprintf("SELECT runs, ok, timeout, dmin, dmax, dsum, p95 FROM %s WHERE"
				    " job = %lld AND %s = %lld", table, id, col, at);

	ASSERT_EQ(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
	if (sqlite3_step(s) == SQLITE_ROW) {
		r.runs = sqlite3_column_int64(s, 0);
		r.ok = sqlite3_column_int64(s, 1);
		r.timeout = sqlite3_column_int64(s, 2);
		r.dmin = sqlite3_column_int64(s, 3);
		r.dmax = sqlite3_column_int64(s, 4);
		r.dsum = sqlite3_column_int64(s, 5);
		r.p95 = sqlite3_column_int64(s, 6);
	}
	sqlite3_finalize(s);
	sqlite3_free(sql);
	return r;
}

TEST(hourly_and_daily_rollups_count_runs_and_durations)
{
	struct cfg_history cfg;
	struct history *h;
	struct hrec v[116];
	struct rollup r;
	size_t n = 0;
	long long id;
	sqlite3 *db;

	tmp_dir();
	cfg = config(100, 30, 400, 400);
	h = open_history(&cfg);
	/*
	 * Hour 0 of day 0: 100 runs of 1 ms .. 100 ms, the first 90 ok, 5
	 * failed, 5 timed out; hour 1: 10 runs of 1.1 ms each, all ok; day 1,
	 * hour 1: 6 runs, 3 ok.
	 */
	for (int i = 0; i < 100; i++)
		v[n++] = result("web", T0 + i * 30000, i < 90 ? OUTCOME_OK : i < 95 ? OUTCOME_FAILED :
					     OUTCOME_TIMEOUT, (uint32_t)(i + 1) * 1000,
				i < 90 ? NULL : "status 503");
	for (int i = 0; i < 10; i++)
		v[n++] = result("web", T0 + HOUR_MS + i * MIN_MS, OUTCOME_OK, 1100, NULL);
	for (int i = 0; i < 6; i++)
		v[n++] = result("web", T0 + DAY_MS + HOUR_MS + i * MIN_MS,
				i % 2 ? OUTCOME_FAILED : OUTCOME_OK, 2000 + (uint32_t)i * 500, NULL);
	/* The first hour in one batch, the rest in another: hours roll within and across batches. */
	history__write_batch(h, v, 100);
	history__write_batch(h, v + 100, n - 100);
	ASSERT_EQ(h->write_errors, 0);

	db = db_open();
	id = job_id(db, "web");
	ASSERT_EQ(qint(db, -1, "SELECT count(*) FROM hourly WHERE job = %lld", id), 3);
	r = get_rollup(db, "hourly", "hour", id, T0 / HOUR_MS);
	ASSERT_EQ(r.runs, 100);
	ASSERT_EQ(r.ok, 90);
	ASSERT_EQ(r.timeout, 5);
	ASSERT_EQ(r.dmin, 1000);
	ASSERT_EQ(r.dmax, 100000);
	ASSERT_EQ(r.dsum, 5050 * 1000);
	/* The 95th of 1..100 ms is 95 ms; the sketch has two buckets an octave. */
	fprintf(stderr, "# p95 of 1..100 ms: %lld us\n", r.p95);
	ASSERT_GE(r.p95, 95000 * 3 / 4);
	ASSERT_LE(r.p95, 100000);

	r = get_rollup(db, "hourly", "hour", id, T0 / HOUR_MS + 1);
	ASSERT_EQ(r.runs, 10);
	ASSERT_EQ(r.ok, 10);
	ASSERT_EQ(r.timeout, 0);
	ASSERT_EQ(r.dmin, 1100);
	ASSERT_EQ(r.dmax, 1100);
	ASSERT_EQ(r.dsum, 11000);
	/* Every run took 1.1 ms: its 95th percentile is no longer than its longest. */
	fprintf(stderr, "# p95 of ten runs of 1.1 ms: %lld us\n", r.p95);
	ASSERT_GE(r.p95, r.dmin);
	ASSERT_LE(r.p95, r.dmax);

	r = get_rollup(db, "hourly", "hour", id, (T0 + DAY_MS) / HOUR_MS + 1);
	ASSERT_EQ(r.runs, 6);
	ASSERT_EQ(r.ok, 3);
	ASSERT_EQ(r.dmin, 2000);
	ASSERT_EQ(r.dmax, 4500);
	ASSERT_EQ(r.dsum, 6 * 2000 + 500 * 15);

	ASSERT_EQ(qint(db, -1, "SELECT count(*) FROM daily WHERE job = %lld", id), 2);
	r = get_rollup(db, "daily", "day", id, T0 / DAY_MS);
	ASSERT_EQ(r.runs, 110);
	ASSERT_EQ(r.ok, 100);
	ASSERT_EQ(r.timeout, 5);
	ASSERT_EQ(r.dmin, 1000);
	ASSERT_EQ(r.dmax, 100000);
	ASSERT_EQ(r.dsum, 5050 * 1000 + 11000);
	ASSERT_GE(r.p95, r.dmin);
	ASSERT_LE(r.p95, r.dmax);
	r = get_rollup(db, "daily", "day", id, T0 / DAY_MS + 1);
	ASSERT_EQ(r.runs, 6);
	ASSERT_EQ(r.ok, 3);
	sqlite3_close(db);
	history_free(h);
}

/* ---- events and the summary --------------------------------------------------------------- */

TEST(events_rows_and_the_last_outage)
{
	struct cfg_history cfg;
	struct history_summary sum;
	struct history *h;
	int64_t now = safe_now();
	long long id;
	sqlite3 *db;

	tmp_dir();
	cfg = config(100, 30, 400, 400);
	h = open_history(&cfg);
	write1(h, result("pg", now - 60 * MIN_MS, OUTCOME_OK, 300, NULL));
	write1(h, result("pg", now - 50 * MIN_MS, OUTCOME_FAILED, 300, "connect: connection refused"));
	write1(h, event("pg", now - 50 * MIN_MS, false, 0, "connect: connection refused"));
	write1(h, result("pg", now - 20 * MIN_MS, OUTCOME_OK, 300, NULL));
	write1(h, event("pg", now - 20 * MIN_MS, true, 30 * MIN_MS, NULL));
	ASSERT_EQ(h->events, 2);

	db = db_open();
	id = job_id(db, "pg");
	ASSERT_EQ(qint(db, -1, "SELECT count(*) FROM events WHERE job = %lld", id), 2);
	ASSERT_EQ(qint(db, -1, "SELECT up FROM events WHERE job = %lld AND at_ms = %lld", id,
		       (long long)(now - 50 * MIN_MS)), 0);
	ASSERT_EQ(qint(db, -1, "SELECT count(*) FROM events WHERE job = %lld AND at_ms = %lld AND"
		       " error = 'connect: connection refused'", id, (long long)(now - 50 * MIN_MS)), 1);
	ASSERT_EQ(qint(db, -1, "SELECT up FROM events WHERE job = %lld AND at_ms = %lld", id,
		       (long long)(now - 20 * MIN_MS)), 1);
	ASSERT_EQ(qint(db, -1, "SELECT down_ms FROM events WHERE job = %lld AND at_ms = %lld", id,
		       (long long)(now - 20 * MIN_MS)), 30 * MIN_MS);

	ASSERT(history_summary(h, "pg", &sum));
	ASSERT_EQ(sum.outage_down_ms, now - 50 * MIN_MS);
	ASSERT_EQ(sum.outage_up_ms, now - 20 * MIN_MS);
	ASSERT_STR_EQ(sum.outage_error, "connect: connection refused");

	/* Down again, and it lasts. */
	write1(h, result("pg", now - 5 * MIN_MS, OUTCOME_TIMEOUT, 3000000, "timeout after 3s"));
	write1(h, event("pg", now - 5 * MIN_MS, false, 0, "timeout after 3s"));
	ASSERT(history_summary(h, "pg", &sum));
	ASSERT_EQ(sum.outage_down_ms, now - 5 * MIN_MS);
	ASSERT_EQ(sum.outage_up_ms, 0);
	ASSERT_STR_EQ(sum.outage_error, "timeout after 3s");
	ASSERT_EQ(qint(db, -1, "SELECT count(*) FROM events WHERE job = %lld", id), 3);
	/* The summary row a restart reads says the same. */
	ASSERT_EQ(qint(db, -1, "SELECT down_ms FROM summary WHERE job = %lld", id), now - 5 * MIN_MS);
	sqlite3_close(db);

	/* A job the history never saw a result of has no summary. */
	ASSERT(!history_summary(h, "nobody", &sum));
	history_free(h);
}

/*
 * The records of check_summary: 10 runs an hour in each of the 5 hours
 * before this one, 5 ok 5 hours ago up to 9 ok an hour ago; 4 runs so far
 * in this hour, 3 ok; 10 failed runs 30 hours ago; 10 good runs 10 days
 * ago.
 */
static void write_summary_records(struct history *h, const char *job, int64_t now)
{
	int64_t hour = now / HOUR_MS;
	struct hrec v[80];
	size_t n = 0;

	for (int i = 0; i < 10; i++)
		v[n++] = result(job, (hour - 240) * HOUR_MS + i * MIN_MS, OUTCOME_OK, 1000, NULL);
	for (int i = 0; i < 10; i++)
		v[n++] = result(job, (hour - 30) * HOUR_MS + i * MIN_MS, OUTCOME_FAILED, 1000, "exit 1");
	history__write_batch(h, v, n);
	n = 0;
	for (int k = 5; k >= 1; k--)
		for (int i = 0; i < 10; i++)
			v[n++] = result(job, (hour - k) * HOUR_MS + i * 5 * MIN_MS,
					i < 10 - k ? OUTCOME_OK : OUTCOME_FAILED, 1000,
					i < 10 - k ? NULL : "exit 1");
	for (int i = 0; i < 4; i++)
		v[n++] = result(job, hour * HOUR_MS + i * 200, i < 3 ? OUTCOME_OK : OUTCOME_FAILED, 1000,
				i < 3 ? NULL : "exit 1");
	history__write_batch(h, v, n);
}

static void check_summary(struct history *h, const char *job, int64_t now)
{
	struct history_summary s;

	ASSERT(history_summary(h, job, &s));
	ASSERT_EQ(s.last_hour_start_ms, now / HOUR_MS * HOUR_MS);
	ASSERT_EQ(s.hour_permille[89], 750);
	for (int k = 1; k <= 5; k++)
		ASSERT_EQ(s.hour_permille[89 - k], (10 - k) * 100);
	ASSERT_EQ(s.hour_permille[89 - 30], 0);
	for (int i = 0; i < HISTORY_BAR_HOURS; i++)
		if (i < 89 - 5 && i != 89 - 30)
			ASSERT_EQ(s.hour_permille[i], -1);
	ASSERT_RATIO(s.uptime_24h, 5 + 6 + 7 + 8 + 9 + 3, 54);
	ASSERT_RATIO(s.uptime_7d, 38, 64);
	ASSERT_RATIO(s.uptime_30d, 48, 74);
}

TEST(summary_bar_and_uptimes)
{
	struct cfg_history cfg;
	struct history *h;
	int64_t now = safe_now();

	tmp_dir();
	cfg = config(100, 30, 400, 400);
	h = open_history(&cfg);
	write_summary_records(h, "api", now);
	check_summary(h, "api", now);
	history_free(h);
}

/* With hourly rollups kept less than 30 days, the 30-day figure comes from the days: the same. */
TEST(summary_uptimes_with_short_hourly_retention)
{
	struct cfg_history cfg;
	struct history *h;
	int64_t now = safe_now();

	tmp_dir();
	cfg = config(100, 7, 30, 30);
	h = open_history(&cfg);
	write_summary_records(h, "api", now);
	check_summary(h, "api", now);
	history_free(h);
}

/* Hourly rollups kept a day only: the 7-day figure comes from the days too. */
TEST(summary_uptimes_with_hourly_rollups_kept_a_day)
{
	struct cfg_history cfg;
	struct history *h;
	int64_t now = safe_now();

	tmp_dir();
	cfg = config(100, 1, 30, 30);
	h = open_history(&cfg);
	write_summary_records(h, "api", now);
	check_summary(h, "api", now);
	history_free(h);
}

/* ---- retention --------------------------------------------------------------------------------- */

struct counts {
	long long results, hourly, daily, events, summary;
};

static struct counts count_rows(sqlite3 *db, long long id)
{
	return (struct counts){
		qint(db, -1, "SELECT count(*) FROM results WHERE job = %lld", id),
		qint(db, -1, "SELECT count(*) FROM hourly WHERE job = %lld", id),
		qint(db, -1, "SELECT count(*) FROM daily WHERE job = %lld", id),
		qint(db, -1, "SELECT count(*) FROM events WHERE job = %lld", id),
		qint(db, -1, "SELECT count(*) FROM summary WHERE job = %lld", id),
	};
}

/*
 * 5 jobs, a result a minute each for 60 simulated days (hourly 7d, daily
 * 30d, events 10d), each down for 10 minutes every day at 03:00; a sixth
 * job stops after 5 days. Rows stay within the retention, the file stops
 * growing once it is reached, and the sweep forgets the job long gone.
 */
TEST_NO_VALGRIND(retention_keeps_the_file_bounded_over_weeks)
{
	enum { JOBS = 5, DAYS = 60 };
	struct hrec *v = calloc(JOBS * 60 + 64, sizeof *v);
	long long size_at[DAYS + 1] = { 0 };
	struct cfg_history cfg;
	struct history *h;
	sqlite3 *db;
	char name[16];

	ASSERT(v);
	tmp_dir();
	cfg = config(100, 7, 30, 10);
	h = open_history(&cfg);
	for (int64_t hr = 0; hr < DAYS * 24; hr++) {
		size_t n = 0;

		for (int m = 0; m < 60; m++) {
			int64_t at = T0 + hr * HOUR_MS + m * MIN_MS;
			bool failing = hr % 24 == 3 && m < 10;

			for (int j = 0; j < JOBS; j++) {
				snprintf(name, sizeof name, "job-%d", j);
				v[n++] = result(name, at + j * 1000, failing ? OUTCOME_FAILED : OUTCOME_OK,
						1000 + (uint32_t)(m * 37 % 5000),
						failing ? "connect 10.0.0.1:5432: connection refused" : NULL);
				if (failing && m == 0)
					v[n++] = event(name, at + j * 1000, false, 0,
						       "connect 10.0.0.1:5432: connection refused");
				if (hr % 24 == 3 && m == 10)
					v[n++] = event(name, at + j * 1000, true, 10 * MIN_MS, NULL);
			}
			if (hr < 5 * 24 && m % 10 == 0)
				v[n++] = result("gone", at, OUTCOME_OK, 500, NULL);
		}
		history__write_batch(h, v, n);
		if (hr % 24 == 23)
			size_at[(hr + 1) / 24] = file_size("");
		if (hr % (7 * 24) == 7 * 24 - 1)
			fprintf(stderr, "# day %2lld: %lld bytes, write-ahead log %lld bytes\n",
				(long long)(hr + 1) / 24, file_size(""), file_size("-wal"));
	}
	ASSERT_EQ(h->write_errors, 0);
	fprintf(stderr, "# day %d: %lld bytes (day 31: %lld, day 40: %lld), write-ahead log %lld bytes\n",
		DAYS, size_at[DAYS], size_at[31], size_at[40], file_size("-wal"));

	db = db_open();
	for (int j = 0; j < JOBS; j++) {
		struct counts c;

		snprintf(name, sizeof name, "job-%d", j);
		c = count_rows(db, job_id(db, name));
		ASSERT_EQ(c.results, 100);
		/* This hour and the 7 days before it, at most. */
		ASSERT_LE(c.hourly, 7 * 24 + 1);
		ASSERT_GE(c.hourly, 7 * 24 - 1);
		ASSERT_LE(c.daily, 31);
		ASSERT_GE(c.daily, 29);
		/* A down and an up a day, for 10 days. */
		ASSERT_LE(c.events, 2 * 11);
		ASSERT_GE(c.events, 2 * 9);
		ASSERT_EQ(c.summary, 1);
		ASSERT_EQ(qint(db, -1, "SELECT count(*) FROM hourly WHERE job = %lld AND runs < 1",
			       job_id(db, name)), 0);
	}
	/* Once the retention is reached (30 days), the file grows no more. */
	ASSERT_GT(size_at[31], 0);
	ASSERT_LE(size_at[DAYS], size_at[31] + size_at[31] / 10);
	ASSERT_LE(size_at[DAYS], size_at[40] + size_at[40] / 20);

	/* The job that stopped after 5 days keeps its rows until the sweep forgets it. */
	{
		long long gone = job_id(db, "gone");
		struct counts c = count_rows(db, gone);

		ASSERT_GT(c.results + c.hourly + c.daily, 0);
		history__sweep(h, T0 + DAYS * DAY_MS);
		c = count_rows(db, gone);
		ASSERT_EQ(c.results, 0);
		ASSERT_EQ(c.hourly, 0);
		ASSERT_EQ(c.daily, 0);
		ASSERT_EQ(c.summary, 0);
		/* The others are kept: their last record is an hour old. */
		ASSERT_EQ(count_rows(db, job_id(db, "job-0")).results, 100);
	}
	{
		sqlite3_stmt *s;

		ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &s, NULL), SQLITE_OK);
		ASSERT_EQ(sqlite3_step(s), SQLITE_ROW);
		ASSERT_STR_EQ((const char *)sqlite3_column_text(s, 0), "ok");
		sqlite3_finalize(s);
	}
	sqlite3_close(db);
	history_free(h);
	free(v);
}

/* ---- restart ------------------------------------------------------------------------------------ */

static void same_summary(const struct history_summary *a, const struct history_summary *b)
{
	for (int i = 0; i < HISTORY_BAR_HOURS; i++)
		if (a->hour_permille[i] != b->hour_permille[i])
			tap__fail(__FILE__, __LINE__, "cell %d of the bar: %d before the restart, %d after",
				  i, a->hour_permille[i], b->hour_permille[i]);
	ASSERT(near(a->uptime_24h, b->uptime_24h));
	ASSERT(near(a->uptime_7d, b->uptime_7d));
	ASSERT(near(a->uptime_30d, b->uptime_30d));
	ASSERT_EQ(a->outage_down_ms, b->outage_down_ms);
	ASSERT_EQ(a->outage_up_ms, b->outage_up_ms);
	ASSERT_STR_EQ(a->outage_error ? a->outage_error : "-", b->outage_error ? b->outage_error : "-");
}

TEST(restart_continues_the_sequence_and_keeps_the_summary)
{
	struct history_summary before_now, before_old, after;
	struct cfg_history cfg;
	struct history *h;
	int64_t now = safe_now(), hour = now / HOUR_MS;
	sqlite3 *db;

	tmp_dir();
	cfg = config(100, 30, 400, 400);
	h = open_history(&cfg);
	/* "now": results up to this hour; "old": its last results an hour ago. */
	write_summary_records(h, "now", now);
	for (int k = 3; k >= 1; k--)
		for (int i = 0; i < 4; i++)
			write1(h, result("old", (hour - k) * HOUR_MS + i * MIN_MS,
					 i ? OUTCOME_OK : OUTCOME_FAILED, 700, i ? NULL : "exit 3"));
	write1(h, event("old", (hour - 1) * HOUR_MS, false, 0, "exit 3"));
	/* "slow": 20 runs of 50 ms in this hour. */
	for (int i = 0; i < 20; i++)
		write1(h, result("slow", hour * HOUR_MS + i * 10, OUTCOME_OK, 50000, NULL));
	ASSERT(history_summary(h, "now", &before_now));
	ASSERT(history_summary(h, "old", &before_old));
	ASSERT_EQ(before_old.hour_permille[88], 750);
	ASSERT_RATIO(before_old.uptime_24h, 9, 12);
	ASSERT_EQ(history__find(h, "now")->seq, 74);
	history_free(h);

	h = open_history(&cfg);
	history__load_jobs(h);
	ASSERT_EQ(h->njobs, 3);
	ASSERT_EQ(history__find(h, "now")->seq, 74);
	ASSERT_EQ(history__find(h, "old")->seq, 12);
	ASSERT(history_summary(h, "now", &after));
	same_summary(&before_now, &after);
	ASSERT(history_summary(h, "old", &after));
	same_summary(&before_old, &after);

	/* The sequence goes on where it stopped: no slot of the ring is written twice. */
	for (int i = 0; i < 3; i++)
		write1(h, result("now", now - 1000 + i, OUTCOME_OK, 1000, NULL));
	write1(h, result("old", now - 1000, OUTCOME_OK, 700, NULL));
	write1(h, result("slow", hour * HOUR_MS + 500, OUTCOME_OK, 1000, NULL));
	ASSERT_EQ(history__find(h, "now")->seq, 77);
	db = db_open();
	/* The hour of "slow", rewritten with one more run of 1 ms: its p95 is still about 50 ms. */
	{
		struct rollup r = get_rollup(db, "hourly", "hour", job_id(db, "slow"), hour);

		fprintf(stderr, "# p95 of 20 runs of 50 ms and, after a restart, one of 1 ms: %lld us\n",
			r.p95);
		ASSERT_EQ(r.runs, 21);
		ASSERT_EQ(r.dmin, 1000);
		ASSERT_EQ(r.dmax, 50000);
		ASSERT_GE(r.p95, 40000);
	}
	ASSERT_EQ(qint(db, -1, "SELECT max(seq) FROM results WHERE job = %lld", job_id(db, "now")), 76);
	ASSERT_EQ(qint(db, -1, "SELECT count(*) FROM results WHERE job = %lld", job_id(db, "now")), 77);
	ASSERT_EQ(qint(db, -1, "SELECT count(*) FROM results WHERE job = %lld", job_id(db, "old")), 13);
	sqlite3_close(db);
	/* The hour now has three more good runs of "now": 6 of 7. */
	ASSERT(history_summary(h, "now", &after));
	ASSERT_EQ(after.hour_permille[89], 6 * 1000 / 7);
	ASSERT_RATIO(after.uptime_24h, 41, 57);
	/* "old" has its first run of this hour, and its last hours as before. */
	ASSERT(history_summary(h, "old", &after));
	ASSERT_EQ(after.hour_permille[89], 1000);
	ASSERT_EQ(after.hour_permille[88], 750);
	ASSERT_EQ(after.hour_permille[87], 750);
	ASSERT_RATIO(after.uptime_24h, 10, 13);
	history_free(h);
}

/* ---- failures ------------------------------------------------------------------------------------ */

/*
 * A batch that fails (here: the file may not grow, as on a full disk)
 * is counted; a job first seen in it is not lost: once there is room, its
 * results are written under its name.
 */
TEST(a_batch_that_fails_on_a_full_disk_loses_no_job)
{
	struct cfg_history cfg;
	struct history *h;
	char *big = malloc(64 << 10);
	sqlite3 *db;
	long long pages, id;
	char sql[96];

	ASSERT(big);
	tmp_dir();
	cfg = config(100, 30, 400, 400);
	h = open_history(&cfg);
	write1(h, result("first", T0, OUTCOME_OK, 10, NULL));
	ASSERT_EQ(h->write_errors, 0);
	db = db_open();
	pages = qint(db, -1, "PRAGMA page_count");
	sqlite3_close(db);
	snprintf(sql, sizeof sql, "PRAGMA max_page_count = %lld", pages);
	ASSERT_EQ(sqlite3_exec(h->wdb, sql, NULL, NULL, NULL), SQLITE_OK);
	memset(big, 'x', (64 << 10) - 1);
	big[(64 << 10) - 1] = '\0';
	write1(h, result("second", T0 + MIN_MS, OUTCOME_FAILED, 10, big));
	ASSERT_EQ(h->write_errors, 1);
	ASSERT(h->working); /* a full disk passes */

	ASSERT_EQ(sqlite3_exec(h->wdb, "PRAGMA max_page_count = 1000000000", NULL, NULL, NULL),
		  SQLITE_OK);
	write1(h, result("second", T0 + 2 * MIN_MS, OUTCOME_OK, 10, NULL));
	write1(h, result("first", T0 + 2 * MIN_MS, OUTCOME_OK, 10, NULL));
	ASSERT_EQ(h->write_errors, 1);
	db = db_open();
	id = job_id(db, "second");
	if (id < 0)
		fprintf(stderr, "# jobs: %lld rows; results of unknown jobs: %lld\n",
			qint(db, -1, "SELECT count(*) FROM jobs"),
			qint(db, -1, "SELECT count(*) FROM results WHERE job NOT IN (SELECT id FROM jobs)"));
	ASSERT_GT(id, 0);
	ASSERT_GE(qint(db, -1, "SELECT count(*) FROM results WHERE job = %lld", id), 1);
	ASSERT_EQ(qint(db, -1, "SELECT count(*) FROM results WHERE job NOT IN (SELECT id FROM jobs)"), 0);
	ASSERT_EQ(qint(db, -1, "SELECT count(*) FROM hourly WHERE job NOT IN (SELECT id FROM jobs)"), 0);
	ASSERT_EQ(qint(db, -1, "SELECT count(*) FROM results WHERE job = %lld", job_id(db, "first")), 2);
	sqlite3_close(db);
	history_free(h);
	free(big);
}

/* Two jobs that flap in turn: each keeps at most 1000 transitions, the newest. */
TEST(events_are_capped_per_job)
{
	enum { EACH = 1300 };
	struct hrec *v = calloc(2 * EACH, sizeof *v);
	struct cfg_history cfg;
	struct history *h;
	sqlite3 *db;

	ASSERT(v);
	tmp_dir();
	cfg = config(100, 30, 400, 400);
	h = open_history(&cfg);
	for (int i = 0; i < EACH; i++) {
		int64_t at = T0 + (int64_t)i * MIN_MS;

		v[2 * i] = event("a", at, i % 2, i % 2 ? MIN_MS : 0, i % 2 ? NULL : "exit 1");
		v[2 * i + 1] = event("b", at + 1000, i % 2, i % 2 ? MIN_MS : 0, i % 2 ? NULL : "exit 1");
	}
	for (int i = 0; i < 2 * EACH; i += 100)
		history__write_batch(h, v + i, 2 * EACH - i < 100 ? (size_t)(2 * EACH - i) : 100);
	db = db_open();
	for (int k = 0; k < 2; k++)
		fprintf(stderr, "# job %c: %lld events kept of %d\n", 'a' + k,
			qint(db, -1, "SELECT count(*) FROM events WHERE job = %lld",
			     job_id(db, k ? "b" : "a")), EACH);
	for (int k = 0; k < 2; k++) {
		long long id = job_id(db, k ? "b" : "a");
		long long n = qint(db, -1, "SELECT count(*) FROM events WHERE job = %lld", id);

		ASSERT_LE(n, 1000);
		ASSERT_GE(n, 900);
		ASSERT_EQ(qint(db, -1, "SELECT max(at_ms) FROM events WHERE job = %lld", id),
			  T0 + (EACH - 1) * MIN_MS + k * 1000);
	}
	sqlite3_close(db);
	history_free(h);
	free(v);
}

static void expect_not_working(struct history *h, const char *text)
{
	struct history_stats st;
	struct history_summary sum;
	struct history_result *res = NULL;
	size_t n = 0;

	ASSERT(h);
	ASSERT(h->enabled);
	ASSERT(!h->working);
	ASSERT(h->error);
	fprintf(stderr, "# error: %s\n", h->error);
	if (!strstr(h->error, text))
		tap__fail(__FILE__, __LINE__, "the error \"%s\" lacks \"%s\"", h->error, text);
	history_get_stats(h, &st);
	ASSERT(st.enabled);
	ASSERT(!st.working);
	ASSERT_STR_EQ(st.error, h->error);
	ASSERT(!history_summary(h, "api", &sum));
	ASSERT_EQ(history_results(h, "api", 0, 0, false, 10, &res, &n), -ENOTSUP);
	ASSERT_EQ(n, 0);
	history_results_free(res, n);
}

TEST(a_file_that_is_not_a_database)
{
	struct cfg_history cfg;
	struct history *h;
	char garbage[8192];
	int fd;

	tmp_dir();
	for (size_t i = 0; i < sizeof garbage; i++)
		garbage[i] = "this is not a database, but a log file\n"[i % 39];
	fd = open(dbpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(write(fd, garbage, sizeof garbage), (ssize_t)sizeof garbage);
	close(fd);
	cfg = config(100, 30, 400, 400);
	h = history_new(NULL, &cfg, NULL);
	expect_not_working(h, dbpath);
	expect_not_working(h, "is not a usable SQLite database");
	expect_not_working(h, "move it away");
	history_free(h);

	/* The file is left as it was: nothing of it is lost. */
	{
		char back[sizeof garbage];

		fd = open(dbpath, O_RDONLY);
		ASSERT_GE(fd, 0);
		ASSERT_EQ(read(fd, back, sizeof back), (ssize_t)sizeof back);
		close(fd);
		ASSERT_EQ(memcmp(back, garbage, sizeof back), 0);
	}
}

TEST(a_database_of_a_newer_schema_is_refused)
{
	struct cfg_history cfg;
	struct history *h;
	sqlite3 *db;

	tmp_dir();
	ASSERT_EQ(sqlite3_open(dbpath, &db), SQLITE_OK);
	ASSERT_EQ(sqlite3_exec(db, "CREATE TABLE future(x); PRAGMA user_version = 9;", NULL, NULL,
			       NULL), SQLITE_OK);
	sqlite3_close(db);
	cfg = config(100, 30, 400, 400);
	h = history_new(NULL, &cfg, NULL);
	expect_not_working(h, "schema version 9, newer than this daemon's 1");
	history_free(h);
}

TEST(a_place_that_cannot_be_written)
{
	struct cfg_history cfg;
	struct history *h;
	char file[160];
	int fd;

	tmp_dir();
	/* A file where a directory should be: no one, not even root, creates anything in it. */
	snprintf(file, sizeof file, "%s/not-a-directory", dir);
	fd = open(file, O_WRONLY | O_CREAT, 0600);
	ASSERT_GE(fd, 0);
	close(fd);
	snprintf(dbpath, sizeof dbpath, "%s/not-a-directory/history.db", dir);
	cfg = config(100, 30, 400, 400);
	h = history_new(NULL, &cfg, NULL);
	expect_not_working(h, dbpath);
	expect_not_working(h, "not-a-directory: Not a directory)");
	history_free(h);

	/* /proc takes no new files. */
	snprintf(dbpath, sizeof dbpath, "/proc/history-test-%d.db", (int)getpid());
	h = history_new(NULL, &cfg, NULL);
	expect_not_working(h, dbpath);
	history_free(h);

	/* A read-only directory: root writes in it all the same (CAP_DAC_OVERRIDE). */
	snprintf(dbpath, sizeof dbpath, "%s/ro/history.db", dir);
	snprintf(file, sizeof file, "%s/ro", dir);
	ASSERT_EQ(mkdir(file, 0555), 0);
	snprintf(file, sizeof file, "%s/ro/probe", dir);
	fd = open(file, O_WRONLY | O_CREAT, 0600);
	if (fd >= 0) {
		close(fd);
		unlink(file);
		printf("# skip the read-only directory: this process writes in it anyway (root); "
		       "covered by a file in the way and by /proc\n");
		return;
	}
	h = history_new(NULL, &cfg, NULL);
	expect_not_working(h, dbpath);
	history_free(h);
}

/*
 * A file damaged under the running writer: the batch fails, and history
 * turns off with a clear error (a full disk passes; this does not).
 */
TEST(a_file_damaged_while_in_use_turns_history_off)
{
	struct cfg_history cfg;
	struct hrec v[400];
	struct history *h;
	char junk[4096];
	struct stat sb;
	int fd;

	tmp_dir();
	cfg = config(100, 30, 400, 400);
	h = open_history(&cfg);
	for (int i = 0; i < 400; i++) {
		char name[32];

		snprintf(name, sizeof name, "job-%03d", i);
		v[i] = result(name, T0 + i, OUTCOME_FAILED, 1000, "status 503 (expected 200-299)");
	}
	history__write_batch(h, v, 400);
	ASSERT_EQ(h->write_errors, 0);
	/* Everything into the file, then every page but the first overwritten. */
	ASSERT_EQ(sqlite3_exec(h->wdb, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL), SQLITE_OK);
	ASSERT_EQ(stat(dbpath, &sb), 0);
	ASSERT_GT(sb.st_size, 4 * 4096);
	memset(junk, 0x5a, sizeof junk);
	fd = open(dbpath, O_WRONLY);
	ASSERT_GE(fd, 0);
	for (off_t at = 4096; at < sb.st_size; at += 4096)
		ASSERT_EQ(pwrite(fd, junk, sizeof junk, at), (ssize_t)sizeof junk);
	close(fd);
	sqlite3_db_release_memory(h->wdb); /* no page from its cache */
	for (int i = 0; i < 400; i++) {
		char name[32];

		snprintf(name, sizeof name, "job-%03d", i);
		v[i] = result(name, T0 + 60000 + i, OUTCOME_OK, 1000, NULL);
	}
	history__write_batch(h, v, 400);
	ASSERT_EQ(h->write_errors, 1);
	ASSERT(!h->working);
	ASSERT(h->error);
	fprintf(stderr, "# error: %s\n", h->error);
	ASSERT(strstr(h->error, "is damaged"));
	ASSERT(strstr(h->error, dbpath));
	ASSERT(strstr(h->error, "move it away"));
	history_free(h);
}
