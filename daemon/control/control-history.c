/* SPDX-License-Identifier: MIT */
/*
 * control-history.c: the control protocol's history side
 * (docs/protocol.md): `history` (a job's results, newest first), `events`
 * (outages: down at, up at, how long, the error), a job's uptime and last
 * outage in `status`, and the history block of `stats`. Reads of the
 * database run on the history's reader thread: the client's coroutine
 * waits, the loop does not.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/control/control-internal.h"
#include "daemon/core/core.h"
#include "daemon/history/history.h"

#define DEFAULT_LIMIT 100
#define MAX_LIMIT 100000

static bool no_history(struct history *h, json_t *reply)
{
	struct history_stats st;

	history_get_stats(h, &st);
	if (!st.enabled)
		return control__fail(reply, "no_history", "history is off in this daemon's "
				     "configuration (history: off)");
	return control__fail(reply, "no_history", "history is not working: %s",
			     st.error ? st.error : "it is starting");
}

/* An optional integer member, or def. false (reply failed) if it is not an integer. */
static bool opt_int(json_t *req, const char *name, int64_t def, int64_t *ret, json_t *reply)
{
	json_t *v = json_object_get(req, name);

	if (!v || json_is_null(v)) {
		*ret = def;
		return true;
	}
	if (!json_is_integer(v)) {
		control__fail(reply, "bad_request", "\"%s\" must be an integer", name);
		return false;
	}
	*ret = json_integer_value(v);
	return true;
}

bool control__cmd_history(struct client *c, json_t *req, json_t *reply)
{
	struct history *h = c->ctl->d->history;
	const char *name = json_string_value(json_object_get(req, "name"));
	json_t *failed = json_object_get(req, "failed"), *arr;
	struct history_result *v = NULL;
	int64_t since, until, limit;
	size_t n = 0;
	int r;

	if (!name)
		return control__fail(reply, "bad_request", "history: expected \"name\", a job's name");
	if (!opt_int(req, "since_ms", 0, &since, reply) || !opt_int(req, "until_ms", 0, &until, reply) ||
	    !opt_int(req, "limit", DEFAULT_LIMIT, &limit, reply))
		return true;
	if (failed && !json_is_boolean(failed))
		return control__fail(reply, "bad_request", "\"failed\" must be a boolean");
	if (limit < 1 || limit > MAX_LIMIT)
		return control__fail(reply, "bad_request", "\"limit\" must be from 1 to %d", MAX_LIMIT);
	r = history_results(h, name, since, until, json_is_true(failed), (size_t)limit, &v, &n);
	if (r == -ENOTSUP)
		return no_history(h, reply);
	if (r == -ENOENT)
		return control__fail(reply, "no_such_job", "no history of a job named %s", name);
	if (r < 0)
		return control__fail(reply, "failed", "cannot read the history: %s", strerror(-r));
	arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, json_pack("{s:I, s:I, s:s, s:s?}", "end_ms",
						     (json_int_t)v[i].end_ms, "duration_us",
						     (json_int_t)v[i].duration_us, "result",
						     run_outcome_name(v[i].outcome), "error",
						     v[i].error));
	history_results_free(v, n);
	json_object_set_new(reply, "ok", json_true());
	json_object_set_new(reply, "name", json_string(name));
	json_object_set_new(reply, "results", arr);
	return true;
}

bool control__cmd_events(struct client *c, json_t *req, json_t *reply)
{
	struct history *h = c->ctl->d->history;
	json_t *jname = json_object_get(req, "name"), *arr;
	const char *name = json_string_value(jname);
	struct history_event *v = NULL;
	int64_t since, limit;
	size_t n = 0;
	int r;

	if (jname && !json_is_null(jname) && !name)
		return control__fail(reply, "bad_request", "events: \"name\" must be a job's name");
	if (!opt_int(req, "since_ms", 0, &since, reply) ||
	    !opt_int(req, "limit", 1000, &limit, reply))
		return true;
	if (limit < 1 || limit > MAX_LIMIT)
		return control__fail(reply, "bad_request", "\"limit\" must be from 1 to %d", MAX_LIMIT);
	r = history_events(h, name, since, (size_t)limit, &v, &n);
	if (r == -ENOTSUP)
		return no_history(h, reply);
	if (r == -ENOENT)
		return control__fail(reply, "no_such_job", "no history of a job named %s", name);
	if (r < 0)
		return control__fail(reply, "failed", "cannot read the history: %s", strerror(-r));
	arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, json_pack("{s:s, s:I, s:s, s:s?, s:I}", "name", v[i].job,
						     "at_ms", (json_int_t)v[i].at_ms, "state",
						     v[i].up ? "up" : "down", "error", v[i].error,
						     "down_ms", (json_int_t)v[i].down_ms));
	history_events_free(v, n);
	json_object_set_new(reply, "ok", json_true());
	json_object_set_new(reply, "events", arr);
	return true;
}

/* A ratio as JSON: null if there were no runs. */
static void put_ratio(FILE *f, const char *name, double v)
{
	if (v < 0)
		fprintf(f, ",\"%s\":null", name);
	else
		fprintf(f, ",\"%s\":%.6f", name, v);
}

void control__put_history(FILE *f, const struct control *ctl, const struct job_state *js)
{
	struct history_summary s;

	if (!history_summary(ctl->d->history, js->job->name, &s))
		return;
	fputs(",\"uptime\":{", f);
	fprintf(f, "\"since_ms\":%lld", (long long)s.last_hour_start_ms);
	put_ratio(f, "24h", s.uptime_24h);
	put_ratio(f, "7d", s.uptime_7d);
	put_ratio(f, "30d", s.uptime_30d);
	putc('}', f);
	if (s.outage_down_ms) {
		json_t *e = s.outage_error ? json_string(s.outage_error) : NULL;
		char *text = e ? json_dumps(e, JSON_ENCODE_ANY) : NULL;

		fprintf(f, ",\"last_outage\":{\"down_ms\":%lld,\"up_ms\":%lld,\"error\":%s}",
			(long long)s.outage_down_ms, (long long)s.outage_up_ms, text ? text : "null");
		free(text);
		json_decref(e);
	}
}

void control__history_stats(struct client *c, json_t *reply)
{
	struct history_stats st;

	history_get_stats(c->ctl->d->history, &st);
	json_object_set_new(reply, "history",
			    json_pack("{s:b, s:b, s:s?, s:s?, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
				      "enabled", st.enabled, "working", st.working, "path", st.path,
				      "error", st.error, "queued", (json_int_t)st.queued,
				      "written", (json_int_t)st.written, "events",
				      (json_int_t)st.events, "dropped", (json_int_t)st.dropped,
				      "batches", (json_int_t)st.batches, "write_errors",
				      (json_int_t)st.write_errors, "db_bytes",
				      (json_int_t)st.db_bytes));
}
