/* SPDX-License-Identifier: MIT */
/*
 * history.c: the history room's life and the event loop's side of it. The
 * supervisor's observers turn every result and every up/down transition
 * into a record in a bounded queue (a mutex held for a copy, never across
 * I/O; a full queue drops the record and counts it), which the writer
 * thread drains; the page's summaries are read from what the writer
 * publishes. Nothing here touches the disk.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/history/history-internal.h"

static uint64_t name_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return h ^ (h >> 31);
}

struct wjob *history__find(const struct history *h, const char *name)
{
	if (!h->nbuckets)
		return NULL;
	for (struct wjob *j = h->buckets[name_hash(name) & (h->nbuckets - 1)]; j; j = j->hnext)
		if (strcmp(j->name, name) == 0)
			return j;
	return NULL;
}

void history__fail(struct history *h, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (h->error)
		return; /* the first reason is the one to fix */
	h->error = strdup(buf);
	h->working = false;
	log_msg(LOG_ERR, "history: %s; the daemon runs on without history", buf);
}

/* ---- the loop's side ---------------------------------------------------------- */

/*
 * A copy of an error text that is valid UTF-8, as JSON needs it (coctl
 * history and events, /api/v1): a probe's error is cut at PROBE_ERROR_MAX
 * bytes, maybe within a character, and may quote a server's bytes. Each
 * byte of an invalid sequence becomes '?', as in the control protocol's
 * replies. (Kept as it was, such a text made jansson refuse the result,
 * which was left out of every reply: "0 results".)
 */
static char *utf8_dup(const char *s)
{
	char *d = strdup(s);
	unsigned char *p = (unsigned char *)d;

	if (!d)
		return NULL;
	while (*p) {
		size_t n = *p < 0x80 ? 1 : *p >= 0xc2 && *p <= 0xdf ? 2 : (*p & 0xf0) == 0xe0 ? 3 :
			   *p >= 0xf0 && *p <= 0xf4 ? 4 : 0;

		for (size_t i = 1; n && i < n; i++)
			if ((p[i] & 0xc0) != 0x80)
				n = 0;
		/* Overlong forms, surrogates and code points past U+10FFFF. */
		if ((n == 3 && ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] >= 0xa0))) ||
		    (n == 4 && ((p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] >= 0x90))))
			n = 0;
		if (!n)
			*p++ = '?';
		else
			p += n;
	}
	return d;
}

static void push(struct history *h, const struct hrec *r)
{
	bool wake;

	pthread_mutex_lock(&h->lock);
	if (!h->working || h->qlen == HISTORY_QUEUE_MAX) {
		h->dropped += h->working;
		pthread_mutex_unlock(&h->lock);
		free(r->error);
		return;
	}
	h->q[(h->qhead + h->qlen) % HISTORY_QUEUE_MAX] = *r;
	h->qlen++;
	/* The writer wakes by itself every HISTORY_FLUSH_MS: a signal only when it fills up. */
	wake = h->qlen == HISTORY_QUEUE_MAX / 2;
	pthread_mutex_unlock(&h->lock);
	if (wake)
		pthread_cond_signal(&h->wake);
}

static void on_result(void *arg, struct job_state *js)
{
	struct history *h = arg;
	struct hrec r = {
		.kind = HREC_RESULT,
		.outcome = js->last.outcome,
		.duration_us = js->last.duration_us,
		.at_ms = js->last.end_ms,
		.error = js->last_error ? utf8_dup(js->last_error) : NULL,
	};

	snprintf(r.name, sizeof r.name, "%s", js->job->name);
	push(h, &r);
}

static void on_health(void *arg, struct job_state *js, enum job_health was)
{
	struct history *h = arg;
	struct hrec r = { .kind = HREC_EVENT, .at_ms = js->health_since_ms };

	if (js->health == HEALTH_DOWN) {
		r.outcome = 0;
		r.error = js->last_error ? utf8_dup(js->last_error) : NULL;
	} else if (js->health == HEALTH_UP && was == HEALTH_DOWN) {
		r.outcome = 1;
		if (js->health_prev_since_ms)
			r.down_ms = js->health_since_ms - js->health_prev_since_ms;
	} else {
		return;
	}
	snprintf(r.name, sizeof r.name, "%s", js->job->name);
	push(h, &r);
}

/* ---- life --------------------------------------------------------------------- */

struct history *history_new(struct daemon *d, const struct cfg_history *cfg, const char *state_dir)
{
	struct history *h = calloc(1, sizeof *h);

	if (!h)
		return NULL;
	h->d = d;
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->wake, NULL);
	pthread_cond_init(&h->rwake, NULL);
	h->rq_tail = &h->rq;
	if (cfg) {
		h->cfg = *cfg;
	} else {
		h->cfg = (struct cfg_history){
			.enabled = true,
			.raw_results = CFG_HISTORY_RAW_DEFAULT,
			.hourly_ms = CFG_HISTORY_HOURLY_DEFAULT_MS,
			.daily_ms = CFG_HISTORY_DAILY_DEFAULT_MS,
			.events_ms = CFG_HISTORY_EVENTS_DEFAULT_MS,
		};
	}
	h->cfg.path = NULL;
	h->cfg.where = (struct cfg_where){ 0 };
	h->enabled = h->cfg.enabled;
	if (!h->enabled)
		return h;
	if (cfg && cfg->path)
		h->path = strdup(cfg->path);
	else if (state_dir && asprintf(&h->path, "%s/history.db", state_dir) < 0)
		h->path = NULL;
	if (!h->path) {
		history__fail(h, state_dir || (cfg && cfg->path) ? "out of memory" :
			      "no state directory for history.db: set history.path");
		return h;
	}
	h->q = calloc(HISTORY_QUEUE_MAX, sizeof *h->q);
	if (!h->q) {
		history__fail(h, "out of memory");
		return h;
	}
	if (history__open_writer(h) == 0 && history__open_reader(h) == 0)
		h->working = true;
	return h;
}

int history_start(struct history *h)
{
	int r;

	if (!h || !h->working)
		return 0;
	if ((r = pthread_create(&h->writer, NULL, history__writer_main, h)) != 0) {
		history__fail(h, "cannot start the writer thread: %s", strerror(r));
		return -r;
	}
	h->writer_running = true;
	pthread_setname_np(h->writer, "history-writer"); /* for top -H and the benchmark */
	if ((r = pthread_create(&h->reader, NULL, history__reader_main, h)) != 0) {
		history__fail(h, "cannot start the reader thread: %s", strerror(r));
		return -r;
	}
	h->reader_running = true;
	pthread_setname_np(h->reader, "history-reader");
	h->started = true;
	sup_add_result_observer(h->d->sup, on_result, h);
	sup_add_health_observer(h->d->sup, on_health, h);
	log_msg(LOG_INFO, "history: %s (%u results a job, hourly %llud, daily %llud, events %llud)",
		h->path, h->cfg.raw_results, (unsigned long long)(h->cfg.hourly_ms / DAY_MS),
		(unsigned long long)(h->cfg.daily_ms / DAY_MS),
		(unsigned long long)(h->cfg.events_ms / DAY_MS));
	return 0;
}

void history_stop(struct history *h)
{
	if (!h || !h->started)
		return;
	sup_remove_result_observer(h->d->sup, on_result, h);
	sup_remove_health_observer(h->d->sup, on_health, h);
	pthread_mutex_lock(&h->lock);
	h->stopping = true;
	pthread_cond_broadcast(&h->wake);
	pthread_cond_broadcast(&h->rwake);
	pthread_mutex_unlock(&h->lock);
	if (h->writer_running)
		pthread_join(h->writer, NULL);
	if (h->reader_running)
		pthread_join(h->reader, NULL);
	h->writer_running = h->reader_running = false;
	h->started = false;
}

void history_free(struct history *h)
{
	if (!h)
		return;
	history_stop(h);
	for (size_t i = 0; h->q && i < h->qlen; i++)
		free(h->q[(h->qhead + i) % HISTORY_QUEUE_MAX].error);
	free(h->q);
	for (size_t b = 0; b < h->nbuckets; b++) {
		while (h->buckets[b]) {
			struct wjob *j = h->buckets[b];

			h->buckets[b] = j->hnext;
			free(j->name);
			free(j->sum.down_error);
			free(j);
		}
	}
	free(h->buckets);
	/*
	 * The writer thread finalizes its statements as it ends; without one
	 * (never started, or the reader could not open) they are left, and
	 * sqlite3_close of a connection with statements fails (SQLITE_BUSY)
	 * and frees nothing.
	 */
	for (int i = 0; i < HISTORY_WRITER_STMTS; i++)
		sqlite3_finalize(h->wstmt[i]);
	if (h->wdb)
		sqlite3_close(h->wdb);
	if (h->rdb)
		sqlite3_close(h->rdb);
	pthread_cond_destroy(&h->wake);
	pthread_cond_destroy(&h->rwake);
	pthread_mutex_destroy(&h->lock);
	free(h->path);
	free(h->error);
	free(h);
}

/* ---- figures and summaries ---------------------------------------------------------- */

void history_get_stats(const struct history *h, struct history_stats *ret)
{
	struct history *m = (struct history *)h;

	memset(ret, 0, sizeof *ret);
	if (!h)
		return;
	pthread_mutex_lock(&m->lock);
	*ret = (struct history_stats){
		.enabled = h->enabled,
		.working = h->working,
		.path = h->path,
		.error = h->error,
		.queued = h->qlen,
		.written = h->written,
		.events = h->events,
		.dropped = h->dropped,
		.batches = h->batches,
		.write_errors = h->write_errors,
		.db_bytes = h->db_bytes,
	};
	pthread_mutex_unlock(&m->lock);
}

bool history_enabled(const struct history *h)
{
	return h && h->enabled;
}

static double ratio(uint64_t ok, uint64_t runs)
{
	return runs ? (double)ok / (double)runs : -1.0;
}

bool history_summary(struct history *h, const char *job, struct history_summary *ret)
{
	struct wjob *j;
	int64_t now_hour = sup_wall_ms() / HOUR_MS;

	if (!h || !h->working)
		return false;
	pthread_mutex_lock(&h->lock);
	j = history__find(h, job);
	if (!j || !j->sum.bar_end) {
		pthread_mutex_unlock(&h->lock);
		return false;
	}
	memset(ret, 0, sizeof *ret);
	/*
	 * Cell i covers hour now_hour - (HISTORY_BAR_HOURS - 1) + i; the last
	 * is the hour now. The published bar ends at bar_end (exclusive).
	 */
	for (int i = 0; i < HISTORY_BAR_HOURS; i++) {
		int64_t hour = now_hour - (HISTORY_BAR_HOURS - 1) + i;
		int64_t k = hour - (j->sum.bar_end - HISTORY_BAR_HOURS);

		ret->hour_permille[i] = -1;
		if (hour == j->sum.bar_end) { /* the hour the writer is filling */
			if (j->sum.cur_runs)
				ret->hour_permille[i] =
					(int16_t)((uint64_t)j->sum.cur_ok * 1000 / j->sum.cur_runs);
		} else if (hour < j->sum.bar_end && k >= 0) {
			ret->hour_permille[i] = j->sum.bar[k];
		}
	}
	ret->last_hour_start_ms = now_hour * HOUR_MS;
	ret->uptime_24h = ratio(j->sum.ok_24h + j->sum.cur_ok, j->sum.runs_24h + j->sum.cur_runs);
	ret->uptime_7d = ratio(j->sum.ok_7d + j->sum.cur_ok, j->sum.runs_7d + j->sum.cur_runs);
	ret->uptime_30d = ratio(j->sum.ok_30d + j->sum.cur_ok, j->sum.runs_30d + j->sum.cur_runs);
	ret->outage_down_ms = j->sum.down_ms;
	ret->outage_up_ms = j->sum.up_ms;
	ret->outage_error = NULL;
	if (j->sum.down_error) {
		snprintf(ret->outage_error_buf, sizeof ret->outage_error_buf, "%s", j->sum.down_error);
		ret->outage_error = ret->outage_error_buf;
	}
	pthread_mutex_unlock(&h->lock);
	return true;
}
