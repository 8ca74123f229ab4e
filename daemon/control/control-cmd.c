/* SPDX-License-Identifier: MIT */
/*
 * control-cmd.c: the commands of the control protocol (docs/protocol.md):
 * what each request does to the supervisor and what its reply holds.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coro/coro.h"
#include "daemon/control/control-internal.h"
#include "daemon/core/core.h"
#include "daemon/fleet/fleet.h"

#ifndef CORO_VERSION
#define CORO_VERSION "unknown"
#endif

#define _cleanup_(fn) __attribute__((cleanup(fn)))

static void freep(void *p)
{
	free(*(void **)p);
}

#define RUN_POLL_MS 250 /* how often a waiting `run` checks for a stop */

struct cmd {
	const char *name;
	bool changes;  /* needs a privileged peer, and is logged */
	bool (*fn)(struct client *c, json_t *req, json_t *reply);
};

/* ---- jobs as JSON ------------------------------------------------------- */

static const char *origin_name(const struct control *ctl, const struct job_state *js)
{
	if (js->origin == ORIGIN_RUNTIME)
		return "runtime";
	if (js->origin == ORIGIN_FLEET)
		return "fleet";
	return ctl->d->state_jobs_dir && persist_owns(ctl->d->state_jobs_dir, js->job->where.file) ?
		       "added" : "file";
}

/* What the job checks, in a few words, into buf. */
static const char *target_text(const struct job *j, char *buf, size_t size)
{
	size_t off = 0;

	switch (j->type) {
	case JOB_HTTP:
		return j->u.http.url;
	case JOB_TCP:
		snprintf(buf, size, strchr(j->u.tcp.host, ':') ? "[%s]:%u" : "%s:%u",
			 j->u.tcp.host, j->u.tcp.port);
		break;
	case JOB_DNS:
		snprintf(buf, size, "%s %s%s%s", j->u.dns.query,
			 j->u.dns.record ? j->u.dns.record : "A",
			 j->u.dns.server_host ? " @" : "",
			 j->u.dns.server_host ? j->u.dns.server_host : "");
		break;
	case JOB_EXEC:
		buf[0] = '\0';
		for (size_t i = 0; i < j->u.exec.argc && off < size; i++)
			off += (size_t)snprintf(buf + off, size - off, "%s%s", i ? " " : "",
						j->u.exec.argv[i]);
		break;
	}
	return buf;
}

/*
 * A JSON string. Job names are [A-Za-z0-9_.-], the other texts are ours
 * or the configuration's (UTF-8, checked by the loader), but an error text
 * may quote what a server sent: bytes that are not UTF-8 become '?', so
 * that the reply stays JSON.
 */
static void put_string(FILE *f, const char *text)
{
	bool utf8 = true;

	for (const unsigned char *c = (const unsigned char *)text; *c; c++)
		if (*c >= 0x80) {
			json_t *check = json_string(text);

			utf8 = check != NULL;
			json_decref(check);
			break;
		}
	putc('"', f);
	for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
		if (*c == '"' || *c == '\\')
			fprintf(f, "\\%c", *c);
		else if (*c < 0x20 || *c == 0x7f)
			fprintf(f, "\\u%04x", *c);
		else if (*c >= 0x80 && !utf8)
			putc('?', f);
		else
			putc(*c, f);
	}
	putc('"', f);
}

static void put_record(FILE *f, const struct run_record *r)
{
	fprintf(f, "{\"end_ms\":%lld,\"duration_us\":%lu,\"result\":\"%s\"",
		(long long)r->end_ms, (unsigned long)r->duration_us,
		run_outcome_name((enum run_outcome)r->outcome));
}

static void put_pairs(FILE *f, const struct cfg_pair *p, size_t n)
{
	putc('{', f);
	for (size_t i = 0; i < n; i++) {
		if (i)
			putc(',', f);
		put_string(f, p[i].key);
		putc(':', f);
		put_string(f, p[i].value);
	}
	putc('}', f);
}

/*
 * One job as JSON (docs/protocol.md, "Jobs in replies"): the summary of
 * list, or with detail the fields of status and run. Written with stdio
 * rather than built as a jansson tree, which costs ten times more (a list
 * of 100,000 jobs, a status from a thousand clients).
 */
static void put_job(FILE *f, const struct control *ctl, const struct job_state *js, bool detail)
{
	const struct job *j = js->job;
	char buf[1024];
	int64_t next = job_next_wall_ms(js);

	fprintf(f, "{\"name\":\"%s\",\"type\":\"%s\",\"schedule\":\"every %s\","
		"\"every_ms\":%llu,\"state\":\"%s\",\"enabled\":%s,\"paused\":%s,"
		"\"running\":%s,\"last\":", j->name, job_type_name(j->type),
		config_format_duration(j->every_ms, buf, sizeof buf),
		(unsigned long long)j->every_ms, job_health_name(js->health),
		j->enabled ? "true" : "false", js->paused ? "true" : "false",
		js->running ? "true" : "false");
	if (js->has_last) {
		put_record(f, &js->last);
		if (js->last_error) {
			fputs(",\"error\":", f);
			put_string(f, js->last_error);
		}
		putc('}', f);
	} else {
		fputs("null", f);
	}
	fprintf(f, ",\"runs\":%llu,\"failures\":%llu,\"next_ms\":", (unsigned long long)js->runs,
		(unsigned long long)(js->runs - js->by_outcome[OUTCOME_OK]));
	if (next)
		fprintf(f, "%lld", (long long)next);
	else
		fputs("null", f);
	if (js->origin == ORIGIN_FLEET && ctl->d->fleet) {
		fputs(",\"fleet\":true,\"owner\":", f);
		put_string(f, fleet_member(ctl->d->fleet));
	}
	if (!detail) {
		putc('}', f);
		return;
	}
	if (j->exclusive)
		fputs(",\"exclusive\":true", f);
	fputs(",\"target\":", f);
	put_string(f, target_text(j, buf, sizeof buf));
	fprintf(f, ",\"origin\":\"%s\",\"file\":", origin_name(ctl, js));
	if (j->where.file)
		put_string(f, j->where.file);
	else
		fputs("null", f);
	fprintf(f, ",\"line\":%u,\"timeout_ms\":%llu,\"retries\":%u,\"offset_ms\":%llu,"
		"\"ok\":%llu,\"failed\":%llu,\"timeouts\":%llu,\"skipped\":%llu,"
		"\"attempts\":%llu,\"consecutive_failures\":%u,\"consecutive_successes\":%u,"
		"\"state_since_ms\":%lld", j->where.line, (unsigned long long)j->timeout_ms,
		j->retries, (unsigned long long)js->offset_ms,
		(unsigned long long)js->by_outcome[OUTCOME_OK],
		(unsigned long long)js->by_outcome[OUTCOME_FAILED],
		(unsigned long long)js->by_outcome[OUTCOME_TIMEOUT],
		(unsigned long long)js->skipped, (unsigned long long)js->attempts,
		js->consecutive_failures, js->consecutive_successes,
		(long long)js->health_since_ms);
	if (js->last_http_status)
		fprintf(f, ",\"last_http_status\":%d", js->last_http_status);
	if (j->type == JOB_EXEC && js->last_exit_status != -1)
		fprintf(f, ",\"last_exit_status\":%d", js->last_exit_status);
	fputs(",\"labels\":", f);
	put_pairs(f, j->labels, j->nlabels);
	control__put_notify(f, ctl, js);
	control__put_history(f, ctl, js);
	fputs(",\"history\":[", f);
	for (unsigned i = 0; i < js->hist_len; i++) {
		if (i)
			putc(',', f);
		put_record(f, job_history(js, i));
		putc('}', f);
	}
	fputs("]}", f);
}

/* Starts the client's raw reply member ("NAME":); NULL if out of memory. */
static FILE *raw_open(struct client *c, const char *name)
{
	FILE *f = open_memstream(&c->raw, &c->raw_len);

	if (f)
		fprintf(f, "\"%s\":", name);
	return f;
}

/* Ends it; false (and no raw member) if out of memory. */
static bool raw_close(struct client *c, FILE *f)
{
	if (ferror(f) | fclose(f)) {
		free(c->raw);
		c->raw = NULL;
		return false;
	}
	return true;
}

/* ---- arguments ---------------------------------------------------------- */

/*
 * The request's "names": an array of 1.. job names (strings). Returns the
 * array (borrowed) or NULL, having filled reply with the error.
 */
static json_t *get_names(json_t *req, json_t *reply)
{
	json_t *names = json_object_get(req, "names"), *v;
	size_t i;

	if (!json_is_array(names) || json_array_size(names) == 0) {
		control__fail(reply, "bad_request", "\"names\": expected an array of job names");
		return NULL;
	}
	json_array_foreach(names, i, v) {
		if (!json_is_string(v)) {
			control__fail(reply, "bad_request", "\"names\": expected strings");
			return NULL;
		}
	}
	return names;
}

/* Fails the reply with no_such_job for the names in missing, if any. */
static bool missing_names(json_t *reply, json_t *missing)
{
	char list[512] = "";
	size_t i, off = 0;
	json_t *v;

	if (json_array_size(missing) == 0) {
		json_decref(missing);
		return true;
	}
	json_array_foreach(missing, i, v)
		if (off < sizeof list)
			off += (size_t)snprintf(list + off, sizeof list - off, "%s%s", i ? ", " : "",
						json_string_value(v));
	control__fail(reply, "no_such_job", "no such job: %s", list);
	json_object_set_new(reply, "missing", missing);
	return false;
}

/* ---- read-only commands ------------------------------------------------- */

static bool cmd_ping(struct client *c, json_t *req, json_t *reply)
{
	json_object_set_new(reply, "ok", json_true());
	json_object_set_new(reply, "daemon", json_string(DAEMON_NAME));
	json_object_set_new(reply, "daemon_version", json_string(CORO_VERSION));
	json_object_set_new(reply, "pid", json_integer(getpid()));
	json_object_set_new(reply, "privileged", json_boolean(control__privileged(c)));
	return true;
}

static bool cmd_list(struct client *c, json_t *req, json_t *reply)
{
	struct supervisor *s = c->ctl->d->sup;
	size_t n = sup_count(s);
	FILE *f = raw_open(c, "jobs");

	if (!f)
		return control__fail(reply, "failed", "out of memory");
	putc('[', f);
	for (size_t i = 0; i < n; i++) {
		if (i)
			putc(',', f);
		put_job(f, c->ctl, sup_job(s, i), false);
	}
	putc(']', f);
	if (!raw_close(c, f))
		return control__fail(reply, "failed", "out of memory");
	json_object_set_new(reply, "ok", json_true());
	json_object_set_new(reply, "now_ms", json_integer(sup_wall_ms()));
	return true;
}

static bool cmd_status(struct client *c, json_t *req, json_t *reply)
{
	json_t *names = get_names(req, reply), *missing, *v;
	size_t i, shown = 0;
	FILE *f;

	if (!names)
		return true;
	f = raw_open(c, "jobs");
	if (!f)
		return control__fail(reply, "failed", "out of memory");
	missing = json_array();
	putc('[', f);
	json_array_foreach(names, i, v) {
		struct job_state *js = sup_find(c->ctl->d->sup, json_string_value(v));

		if (!js) {
			json_array_append(missing, v);
			continue;
		}
		if (shown++)
			putc(',', f);
		put_job(f, c->ctl, js, true);
	}
	putc(']', f);
	if (!raw_close(c, f)) {
		json_decref(missing);
		return control__fail(reply, "failed", "out of memory");
	}
	json_object_set_new(reply, "now_ms", json_integer(sup_wall_ms()));
	if (missing_names(reply, missing))
		json_object_set_new(reply, "ok", json_true());
	return true;
}

static bool cmd_stats(struct client *c, json_t *req, json_t *reply)
{
	struct daemon *d = c->ctl->d;
	struct sup_stats st;
	struct co_stats cs;

	sup_get_stats(d->sup, &st);
	co_get_stats(&cs);
	json_object_set_new(reply, "ok", json_true());
	json_object_set_new(reply, "pid", json_integer(getpid()));
	json_object_set_new(reply, "daemon_version", json_string(CORO_VERSION));
	json_object_set_new(reply, "start_ms", json_integer(d->start_wall_ms));
	json_object_set_new(reply, "uptime_ms", json_integer((json_int_t)(sup_mono_ms() -
									  d->start_mono_ms)));
	json_object_set_new(reply, "jobs", json_integer((json_int_t)st.jobs));
	json_object_set_new(reply, "jobs_running", json_integer((json_int_t)st.jobs_running));
	json_object_set_new(reply, "jobs_paused", json_integer((json_int_t)st.jobs_paused));
	json_object_set_new(reply, "jobs_down", json_integer((json_int_t)st.jobs_down));
	json_object_set_new(reply, "runs", json_integer((json_int_t)st.runs));
	json_object_set_new(reply, "failures", json_integer((json_int_t)st.failures));
	json_object_set_new(reply, "skipped", json_integer((json_int_t)st.skipped));
	json_object_set_new(reply, "coroutines", json_integer((json_int_t)cs.coroutines));
	json_object_set_new(reply, "sharestacks", json_integer(cs.sharestacks));
	json_object_set_new(reply, "saved_stack_bytes",
			    json_integer((json_int_t)cs.saved_stack_bytes));
	json_object_set_new(reply, "switches", json_integer((json_int_t)cs.switches));
	json_object_set_new(reply, "loop_lag_p99_us", json_integer((json_int_t)st.lag_p99_us));
	json_object_set_new(reply, "loop_lag_max_us", json_integer((json_int_t)st.lag_max_us));
	json_object_set_new(reply, "reloads_ok", json_integer((json_int_t)st.reloads_ok));
	json_object_set_new(reply, "reloads_failed", json_integer((json_int_t)st.reloads_failed));
	json_object_set_new(reply, "last_reload_ok", json_boolean(st.last_reload_ok));
	json_object_set_new(reply, "rss_bytes", json_integer((json_int_t)daemon_rss_bytes()));
	json_object_set_new(reply, "clients", json_integer((json_int_t)c->ctl->nclients));
	json_object_set_new(reply, "requests", json_integer((json_int_t)c->ctl->served));
	control__fleet_stats(c, reply);
	control__history_stats(c, reply);
	return true;
}

/* ---- commands that change things ---------------------------------------- */

static void config_freep(struct config **cfg)
{
	config_free(*cfg);
}

static void errors_freep(struct cfg_errors *errs)
{
	cfg_errors_free(errs);
}

static json_t *errors_json(const struct cfg_errors *errs)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < errs->n; i++) {
		json_t *s = json_string(errs->v[i].text);

		json_array_append_new(a, s ? s : json_string("(error text not valid UTF-8)"));
	}
	if (a && errs->total > errs->n) {
		char more[64];

		snprintf(more, sizeof more, "... and %zu more errors", errs->total - errs->n);
		json_array_append_new(a, json_string(more));
	}
	return a;
}

/*
 * Writes each job of cfg to its own file in the state directory, after
 * checking that the file reads back as the same job; on any failure
 * removes those already written. Returns the configurations read back
 * (one per job, their jobs' where.file naming the files), or NULL with
 * the reply failed.
 */
static struct config **persist_jobs(struct control *ctl, const struct config *cfg, json_t *reply)
{
	const char *dir = ctl->d->state_jobs_dir;
	struct config **out = calloc(cfg->njobs, sizeof *out);
	size_t done = 0;
	char path[4096];

	if (!out) {
		control__fail(reply, "failed", "out of memory");
		return NULL;
	}
	for (; done < cfg->njobs; done++) {
		const struct job *j = &cfg->jobs[done];
		_cleanup_(freep) char *text = persist_job_yaml(j);
		int r;

		if (!text || !persist_path(dir, j->name, path, sizeof path)) {
			control__fail(reply, "failed", "job %s: cannot make its file: %s", j->name,
				      text ? strerror(ENAMETOOLONG) : strerror(ENOMEM));
			goto fail;
		}
		r = config_load_buffer(path, text, strlen(text), &out[done], NULL);
		if (r < 0) {
			control__fail(reply, "failed", "job %s: its file would not read back (%s); "
				      "please report this", j->name, strerror(-r));
			goto fail;
		}
		r = persist_write(dir, j->name, text, strlen(text));
		if (r < 0) {
			control__fail(reply, "failed", "cannot save job %s in %s: %s; nothing "
				      "was added", j->name, dir, strerror(-r));
			config_free(out[done]);
			goto fail;
		}
	}
	return out;
fail:
	while (done--) {
		persist_remove(dir, cfg->jobs[done].name);
		config_free(out[done]);
	}
	free(out);
	return NULL;
}

static bool cmd_add(struct client *c, json_t *req, json_t *reply)
{
	struct control *ctl = c->ctl;
	json_t *yaml = json_object_get(req, "yaml"), *src = json_object_get(req, "source");
	json_t *runtime = json_object_get(req, "runtime"), *fleet = json_object_get(req, "fleet");
	json_t *added;
	_cleanup_(config_freep) struct config *cfg = NULL;
	_cleanup_(errors_freep) struct cfg_errors errs = { 0 };
	struct config **each;
	char clash[CFG_NAME_MAX + 1];
	int r;

	if (!json_is_string(yaml) || (src && !json_is_string(src)) ||
	    (runtime && !json_is_boolean(runtime)) || (fleet && !json_is_boolean(fleet)))
		return control__fail(reply, "bad_request", "add: expected \"yaml\" (a string), "
				     "optional \"source\" (a string), \"runtime\" and \"fleet\" "
				     "(booleans)");
	if (json_is_true(fleet) && json_is_true(runtime))
		return control__fail(reply, "bad_request", "add: a fleet job is kept in etcd: "
				     "\"fleet\" and \"runtime\" do not go together");
	r = config_load_buffer(src ? json_string_value(src) : "<request>", json_string_value(yaml),
			       json_string_length(yaml), &cfg, &errs);
	if (r < 0) {
		control__fail(reply, "invalid", "the job definitions are not valid (%zu error%s)",
			      errs.total, errs.total == 1 ? "" : "s");
		json_object_set_new(reply, "errors", errors_json(&errs));
		return true;
	}
	if (cfg->njobs == 0)
		return control__fail(reply, "invalid", "no jobs to add: expected \"jobs:\" with "
				     "at least one job");
	if (!control__check_notify(c, cfg, reply))
		return true;
	if (json_is_true(fleet))
		return control__fleet_add(c, cfg, reply);
	for (size_t i = 0; i < cfg->njobs; i++) {
		struct job_state *js = sup_find(ctl->d->sup, cfg->jobs[i].name);

		if (js)
			return control__fail(reply, "exists", "job %s exists already (%s:%u); "
					     "'coctl kill %s' first to replace it", js->job->name,
					     js->job->where.file ? js->job->where.file : "added",
					     js->job->where.line, js->job->name);
	}
	added = json_array();
	for (size_t i = 0; i < cfg->njobs; i++)
		json_array_append_new(added, json_string(cfg->jobs[i].name));
	if (json_is_true(runtime)) {
		r = sup_add(ctl->d->sup, cfg, ORIGIN_RUNTIME, clash, sizeof clash);
		cfg = NULL; /* taken, also on error */
	} else if (!ctl->d->state_jobs_dir) {
		json_decref(added);
		return control__fail(reply, "failed", "the daemon has no state directory: "
				     "add with --runtime");
	} else {
		size_t n = cfg->njobs;

		each = persist_jobs(ctl, cfg, reply);
		if (!each) {
			json_decref(added);
			return true;
		}
		/* Nothing yields between the checks above and here: no clash. */
		r = 0;
		for (size_t i = 0; i < n; i++)
			if (sup_add(ctl->d->sup, each[i], ORIGIN_FILE, clash, sizeof clash) < 0)
				r = -EEXIST;
		free(each);
		json_object_set_new(reply, "dir", json_string(ctl->d->state_jobs_dir));
	}
	if (r < 0) {
		json_decref(added);
		return control__fail(reply, "exists", "job %s exists already", clash);
	}
	{
		/* Which jobs, for the log of who changed what (the request carries only YAML). */
		char list[256];
		size_t k, off = 0;
		json_t *v;

		list[0] = '\0';
		json_array_foreach(added, k, v)
			if (json_is_string(v) && off < sizeof list)
				off += (size_t)snprintf(list + off, sizeof list - off, " %s",
							json_string_value(v));
		log_msg(LOG_NOTICE, "control: added%s%s by uid %d pid %d", list,
			json_is_true(runtime) ? " (runtime)" : "", (int)c->cred.uid,
			(int)c->cred.pid);
	}
	json_object_set_new(reply, "ok", json_true());
	json_object_set_new(reply, "added", added);
	json_object_set_new(reply, "persisted", json_boolean(!json_is_true(runtime)));
	daemon_update_status(ctl->d);
	return true;
}

static bool cmd_kill(struct client *c, json_t *req, json_t *reply)
{
	struct control *ctl = c->ctl;
	json_t *names = get_names(req, reply), *killed, *missing, *v;
	json_t *fleet = json_object_get(req, "fleet");
	size_t i;

	if (!names)
		return true;
	if (fleet && !json_is_boolean(fleet))
		return control__fail(reply, "bad_request", "kill: \"fleet\" is a boolean");
	if (json_is_true(fleet))
		return control__fleet_kill(c, names, reply);
	json_array_foreach(names, i, v) {
		struct job_state *js = sup_find(ctl->d->sup, json_string_value(v));

		if (js && js->origin == ORIGIN_FLEET)
			return control__fail(reply, "failed", "job %s is a fleet job: 'coctl kill "
					     "--fleet %s' removes it from the fleet", js->job->name,
					     js->job->name);
	}
	killed = json_array();
	missing = json_array();
	json_array_foreach(names, i, v) {
		const char *name = json_string_value(v);
		struct job_state *js = sup_find(ctl->d->sup, name);
		const char *origin;
		json_t *k;

		if (!js) {
			json_array_append(missing, v);
			continue;
		}
		origin = origin_name(ctl, js);
		k = json_pack("{s:s, s:s}", "name", name, "origin", origin);
		if (js->job->where.file && js->origin == ORIGIN_FILE)
			json_object_set_new(k, "file", json_string(js->job->where.file));
		/* A job of the files comes back at the next reload. */
		json_object_set_new(k, "returns_on_reload", json_boolean(strcmp(origin, "file") == 0));
		if (strcmp(origin, "added") == 0) {
			int r = persist_remove(ctl->d->state_jobs_dir, name);

			if (r < 0 && r != -ENOENT)
				json_object_set_new(k, "warning", json_sprintf(
					"its file stays in %s: %s", ctl->d->state_jobs_dir,
					strerror(-r)));
		}
		sup_kill(ctl->d->sup, name);
		json_array_append_new(killed, k);
	}
	json_object_set_new(reply, "killed", killed);
	if (missing_names(reply, missing))
		json_object_set_new(reply, "ok", json_true());
	daemon_update_status(ctl->d);
	return true;
}

static bool pause_or_resume(struct client *c, json_t *req, json_t *reply, bool pause)
{
	json_t *names = get_names(req, reply), *done, *missing, *v;
	size_t i;

	if (!names)
		return true;
	done = json_array();
	missing = json_array();
	json_array_foreach(names, i, v) {
		if (sup_pause(c->ctl->d->sup, json_string_value(v), pause) < 0)
			json_array_append(missing, v);
		else
			json_array_append(done, v);
	}
	json_object_set_new(reply, pause ? "paused" : "resumed", done);
	if (missing_names(reply, missing))
		json_object_set_new(reply, "ok", json_true());
	return true;
}

static bool cmd_pause(struct client *c, json_t *req, json_t *reply)
{
	return pause_or_resume(c, req, reply, true);
}

static bool cmd_resume(struct client *c, json_t *req, json_t *reply)
{
	return pause_or_resume(c, req, reply, false);
}

/*
 * Runs the job and waits, RUN_POLL_MS at a time so that a stop of the
 * daemon ends the wait. After a wait that timed out, a job no longer
 * running ended its run in between: its last result is the answer.
 */
static bool cmd_run(struct client *c, json_t *req, json_t *reply)
{
	json_t *name = json_object_get(req, "name");
	struct job_state *js = NULL;
	FILE *f;
	int r;

	if (!json_is_string(name))
		return control__fail(reply, "bad_request", "run: expected \"name\", a job name");
	for (;;) {
		r = sup_run(c->ctl->d->sup, json_string_value(name), RUN_POLL_MS, &js);
		if (r != -ETIMEDOUT)
			break;
		if (c->ctl->stopping || c->ctl->d->stopping)
			return control__fail(reply, "failed", "the daemon is stopping");
		js = sup_find(c->ctl->d->sup, json_string_value(name));
		if (!js)
			r = -ECANCELED;
		if (!js || !js->running)
			break;
	}
	if (r == -ENOENT)
		return control__fail(reply, "no_such_job", "no such job: %s",
				     json_string_value(name));
	if (r == -ECANCELED)
		return control__fail(reply, "failed", "job %s was killed or removed while it ran",
				     json_string_value(name));
	if (r < 0 && r != -ETIMEDOUT)
		return control__fail(reply, "failed", "run: %s", strerror(-r));
	f = raw_open(c, "job");
	if (!f)
		return control__fail(reply, "failed", "out of memory");
	put_job(f, c->ctl, js, true);
	if (!raw_close(c, f))
		return control__fail(reply, "failed", "out of memory");
	json_object_set_new(reply, "ok", json_true());
	json_object_set_new(reply, "result", js->has_last ?
			    json_string(run_outcome_name((enum run_outcome)js->last.outcome)) :
			    json_null());
	return true;
}

static bool cmd_reload(struct client *c, json_t *req, json_t *reply)
{
	_cleanup_(errors_freep) struct cfg_errors errs = { 0 };
	int r = daemon_reload(c->ctl->d, &errs);

	if (r < 0) {
		control__fail(reply, "reload_failed", "reload refused, nothing changed: %s",
			      errs.total ? "the configuration has errors" : strerror(-r));
		json_object_set_new(reply, "errors", errors_json(&errs));
		return true;
	}
	json_object_set_new(reply, "ok", json_true());
	json_object_set_new(reply, "jobs", json_integer((json_int_t)sup_count(c->ctl->d->sup)));
	return true;
}

static bool cmd_stop(struct client *c, json_t *req, json_t *reply)
{
	daemon_request_stop(c->ctl->d);
	json_object_set_new(reply, "ok", json_true());
	return true;
}

static const struct cmd commands[] = {
	{ "ping",   false, cmd_ping },
	{ "list",   false, cmd_list },
	{ "status", false, cmd_status },
	{ "stats",  false, cmd_stats },
	{ "fleet",  false, control__cmd_fleet },
	{ "notifiers", false, control__cmd_notifiers },
	{ "history", false, control__cmd_history },
	{ "events", false, control__cmd_events },
	{ "notify-test", true, control__cmd_notify_test },
	{ "add",    true,  cmd_add },
	{ "kill",   true,  cmd_kill },
	{ "pause",  true,  cmd_pause },
	{ "resume", true,  cmd_resume },
	{ "run",    true,  cmd_run },
	{ "reload", true,  cmd_reload },
	{ "stop",   true,  cmd_stop },
};

/* A short account of the request's arguments for the log. */
static void describe(json_t *req, char *buf, size_t size)
{
	json_t *names = json_object_get(req, "names"), *name = json_object_get(req, "name"), *v;
	size_t i, off = 0;

	buf[0] = '\0';
	if (json_is_string(name))
		snprintf(buf, size, " %s", json_string_value(name));
	json_array_foreach(names, i, v)
		if (json_is_string(v) && off < size)
			off += (size_t)snprintf(buf + off, size - off, " %s", json_string_value(v));
}

bool control__execute(struct client *c, json_t *req, json_t *reply)
{
	json_t *cmd = json_object_get(req, "command");
	const char *name = json_string_value(cmd);
	char args[256];

	if (!name)
		return control__fail(reply, "bad_request", "a request needs \"command\", a string");
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
		if (strcmp(commands[i].name, name) != 0)
			continue;
		if (c->ctl->stopping && commands[i].changes)
			return control__fail(reply, "failed", "the daemon is stopping");
		if (commands[i].changes) {
			describe(req, args, sizeof args);
			if (!control__privileged(c)) {
				log_msg(LOG_WARNING, "control: refused %s%s to uid %d pid %d: not "
					"privileged", name, args, (int)c->cred.uid, (int)c->cred.pid);
				return control__fail(reply, "permission_denied", "%s: permission "
						     "denied: changes are for root, the daemon's user "
						     "and the control socket's group", name);
			}
			log_msg(LOG_NOTICE, "control: %s%s by uid %d pid %d", name, args,
				(int)c->cred.uid, (int)c->cred.pid);
		}
		commands[i].fn(c, req, reply);
		return true;
	}
	return control__fail(reply, "unknown_command", "unknown command \"%.64s\"", name);
}
