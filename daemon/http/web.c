/* SPDX-License-Identifier: MIT */
/*
 * web.c: the read-only status page (issue 15) on the HTTP layer of
 * server.c, on its own listener (`web: {listen: ...}`) or on the metrics
 * listener:
 *
 *   /                          every job, grouped by web.group_by, red first
 *   /job/NAME                  one job: definition, durations, results, outages
 *   /badge/NAME.svg            a badge: the state, or ?uptime=24h|7d|30d
 *   /api/v1/jobs               the same as /, as JSON
 *   /api/v1/jobs/NAME/history  results and outages, as JSON
 *
 * No request changes anything. The index is rendered from a snapshot of
 * the jobs and the history's in-memory summaries (the database is never
 * read for it), in pieces, giving the loop a turn between them; the job
 * page reads the database through the history's reader thread.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coro/coro.h"
#include "daemon/core/core.h"
#include "daemon/history/history.h"
#include "daemon/http/http-internal.h"
#include "daemon/http/http.h"

#define PIECE_BYTES (64u << 10)       /* written at a time */
#define JOB_RESULTS 100               /* results on a job page */
#define JOB_OUTAGES 50

#define HTML_HEADERS \
	"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n" \
	"Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'; img-src 'self'\r\n" \
	"X-Content-Type-Options: nosniff\r\nReferrer-Policy: no-referrer\r\n" \
	"Cache-Control: no-store\r\nConnection: close\r\n\r\n"
#define JSON_HEADERS \
	"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Content-Type-Options: nosniff\r\n" \
	"Cache-Control: no-store\r\nConnection: close\r\n\r\n"
#define SVG_HEADERS \
	"HTTP/1.1 200 OK\r\nContent-Type: image/svg+xml\r\nX-Content-Type-Options: nosniff\r\n" \
	"Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'\r\n" \
	"Cache-Control: max-age=60\r\nConnection: close\r\n\r\n"

struct web {
	struct daemon *d;
	struct http_server *srv;     /* its own listener, or NULL */
	char *group_by;
	char *title;
	bool on_metrics;             /* served on the metrics listener */
};

static struct web *web;          /* one status page per daemon */

/* ---- helpers ----------------------------------------------------------------------- */

static bool name_ok(const char *s, size_t n)
{
	if (!n || n > CFG_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

/* The job name after prefix in the path (and before suffix), into name. */
static bool path_name(const struct http_request *req, const char *prefix, const char *suffix,
		      char name[CFG_NAME_MAX + 1])
{
	size_t pl = strlen(prefix), sl = suffix ? strlen(suffix) : 0, n;

	if (req->path_len <= pl + sl || memcmp(req->path, prefix, pl) != 0)
		return false;
	if (sl && memcmp(req->path + req->path_len - sl, suffix, sl) != 0)
		return false;
	n = req->path_len - pl - sl;
	if (!name_ok(req->path + pl, n))
		return false;
	memcpy(name, req->path + pl, n);
	name[n] = '\0';
	return true;
}

/* Writes b and empties it; false if the client is gone. */
static bool flush(struct http_conn *c, struct mbuf *b, uint64_t deadline)
{
	bool ok = !b->oom && http__write(c, b->p, b->len, deadline);

	b->len = 0;
	return ok;
}

static const char *title(struct web *w, char *buf, size_t size)
{
	char host[128] = "localhost";

	if (w->title)
		return w->title;
	gethostname(host, sizeof host - 1);
	snprintf(buf, size, "coro-runner on %s", host);
	return buf;
}

/* ---- the snapshot of `/` ---------------------------------------------------------------- */

static const char *label_of(const struct job *j, const char *name)
{
	for (size_t i = 0; name && i < j->nlabels; i++)
		if (strcmp(j->labels[i].key, name) == 0)
			return j->labels[i].value;
	return NULL;
}

/* Taken a slice at a time: the loop runs between slices. */
static struct web_row *snapshot(struct web *w, struct http_conn *c, size_t *ret_n)
{
	struct supervisor *s = w->d->sup;
	size_t n = sup_count(s), k = 0;
	struct web_row *rows = calloc(n ? n : 1, sizeof *rows);

	if (!rows)
		return NULL;
	for (size_t i = 0; i < sup_count(s) && k < n; i++) {
		struct job_state *js = sup_job(s, i);
		struct web_row *r = &rows[k];
		const char *g;

		if (!js || js->removed)
			continue;
		snprintf(r->name, sizeof r->name, "%s", js->job->name);
		r->type = (uint8_t)js->job->type;
		r->health = (uint8_t)js->health;
		r->paused = js->paused;
		r->has_last = js->has_last;
		r->last_us = js->last.duration_us;
		g = label_of(js->job, w->group_by);
		snprintf(r->group, sizeof r->group, "%s", g ? g : "");
		r->has_sum = history_summary(w->d->history, r->name, &r->sum);
		k++;
		if (k % 1024 == 0 && !http__pause(c)) {
			free(rows);
			return NULL;
		}
	}
	*ret_n = k;
	return rows;
}

static int rank(const struct web_row *r)
{
	return r->health == HEALTH_DOWN ? 0 : r->health == HEALTH_UNKNOWN || r->paused ? 1 : 2;
}

static int row_cmp(const void *a, const void *b)
{
	const struct web_row *x = a, *y = b;
	int c;

	/* Groups by name, the unlabelled last; within one, red first, then by name. */
	if ((c = (!x->group[0]) - (!y->group[0])) != 0)
		return c;
	if ((c = strcmp(x->group, y->group)) != 0)
		return c;
	if ((c = rank(x) - rank(y)) != 0)
		return c;
	return strcmp(x->name, y->name);
}

static void index_page(struct web *w, struct http_conn *c, bool head, uint64_t deadline)
{
	struct mbuf b = { 0 };
	struct web_row *rows;
	size_t n = 0, up = 0, down = 0;
	char tbuf[200];

	metrics__puts(&b, HTML_HEADERS);
	if (head) {
		flush(c, &b, deadline);
		metrics__mbuf_free(&b);
		return;
	}
	rows = snapshot(w, c, &n);
	if (!rows) {
		metrics__mbuf_free(&b);
		http__reply_error(c, 503, "Service Unavailable", false);
		return;
	}
	qsort(rows, n, sizeof *rows, row_cmp);
	for (size_t i = 0; i < n; i++) {
		up += rows[i].health == HEALTH_UP && !rows[i].paused;
		down += rows[i].health == HEALTH_DOWN && !rows[i].paused;
	}
	web__index_top(&b, title(w, tbuf, sizeof tbuf), up, down, n - up - down, sup_wall_ms());
	for (size_t i = 0; i < n; i++) {
		if (i == 0 || (w->group_by && strcmp(rows[i].group, rows[i - 1].group) != 0)) {
			if (i)
				metrics__puts(&b, "</tbody></table>");
			web__table_head(&b, w->group_by, rows[i].group);
		}
		web__row(&b, &rows[i]);
		if (b.len >= PIECE_BYTES) {
			if (!flush(c, &b, deadline) || !http__pause(c))
				goto out;
		}
	}
	if (n)
		metrics__puts(&b, "</tbody></table>");
	else
		metrics__puts(&b, "<p>No jobs.</p>");
	metrics__puts(&b, "</main></body></html>\n");
	flush(c, &b, deadline);
out:
	free(rows);
	metrics__mbuf_free(&b);
}

/* ---- `/job/NAME` ---------------------------------------------------------------------------- */

static void job_page(struct web *w, struct http_conn *c, const char *name, bool head,
		     uint64_t deadline)
{
	struct job_state *js = sup_find(w->d->sup, name);
	struct history_result *res = NULL;
	struct history_event *ev = NULL;
	struct history_summary sum;
	size_t nres = 0, nev = 0;
	struct mbuf b = { 0 };
	const char *st;
	char t[200];

	if (!js) {
		http__reply_error(c, 404, "Not Found", head);
		return;
	}
	if (head) {
		metrics__puts(&b, HTML_HEADERS);
		flush(c, &b, deadline);
		metrics__mbuf_free(&b);
		return;
	}
	/* The reads yield: the job may be gone after them. */
	if (history_results(w->d->history, name, 0, 0, false, JOB_RESULTS, &res, &nres) < 0)
		nres = 0;
	if (history_events(w->d->history, name, 0, JOB_OUTAGES * 2, &ev, &nev) < 0)
		nev = 0;
	if (!(js = sup_find(w->d->sup, name))) {
		history_results_free(res, nres);
		history_events_free(ev, nev);
		http__reply_error(c, 404, "Not Found", false);
		return;
	}
	st = js->paused ? "paused" : job_health_name(js->health);
	metrics__puts(&b, HTML_HEADERS);
	snprintf(t, sizeof t, "%s: %s", name, st);
	web__head(&b, t, 60);
	metrics__puts(&b, "<header><p><a href=\"/\">&#8592; all jobs</a></p><h1>");
	web__esc(&b, name);
	metrics__puts(&b, " <span class=\"st ");
	metrics__puts(&b, st);
	metrics__puts(&b, "\" id=\"state\">");
	metrics__puts(&b, st);
	metrics__puts(&b, "</span></h1>");
	if (history_summary(w->d->history, name, &sum)) {
		metrics__puts(&b, "<p id=\"uptime\">Uptime: ");
		web__uptimes(&b, &sum);
		metrics__puts(&b, "</p>");
		web__bar(&b, &sum);
	}
	if (js->last_error && js->health != HEALTH_UP) {
		metrics__puts(&b, "<p class=\"err\">Last error: ");
		web__esc(&b, js->last_error);
		metrics__puts(&b, "</p>");
	}
	metrics__puts(&b, "</header><main>");
	web__definition(&b, js->job);
	web__chart(&b, res, nres);
	web__results(&b, res, nres);
	web__outages(&b, ev, nev, sup_wall_ms());
	metrics__puts(&b, "</main></body></html>\n");
	flush(c, &b, deadline);
	metrics__mbuf_free(&b);
	history_results_free(res, nres);
	history_events_free(ev, nev);
}

/* ---- `/badge/NAME.svg` ------------------------------------------------------------------------ */

static void badge(struct web *w, struct http_conn *c, const struct http_request *req,
		  const char *name)
{
	struct job_state *js = sup_find(w->d->sup, name);
	struct history_summary sum;
	struct mbuf b = { 0 };
	char value[32], label[CFG_NAME_MAX + 16];
	const char *color;
	int lw, vw;

	if (!js) {
		http__reply_error(c, 404, "Not Found", req->head);
		return;
	}
	snprintf(label, sizeof label, "%s", name);
	if (req->query && req->query_len >= 7 && memcmp(req->query, "uptime=", 7) == 0) {
		double u = -1;
		const char *win = req->query + 7;
		size_t wl = req->query_len - 7;

		if (history_summary(w->d->history, name, &sum))
			u = wl == 2 && !memcmp(win, "7d", 2) ? sum.uptime_7d :
			    wl == 3 && !memcmp(win, "30d", 3) ? sum.uptime_30d : sum.uptime_24h;
		if (u < 0)
			snprintf(value, sizeof value, "no data");
		else
			snprintf(value, sizeof value, "%.2f%%", u * 100);
		color = u < 0 ? "#9f9f9f" : u >= 0.999 ? "#3fb950" : u >= 0.99 ? "#d29922" : "#e5534b";
	} else {
		snprintf(value, sizeof value, "%s", js->paused ? "paused" : job_health_name(js->health));
		color = js->health == HEALTH_UP ? "#3fb950" : js->health == HEALTH_DOWN ? "#e5534b" :
										       "#9f9f9f";
	}
	/* About 7 px a character in 11 px Verdana, as badge makers reckon. */
	lw = (int)strlen(label) * 7 + 10;
	vw = (int)strlen(value) * 7 + 10;
	metrics__puts(&b, SVG_HEADERS);
	if (!req->head) {
		char head[512];

		snprintf(head, sizeof head,
			 "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"20\" "
			 "role=\"img\" aria-label=\"", lw + vw);
		metrics__puts(&b, head);
		web__esc(&b, label);
		metrics__puts(&b, ": ");
		web__esc(&b, value);
		metrics__puts(&b, "\"><title>");
		web__esc(&b, label);
		metrics__puts(&b, ": ");
		web__esc(&b, value);
		snprintf(head, sizeof head,
			 "</title><rect width=\"%d\" height=\"20\" rx=\"3\" fill=\"#555\"/><rect x=\"%d\" "
			 "width=\"%d\" height=\"20\" rx=\"3\" fill=\"%s\"/><g fill=\"#fff\" "
			 "font-family=\"Verdana,sans-serif\" font-size=\"11\"><text x=\"5\" y=\"14\">",
			 lw + vw, lw, vw, color);
		metrics__puts(&b, head);
		web__esc(&b, label);
		snprintf(head, sizeof head, "</text><text x=\"%d\" y=\"14\">", lw + 5);
		metrics__puts(&b, head);
		web__esc(&b, value);
		metrics__puts(&b, "</text></g></svg>\n");
	}
	flush(c, &b, req->deadline_us);
	metrics__mbuf_free(&b);
}

/* ---- JSON --------------------------------------------------------------------------------------- */

static json_t *ratio(double v)
{
	return v < 0 ? json_null() : json_real(v);
}

static void send_json(struct http_conn *c, json_t *root, bool head, uint64_t deadline)
{
	char *text = root ? json_dumps(root, JSON_COMPACT) : NULL;
	struct mbuf b = { 0 };

	json_decref(root);
	if (!text) {
		http__reply_error(c, 500, "Internal Server Error", head);
		return;
	}
	metrics__puts(&b, JSON_HEADERS);
	if (!head) {
		metrics__puts(&b, text);
		metrics__puts(&b, "\n");
	}
	flush(c, &b, deadline);
	metrics__mbuf_free(&b);
	free(text);
}

static void api_jobs(struct web *w, struct http_conn *c, bool head, uint64_t deadline)
{
	struct web_row *rows;
	json_t *arr = json_array();
	size_t n = 0;

	rows = snapshot(w, c, &n);
	if (!rows || !arr) {
		free(rows);
		json_decref(arr);
		http__reply_error(c, 503, "Service Unavailable", head);
		return;
	}
	qsort(rows, n, sizeof *rows, row_cmp);
	for (size_t i = 0; i < n; i++) {
		const struct web_row *r = &rows[i];
		json_t *o = json_pack("{s:s, s:s, s:s, s:b}", "name", r->name, "type",
				      job_type_name(r->type), "state", job_health_name(r->health),
				      "paused", r->paused);

		if (!o)
			continue;
		if (w->group_by)
			json_object_set_new(o, "group", r->group[0] ? json_string(r->group) : json_null());
		json_object_set_new(o, "last_duration_us",
				    r->has_last ? json_integer(r->last_us) : json_null());
		if (r->has_sum) {
			json_t *bar = json_array();

			for (int k = 0; k < HISTORY_BAR_HOURS; k++)
				json_array_append_new(bar, r->sum.hour_permille[k] < 0 ? json_null() :
							   json_integer(r->sum.hour_permille[k]));
			json_object_set_new(o, "uptime", json_pack("{s:o, s:o, s:o}", "24h",
								   ratio(r->sum.uptime_24h), "7d",
								   ratio(r->sum.uptime_7d), "30d",
								   ratio(r->sum.uptime_30d)));
			json_object_set_new(o, "hours_ok_permille", bar);
		}
		json_array_append_new(arr, o);
	}
	free(rows);
	send_json(c, json_pack("{s:I, s:o}", "now_ms", (json_int_t)sup_wall_ms(), "jobs", arr), head,
		  deadline);
}

static void api_history(struct web *w, struct http_conn *c, const char *name, bool head,
			uint64_t deadline)
{
	struct history_result *res = NULL;
	struct history_event *ev = NULL;
	size_t nres = 0, nev = 0;
	json_t *results, *events;
	int r;

	r = history_results(w->d->history, name, 0, 0, false, JOB_RESULTS, &res, &nres);
	/* A job that has not run yet has no history, and empty lists; one that is gone, its history. */
	if (r < 0 && !sup_find(w->d->sup, name)) {
		http__reply_error(c, 404, "Not Found", head);
		return;
	}
	history_events(w->d->history, name, 0, JOB_OUTAGES * 2, &ev, &nev);
	results = json_array();
	events = json_array();
	for (size_t i = 0; i < nres; i++)
		json_array_append_new(results, json_pack("{s:I, s:I, s:s, s:s?}", "end_ms",
							 (json_int_t)res[i].end_ms, "duration_us",
							 (json_int_t)res[i].duration_us, "result",
							 run_outcome_name(res[i].outcome), "error",
							 res[i].error));
	for (size_t i = 0; i < nev; i++)
		json_array_append_new(events, json_pack("{s:I, s:s, s:s?, s:I}", "at_ms",
							(json_int_t)ev[i].at_ms, "state",
							ev[i].up ? "up" : "down", "error", ev[i].error,
							"down_ms", (json_int_t)ev[i].down_ms));
	history_results_free(res, nres);
	history_events_free(ev, nev);
	send_json(c, json_pack("{s:s, s:o, s:o}", "name", name, "results", results, "events", events),
		  head, deadline);
}

/* ---- routing ------------------------------------------------------------------------------------- */

bool web__handle(struct http_conn *c, const struct http_request *req)
{
	struct web *w = web;
	char name[CFG_NAME_MAX + 1];

	if (!w)
		return false;
	if (http__path_is(req, "/") || http__path_is(req, "/index.html"))
		index_page(w, c, req->head, req->deadline_us);
	else if (http__path_is(req, "/api/v1/jobs"))
		api_jobs(w, c, req->head, req->deadline_us);
	else if (path_name(req, "/api/v1/jobs/", "/history", name))
		api_history(w, c, name, req->head, req->deadline_us);
	else if (path_name(req, "/job/", NULL, name))
		job_page(w, c, name, req->head, req->deadline_us);
	else if (path_name(req, "/badge/", ".svg", name))
		badge(w, c, req, name);
	else
		return false;
	return true;
}

static void handle(void *arg, struct http_conn *c, const struct http_request *req)
{
	(void)arg;
	if (!web__handle(c, req))
		http__reply_error(c, 404, "Not Found", req->head);
}

static void web_free(struct web *w)
{
	if (!w)
		return;
	free(w->group_by);
	free(w->title);
	free(w);
}

int web_configure(struct daemon *d, const struct cfg_web *cfg, const char *metrics_listen)
{
	struct web *w = web;
	int r = 0;

	if (!cfg) {
		web_stop(d);
		return 0;
	}
	if (!w && !(w = web = calloc(1, sizeof *w))) {
		log_msg(LOG_ERR, "web: out of memory");
		return -ENOMEM;
	}
	w->d = d;
	free(w->group_by);
	free(w->title);
	w->group_by = cfg->group_by ? strdup(cfg->group_by) : NULL;
	w->title = cfg->title ? strdup(cfg->title) : NULL;
	w->on_metrics = !cfg->listen;
	if (cfg->listen) {
		if (!w->srv) {
			struct http_server_def def = { .name = "web", .path = "/", .handler = handle };

			if (!(w->srv = http__server_new(&def))) {
				log_msg(LOG_ERR, "web: out of memory");
				return -ENOMEM;
			}
		}
		r = http__server_listen(w->srv, cfg->listen);
	} else {
		if (w->srv && http__server_stop(w->srv))
			w->srv = NULL;
		if (!metrics_listen)
			log_msg(LOG_WARNING, "web: no web.listen and no metrics listener: the status "
				"page is not served");
		else
			log_msg(LOG_INFO, "web: the status page is at http://%s/", metrics_listen);
	}
	return r;
}

void web_stop(struct daemon *d)
{
	struct web *w = web;

	(void)d;
	if (!w)
		return;
	web = NULL;
	if (w->srv && !http__server_stop(w->srv))
		return; /* a client's coroutine may still come back to w: left be */
	web_free(w);
}
