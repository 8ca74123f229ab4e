/* SPDX-License-Identifier: MIT */
/*
 * state.c: the state file (<state-dir>/state.json), so that counters,
 * up/down state, pauses and the recent history survive a restart.
 *
 * Written at stop, atomically (persist_write_file: a temporary file beside
 * it, fsync, rename, fsync of the directory); a crash at any moment leaves the old file or
 * the new one. At start, a job's saved state is restored only if its
 * definition is unchanged (same config_job_hash); anything else in the
 * file is ignored. A damaged file is reported and ignored: it never stops
 * the daemon from starting.
 *
 *     {"version": 1, "saved": <ms>, "jobs": [{"name": ..., "hash": "<hex>",
 *       "runs": n, "ok": n, "failed": n, "timeout": n, "skipped": n,
 *       "attempts": n, "consecutive_failures": n, "consecutive_successes": n,
 *       "health": "up", "health_since": <ms>, "paused": false,
 *       "last": {"end": <ms>, "duration_us": n, "result": "ok",
 *                "error": "...", "http_status": n, "exit_status": n},
 *       "history": [[<end ms>, <duration us>, "ok"], ...]}]}
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "daemon/core/core.h"

#define STATE_VERSION 1

/*
 * The file is written with stdio rather than built as a jansson tree: with
 * 100,000 jobs the tree is millions of values, and the stop that writes it
 * must be quick. Names are [A-Za-z0-9_.-]; error texts are escaped here.
 */
static void put_string(FILE *f, const char *text)
{
	putc('"', f);
	for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
		if (*c == '"' || *c == '\\')
			fprintf(f, "\\%c", *c);
		else if (*c < 0x20)
			fprintf(f, "\\u%04x", *c);
		else if (*c >= 0x80)
			putc('?', f); /* the loader refuses invalid UTF-8: keep the file loadable */
		else
			putc(*c, f);
	}
	putc('"', f);
}

static void put_job(FILE *f, const struct job_state *js)
{
	fprintf(f, "{\"name\":\"%s\",\"hash\":\"%016" PRIx64 "\",\"runs\":%" PRIu64
		",\"ok\":%" PRIu64 ",\"failed\":%" PRIu64 ",\"timeout\":%" PRIu64
		",\"skipped\":%" PRIu64 ",\"attempts\":%" PRIu64
		",\"consecutive_failures\":%u,\"consecutive_successes\":%u"
		",\"health\":\"%s\",\"health_since\":%" PRId64 ",\"paused\":%s",
		js->job->name, config_job_hash(js->job), js->runs,
		js->by_outcome[OUTCOME_OK], js->by_outcome[OUTCOME_FAILED],
		js->by_outcome[OUTCOME_TIMEOUT], js->skipped, js->attempts,
		js->consecutive_failures, js->consecutive_successes,
		job_health_name(js->health), js->health_since_ms,
		js->paused ? "true" : "false");
	if (js->has_last) {
		fprintf(f, ",\"last\":{\"end\":%" PRId64 ",\"duration_us\":%" PRIu32
			",\"result\":\"%s\",\"http_status\":%d,\"exit_status\":%d",
			js->last.end_ms, js->last.duration_us,
			run_outcome_name((enum run_outcome)js->last.outcome),
			js->last_http_status, js->last_exit_status);
		if (js->last_error) {
			fputs(",\"error\":", f);
			put_string(f, js->last_error);
		}
		putc('}', f);
	}
	fputs(",\"history\":[", f);
	for (unsigned i = 0; i < js->hist_len; i++) {
		const struct run_record *r = job_history(js, i);

		fprintf(f, "%s[%" PRId64 ",%" PRIu32 ",\"%s\"]", i ? "," : "", r->end_ms,
			r->duration_us, run_outcome_name((enum run_outcome)r->outcome));
	}
	fputs("]}", f);
}

int sup_save_state(const struct supervisor *s, const char *path)
{
	char *text = NULL;
	size_t len = 0, n = 0;
	FILE *f = open_memstream(&text, &len);
	int ret;

	if (!f)
		return -ENOMEM;
	fprintf(f, "{\"version\":%d,\"saved\":%" PRId64 ",\"jobs\":[", STATE_VERSION,
		sup_wall_ms());
	for (size_t i = 0; i < sup_count(s); i++) {
		const struct job_state *js = sup_job(s, i);

		if (js->removed || js->origin == ORIGIN_RUNTIME)
			continue;
		fputs(n++ ? ",\n" : "\n", f);
		put_job(f, js);
	}
	fputs("]}\n", f);
	if (fclose(f) != 0 || !text) {
		free(text);
		return -ENOMEM;
	}
	{
		char *copy = strdup(path);
		char *slash = copy ? strrchr(copy, '/') : NULL;

		if (!copy)
			ret = -ENOMEM;
		else if (slash) {
			*slash = '\0';
			ret = persist_write_file(*copy ? copy : "/", slash + 1, text, len, 0640);
		} else
			ret = persist_write_file(".", copy, text, len, 0640);
		free(copy);
	}
	free(text);
	return ret;
}

static enum run_outcome outcome_named(const char *name)
{
	if (name && strcmp(name, "ok") == 0)
		return OUTCOME_OK;
	if (name && strcmp(name, "timeout") == 0)
		return OUTCOME_TIMEOUT;
	return OUTCOME_FAILED;
}

static enum job_health health_named(const char *name)
{
	if (name && strcmp(name, "up") == 0)
		return HEALTH_UP;
	if (name && strcmp(name, "down") == 0)
		return HEALTH_DOWN;
	return HEALTH_UNKNOWN;
}

static uint64_t u64(json_t *o, const char *key)
{
	json_int_t v = json_integer_value(json_object_get(o, key));

	return v > 0 ? (uint64_t)v : 0;
}

static void restore(struct job_state *js, json_t *o)
{
	json_t *last = json_object_get(o, "last"), *hist = json_object_get(o, "history"), *e;
	size_t i;

	js->runs = u64(o, "runs");
	js->by_outcome[OUTCOME_OK] = u64(o, "ok");
	js->by_outcome[OUTCOME_FAILED] = u64(o, "failed");
	js->by_outcome[OUTCOME_TIMEOUT] = u64(o, "timeout");
	js->skipped = u64(o, "skipped");
	js->attempts = u64(o, "attempts");
	js->consecutive_failures = (unsigned)u64(o, "consecutive_failures");
	js->consecutive_successes = (unsigned)u64(o, "consecutive_successes");
	js->health = health_named(json_string_value(json_object_get(o, "health")));
	js->health_since_ms = (int64_t)u64(o, "health_since");
	js->paused = json_is_true(json_object_get(o, "paused"));
	if (json_is_object(last)) {
		const char *err = json_string_value(json_object_get(last, "error"));
		uint64_t d = u64(last, "duration_us");

		js->has_last = true;
		js->last.end_ms = (int64_t)u64(last, "end");
		js->last.duration_us = d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
		js->last.outcome = (uint8_t)outcome_named(
			json_string_value(json_object_get(last, "result")));
		free(js->last_error);
		js->last_error = err ? strdup(err) : NULL;
		js->last_http_status = (int)json_integer_value(json_object_get(last, "http_status"));
		js->last_exit_status = (int)json_integer_value(json_object_get(last, "exit_status"));
	}
	js->hist_len = 0;
	js->hist_start = 0;
	json_array_foreach(hist, i, e) {
		json_int_t end, dur;
		const char *res;

		if (js->hist_len >= JOB_HISTORY)
			break;
		if (json_unpack(e, "[I,I,s]", &end, &dur, &res) < 0)
			continue;
		js->history[js->hist_len++] = (struct run_record){
			.end_ms = end,
			.duration_us = dur < 0 ? 0 : dur > UINT32_MAX ? UINT32_MAX : (uint32_t)dur,
			.outcome = (uint8_t)outcome_named(res),
		};
	}
}

int sup_load_state(struct supervisor *s, const char *path)
{
	json_error_t err;
	json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &err), *jobs, *o;
	size_t i, restored = 0;

	if (!root) {
		if (access(path, F_OK) < 0 && errno == ENOENT)
			return 0;
		log_msg(LOG_WARNING, "%s:%d:%d: %s; starting without the saved state", path,
			err.line, err.column, err.text);
		return -EINVAL;
	}
	jobs = json_object_get(root, "jobs");
	if (json_integer_value(json_object_get(root, "version")) != STATE_VERSION ||
	    !json_is_array(jobs)) {
		log_msg(LOG_WARNING, "%s: not a version %d state file; starting without it", path,
			STATE_VERSION);
		json_decref(root);
		return -EINVAL;
	}
	json_array_foreach(jobs, i, o) {
		const char *name = json_string_value(json_object_get(o, "name"));
		const char *hash = json_string_value(json_object_get(o, "hash"));
		struct job_state *js = name ? sup_find(s, name) : NULL;
		char want[24];

		if (!js || !hash)
			continue;
		snprintf(want, sizeof want, "%016" PRIx64, config_job_hash(js->job));
		if (strcmp(hash, want) != 0)
			continue;
		restore(js, o);
		restored++;
	}
	json_decref(root);
	sup_recount(s);
	log_msg(LOG_INFO, "restored the state of %zu job%s from %s", restored,
		restored == 1 ? "" : "s", path);
	return 0;
}
