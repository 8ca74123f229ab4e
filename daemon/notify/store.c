/* SPDX-License-Identifier: MIT */
/*
 * store.c: <state-dir>/notify.json, what the notifications keep across a
 * restart: the events still queued for each notifier, and per job the
 * down that was notified and has not ended (with the job's last
 * notification, for coctl status). Written atomically (persist.c's
 * writer: temporary file, fsync, rename, fsync of the directory) at most
 * every two seconds while it changes, and at stop; so a crash loses at
 * most the last two seconds of events, and a clean stop loses none.
 *
 *   {"version": 1,
 *    "jobs": [{"name": "api", "down_since_ms": 1765000000000, "last_repeat_ms": 0,
 *              "last": {"event": "down", "notifier": "am", "outcome": "delivered",
 *                       "at_ms": 1765000000100, "error": null}}],
 *    "queues": [{"notifier": "am", "events": [EVENT, ...]}]}
 *
 * where EVENT is the JSON an exec notifier's command reads on stdin.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/notify/notify-internal.h"

#define FILE_NAME "notify.json"
#define VERSION 1

/* ---- writing, by hand: jansson costs ten times more, on the loop ------------------ */

struct jbuf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void jb_room(struct jbuf *b, size_t n)
{
	size_t cap;
	char *p;

	if (b->oom || b->len + n + 1 <= b->cap)
		return;
	for (cap = b->cap ? b->cap : 4096; cap < b->len + n + 1; cap *= 2)
		;
	if (!(p = realloc(b->p, cap))) {
		b->oom = true;
		return;
	}
	b->p = p;
	b->cap = cap;
}

static void jb_put(struct jbuf *b, const char *s, size_t n)
{
	jb_room(b, n);
	if (b->oom)
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void jb_puts(struct jbuf *b, const char *s)
{
	jb_put(b, s, strlen(s));
}

static void jb_int(struct jbuf *b, int64_t v)
{
	char tmp[24];

	jb_put(b, tmp, (size_t)snprintf(tmp, sizeof tmp, "%lld", (long long)v));
}

/* The length of a valid UTF-8 sequence at s (1..4), or 0 if it is not one. */
static size_t utf8_len(const unsigned char *s)
{
	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		return (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (s[0] >= 0xe0 && s[0] <= 0xef)
		return (s[1] & 0xc0) == 0x80 && (s[2] & 0xc0) == 0x80 &&
			       !(s[0] == 0xe0 && s[1] < 0xa0) && !(s[0] == 0xed && s[1] > 0x9f) ? 3 : 0;
	if (s[0] >= 0xf0 && s[0] <= 0xf4)
		return (s[1] & 0xc0) == 0x80 && (s[2] & 0xc0) == 0x80 && (s[3] & 0xc0) == 0x80 &&
			       !(s[0] == 0xf0 && s[1] < 0x90) && !(s[0] == 0xf4 && s[1] > 0x8f) ? 4 : 0;
	return 0;
}

/* A JSON string; bytes that are not UTF-8 become U+FFFD (jansson would refuse the file). */
static void jb_str(struct jbuf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");

	jb_put(b, "\"", 1);
	while (*p) {
		size_t n = utf8_len(p);
		char esc[8];

		if (n == 0) {
			jb_puts(b, "\xef\xbf\xbd");
			p++;
		} else if (*p == '"' || *p == '\\') {
			esc[0] = '\\';
			esc[1] = (char)*p++;
			jb_put(b, esc, 2);
		} else if (*p < 0x20) {
			jb_put(b, esc, (size_t)snprintf(esc, sizeof esc, "\\u%04x", *p++));
		} else {
			jb_put(b, (const char *)p, n);
			p += n;
		}
	}
	jb_put(b, "\"", 1);
}

/* The event as notify__event_from_json reads it. */
static void jb_event(struct jbuf *b, const struct nevent *e)
{
	jb_puts(b, "{\"event\":");
	jb_str(b, nevent_kind_name(e->kind));
	jb_puts(b, ",\"job\":");
	jb_str(b, e->job);
	jb_puts(b, ",\"instance\":");
	jb_str(b, e->instance);
	if (e->member) {
		jb_puts(b, ",\"member\":");
		jb_str(b, e->member);
	}
	jb_puts(b, ",\"error\":");
	jb_str(b, e->error);
	jb_puts(b, ",\"at_ms\":");
	jb_int(b, e->at_ms);
	jb_puts(b, ",\"since_ms\":");
	jb_int(b, e->since_ms);
	jb_puts(b, e->repeat ? ",\"repeat\":true,\"labels\":{" : ",\"repeat\":false,\"labels\":{");
	for (size_t i = 0; i < e->nlabels; i++) {
		if (i)
			jb_put(b, ",", 1);
		jb_str(b, e->labels[i].key);
		jb_put(b, ":", 1);
		jb_str(b, e->labels[i].value);
	}
	jb_puts(b, "}}");
}

/*
 * What must survive a restart of a job: a notified down that lasts (so it
 * is not notified again), or a notification not yet delivered. A job's
 * delivered last notification is not kept: 10,000 of them made every save
 * 1.5 MB.
 */
static bool worth_keeping(const struct njob *j)
{
	return j->down_since_ms || (j->has_last && strcmp(j->last_outcome, "delivered") != 0);
}

static void jb_job(struct jbuf *b, const struct njob *j)
{
	jb_puts(b, "{\"name\":");
	jb_str(b, j->name);
	jb_puts(b, ",\"down_since_ms\":");
	jb_int(b, j->down_since_ms);
	jb_puts(b, ",\"last_repeat_ms\":");
	jb_int(b, j->last_repeat_ms);
	if (j->has_last) {
		jb_puts(b, ",\"last\":{\"event\":");
		jb_str(b, nevent_kind_name(j->last_kind));
		jb_puts(b, ",\"notifier\":");
		jb_str(b, j->last_notifier);
		jb_puts(b, ",\"outcome\":");
		jb_str(b, j->last_outcome);
		jb_puts(b, ",\"at_ms\":");
		jb_int(b, j->last_at_ms);
		if (j->last_error) {
			jb_puts(b, ",\"error\":");
			jb_str(b, j->last_error);
		}
		jb_puts(b, "}");
	}
	jb_puts(b, "}");
}

/* The file's text; yielding (if allowed) between slices of the job records. */
static char *build(struct notify *n, bool yield, size_t *ret_len)
{
	struct jbuf b = { 0 };
	struct njob **v = NULL;
	size_t nv = 0, k = 0;

	/*
	 * The records are freed only by the keeper, the coroutine that saves:
	 * pointers to them stay good across a yield (the table may grow).
	 */
	if (n->njobs && !(v = malloc(n->njobs * sizeof *v)))
		return NULL;
	for (size_t i = 0; i < n->nbuckets; i++)
		for (struct njob *j = n->buckets[i]; j; j = j->hnext)
			if (nv < n->njobs && worth_keeping(j))
				v[nv++] = j;
	jb_puts(&b, "{\"version\":1,\"jobs\":[");
	for (size_t i = 0; i < nv; i++) {
		if (i)
			jb_put(&b, ",", 1);
		jb_job(&b, v[i]);
		if (yield && ++k % 512 == 0)
			poll(NULL, 0, 0); /* the loop gets a turn */
	}
	free(v);
	/* The queues in one go: a delivery may free their events at a yield. */
	jb_puts(&b, "],\"queues\":[");
	for (size_t i = 0, first = 1; i < n->nv; i++) {
		const struct notifier *nf = n->v[i];

		if (!nf->qlen)
			continue;
		if (!first)
			jb_put(&b, ",", 1);
		first = 0;
		jb_puts(&b, "{\"notifier\":");
		jb_str(&b, nf->cfg.name);
		jb_puts(&b, ",\"events\":[");
		for (size_t e = 0; e < nf->qlen; e++) {
			if (e)
				jb_put(&b, ",", 1);
			jb_event(&b, nf->q[(nf->qhead + e) % nf->qcap]);
		}
		jb_puts(&b, "]}");
	}
	jb_puts(&b, "]}\n");
	if (b.oom) {
		free(b.p);
		return NULL;
	}
	*ret_len = b.len;
	return b.p;
}

/* ---- writing the file, off the loop ------------------------------------------------- */

struct save_job {
	struct notify *n;
	char *dir, *text;
	size_t len;
};

static void write_file(const char *dir, const char *text, size_t len)
{
	int ret = persist_write_file(dir, FILE_NAME, text, len, 0600);

	if (ret < 0)
		log_msg(LOG_ERR, "notify: cannot write %s/%s: %s (queued events would not survive "
			"a restart)", dir, FILE_NAME, strerror(-ret));
}

/* A thread per save (one at a time): fsync and rename never hold the loop. */
static void *saver_main(void *arg)
{
	struct save_job *s = arg;

	write_file(s->dir, s->text, s->len);
	free(s->text);
	free(s->dir);
	__atomic_store_n(&s->n->saving, false, __ATOMIC_RELEASE);
	free(s);
	return NULL;
}

bool notify__saving(const struct notify *n)
{
	return __atomic_load_n(&n->saving, __ATOMIC_ACQUIRE);
}

void notify__save(struct notify *n, bool now)
{
	struct save_job *s;
	pthread_attr_t attr;
	pthread_t t;
	size_t len;
	char *text;

	if (!n->state_dir)
		return;
	text = build(n, !now, &len);
	if (!text) {
		log_msg(LOG_ERR, "notify: out of memory: %s/%s not written", n->state_dir, FILE_NAME);
		return;
	}
	if (now) {
		write_file(n->state_dir, text, len);
		free(text);
		return;
	}
	s = calloc(1, sizeof *s);
	if (s)
		s->dir = strdup(n->state_dir);
	if (!s || !s->dir) {
		free(s);
		free(text);
		n->dirty = true; /* the next round tries again */
		return;
	}
	s->n = n;
	s->text = text;
	s->len = len;
	__atomic_store_n(&n->saving, true, __ATOMIC_RELEASE);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, saver_main, s) != 0) {
		/* No thread to be had: write it here, late rather than never. */
		__atomic_store_n(&n->saving, false, __ATOMIC_RELEASE);
		write_file(s->dir, s->text, s->len);
		free(s->text);
		free(s->dir);
		free(s);
	}
	pthread_attr_destroy(&attr);
}

static const char *outcome_name(const char *s)
{
	static const char *const known[] = { "queued", "delivered", "failed", "dropped" };

	for (size_t i = 0; s && i < sizeof known / sizeof *known; i++)
		if (strcmp(s, known[i]) == 0)
			return known[i];
	return NULL;
}

static void load_job(struct notify *n, json_t *o)
{
	const char *name = NULL, *event = NULL, *notifier = NULL, *outcome = NULL;
	json_int_t since = 0, repeat = 0, at = 0;
	json_t *last = NULL, *error = NULL;
	struct njob *j;

	if (json_unpack(o, "{s:s, s?I, s?I, s?o}", "name", &name, "down_since_ms", &since,
			"last_repeat_ms", &repeat, "last", &last) < 0 ||
	    !(j = notify__job(n, name, true)))
		return;
	j->down_since_ms = since;
	j->last_repeat_ms = repeat;
	/* "error" is null when there was none (what job_json writes): not "s?s". */
	if (last && json_unpack(last, "{s:s, s:s, s:s, s?I, s?o}", "event", &event, "notifier",
				&notifier, "outcome", &outcome, "at_ms", &at, "error", &error) == 0 &&
	    outcome_name(outcome)) {
		j->has_last = true;
		j->last_kind = strcmp(event, "up") == 0 ? NEV_UP : NEV_DOWN;
		snprintf(j->last_notifier, sizeof j->last_notifier, "%s", notifier);
		j->last_outcome = outcome_name(outcome);
		j->last_error = json_is_string(error) ? strdup(json_string_value(error)) : NULL;
		j->last_at_ms = at;
	}
}

void notify__load(struct notify *n)
{
	char path[4096];
	json_error_t je;
	json_t *root, *jobs, *queues, *v;
	size_t i, queued = 0, lost = 0;

	if (!n->state_dir)
		return;
	snprintf(path, sizeof path, "%s/%s", n->state_dir, FILE_NAME);
	root = json_load_file(path, 0, &je);
	if (!root) {
		if (strstr(je.text, "No such file") == NULL && strstr(je.text, "unable to open") == NULL)
			log_msg(LOG_WARNING, "notify: %s is damaged (%s, line %d): ignored", path,
				je.text, je.line);
		else if (access(path, F_OK) == 0)
			log_msg(LOG_WARNING, "notify: cannot read %s: %s", path, je.text);
		return;
	}
	if (json_integer_value(json_object_get(root, "version")) != VERSION) {
		log_msg(LOG_WARNING, "notify: %s has an unknown version: ignored", path);
		json_decref(root);
		return;
	}
	jobs = json_object_get(root, "jobs");
	json_array_foreach(jobs, i, v)
		load_job(n, v);
	queues = json_object_get(root, "queues");
	json_array_foreach(queues, i, v) {
		const char *name = json_string_value(json_object_get(v, "notifier"));
		struct notifier *nf = name ? notify__find(n, name) : NULL;
		json_t *events = json_object_get(v, "events"), *ev;
		size_t k;

		if (!nf) {
			lost += json_array_size(events);
			if (name && json_array_size(events))
				log_msg(LOG_WARNING, "notify: %zu queued event%s for \"%s\", which is no "
					"longer configured, dropped", json_array_size(events),
					json_array_size(events) == 1 ? "" : "s", name);
			continue;
		}
		json_array_foreach(events, k, ev) {
			struct nevent *e = notify__event_from_json(ev);

			if (!e) {
				lost++;
				continue;
			}
			notify__enqueue(nf, e);
			nevent_free(e);
			queued++;
		}
	}
	json_decref(root);
	if (queued || lost)
		log_msg(LOG_NOTICE, "notify: %zu event%s still to deliver from before the restart%s",
			queued, queued == 1 ? "" : "s", lost ? " (some were dropped)" : "");
}
