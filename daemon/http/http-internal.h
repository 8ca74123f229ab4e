/* SPDX-License-Identifier: MIT */
/*
 * http-internal.h (internal to daemon/http/, its unit test and
 * bench-metrics): the room's pieces below http.h.
 *
 *   server.c          the HTTP/1.1 request layer: a listener and one
 *                     coroutine per client, bounded in what each may cost,
 *                     handing each GET or HEAD to its server's handler;
 *   metrics.c         GET /metrics on it;
 *   metrics-format.c  a growing output buffer, numbers and label values
 *                     written without printf (the render's hot path);
 *   metrics-render.c  the page itself, rendered a chunk at a time so that
 *                     a scrape of 100k jobs never holds the loop for long
 *                     nor pins more than a chunk of memory per client.
 */
#ifndef CORO_DAEMON_HTTP_INTERNAL_H
#define CORO_DAEMON_HTTP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct co_cond;
struct daemon;
struct job_state;

/* ---- server.c ----------------------------------------------------------- */

struct http_server;
struct http_conn;          /* one client's connection */

/* A request, as the handler gets it (pointing into the connection's buffer). */
struct http_request {
	const char *method;        /* "GET" or "HEAD" */
	size_t method_len;
	const char *path;          /* origin form; an absolute form's path; no query */
	size_t path_len;
	const char *query;         /* after '?', or NULL */
	size_t query_len;
	bool head;                 /* HEAD: the headers only */
	uint64_t deadline_us;      /* the whole response by then (CLOCK_MONOTONIC) */
};

/*
 * Answers one request on c, writing the status line, headers and body
 * with http__write (or an error with http__reply_error). Runs on the
 * client's coroutine and may yield; the connection is closed after it.
 */
typedef void http_handler_fn(void *arg, struct http_conn *c, const struct http_request *req);

struct http_server_def {
	const char *name;          /* its log lines begin "NAME: " */
	const char *path;          /* what "serving http://ADDR<path>" names */
	http_handler_fn *handler;
	void *arg;                 /* the handler's first argument */
};

/* A server not yet listening (def is copied); NULL on out of memory. */
struct http_server *http__server_new(const struct http_server_def *def);

/*
 * Serves on listen ("HOST:PORT", "[::1]:PORT"), or stops listening when
 * listen is NULL; an address already served changes nothing. On an error
 * (logged) the previous address stays served. Returns 0 or a negative errno.
 */
int http__server_listen(struct http_server *s, const char *listen);

/*
 * Stops listening, shuts every client down (waking one in http__wait),
 * waits up to 2 s for their coroutines to end (may yield) and frees s.
 * Returns false, leaving s allocated, if some would not end (or it was
 * called outside a coroutine): they may still touch s and the handler's
 * data. Safe with NULL.
 */
bool http__server_stop(struct http_server *s);

/* CLOCK_MONOTONIC in microseconds. */
uint64_t http__now_us(void);

/* True if the request's path is path exactly. */
bool http__path_is(const struct http_request *req, const char *path);

/*
 * Writes len bytes by the deadline (may yield), never waiting more than
 * WRITE_IDLE_MS without progress. False if the client is gone, too slow,
 * or the server stops.
 */
bool http__write(struct http_conn *c, const char *p, size_t len, uint64_t deadline);

/*
 * A complete error reply (status, reason as the body, Connection: close;
 * "Allow: GET, HEAD" with 405), then what the client still sends is read
 * and dropped for a while so that the reply is not lost to a reset.
 */
void http__reply_error(struct http_conn *c, int status, const char *reason, bool head);

/*
 * For a long response: gives the loop a turn once the connection has
 * worked a slice (5 ms) since it last came back from the loop. False if
 * the connection should end (the server stops, or it was dropped).
 */
bool http__pause(struct http_conn *c);

/*
 * Waits on cond until it is signalled or the deadline passes (may
 * yield). False on the deadline, or if the connection should end.
 */
bool http__wait(struct http_conn *c, struct co_cond *cond, uint64_t deadline);

/* ---- web.c, web-page.c: the status page ---------------------------------- */

#include "daemon/history/history.h"

/* What the index shows of one job, copied when the render reaches it. */
struct web_row {
	char name[65];
	char group[128];           /* the value of its web.group_by label, "" if none */
	uint8_t type, health;      /* enum job_type, enum job_health */
	bool paused, has_last, has_sum;
	uint32_t last_us;          /* the last run's duration */
	struct history_summary sum;
};

/*
 * Answers req if its path is one of the status page's (/, /job/NAME,
 * /badge/NAME.svg, /api/v1/...); false if not (or no page is configured).
 * May yield. The metrics server passes it what is not /metrics.
 */
bool web__handle(struct http_conn *c, const struct http_request *req);

struct mbuf;
struct job;
/* HTML-escapes s (&, <, >, ", ') onto b; control characters become U+FFFD. */
void web__esc(struct mbuf *b, const char *s);
void web__head(struct mbuf *b, const char *title, int refresh_s);
void web__index_top(struct mbuf *b, const char *title, size_t up, size_t down, size_t other,
		    int64_t now_ms);
void web__table_head(struct mbuf *b, const char *group_by, const char *group);
void web__row(struct mbuf *b, const struct web_row *r);
void web__bar(struct mbuf *b, const struct history_summary *s);
void web__uptimes(struct mbuf *b, const struct history_summary *s);
void web__definition(struct mbuf *b, const struct job *j);
void web__chart(struct mbuf *b, const struct history_result *v, size_t n);
void web__results(struct mbuf *b, const struct history_result *v, size_t n);
void web__outages(struct mbuf *b, const struct history_event *v, size_t n, int64_t now_ms);

/* ---- metrics-format.c --------------------------------------------------- */

/* An output buffer. Zero-initialise; free with mbuf_free. */
struct mbuf {
	char *p;
	size_t len;
	size_t cap;
	bool oom;          /* an allocation failed: the contents are incomplete */
};

void metrics__mbuf_free(struct mbuf *b);

/*
 * Makes room for n more bytes and returns where they go (the caller then
 * adds to b->len), or NULL (and sets b->oom) when out of memory.
 */
char *metrics__mbuf_room(struct mbuf *b, size_t n);

/* Appends n bytes / a string. */
void metrics__put(struct mbuf *b, const char *s, size_t n);
void metrics__puts(struct mbuf *b, const char *s);

/*
 * Writes at out (which has room for 21 bytes at least) and returns the
 * length: v in decimal; v/10^scale as a decimal fraction with trailing
 * zeros (and a bare point) dropped ("1.5", "0.000123", "12").
 */
size_t metrics__fmt_u64(char *out, uint64_t v);
size_t metrics__fmt_scaled(char *out, int64_t v, unsigned scale);

/*
 * Appends a label value escaped as the text format wants it: backslash,
 * double quote and line feed as \\, \" and \n. Returns false (and sets
 * b->oom) when out of memory.
 */
bool metrics__put_label_value(struct mbuf *b, const char *value);

/*
 * A job's label set without the braces: job="NAME" then the job's own
 * labels in file order. A job label that coro-runner itself puts on some
 * per-job metric ("result") is renamed exported_<name>, as Prometheus
 * renames a target's clashing labels.
 */
void metrics__put_job_labels(struct mbuf *b, const struct job_state *js);

/* ---- metrics-render.c --------------------------------------------------- */

/* What the page shows of one job, copied when the render reaches it. */
struct metrics_row {
	uint64_t by_outcome[3];  /* runs by enum run_outcome */
	uint64_t skipped;
	int64_t end_ms;          /* the last run's end, wall clock */
	uint32_t duration_us;    /* the last run's */
	uint32_t consecutive_failures;
	uint32_t labels_off;     /* the job's label set in metrics_render.labels */
	uint32_t labels_len;
	int32_t http_status;     /* http: the last response's status, 0 if none */
	uint8_t type;            /* enum job_type */
	uint8_t has_last;        /* it has run */
	uint8_t ok;              /* the last run passed */
	uint8_t health;          /* enum job_health */
};

/*
 * A render: first a snapshot of every job (a row and its label set), taken
 * a slice of jobs at a time; then the page, family after family, from the
 * snapshot, so that every family shows the same jobs and the jobs' memory
 * is read once. The loop runs between slices, so the job list may change
 * during the snapshot: jobs defined after the render began (a higher id)
 * are left to the next scrape, and the snapshot finds its place again by
 * the id of the last job it took, so no job is ever taken twice (one
 * removed meanwhile may be missing).
 */
struct metrics_render {
	struct daemon *d;
	int64_t reload_ok_ms;  /* wall clock of the last good configuration load */
	uint64_t max_id;       /* the highest job id when the render began */
	bool snapshot_done;
	size_t next;           /* snapshot: the next job index; page: the next row */
	uint64_t last_id;      /* snapshot: id of the last job taken */
	bool have_last;
	unsigned family;       /* page: index in the family table */
	bool header_done;      /* page: the family's # HELP and # TYPE lines are out */
	struct metrics_row *rows;
	size_t nrows;
	size_t cap_rows;
	struct mbuf labels;    /* every row's label set, one after the other */
};

/*
 * Begins a render of the whole page for d. reload_ok_ms is what
 * coro_runner_config_last_reload_success_timestamp_seconds shows.
 */
void metrics__render_begin(struct metrics_render *r, struct daemon *d, int64_t reload_ok_ms);

/*
 * Takes the next slice of the snapshot, or appends the next part of the
 * page to b until b holds at least limit bytes (lines are never split).
 * Returns true when the page is complete. Never yields; the caller lets
 * the loop run between calls. Out of memory sets b->oom.
 */
bool metrics__render_step(struct metrics_render *r, struct mbuf *b, size_t limit);

/* Frees what a render holds (whether complete or not). */
void metrics__render_end(struct metrics_render *r);

#endif
