/* SPDX-License-Identifier: MIT */
/*
 * metrics.c: GET /metrics (SPEC §7, issue 8) on the HTTP layer of
 * server.c: the page is rendered CHUNK_BYTES at a time, each chunk written
 * before the next is rendered, so a slow reader pins one chunk; at most
 * RENDERS_MAX pages are sent at once (each holds a snapshot of the jobs,
 * about 120 bytes a job), other requests waiting their turn within their
 * response time; rendering gives the loop back every slice of work
 * (http__pause), so a scrape of 100k jobs delays the jobs' timers by a few
 * milliseconds at most.
 *
 * A daemon has one metrics endpoint: its state is one static struct.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "coro/coro.h"
#include "daemon/core/core.h"
#include "daemon/http/http-internal.h"
#include "daemon/http/http.h"

#define CHUNK_BYTES (256u << 10)       /* rendered, then written, at a time */
#define RENDERS_MAX 4                  /* pages being sent at once (each holds a snapshot) */

#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct metrics {
	struct daemon *d;
	struct http_server *srv;
	struct co_cond *slot;          /* a render ended: the next may start */
	unsigned renders;              /* pages being sent */
	int64_t reload_ok_ms;          /* when the configuration in force was loaded */
};

static struct metrics *metrics;

static int64_t reload_ok_ms(struct metrics *m)
{
	struct sup_stats st;

	sup_get_stats(m->d->sup, &st);
	if (st.last_reload_ok && st.last_reload_ms > m->reload_ok_ms)
		m->reload_ok_ms = st.last_reload_ms;
	return m->reload_ok_ms;
}

/* The 200 reply: headers, then (unless HEAD) the page a chunk at a time. */
static void reply_metrics(struct metrics *m, struct http_conn *c, bool head, uint64_t deadline)
{
	static const char hdr[] = "HTTP/1.1 200 OK\r\nContent-Type: " CONTENT_TYPE
				  "\r\nConnection: close\r\n\r\n";
	struct metrics_render r;
	struct mbuf b = { 0 };
	bool done = false;

	metrics__put(&b, hdr, sizeof hdr - 1);
	if (head) {
		http__write(c, b.p, b.len, deadline);
		metrics__mbuf_free(&b);
		return;
	}
	while (m->renders >= RENDERS_MAX) {
		if (!http__wait(c, m->slot, deadline)) {
			metrics__mbuf_free(&b);
			return;
		}
	}
	m->renders++;
	metrics__render_begin(&r, m->d, reload_ok_ms(m));
	while (!done) {
		done = metrics__render_step(&r, &b, CHUNK_BYTES);
		if (b.oom) {
			log_msg(LOG_WARNING, "metrics: out of memory rendering the page");
			break;
		}
		if (!http__write(c, b.p, b.len, deadline))
			break;
		b.len = 0;
		/* The page is long: let the jobs run now and then. */
		if (!done && !http__pause(c))
			break;
	}
	metrics__render_end(&r);
	metrics__mbuf_free(&b);
	m->renders--;
	co_cond_signal(m->slot);
}

static void handle(void *arg, struct http_conn *c, const struct http_request *req)
{
	if (!http__path_is(req, "/metrics")) {
		/* The status page shares this listener when it has none of its own. */
		if (!web__handle(c, req))
			http__reply_error(c, 404, "Not Found", req->head);
		return;
	}
	reply_metrics(arg, c, req->head, req->deadline_us);
}

static void metrics_free(struct metrics *m)
{
	if (!m)
		return;
	co_cond_free(m->slot);
	free(m);
}

static struct metrics *metrics_new(struct daemon *d)
{
	struct metrics *m = calloc(1, sizeof *m);
	struct http_server_def def = { .name = "metrics", .path = "/metrics", .handler = handle };

	if (!m)
		return NULL;
	def.arg = m;
	m->d = d;
	m->reload_ok_ms = d->start_wall_ms;
	m->slot = co_cond_alloc();
	m->srv = m->slot ? http__server_new(&def) : NULL;
	if (!m->srv) {
		metrics_free(m);
		return NULL;
	}
	return m;
}

int metrics_configure(struct daemon *d, const char *listen)
{
	struct metrics *m = metrics;

	if (!m) {
		if (!listen)
			return 0;
		m = metrics = metrics_new(d);
		if (!m) {
			log_msg(LOG_ERR, "metrics: out of memory");
			return -ENOMEM;
		}
	}
	m->d = d;
	reload_ok_ms(m);
	return http__server_listen(m->srv, listen);
}

void metrics_stop(struct daemon *d)
{
	struct metrics *m = metrics;

	(void)d;
	if (!m)
		return;
	metrics = NULL;
	/* Renders waiting for a slot are woken by the server's stop. */
	if (http__server_stop(m->srv))
		metrics_free(m);
	/* Else a client's coroutine may still come back to m: it is left be, as they are. */
}
