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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/notify/notify-internal.h"

#define FILE_NAME "notify.json"
#define VERSION 1

static json_t *job_json(const struct njob *j)
{
	json_t *o = json_pack("{s:s, s:I, s:I}", "name", j->name, "down_since_ms",
			      (json_int_t)j->down_since_ms, "last_repeat_ms",
			      (json_int_t)j->last_repeat_ms);

	if (o && j->has_last)
		json_object_set_new(o, "last",
				    json_pack("{s:s, s:s, s:s, s:I, s:s?}", "event",
					      nevent_kind_name(j->last_kind), "notifier",
					      j->last_notifier, "outcome", j->last_outcome, "at_ms",
					      (json_int_t)j->last_at_ms, "error", j->last_error));
	return o;
}

/* Appends the events of nf's queue, oldest first. */
static json_t *queue_json(const struct notifier *nf)
{
	json_t *events = json_array();

	for (size_t i = 0; events && i < nf->qlen; i++) {
		char *text = notify__event_json(nf->q[(nf->qhead + i) % nf->qcap], NULL);
		json_t *e = text ? json_loads(text, 0, NULL) : NULL;

		free(text);
		if (!e || json_array_append_new(events, e) < 0) {
			json_decref(events);
			return NULL;
		}
	}
	return json_pack("{s:s, s:o}", "notifier", nf->cfg.name, "events", events);
}

void notify__save(struct notify *n)
{
	json_t *root, *jobs = json_array(), *queues = json_array();
	char *text;
	int ret;

	if (!n->state_dir) {
		json_decref(jobs);
		json_decref(queues);
		return;
	}
	for (size_t b = 0; jobs && b < n->nbuckets; b++)
		for (struct njob *j = n->buckets[b]; j; j = j->hnext)
			if (j->down_since_ms || j->has_last)
				json_array_append_new(jobs, job_json(j));
	for (size_t i = 0; queues && i < n->nv; i++)
		if (n->v[i]->qlen)
			json_array_append_new(queues, queue_json(n->v[i]));
	root = json_pack("{s:i, s:o, s:o}", "version", VERSION, "jobs", jobs, "queues", queues);
	text = root ? json_dumps(root, JSON_COMPACT) : NULL;
	json_decref(root);
	if (!text) {
		log_msg(LOG_ERR, "notify: out of memory: %s/%s not written", n->state_dir, FILE_NAME);
		return;
	}
	ret = persist_write_file(n->state_dir, FILE_NAME, text, strlen(text), 0600);
	if (ret < 0)
		log_msg(LOG_ERR, "notify: cannot write %s/%s: %s (queued events would not survive "
			"a restart)", n->state_dir, FILE_NAME, strerror(-ret));
	free(text);
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
