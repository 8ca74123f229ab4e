/* SPDX-License-Identifier: MIT */
/*
 * payload.c: what a notification says, in each receiver's format, with no
 * I/O: Alertmanager's v2 alerts, Alertmanager's webhook payload (so that
 * receivers written for Alertmanager work unchanged), an RFC 5322 mail
 * message, and the event as JSON (an exec command's stdin, notify.json).
 *
 * An alert's identity is its label set: alertname="CoroRunnerJobDown",
 * job, instance and the job's own labels. The instance of a fleet job is
 * the fleet's, not the member's, so that a job that moves keeps its alert.
 */
#define _GNU_SOURCE
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon/notify/notify-internal.h"

#define ALERTNAME "CoroRunnerJobDown"
#define TEST_ALERTNAME "CoroRunnerNotificationTest"
#define ZERO_TIME "0001-01-01T00:00:00Z" /* Alertmanager's "not set" */

/* ---- events ---------------------------------------------------------------- */

const char *nevent_kind_name(enum nev_kind k)
{
	return k == NEV_DOWN ? "down" : k == NEV_UP ? "up" : "test";
}

static char *dup0(const char *s)
{
	return s ? strdup(s) : NULL;
}

void nevent_free(struct nevent *e)
{
	if (!e)
		return;
	free(e->job);
	free(e->instance);
	free(e->member);
	free(e->error);
	for (size_t i = 0; i < e->nlabels; i++) {
		free(e->labels[i].key);
		free(e->labels[i].value);
	}
	free(e->labels);
	free(e);
}

struct nevent *nevent_new(enum nev_kind kind, const char *job, const char *instance,
			  const char *member, const char *error, int64_t at_ms, int64_t since_ms,
			  const struct cfg_pair *labels, size_t nlabels)
{
	struct nevent *e = calloc(1, sizeof *e);
	bool ok;

	if (!e)
		return NULL;
	e->kind = kind;
	e->at_ms = at_ms;
	e->since_ms = since_ms;
	e->job = dup0(job);
	e->instance = dup0(instance ? instance : "");
	e->member = dup0(member);
	e->error = dup0(error ? error : "");
	ok = e->job && e->instance && e->error && (!member || e->member);
	if (ok && nlabels) {
		ok = (e->labels = calloc(nlabels, sizeof *e->labels)) != NULL;
		for (size_t i = 0; ok && i < nlabels; i++) {
			e->labels[i].key = strdup(labels[i].key);
			e->labels[i].value = strdup(labels[i].value);
			e->nlabels = i + 1;
			ok = e->labels[i].key && e->labels[i].value;
		}
	}
	if (!ok) {
		nevent_free(e);
		return NULL;
	}
	return e;
}

struct nevent *nevent_copy(const struct nevent *e)
{
	struct nevent *c = nevent_new(e->kind, e->job, e->instance, e->member, e->error, e->at_ms,
				      e->since_ms, e->labels, e->nlabels);

	if (c)
		c->repeat = e->repeat;
	return c;
}

/* ---- time ------------------------------------------------------------------ */

char *notify__time(int64_t ms, char *buf, size_t size)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (ms <= 0 || !gmtime_r(&t, &tm)) {
		snprintf(buf, size, "%s", ZERO_TIME);
		return buf;
	}
	snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
	return buf;
}

/* "1h2m3s", "45s": how long a down lasted. */
static char *span(int64_t ms, char *buf, size_t size)
{
	return config_format_duration(ms > 0 ? (uint64_t)(ms / 1000 * 1000) : 0, buf, size);
}

/* ---- the event as JSON ------------------------------------------------------- */

static json_t *labels_json(const struct nevent *e)
{
	json_t *o = json_object();

	for (size_t i = 0; o && i < e->nlabels; i++)
		json_object_set_new(o, e->labels[i].key, json_string(e->labels[i].value));
	return o;
}

char *notify__event_json(const struct nevent *e, const char *notifier)
{
	char at[40], since[40];
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:I, s:s, s:b, s:o}", "event",
			      nevent_kind_name(e->kind), "job", e->job, "instance", e->instance,
			      "error", e->error, "at_ms", (json_int_t)e->at_ms, "at",
			      notify__time(e->at_ms, at, sizeof at), "since_ms",
			      (json_int_t)e->since_ms, "since",
			      notify__time(e->since_ms, since, sizeof since), "repeat", e->repeat,
			      "labels", labels_json(e));
	char *text;

	if (!o)
		return NULL;
	if (e->member)
		json_object_set_new(o, "member", json_string(e->member));
	if (notifier)
		json_object_set_new(o, "notifier", json_string(notifier));
	if (e->kind == NEV_UP && e->since_ms > 0)
		json_object_set_new(o, "down_for_ms", json_integer(e->at_ms - e->since_ms));
	text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return text;
}

struct nevent *notify__event_from_json(json_t *obj)
{
	const char *kind = NULL, *job = NULL, *instance = NULL, *member = NULL, *error = NULL;
	json_int_t at = 0, since = 0;
	int repeat = 0;
	json_t *labels = NULL, *v;
	struct cfg_pair *pairs = NULL;
	struct nevent *e = NULL;
	const char *k;
	size_t n = 0;

	if (json_unpack(obj, "{s:s, s:s, s?s, s?s, s?s, s?I, s?I, s?b, s?o}", "event", &kind, "job",
			&job, "instance", &instance, "member", &member, "error", &error, "at_ms", &at,
			"since_ms", &since, "repeat", &repeat, "labels", &labels) < 0)
		return NULL;
	if (strcmp(kind, "down") != 0 && strcmp(kind, "up") != 0)
		return NULL;
	if (json_is_object(labels) && json_object_size(labels)) {
		pairs = calloc(json_object_size(labels), sizeof *pairs);
		if (!pairs)
			return NULL;
		json_object_foreach(labels, k, v) {
			if (!json_is_string(v))
				continue;
			pairs[n].key = (char *)k;
			pairs[n].value = (char *)json_string_value(v);
			n++;
		}
	}
	e = nevent_new(kind[0] == 'd' ? NEV_DOWN : NEV_UP, job, instance, member, error, at, since,
		       pairs, n);
	if (e)
		e->repeat = repeat;
	free(pairs);
	return e;
}

/* ---- Alertmanager ------------------------------------------------------------- */

/* The alert's labels: its identity. */
static json_t *alert_labels(const struct nevent *e)
{
	json_t *o = json_object();

	if (!o)
		return NULL;
	for (size_t i = 0; i < e->nlabels; i++)
		if (strcmp(e->labels[i].key, "alertname") != 0)
			json_object_set_new(o, e->labels[i].key, json_string(e->labels[i].value));
	json_object_set_new(o, "alertname",
			    json_string(e->kind == NEV_TEST ? TEST_ALERTNAME : ALERTNAME));
	json_object_set_new(o, "job", json_string(e->job));
	json_object_set_new(o, "instance", json_string(e->instance));
	return o;
}

static json_t *alert_annotations(const struct nevent *e)
{
	char since[40], summary[512];
	json_t *o = json_object();

	if (!o)
		return NULL;
	if (e->kind == NEV_TEST)
		snprintf(summary, sizeof summary, "a test of coro-runner's notifications from %s",
			 e->instance);
	else if (e->kind == NEV_UP)
		snprintf(summary, sizeof summary, "job %s on %s is up again", e->job, e->instance);
	else
		snprintf(summary, sizeof summary, "job %s on %s is down%s%s", e->job, e->instance,
			 *e->error ? ": " : "", e->error);
	json_object_set_new(o, "summary", json_string(summary));
	if (*e->error)
		json_object_set_new(o, "error", json_string(e->error));
	if (e->since_ms > 0)
		json_object_set_new(o, "since", json_string(notify__time(e->since_ms, since,
									 sizeof since)));
	if (e->member)
		json_object_set_new(o, "member", json_string(e->member));
	return o;
}

/* An alert's fingerprint, as Alertmanager shows one: 16 hex digits of its labels. */
static void fingerprint(json_t *labels, char out[17])
{
	uint64_t h = 0xcbf29ce484222325ULL;
	const char **keys;
	size_t n = json_object_size(labels), i = 0;
	const char *k;
	json_t *v;

	keys = calloc(n ? n : 1, sizeof *keys);
	if (keys) {
		json_object_foreach(labels, k, v)
			keys[i++] = k;
		/* A stable order: sort the names. */
		for (size_t a = 1; a < n; a++)
			for (size_t b = a; b > 0 && strcmp(keys[b - 1], keys[b]) > 0; b--) {
				const char *t = keys[b];

				keys[b] = keys[b - 1];
				keys[b - 1] = t;
			}
		for (i = 0; i < n; i++) {
			const char *val = json_string_value(json_object_get(labels, keys[i]));

			for (const char *p = keys[i]; *p; p++)
				h = (h ^ (unsigned char)*p) * 0x100000001b3ULL;
			h = (h ^ 0xff) * 0x100000001b3ULL;
			for (const char *p = val ? val : ""; *p; p++)
				h = (h ^ (unsigned char)*p) * 0x100000001b3ULL;
			h = (h ^ 0xfe) * 0x100000001b3ULL;
		}
		free(keys);
	}
	snprintf(out, 17, "%016llx", (unsigned long long)h);
}

static json_t *am_alert(const struct nevent *e, int64_t now_ms)
{
	char starts[40], ends[40];
	int64_t start = e->since_ms > 0 ? e->since_ms : e->at_ms;
	int64_t end = e->kind == NEV_UP ? (e->at_ms > 0 ? e->at_ms : now_ms) :
		      e->kind == NEV_TEST ? now_ms + NOTIFY_RESEND_MS : now_ms + NOTIFY_ENDS_AHEAD_MS;

	if (e->kind == NEV_TEST)
		start = now_ms;
	return json_pack("{s:o, s:o, s:s, s:s}", "labels", alert_labels(e), "annotations",
			 alert_annotations(e), "startsAt", notify__time(start, starts, sizeof starts),
			 "endsAt", notify__time(end, ends, sizeof ends));
}

char *notify__am_alerts(struct nevent *const *ev, size_t n, int64_t now_ms)
{
	json_t *arr = json_array();
	char *text;

	for (size_t i = 0; arr && i < n; i++) {
		json_t *a = am_alert(ev[i], now_ms);

		if (!a || json_array_append_new(arr, a) < 0) {
			json_decref(arr);
			return NULL;
		}
	}
	text = arr ? json_dumps(arr, JSON_COMPACT) : NULL;
	json_decref(arr);
	return text;
}

/* ---- the webhook --------------------------------------------------------------- */

char *notify__webhook(const struct nevent *e, const char *receiver, const char *external_url)
{
	const char *status = e->kind == NEV_UP ? "resolved" : "firing";
	char starts[40], ends[40], fp[17], key[CFG_NAME_MAX * 2 + 64];
	json_t *labels = alert_labels(e), *annotations = alert_annotations(e), *alert, *o;
	char *text;

	if (!labels || !annotations) {
		json_decref(labels);
		json_decref(annotations);
		return NULL;
	}
	fingerprint(labels, fp);
	alert = json_pack("{s:s, s:O, s:O, s:s, s:s, s:s, s:s}", "status", status, "labels", labels,
			  "annotations", annotations, "startsAt",
			  notify__time(e->kind == NEV_TEST ? e->at_ms :
				       e->since_ms > 0 ? e->since_ms : e->at_ms, starts, sizeof starts),
			  "endsAt", e->kind == NEV_UP ? notify__time(e->at_ms, ends, sizeof ends) :
			  ZERO_TIME, "generatorURL", external_url ? external_url : "", "fingerprint",
			  fp);
	snprintf(key, sizeof key, "{}:{alertname=\"%s\", job=\"%s\"}",
		 e->kind == NEV_TEST ? TEST_ALERTNAME : ALERTNAME, e->job);
	o = json_pack("{s:s, s:s, s:i, s:s, s:s, s:{s:s, s:s}, s:O, s:O, s:s, s:[o]}", "version", "4",
		      "groupKey", key, "truncatedAlerts", 0, "status", status, "receiver", receiver,
		      "groupLabels", "alertname", e->kind == NEV_TEST ? TEST_ALERTNAME : ALERTNAME,
		      "job", e->job, "commonLabels", labels, "commonAnnotations", annotations,
		      "externalURL", external_url ? external_url : "", "alerts", alert);
	json_decref(labels);
	json_decref(annotations);
	if (!o)
		return NULL;
	text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return text;
}

/* ---- mail ------------------------------------------------------------------------ */

char *notify__bare_address(const char *addr)
{
	const char *lt = strrchr(addr, '<'), *gt;

	if (lt && (gt = strchr(lt, '>')))
		return strndup(lt + 1, (size_t)(gt - lt - 1));
	while (*addr == ' ')
		addr++;
	return strdup(addr);
}

/* Appends printf output to a growing buffer; false on out of memory. */
struct buf {
	char *p;
	size_t len, cap;
	bool failed;
};

__attribute__((format(printf, 2, 3)))
static void put(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->failed = true;
			return;
		}
		if (b->p && b->len + (size_t)n < b->cap) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = b->cap ? b->cap * 2 : 1024;
		while (cap <= b->len + (size_t)n)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p) {
			b->failed = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
}

/* A line of text for a mail body: no CR or LF inside, at most 900 bytes. */
static void put_text(struct buf *b, const char *s)
{
	size_t n = 0;

	for (const char *p = s; *p && n < 900; p++, n++)
		put(b, "%c", *p == '\r' || *p == '\n' ? ' ' : *p);
	if (strlen(s) > 900)
		put(b, "...");
}

static void mail_event(struct buf *b, const struct nevent *e)
{
	char t[40], d[32];

	if (e->kind == NEV_TEST) {
		put(b, "This is a test of coro-runner's notifications from %s.\r\n", e->instance);
		return;
	}
	if (e->kind == NEV_DOWN) {
		put(b, "Job %s on %s is DOWN%s since %s.\r\n", e->job, e->instance,
		    e->repeat ? " (still)" : "", notify__time(e->since_ms > 0 ? e->since_ms : e->at_ms,
							       t, sizeof t));
		if (*e->error) {
			put(b, "Error: ");
			put_text(b, e->error);
			put(b, "\r\n");
		}
	} else {
		put(b, "Job %s on %s is UP again at %s", e->job, e->instance,
		    notify__time(e->at_ms, t, sizeof t));
		if (e->since_ms > 0)
			put(b, ", after %s down", span(e->at_ms - e->since_ms, d, sizeof d));
		put(b, ".\r\n");
	}
	if (e->member)
		put(b, "Fleet member: %s\r\n", e->member);
	for (size_t i = 0; i < e->nlabels; i++) {
		put(b, "%s%s=", i ? ", " : "Labels: ", e->labels[i].key);
		put_text(b, e->labels[i].value);
	}
	if (e->nlabels)
		put(b, "\r\n");
}

char *notify__mail(struct nevent *const *ev, size_t n, const struct cfg_notifier *c,
		   int64_t now_ms, uint64_t seq, const char *host)
{
	struct buf b = { 0 };
	char date[64];
	time_t t = (time_t)(now_ms / 1000);
	struct tm tm;
	size_t down = 0, up = 0;

	gmtime_r(&t, &tm);
	strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
	for (size_t i = 0; i < n; i++) {
		down += ev[i]->kind == NEV_DOWN;
		up += ev[i]->kind == NEV_UP;
	}
	put(&b, "Date: %s\r\nFrom: %s\r\nTo: ", date, c->from);
	for (size_t i = 0; i < c->nto; i++)
		put(&b, "%s%s", i ? ", " : "", c->to[i]);
	put(&b, "\r\nSubject: [coro-runner] ");
	if (n == 1 && ev[0]->kind == NEV_TEST)
		put(&b, "test notification from %s", host);
	else if (n == 1)
		put(&b, "%s: %s on %s", ev[0]->kind == NEV_DOWN ? "DOWN" : "UP", ev[0]->job,
		    ev[0]->instance);
	else if (down && up)
		put(&b, "%zu jobs DOWN, %zu UP on %s", down, up, host);
	else
		put(&b, "%zu jobs %s on %s", n, down ? "DOWN" : "UP", host);
	put(&b, "\r\nMessage-ID: <%lld.%llu.%d@coro-runner.%s>\r\n", (long long)now_ms,
	    (unsigned long long)seq, (int)getpid(), host);
	put(&b, "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
		"Content-Transfer-Encoding: 8bit\r\nAuto-Submitted: auto-generated\r\n"
		"X-Coro-Runner-Event: %s\r\n\r\n",
	    n == 1 ? nevent_kind_name(ev[0]->kind) : "digest");
	for (size_t i = 0; i < n; i++) {
		if (i)
			put(&b, "\r\n");
		mail_event(&b, ev[i]);
	}
	put(&b, "\r\n-- \r\ncoro-runnerd on %s\r\n", host);
	if (b.failed) {
		free(b.p);
		return NULL;
	}
	return b.p;
}
