/* SPDX-License-Identifier: MIT */
/*
 * rollup.c: the writer's rollups: the sketch of durations that gives the
 * p95, hourly and daily rows as a job's hour or day fills and ends (with
 * the rows past the retention deleted then), and the summary row that
 * holds what the status page draws. Called on the writer thread only.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "daemon/history/history-internal.h"

/* ---- durations' sketch -------------------------------------------------------------- */

unsigned history__bucket(uint32_t us)
{
	unsigned b;
	int top;

	if (us < 2)
		return 0;
	top = 31 - __builtin_clz(us);
	b = (unsigned)top * 2 + ((us >> (top - 1)) & 1);
	return b < SKETCH_BUCKETS ? b : SKETCH_BUCKETS - 1;
}

uint32_t history__bucket_value(unsigned b)
{
	uint64_t base = 1ull << (b / 2);

	/* The middle of the bucket: [2^k, 1.5 * 2^k) or [1.5 * 2^k, 2^(k+1)). */
	return (uint32_t)(b % 2 ? base * 7 / 4 : base * 5 / 4);
}

uint32_t history__percentile(const uint16_t *sketch, unsigned p)
{
	uint64_t total = 0, seen = 0, want;

	for (unsigned b = 0; b < SKETCH_BUCKETS; b++)
		total += sketch[b];
	if (!total)
		return 0;
	want = (total * p + 99) / 100;
	for (unsigned b = 0; b < SKETCH_BUCKETS; b++) {
		seen += sketch[b];
		if (seen >= want)
			return history__bucket_value(b);
	}
	return history__bucket_value(SKETCH_BUCKETS - 1);
}

void history__agg_add(struct agg *a, uint8_t outcome, uint32_t us)
{
	unsigned b = history__bucket(us);

	if (!a->runs || us < a->dmin)
		a->dmin = us;
	if (us > a->dmax)
		a->dmax = us;
	a->runs++;
	a->ok += outcome == OUTCOME_OK;
	a->failed += outcome == OUTCOME_FAILED;
	a->timeout += outcome == OUTCOME_TIMEOUT;
	a->dsum += us;
	if (a->sketch[b] == UINT16_MAX) {
		/* Halve every bucket: the proportions, hence the percentiles, hold. */
		for (unsigned i = 0; i < SKETCH_BUCKETS; i++)
			a->sketch[i] /= 2;
	}
	a->sketch[b]++;
}

/* ---- rollups -------------------------------------------------------------------------- */

int history__upsert_agg(sqlite3_stmt *s, int64_t id, const struct agg *a)
{
	uint32_t p95 = history__percentile(a->sketch, 95);
	int rc;

	if (!a->start || !a->runs)
		return SQLITE_DONE;
	/* A bucket's middle can lie past what was seen (ten runs of 1.1 ms: 1.28 ms). */
	if (p95 < a->dmin)
		p95 = a->dmin;
	if (p95 > a->dmax)
		p95 = a->dmax;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int64(s, 2, a->start);
	sqlite3_bind_int64(s, 3, a->runs);
	sqlite3_bind_int64(s, 4, a->ok);
	sqlite3_bind_int64(s, 5, a->timeout);
	sqlite3_bind_int64(s, 6, a->dmin);
	sqlite3_bind_int64(s, 7, a->dmax);
	sqlite3_bind_int64(s, 8, (sqlite3_int64)a->dsum);
	sqlite3_bind_int64(s, 9, p95);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	return rc;
}

static void sums(sqlite3_stmt *s, int64_t id, int64_t from, int64_t to, uint64_t *runs,
		 uint64_t *ok)
{
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int64(s, 2, from);
	sqlite3_bind_int64(s, 3, to);
	*runs = *ok = 0;
	if (sqlite3_step(s) == SQLITE_ROW) {
		*runs = (uint64_t)sqlite3_column_int64(s, 0);
		*ok = (uint64_t)sqlite3_column_int64(s, 1);
	}
	sqlite3_reset(s);
}

void history__delete_before(sqlite3_stmt *s, int64_t id, int64_t before)
{
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int64(s, 2, before);
	sqlite3_step(s);
	sqlite3_reset(s);
}

void history__save_summary(struct history *h, struct wjob *j, const struct hsum *sum)
{
	sqlite3_stmt *s = h->wstmt[S_UP_SUMMARY];

	sqlite3_bind_int64(s, 1, j->id);
	sqlite3_bind_int64(s, 2, sum->bar_end);
	sqlite3_bind_blob(s, 3, sum->bar, sizeof sum->bar, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, (sqlite3_int64)sum->runs_24h);
	sqlite3_bind_int64(s, 5, (sqlite3_int64)sum->ok_24h);
	sqlite3_bind_int64(s, 6, (sqlite3_int64)sum->runs_7d);
	sqlite3_bind_int64(s, 7, (sqlite3_int64)sum->ok_7d);
	sqlite3_bind_int64(s, 8, (sqlite3_int64)sum->runs_30d);
	sqlite3_bind_int64(s, 9, (sqlite3_int64)sum->ok_30d);
	sqlite3_bind_int64(s, 10, sum->down_ms);
	sqlite3_bind_int64(s, 11, sum->up_ms);
	if (sum->down_error)
		sqlite3_bind_text(s, 12, sum->down_error, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, 12);
	sqlite3_step(s);
	sqlite3_reset(s);
}

/*
 * The runs and successes of the last `days` days before `hour` (the hour
 * the job enters): from the hourly rows if they are kept that long, else
 * from the daily ones, today and the days - 1 before it: the days before
 * the one being filled from their rows, that one from memory (its row is
 * as old as the last batch, and the hour that just ended is not in it yet).
 */
static void window_sums(struct history *h, struct wjob *j, int64_t hour, int days, uint64_t *runs,
			uint64_t *ok)
{
	int64_t from = hour / 24 - (days - 1), filling = j->day.start ? j->day.start : hour / 24 + 1;

	if (h->cfg.hourly_ms >= (uint64_t)days * DAY_MS) {
		sums(h->wstmt[S_SUM_HOURS], j->id, hour - days * 24 + 1, hour, runs, ok);
		return;
	}
	sums(h->wstmt[S_SUM_DAYS], j->id, from, filling, runs, ok);
	if (j->day.start && j->day.start >= from) {
		*runs += j->day.runs;
		*ok += j->day.ok;
	}
}

/*
 * The job enters a new hour: its last hour is final, the bar moves on, the
 * 24-hour and 30-day counts are summed afresh from the rollups, and the
 * hours past the retention go.
 */
void history__roll_hour(struct history *h, struct wjob *j, int64_t hour)
{
	struct hsum sum;
	int64_t shift;

	history__upsert_agg(h->wstmt[S_UP_HOUR], j->id, &j->hour);
	pthread_mutex_lock(&h->lock);
	sum = j->sum;
	pthread_mutex_unlock(&h->lock);
	/* The bar ends at the new hour: the finished one goes in last. */
	shift = sum.bar_end ? hour - sum.bar_end : HISTORY_BAR_HOURS;
	if (shift >= HISTORY_BAR_HOURS || shift < 0) {
		for (int i = 0; i < HISTORY_BAR_HOURS; i++)
			sum.bar[i] = -1;
	} else if (shift > 0) {
		memmove(sum.bar, sum.bar + shift, (size_t)(HISTORY_BAR_HOURS - shift) * sizeof *sum.bar);
		for (int64_t i = HISTORY_BAR_HOURS - shift; i < HISTORY_BAR_HOURS; i++)
			sum.bar[i] = -1;
	}
	if (j->hour.start && j->hour.runs && hour - j->hour.start <= HISTORY_BAR_HOURS &&
	    hour > j->hour.start)
		sum.bar[HISTORY_BAR_HOURS - (hour - j->hour.start)] =
			(int16_t)((uint64_t)j->hour.ok * 1000 / j->hour.runs);
	sum.bar_end = hour;
	sums(h->wstmt[S_SUM_HOURS], j->id, hour - 23, hour, &sum.runs_24h, &sum.ok_24h);
	window_sums(h, j, hour, 7, &sum.runs_7d, &sum.ok_7d);
	window_sums(h, j, hour, 30, &sum.runs_30d, &sum.ok_30d);
	sum.cur_runs = sum.cur_ok = 0;
	history__delete_before(h->wstmt[S_DEL_HOURS], j->id, hour - (int64_t)(h->cfg.hourly_ms / HOUR_MS));
	history__save_summary(h, j, &sum);
	pthread_mutex_lock(&h->lock);
	sum.down_error = j->sum.down_error; /* owned by j->sum, unchanged here */
	j->sum = sum;
	pthread_mutex_unlock(&h->lock);
	memset(&j->hour, 0, sizeof j->hour);
	j->hour.start = hour;
}

void history__roll_day(struct history *h, struct wjob *j, int64_t day)
{
	history__upsert_agg(h->wstmt[S_UP_DAY], j->id, &j->day);
	history__delete_before(h->wstmt[S_DEL_DAYS], j->id, day - (int64_t)(h->cfg.daily_ms / DAY_MS));
	memset(&j->day, 0, sizeof j->day);
	j->day.start = day;
}
