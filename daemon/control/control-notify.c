/* SPDX-License-Identifier: MIT */
/*
 * control-notify.c: the control protocol's notification side
 * (docs/protocol.md): the `notifiers` command (each notifier's figures),
 * `notify-test` (a test event through one notifier, answered once it was
 * delivered or failed), a job's notifications in `status`, and the check
 * that an added job names only notifiers this daemon has.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/control/control-internal.h"
#include "daemon/core/core.h"
#include "daemon/notify/notify.h"

bool control__cmd_notifiers(struct client *c, json_t *req, json_t *reply)
{
	struct notify *n = c->ctl->d->notify;
	json_t *arr = json_array();
	size_t count = notify_count(n);

	(void)req;
	for (size_t i = 0; i < count; i++) {
		struct notify_stats s;

		notify_get(n, i, &s);
		json_array_append_new(arr, json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:s?}",
						     "name", s.name, "type", s.type, "delivered",
						     (json_int_t)s.delivered, "failed",
						     (json_int_t)s.failed, "dropped",
						     (json_int_t)s.dropped, "queued",
						     (json_int_t)s.queued, "firing",
						     (json_int_t)s.firing, "last_ok_ms",
						     (json_int_t)s.last_ok_ms, "last_error",
						     s.last_error));
	}
	json_object_set_new(reply, "ok", json_true());
	json_object_set_new(reply, "notifiers", arr);
	return true;
}

bool control__cmd_notify_test(struct client *c, json_t *req, json_t *reply)
{
	struct notify *n = c->ctl->d->notify;
	const char *name = json_string_value(json_object_get(req, "name"));
	char err[512] = "";
	int r;

	if (!name)
		return control__fail(reply, "bad_request", "notify-test: expected \"name\", the "
				     "notifier's name (a string)");
	if (!n || !notify_has(n, name))
		return control__fail(reply, "not_found", "no notifier named %s: the configuration's "
				     "notifiers: section names them", name);
	r = notify_test(n, name, err, sizeof err);
	if (r < 0)
		return control__fail(reply, "failed", "notifier %s: the test event was not "
				     "delivered: %s", name, err);
	json_object_set_new(reply, "ok", json_true());
	json_object_set_new(reply, "delivered", json_true());
	return true;
}

bool control__check_notify(struct client *c, const struct config *cfg, json_t *reply)
{
	struct notify *n = c->ctl->d->notify;

	for (size_t i = 0; i < cfg->njobs; i++) {
		const struct job *j = &cfg->jobs[i];

		for (size_t k = 0; k < j->nnotify; k++)
			if (!n || !notify_has(n, j->notify[k]))
				return control__fail(reply, "invalid", "job %s: notify: this daemon "
						     "has no notifier named \"%s\" (its "
						     "configuration's notifiers: section names them)",
						     j->name, j->notify[k]);
	}
	return true;
}

/* JSON text of a string (no NUL inside: job and notifier names, errors). */
static void put_str(FILE *f, const char *s)
{
	json_t *v = json_string(s ? s : "");
	char *text = v ? json_dumps(v, JSON_ENCODE_ANY) : NULL;

	fputs(text ? text : "\"\"", f);
	free(text);
	json_decref(v);
}

void control__put_notify(FILE *f, const struct control *ctl, const struct job_state *js)
{
	const struct job *j = js->job;
	struct notify_job_info info;

	fputs(",\"notify\":[", f);
	for (size_t i = 0; i < j->nnotify; i++) {
		if (i)
			putc(',', f);
		put_str(f, j->notify[i]);
	}
	fprintf(f, "],\"notify_repeat_ms\":%llu", (unsigned long long)j->notify_repeat_ms);
	if (!ctl->d->notify || !notify_job_last(ctl->d->notify, j->name, &info))
		return;
	fputs(",\"notification\":{", f);
	if (info.event) {
		fputs("\"event\":", f);
		put_str(f, info.event);
		fputs(",\"notifier\":", f);
		put_str(f, info.notifier);
		fputs(",\"outcome\":", f);
		put_str(f, info.outcome);
		fprintf(f, ",\"at_ms\":%lld,", (long long)info.at_ms);
		if (info.error) {
			fputs("\"error\":", f);
			put_str(f, info.error);
			putc(',', f);
		}
	}
	fprintf(f, "\"down_notified_since_ms\":%lld}", (long long)info.down_since_ms);
}
