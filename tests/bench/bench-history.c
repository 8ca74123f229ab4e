/* SPDX-License-Identifier: MIT */
/*
 * bench-history.c: the history's writer on a driven clock (issue 15),
 * without a daemon: the writer's own steps (history__write_batch) fed with
 * records whose times are made up, so that 30 days pass in seconds.
 *
 *   bench-history [quick]
 *
 * Measured, each against its baseline in the same run:
 *   rows/s    records a second through the writer (a batch of 8192 results
 *             of distinct jobs, one transaction), against a bare SQLite
 *             baseline: the same number of INSERTs of the same rows into a
 *             plain table in one transaction (the floor any writer pays);
 *   size      the database's bytes per job after 30 simulated days with the
 *             default retention (100 raw results, hourly 30d, daily 400d),
 *             each job a result every SIM_EVERY_S seconds and an outage a
 *             day; the goal is at most 40 KiB a job;
 *   uptime    the 30-day uptime of one job read from the hourly rollups
 *             (the reader thread's query), median of many; goal at most 1 ms.
 *
 * A table, then BENCH lines. Benchmarks are not tests: nothing here fails
 * for being slow.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "daemon/history/history-internal.h"

#define BATCH 8192
#define SIM_EVERY_S 60   /* a simulated job's interval: 1,440 results a day */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static struct history *open_history(const char *path)
{
	struct cfg_history cfg = {
		.enabled = true,
		.path = (char *)path,
		.raw_results = CFG_HISTORY_RAW_DEFAULT,
		.hourly_ms = CFG_HISTORY_HOURLY_DEFAULT_MS,
		.daily_ms = CFG_HISTORY_DAILY_DEFAULT_MS,
		.events_ms = CFG_HISTORY_EVENTS_DEFAULT_MS,
	};
	struct history *h;

	unlink(path);
	h = history_new(NULL, &cfg, NULL);
	if (!h || !h->working) {
		fprintf(stderr, "bench-history: cannot open %s: %s\n", path,
			h && h->error ? h->error : "out of memory");
		exit(2);
	}
	return h;
}

static void result(struct hrec *r, int job, int64_t at, int ok)
{
	memset(r, 0, sizeof *r);
	r->kind = HREC_RESULT;
	r->outcome = ok ? 0 : 1;
	r->duration_us = 800 + (uint32_t)(job % 97) * 13;
	r->at_ms = at;
	r->error = ok ? NULL : strdup("connect: connection refused");
	snprintf(r->name, sizeof r->name, "job-%06d.example", job);
}

/* Records a second through the writer, against plain INSERTs in one transaction. */
static void throughput(const char *dir, int rounds, double *ret_writer, double *ret_floor)
{
	char path[512];
	struct hrec *v = malloc(BATCH * sizeof *v);
	double wr[16], fl[16];
	int64_t t0 = (int64_t)time(NULL) * 1000;

	snprintf(path, sizeof path, "%s/throughput.db", dir);
	for (int k = 0; k < rounds; k++) {
		struct history *h = open_history(path);
		sqlite3 *db;
		sqlite3_stmt *s;
		double a;

		/* A warm-up batch makes the jobs known (their first result inserts them). */
		for (int i = 0; i < BATCH; i++)
			result(&v[i], i, t0, 1);
		history__write_batch(h, v, BATCH);
		for (int i = 0; i < BATCH; i++)
			result(&v[i], i, t0 + 10000, i % 50 != 0);
		a = now_s();
		history__write_batch(h, v, BATCH);
		wr[k] = BATCH / (now_s() - a);
		history_free(h);

		/* The floor: the same rows, plain INSERTs, one transaction, same pragmas. */
		snprintf(path, sizeof path, "%s/floor.db", dir);
		unlink(path);
		sqlite3_open(path, &db);
		sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
				 "CREATE TABLE r(job INTEGER, seq INTEGER, end_ms INTEGER, d INTEGER,"
				 " o INTEGER, error TEXT)", NULL, NULL, NULL);
		sqlite3_prepare_v2(db, "INSERT INTO r VALUES(?1, ?2, ?3, ?4, ?5, ?6)", -1, &s, NULL);
		for (int i = 0; i < BATCH; i++)
			result(&v[i], i, t0 + 10000, i % 50 != 0);
		a = now_s();
		sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
		for (int i = 0; i < BATCH; i++) {
			sqlite3_bind_int(s, 1, i);
			sqlite3_bind_int(s, 2, 1);
			sqlite3_bind_int64(s, 3, v[i].at_ms);
			sqlite3_bind_int(s, 4, (int)v[i].duration_us);
			sqlite3_bind_int(s, 5, v[i].outcome);
			if (v[i].error)
				sqlite3_bind_text(s, 6, v[i].error, -1, SQLITE_STATIC);
			else
				sqlite3_bind_null(s, 6);
			sqlite3_step(s);
			sqlite3_reset(s);
		}
		sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
		fl[k] = BATCH / (now_s() - a);
		sqlite3_finalize(s);
		sqlite3_close(db);
		for (int i = 0; i < BATCH; i++)
			free(v[i].error);
		unlink(path);
		snprintf(path, sizeof path, "%s/throughput.db", dir);
	}
	qsort(wr, (size_t)rounds, sizeof *wr, cmp_double);
	qsort(fl, (size_t)rounds, sizeof *fl, cmp_double);
	*ret_writer = wr[rounds / 2];
	*ret_floor = fl[rounds / 2];
	free(v);
}

static uint64_t file_bytes(const char *path)
{
	struct stat sb;
	char wal[600];
	uint64_t n = 0;

	if (stat(path, &sb) == 0)
		n += (uint64_t)sb.st_size;
	snprintf(wal, sizeof wal, "%s-wal", path);
	if (stat(wal, &sb) == 0)
		n += (uint64_t)sb.st_size;
	return n;
}

/*
 * 30 days of jobs results (and a short outage a day each), in time order,
 * a batch at a time; then the file's bytes per job, after a checkpoint.
 */
static double size_per_job(const char *dir, int jobs, int days, double *ret_secs)
{
	char path[512];
	struct history *h;
	struct hrec *v = malloc(BATCH * sizeof *v);
	int64_t start = ((int64_t)time(NULL) - (int64_t)days * 86400) * 1000;
	int64_t steps = (int64_t)days * 86400 / SIM_EVERY_S;
	size_t n = 0;
	double a = now_s();

	snprintf(path, sizeof path, "%s/size.db", dir);
	h = open_history(path);
	for (int64_t k = 0; k < steps; k++) {
		int64_t at = start + k * SIM_EVERY_S * 1000;
		/* Each job is down for 5 minutes a day, at its own time of day. */
		for (int j = 0; j < jobs; j++) {
			int64_t in_day = (k * SIM_EVERY_S + j * 97) % 86400;
			bool down = in_day < 300;

			result(&v[n++], j, at + j, !down);
			/* Its transitions: down at the window's first result, up at the next good one. */
			if (in_day < SIM_EVERY_S || (in_day >= 300 && in_day < 300 + SIM_EVERY_S)) {
				struct hrec *e = &v[n++];

				memset(e, 0, sizeof *e);
				e->kind = HREC_EVENT;
				e->outcome = in_day >= 300;
				e->at_ms = at + j;
				e->down_ms = e->outcome ? 300000 : 0;
				e->error = e->outcome ? NULL : strdup("connect: connection refused");
				snprintf(e->name, sizeof e->name, "job-%06d.example", j);
			}
			if (n >= BATCH - 1) {
				history__write_batch(h, v, n);
				n = 0;
			}
		}
	}
	if (n)
		history__write_batch(h, v, n);
	*ret_secs = now_s() - a;
	sqlite3_exec(h->wdb, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
	history_free(h);
	free(v);
	return (double)file_bytes(path) / jobs;
}

/* The 30-day uptime of one job from the hourly rollups, as the reader asks it. */
static double uptime_read_us(const char *dir, int reads)
{
	char path[512];
	sqlite3 *db;
	sqlite3_stmt *s;
	double *t = malloc((size_t)reads * sizeof *t), med;
	int64_t since = ((int64_t)time(NULL) * 1000 - 30LL * 86400000) / 3600000 + 1;

	snprintf(path, sizeof path, "%s/size.db", dir);
	sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
	sqlite3_prepare_v2(db, "SELECT coalesce(sum(runs), 0), coalesce(sum(ok), 0) FROM hourly h"
			       " JOIN jobs j ON j.id = h.job WHERE j.name = ?1 AND h.hour >= ?2",
			   -1, &s, NULL);
	for (int i = 0; i < reads; i++) {
		char name[64];
		double a;

		snprintf(name, sizeof name, "job-%06d.example", i % 100);
		a = now_s();
		sqlite3_bind_text(s, 1, name, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(s, 2, since);
		if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_int64(s, 0) == 0)
			fprintf(stderr, "bench-history: %s has no hourly rows\n", name);
		sqlite3_reset(s);
		t[i] = (now_s() - a) * 1e6;
	}
	sqlite3_finalize(s);
	sqlite3_close(db);
	qsort(t, (size_t)reads, sizeof *t, cmp_double);
	med = t[reads / 2];
	free(t);
	return med;
}

int main(int argc, char **argv)
{
	bool quick = argc > 1 && strcmp(argv[1], "quick") == 0;
	char dir[] = "/tmp/bench-history.XXXXXX";
	int jobs = quick ? 100 : 1000, days = 30;
	double wr, fl, per_job, secs, up_us;

	if (!mkdtemp(dir)) {
		perror("bench-history: mkdtemp");
		return 2;
	}
	throughput(dir, quick ? 3 : 7, &wr, &fl);
	per_job = size_per_job(dir, jobs, days, &secs);
	up_us = uptime_read_us(dir, 2000);
	printf("history writer on a driven clock (%s)\n\n", quick ? "quick" : "full");
	printf("| figure | measured | baseline | goal |\n|---|---:|---:|---|\n");
	printf("| records/s through the writer (batch of %d) | %.0f | %.0f plain INSERTs/s (%.2fx) | - |\n",
	       BATCH, wr, fl, wr / fl);
	printf("| database bytes per job after %d days (%d jobs, a result a minute, defaults) | %.0f "
	       "(%.1f KiB) | - | <= 40 KiB |\n", days, jobs, per_job, per_job / 1024);
	printf("| 30-day uptime of one job, median read | %.1f us | - | <= 1000 us |\n", up_us);
	printf("| simulated %d days of %d jobs written in | %.1f s | - | - |\n\n", days, jobs, secs);
	printf("BENCH history_writer_records_per_s %.0f records/s\n", wr);
	printf("BENCH history_writer_vs_plain_insert %.2f ratio\n", wr / fl);
	printf("BENCH history_db_bytes_per_job_30d %.0f bytes\n", per_job);
	printf("BENCH history_uptime_30d_read_us %.1f us\n", up_us);
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "bench-history: could not remove %s\n", dir);
	return 0;
}
