/* SPDX-License-Identifier: MIT */
/*
 * reader.c: the history's reads, on a reader thread with its own
 * read-only connection (WAL lets it read while the writer writes). A
 * coroutine that asks queues a request and waits on an eventfd, which the
 * hooks turn into a wait on the event loop: the loop never waits for the
 * disk, and every other coroutine runs meanwhile.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "daemon/history/history-internal.h"

enum req_kind { R_RESULTS, R_EVENTS, R_UPTIME };

struct reader_req {
	enum req_kind kind;
	const char *job;             /* the caller's, alive while it waits */
	int64_t since_ms, until_ms, window_ms;
	bool failed_only;
	size_t limit;
	int ret;                     /* 0 or -errno */
	struct history_result *results;
	struct history_event *events;
	size_t n;
	double uptime;
	int efd;
	struct reader_req *next;
};

int history__open_reader(struct history *h)
{
	int rc = sqlite3_open_v2(h->path, &h->rdb, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);

	if (rc != SQLITE_OK) {
		history__fail(h, "cannot open %s for reading: %s", h->path,
			      h->rdb ? sqlite3_errmsg(h->rdb) : sqlite3_errstr(rc));
		return -1;
	}
	sqlite3_busy_timeout(h->rdb, 5000);
	return 0;
}

/* ---- the queries (on the reader thread) ---------------------------------------------- */

static int64_t job_id(sqlite3 *db, const char *name)
{
	sqlite3_stmt *s;
	int64_t id = -1;

	if (sqlite3_prepare_v2(db, "SELECT id FROM jobs WHERE name = ?1", -1, &s, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW)
		id = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return id;
}

static char *column_dup(sqlite3_stmt *s, int i)
{
	const unsigned char *t = sqlite3_column_text(s, i);

	return t ? strdup((const char *)t) : NULL;
}

/* Grows *v (of element size) to hold n + 1. */
static bool grow(void **v, size_t elem, size_t n, size_t *cap)
{
	if (n < *cap)
		return true;
	size_t c = *cap ? *cap * 2 : 64;
	void *p = realloc(*v, c * elem);

	if (!p)
		return false;
	*v = p;
	*cap = c;
	return true;
}

static int do_results(struct history *h, struct reader_req *r)
{
	sqlite3_stmt *s;
	int64_t id = job_id(h->rdb, r->job);
	size_t cap = 0;

	if (id < 0)
		return -ENOENT;
	if (sqlite3_prepare_v2(h->rdb, "SELECT end_ms, duration_us, outcome, error FROM results"
				       " WHERE job = ?1 AND end_ms >= ?2 AND end_ms <= ?3"
				       " AND (?4 = 0 OR outcome != 0) ORDER BY seq DESC LIMIT ?5",
			       -1, &s, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int64(s, 2, r->since_ms);
	sqlite3_bind_int64(s, 3, r->until_ms ? r->until_ms : INT64_MAX);
	sqlite3_bind_int(s, 4, r->failed_only);
	sqlite3_bind_int64(s, 5, (sqlite3_int64)r->limit);
	while (sqlite3_step(s) == SQLITE_ROW) {
		struct history_result *x;

		if (!grow((void **)&r->results, sizeof *r->results, r->n, &cap))
			break;
		x = &r->results[r->n++];
		x->end_ms = sqlite3_column_int64(s, 0);
		x->duration_us = (uint32_t)sqlite3_column_int64(s, 1);
		x->outcome = (uint8_t)sqlite3_column_int(s, 2);
		x->error = column_dup(s, 3);
	}
	sqlite3_finalize(s);
	return 0;
}

static int do_events(struct history *h, struct reader_req *r)
{
	sqlite3_stmt *s;
	size_t cap = 0;
	int64_t id = -1;

	if (r->job && (id = job_id(h->rdb, r->job)) < 0)
		return -ENOENT;
	if (sqlite3_prepare_v2(h->rdb, "SELECT j.name, e.at_ms, e.up, e.error, e.down_ms FROM events e"
				       " JOIN jobs j ON j.id = e.job WHERE (?1 < 0 OR e.job = ?1)"
				       " AND e.at_ms >= ?2 ORDER BY e.at_ms DESC LIMIT ?3",
			       -1, &s, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int64(s, 2, r->since_ms);
	sqlite3_bind_int64(s, 3, (sqlite3_int64)r->limit);
	while (sqlite3_step(s) == SQLITE_ROW) {
		struct history_event *x;

		if (!grow((void **)&r->events, sizeof *r->events, r->n, &cap))
			break;
		x = &r->events[r->n++];
		x->job = column_dup(s, 0);
		x->at_ms = sqlite3_column_int64(s, 1);
		x->up = sqlite3_column_int(s, 2) != 0;
		x->error = column_dup(s, 3);
		x->down_ms = sqlite3_column_int64(s, 4);
	}
	sqlite3_finalize(s);
	return 0;
}

static int do_uptime(struct history *h, struct reader_req *r)
{
	int64_t id = job_id(h->rdb, r->job), now = sup_wall_ms();
	bool hourly = (uint64_t)r->window_ms <= h->cfg.hourly_ms;
	sqlite3_stmt *s;
	int64_t runs = 0, ok = 0;

	if (id < 0)
		return -ENOENT;
	if (sqlite3_prepare_v2(h->rdb, hourly ?
				       "SELECT coalesce(sum(runs), 0), coalesce(sum(ok), 0) FROM hourly"
				       " WHERE job = ?1 AND hour >= ?2" :
				       "SELECT coalesce(sum(runs), 0), coalesce(sum(ok), 0) FROM daily"
				       " WHERE job = ?1 AND day >= ?2",
			       -1, &s, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int64(s, 2, hourly ? (now - r->window_ms) / HOUR_MS + 1 :
					  (now - r->window_ms) / DAY_MS + 1);
	if (sqlite3_step(s) == SQLITE_ROW) {
		runs = sqlite3_column_int64(s, 0);
		ok = sqlite3_column_int64(s, 1);
	}
	sqlite3_finalize(s);
	r->uptime = runs ? (double)ok / (double)runs : -1.0;
	return 0;
}

void *history__reader_main(void *arg)
{
	struct history *h = arg;

	for (;;) {
		struct reader_req *r;
		uint64_t one = 1;

		pthread_mutex_lock(&h->lock);
		while (!h->rq && !h->stopping)
			pthread_cond_wait(&h->rwake, &h->lock);
		r = h->rq;
		if (r && !(h->rq = r->next))
			h->rq_tail = &h->rq;
		pthread_mutex_unlock(&h->lock);
		if (!r)
			break; /* stopping, nothing asked */
		r->ret = r->kind == R_RESULTS ? do_results(h, r) :
			 r->kind == R_EVENTS ? do_events(h, r) : do_uptime(h, r);
		if (write(r->efd, &one, sizeof one) < 0)
			log_msg(LOG_ERR, "history: cannot wake a reader: %s", strerror(errno));
	}
	return NULL;
}

/* ---- the coroutine's side ---------------------------------------------------------------- */

/* Queues r and waits for it (yielding). Returns r->ret. */
static int ask(struct history *h, struct reader_req *r)
{
	struct pollfd pfd;
	uint64_t v;

	if (!h || !h->working || !h->started)
		return -ENOTSUP;
	r->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (r->efd < 0)
		return -errno;
	pthread_mutex_lock(&h->lock);
	if (h->stopping) {
		pthread_mutex_unlock(&h->lock);
		close(r->efd);
		return -ENOTSUP;
	}
	r->next = NULL;
	*h->rq_tail = r;
	h->rq_tail = &r->next;
	pthread_cond_signal(&h->rwake);
	pthread_mutex_unlock(&h->lock);
	pfd = (struct pollfd){ r->efd, POLLIN, 0 };
	/* The reader answers every request, also at stop (it drains before it ends). */
	while (read(r->efd, &v, sizeof v) != (ssize_t)sizeof v)
		poll(&pfd, 1, -1);
	close(r->efd);
	return r->ret;
}

int history_results(struct history *h, const char *job, int64_t since_ms, int64_t until_ms,
		    bool failed_only, size_t limit, struct history_result **ret, size_t *ret_n)
{
	struct reader_req r = { .kind = R_RESULTS, .job = job, .since_ms = since_ms,
				.until_ms = until_ms, .failed_only = failed_only, .limit = limit };
	int rc = ask(h, &r);

	*ret = r.results;
	*ret_n = r.n;
	return rc;
}

void history_results_free(struct history_result *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].error);
	free(v);
}

int history_events(struct history *h, const char *job, int64_t since_ms, size_t limit,
		   struct history_event **ret, size_t *ret_n)
{
	struct reader_req r = { .kind = R_EVENTS, .job = job, .since_ms = since_ms, .limit = limit };
	int rc = ask(h, &r);

	*ret = r.events;
	*ret_n = r.n;
	return rc;
}

void history_events_free(struct history_event *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].job);
		free(v[i].error);
	}
	free(v);
}

int history_uptime(struct history *h, const char *job, int64_t window_ms, double *ret)
{
	struct reader_req r = { .kind = R_UPTIME, .job = job, .window_ms = window_ms };
	int rc = ask(h, &r);

	*ret = r.uptime;
	return rc;
}
