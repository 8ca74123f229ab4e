/* SPDX-License-Identifier: MIT */
/*
 * web-page.c: the status page's HTML: `/` (every job, grouped, red first,
 * each with its state, last duration, uptime and a bar of its last 90
 * hours) and `/job/NAME` (its definition with secrets masked, a chart of
 * its durations, its results and outages). Server-rendered HTML and
 * inline SVG, no external assets and no script; light and dark schemes;
 * readable at 360 px. Every string that comes from a job (names, labels,
 * targets, error texts, which can carry a probed server's bytes) goes
 * through web__esc, and the page is sent with a Content-Security-Policy
 * that allows no script at all, should an escape ever be missed.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "daemon/core/core.h"
#include "daemon/history/history.h"
#include "daemon/http/http-internal.h"

#define CSS \
	":root{color-scheme:light dark;--bg:#fff;--fg:#1b1f24;--mut:#57606a;--line:#d0d7de;" \
	"--ok:#1a7f37;--warn:#9a6700;--bad:#cf222e;--none:#d0d7de;--okbg:#dafbe1;--badbg:#ffebe9}" \
	"@media(prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;--mut:#9198a1;" \
	"--line:#30363d;--ok:#3fb950;--warn:#d29922;--bad:#f85149;--none:#30363d;" \
	"--okbg:#033a16;--badbg:#490202}}" \
	"body{margin:0 auto;max-width:72rem;padding:1rem;background:var(--bg);color:var(--fg);" \
	"font:15px/1.45 system-ui,sans-serif}a{color:inherit}h1{font-size:1.4rem;margin:.2rem 0}" \
	"h2{font-size:1.1rem;margin:1.4rem 0 .4rem}.mut{color:var(--mut)}" \
	"table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.3rem .5rem;" \
	"border-bottom:1px solid var(--line);vertical-align:middle}th{font-weight:600}" \
	".st{font-weight:600;padding:0 .35rem;border-radius:.3rem}.st.up{color:var(--ok);" \
	"background:var(--okbg)}.st.down{color:var(--bad);background:var(--badbg)}" \
	".st.unknown,.st.paused{color:var(--mut)}.num{font-variant-numeric:tabular-nums;" \
	"white-space:nowrap}svg.bar{width:100%;max-width:270px;height:18px;display:block}" \
	".g{fill:var(--ok)}.w{fill:var(--warn)}.b{fill:var(--bad)}.n{fill:var(--none)}" \
	"svg.chart{width:100%;height:160px;display:block}.ax{stroke:var(--line)}" \
	".ln{fill:none;stroke:var(--ok);stroke-width:1.5}.pt{fill:var(--bad)}" \
	"code,.err{overflow-wrap:anywhere}.err{color:var(--bad)}" \
	"@media(max-width:560px){.wide{display:none}th,td{padding:.25rem}.num{white-space:normal}}"

/* ---- escaping ------------------------------------------------------------------------ */

void web__esc(struct mbuf *b, const char *s)
{
	const char *run = s;

	if (!s)
		return;
	for (; *s; s++) {
		const char *rep;

		switch (*s) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '"': rep = "&quot;"; break;
		case '\'': rep = "&#39;"; break;
		default:
			/* Control characters (but tab and newline) are not text. */
			if ((unsigned char)*s < 0x20 && *s != '\t' && *s != '\n')
				rep = "\xef\xbf\xbd"; /* U+FFFD */
			else
				continue;
		}
		metrics__put(b, run, (size_t)(s - run));
		metrics__puts(b, rep);
		run = s + 1;
	}
	metrics__put(b, run, (size_t)(s - run));
}

static void putf(struct mbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(struct mbuf *b, const char *fmt, ...)
{
	va_list ap;
	char *at;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n <= 0 || !(at = metrics__mbuf_room(b, (size_t)n + 1)))
		return;
	va_start(ap, fmt);
	vsnprintf(at, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/* "99.95%" or "-" with no runs. */
static void put_pct(struct mbuf *b, double v)
{
	if (v < 0)
		metrics__puts(b, "&#8211;");
	else if (v >= 0.99995)
		metrics__puts(b, "100%");
	else /* truncated, not rounded: 99.996% is not 100% */
		putf(b, "%.2f%%", (double)(long long)(v * 10000) / 100);
}

static void put_time(struct mbuf *b, int64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	char buf[40];

	if (ms <= 0 || !gmtime_r(&t, &tm)) {
		metrics__puts(b, "&#8211;");
		return;
	}
	strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
	metrics__puts(b, buf);
}

static void put_us(struct mbuf *b, uint64_t us)
{
	if (us < 1000)
		putf(b, "%lluus", (unsigned long long)us);
	else if (us < 1000000)
		putf(b, "%.1fms", (double)us / 1000);
	else
		putf(b, "%.2fs", (double)us / 1e6);
}

static void put_span(struct mbuf *b, int64_t ms)
{
	char buf[32];

	config_format_duration(ms > 0 ? (uint64_t)(ms / 1000 * 1000) : 0, buf, sizeof buf);
	metrics__puts(b, buf);
}

void web__head(struct mbuf *b, const char *title, int refresh_s)
{
	metrics__puts(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
			 "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">");
	if (refresh_s)
		putf(b, "<meta http-equiv=\"refresh\" content=\"%d\">", refresh_s);
	metrics__puts(b, "<title>");
	web__esc(b, title);
	metrics__puts(b, "</title><style>" CSS "</style></head><body>");
}

/* ---- the bar of the last 90 hours ------------------------------------------------------ */

static char cell_class(int16_t permille)
{
	return permille < 0 ? 'n' : permille >= 999 ? 'g' : permille >= 900 ? 'w' : 'b';
}

void web__bar(struct mbuf *b, const struct history_summary *s)
{
	unsigned good = 0, warn = 0, bad = 0, none = 0;
	int start = 0;

	for (int i = 0; i < HISTORY_BAR_HOURS; i++) {
		char c = cell_class(s->hour_permille[i]);

		good += c == 'g';
		warn += c == 'w';
		bad += c == 'b';
		none += c == 'n';
	}
	putf(b, "<svg class=\"bar\" viewBox=\"0 0 %d 10\" preserveAspectRatio=\"none\" role=\"img\" "
		"aria-label=\"last %d hours: %u all good, %u with failures, %u mostly failing, %u "
		"without runs\"><title>last %d hours: %u all good, %u with failures, %u mostly "
		"failing, %u without runs</title>", HISTORY_BAR_HOURS * 3, HISTORY_BAR_HOURS, good,
	     warn, bad, none, HISTORY_BAR_HOURS, good, warn, bad, none);
	/* One rectangle per run of cells of a class: a healthy job is one. */
	for (int i = 1; i <= HISTORY_BAR_HOURS; i++) {
		if (i < HISTORY_BAR_HOURS &&
		    cell_class(s->hour_permille[i]) == cell_class(s->hour_permille[start]))
			continue;
		putf(b, "<rect class=\"%c\" x=\"%d\" y=\"0\" width=\"%d\" height=\"10\"/>",
		     cell_class(s->hour_permille[start]), start * 3, (i - start) * 3 - 1);
		start = i;
	}
	metrics__puts(b, "</svg>");
}

void web__uptimes(struct mbuf *b, const struct history_summary *s)
{
	put_pct(b, s->uptime_24h);
	metrics__puts(b, " (24h), ");
	put_pct(b, s->uptime_7d);
	metrics__puts(b, " (7d), ");
	put_pct(b, s->uptime_30d);
	metrics__puts(b, " (30d)");
	if (s->outage_down_ms) {
		metrics__puts(b, " &#183; last outage ");
		put_time(b, s->outage_down_ms);
		if (s->outage_up_ms) {
			metrics__puts(b, " for ");
			put_span(b, s->outage_up_ms - s->outage_down_ms);
		} else {
			metrics__puts(b, ", still down");
		}
	}
}

/* ---- `/`: one row ------------------------------------------------------------------------- */

void web__row(struct mbuf *b, const struct web_row *r)
{
	const char *st = r->paused ? "paused" : job_health_name(r->health);

	putf(b, "<tr class=\"job %s\" data-state=\"%s\"><td><a href=\"/job/", st, st);
	web__esc(b, r->name);
	metrics__puts(b, "\">");
	web__esc(b, r->name);
	putf(b, "</a> <span class=\"mut wide\">%s</span></td><td><span class=\"st %s\">%s</span>"
		"</td><td class=\"num wide\">", job_type_name(r->type), st, st);
	if (r->has_last)
		put_us(b, r->last_us);
	else
		metrics__puts(b, "&#8211;");
	metrics__puts(b, "</td><td class=\"num up24\">");
	put_pct(b, r->has_sum ? r->sum.uptime_24h : -1);
	metrics__puts(b, "</td><td class=\"num up30 wide\">");
	put_pct(b, r->has_sum ? r->sum.uptime_30d : -1);
	metrics__puts(b, "</td><td>");
	if (r->has_sum)
		web__bar(b, &r->sum);
	else
		metrics__puts(b, "<span class=\"mut\">no history</span>");
	metrics__puts(b, "</td></tr>\n");
}

void web__table_head(struct mbuf *b, const char *group_by, const char *group)
{
	if (group_by) {
		metrics__puts(b, "<h2>");
		if (group && *group) {
			web__esc(b, group_by);
			metrics__puts(b, ": ");
			web__esc(b, group);
		} else {
			metrics__puts(b, "no ");
			web__esc(b, group_by);
		}
		metrics__puts(b, "</h2>");
	}
	metrics__puts(b, "<table><thead><tr><th>Job</th><th>State</th><th class=\"wide\">Last</th>"
			 "<th>24h</th><th class=\"wide\">30d</th><th>Last 90 hours</th></tr></thead>"
			 "<tbody>\n");
}

void web__index_top(struct mbuf *b, const char *title, size_t up, size_t down, size_t other,
		    int64_t now_ms)
{
	web__head(b, title, 60);
	metrics__puts(b, "<header><h1>");
	web__esc(b, title);
	putf(b, "</h1><p class=\"mut\" id=\"summary\"><span id=\"count-up\">%zu up</span>, "
		"<span id=\"count-down\">%zu down</span>, <span id=\"count-other\">%zu unknown or "
		"paused</span> &#183; ", up, down, other);
	put_time(b, now_ms);
	metrics__puts(b, "</p></header><main>");
}

/* ---- `/job/NAME` ------------------------------------------------------------------------------ */

/* Whether a header or variable name looks like it holds a secret. */
static bool secret_name(const char *name)
{
	static const char *const words[] = { "auth", "token", "secret", "pass", "key", "cookie",
					     "session", "credential", "signature" };

	for (size_t i = 0; i < sizeof words / sizeof *words; i++)
		if (strcasestr(name, words[i]))
			return true;
	return false;
}

/*
 * A URL with what may be a secret masked: the password of its userinfo,
 * and the values of query parameters whose names look secret (?token=).
 */
static void put_url(struct mbuf *b, const char *url)
{
	static const char dots[] = "\xe2\x80\xa2\xe2\x80\xa2\xe2\x80\xa2\xe2\x80\xa2"; /* four U+2022 */
	const char *scheme = strstr(url, "://"), *host = scheme ? scheme + 3 : url;
	size_t len = strlen(url), auth_end = strcspn(host, "/?#");
	const char *at = memchr(host, '@', auth_end), *q;
	char *out = malloc(len * 4 + 64), *o = out;

	if (!out)
		return;
	if (at && memchr(host, ':', (size_t)(at - host))) {
		const char *colon = memchr(host, ':', (size_t)(at - host));

		memcpy(o, url, (size_t)(colon - url) + 1);
		o += colon - url + 1;
		o = stpcpy(o, dots);
		url = at;
	}
	q = strchr(url, '?');
	if (!q) {
		o = stpcpy(o, url);
	} else {
		memcpy(o, url, (size_t)(q - url) + 1);
		o += q - url + 1;
		for (const char *p = q + 1; *p;) {
			size_t n = strcspn(p, "&#"), k = strcspn(p, "=&#");
			char name[128];

			snprintf(name, sizeof name, "%.*s", (int)(k < sizeof name ? k : sizeof name - 1), p);
			if (k < n && secret_name(name)) {
				memcpy(o, p, k + 1);
				o += k + 1;
				o = stpcpy(o, dots);
			} else {
				memcpy(o, p, n);
				o += n;
			}
			p += n;
			if (*p == '&')
				*o++ = *p++;
			else if (*p == '#') {
				o = stpcpy(o, p);
				break;
			}
		}
		*o = '\0';
	}
	web__esc(b, out);
	free(out);
}

static void def_row(struct mbuf *b, const char *key)
{
	/* Every row but the first closes the one before it. */
	if (b->len >= 5 && memcmp(b->p + b->len - 5, "def\">", 5) != 0)
		metrics__puts(b, "</td></tr>");
	metrics__puts(b, "<tr><th scope=\"row\">");
	metrics__puts(b, key);
	metrics__puts(b, "</th><td>");
}

static void put_pairs(struct mbuf *b, const struct cfg_pair *p, size_t n, bool mask)
{
	for (size_t i = 0; i < n; i++) {
		metrics__puts(b, i ? "<br><code>" : "<code>");
		web__esc(b, p[i].key);
		metrics__puts(b, ": ");
		if (mask && secret_name(p[i].key))
			metrics__puts(b, "&#8226;&#8226;&#8226;&#8226; (hidden)");
		else
			web__esc(b, p[i].value);
		metrics__puts(b, "</code>");
	}
}

void web__definition(struct mbuf *b, const struct job *j)
{
	char buf[64];

	metrics__puts(b, "<h2>Definition</h2><table class=\"def\">");
	def_row(b, "Type");
	metrics__puts(b, job_type_name(j->type));
	def_row(b, "Checks");
	switch (j->type) {
	case JOB_HTTP:
		metrics__puts(b, "<code>");
		web__esc(b, j->u.http.method);
		metrics__puts(b, " ");
		put_url(b, j->u.http.url);
		metrics__puts(b, "</code>");
		if (j->u.http.nheaders) {
			def_row(b, "Headers");
			put_pairs(b, j->u.http.headers, j->u.http.nheaders, true);
		}
		if (j->u.http.body) {
			def_row(b, "Body");
			putf(b, "%zu bytes (not shown)", strlen(j->u.http.body));
		}
		break;
	case JOB_TCP:
		metrics__puts(b, "<code>");
		web__esc(b, j->u.tcp.host);
		putf(b, ":%u</code>", j->u.tcp.port);
		break;
	case JOB_DNS:
		metrics__puts(b, "<code>");
		web__esc(b, j->u.dns.query);
		metrics__puts(b, " ");
		web__esc(b, j->u.dns.record);
		if (j->u.dns.server_host) {
			metrics__puts(b, " @");
			web__esc(b, j->u.dns.server_host);
		}
		metrics__puts(b, "</code>");
		break;
	case JOB_EXEC:
		metrics__puts(b, "<code>");
		for (size_t i = 0; i < j->u.exec.argc; i++) {
			if (i)
				metrics__puts(b, " ");
			web__esc(b, j->u.exec.argv[i]);
		}
		metrics__puts(b, "</code>");
		if (j->u.exec.nenv) {
			def_row(b, "Environment");
			put_pairs(b, j->u.exec.env, j->u.exec.nenv, true);
		}
		break;
	}
	def_row(b, "Every");
	metrics__puts(b, config_format_duration(j->every_ms, buf, sizeof buf));
	metrics__puts(b, ", timeout ");
	metrics__puts(b, config_format_duration(j->timeout_ms, buf, sizeof buf));
	putf(b, ", %u retr%s", j->retries, j->retries == 1 ? "y" : "ies");
	def_row(b, "Thresholds");
	putf(b, "down after %u failure%s, up after %u success%s", j->failures_before_down,
	     j->failures_before_down == 1 ? "" : "s", j->successes_before_up,
	     j->successes_before_up == 1 ? "" : "es");
	if (j->nlabels) {
		def_row(b, "Labels");
		put_pairs(b, j->labels, j->nlabels, false);
	}
	if (j->nnotify) {
		def_row(b, "Notify");
		for (size_t i = 0; i < j->nnotify; i++) {
			if (i)
				metrics__puts(b, ", ");
			web__esc(b, j->notify[i]);
		}
	}
	if (j->where.file) {
		def_row(b, "Defined in");
		metrics__puts(b, "<code>");
		web__esc(b, j->where.file);
		putf(b, ":%u</code>", j->where.line);
	}
	metrics__puts(b, "</td></tr></table>");
}

/*
 * The durations of results (newest first in v) as a line, oldest on the
 * left; failed runs are red dots, each with its text as a tooltip.
 */
void web__chart(struct mbuf *b, const struct history_result *v, size_t n)
{
	uint32_t max = 1;
	const int W = 600, H = 150, PAD = 4;

	metrics__puts(b, "<h2>Durations</h2>");
	if (!n) {
		metrics__puts(b, "<p class=\"mut\">No results yet.</p>");
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (v[i].duration_us > max)
			max = v[i].duration_us;
	putf(b, "<svg class=\"chart\" viewBox=\"0 0 %d %d\" preserveAspectRatio=\"none\" role=\"img\" "
		"aria-label=\"durations of the last %zu runs, up to ", W, H + 2 * PAD, n);
	put_us(b, max);
	metrics__puts(b, "\"><title>durations of the last runs, oldest on the left; red: failed</title>");
	putf(b, "<line class=\"ax\" x1=\"0\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/><polyline class=\"ln\" "
		"points=\"", H + PAD, W, H + PAD);
	for (size_t k = 0; k < n; k++) {
		size_t i = n - 1 - k;
		int x = n > 1 ? (int)(k * (size_t)(W - 2 * PAD) / (n - 1)) + PAD : W / 2;
		int y = PAD + H - (int)((uint64_t)v[i].duration_us * (uint64_t)H / max);

		putf(b, "%s%d,%d", k ? " " : "", x, y);
	}
	metrics__puts(b, "\"/>");
	for (size_t k = 0; k < n; k++) {
		size_t i = n - 1 - k;
		int x = n > 1 ? (int)(k * (size_t)(W - 2 * PAD) / (n - 1)) + PAD : W / 2;
		int y = PAD + H - (int)((uint64_t)v[i].duration_us * (uint64_t)H / max);

		if (v[i].outcome == OUTCOME_OK)
			continue;
		putf(b, "<circle class=\"pt\" cx=\"%d\" cy=\"%d\" r=\"3\"><title>", x, y);
		put_time(b, v[i].end_ms);
		metrics__puts(b, ": ");
		web__esc(b, v[i].error ? v[i].error : run_outcome_name(v[i].outcome));
		metrics__puts(b, "</title></circle>");
	}
	metrics__puts(b, "</svg><p class=\"mut\">Longest: ");
	put_us(b, max);
	metrics__puts(b, "</p>");
}

void web__results(struct mbuf *b, const struct history_result *v, size_t n)
{
	metrics__puts(b, "<h2>Recent results</h2><table id=\"results\"><thead><tr><th>Time</th>"
			 "<th>Result</th><th>Duration</th><th>Error</th></tr></thead><tbody>");
	for (size_t i = 0; i < n; i++) {
		metrics__puts(b, "<tr><td class=\"num\">");
		put_time(b, v[i].end_ms);
		putf(b, "</td><td>%s</td><td class=\"num\">", run_outcome_name(v[i].outcome));
		put_us(b, v[i].duration_us);
		metrics__puts(b, "</td><td class=\"err\">");
		web__esc(b, v[i].error);
		metrics__puts(b, "</td></tr>");
	}
	metrics__puts(b, "</tbody></table>");
}

void web__outages(struct mbuf *b, const struct history_event *v, size_t n, int64_t now_ms)
{
	size_t shown = 0;

	metrics__puts(b, "<h2>Outages</h2><table id=\"outages\"><thead><tr><th>Down</th><th>Up</th>"
			 "<th>For</th><th>Error</th></tr></thead><tbody>");
	/* Newest first: an up, then the down it ended; a down first is an outage that lasts. */
	for (size_t i = 0; i < n; i++) {
		const struct history_event *up = NULL, *down = &v[i];

		if (v[i].up) {
			up = &v[i];
			down = i + 1 < n && !v[i + 1].up ? &v[++i] : NULL;
		}
		metrics__puts(b, "<tr><td class=\"num\">");
		if (down)
			put_time(b, down->at_ms);
		else if (up && up->down_ms)
			put_time(b, up->at_ms - up->down_ms);
		else
			metrics__puts(b, "&#8211;");
		metrics__puts(b, "</td><td class=\"num\">");
		if (up)
			put_time(b, up->at_ms);
		else
			metrics__puts(b, "still down");
		metrics__puts(b, "</td><td class=\"num\">");
		if (up && up->down_ms)
			put_span(b, up->down_ms);
		else if (!up && down)
			put_span(b, now_ms - down->at_ms);
		else
			metrics__puts(b, "&#8211;");
		metrics__puts(b, "</td><td class=\"err\">");
		if (down)
			web__esc(b, down->error);
		metrics__puts(b, "</td></tr>");
		shown++;
	}
	if (!shown)
		metrics__puts(b, "<tr><td colspan=\"4\" class=\"mut\">None recorded.</td></tr>");
	metrics__puts(b, "</tbody></table>");
}
