/* SPDX-License-Identifier: MIT */
/*
 * control-fleet.c: the control protocol's fleet side (docs/protocol.md):
 * `add` and `kill` with "fleet": true, the `fleet` command (members, list,
 * where), and the fleet block of `stats`. Every member answers them from
 * its own copy of the fleet (daemon/fleet/), which its watch keeps.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/control/control-internal.h"
#include "daemon/core/core.h"
#include "daemon/fleet/fleet.h"

static bool no_fleet(json_t *reply)
{
	return control__fail(reply, "no_fleet", "this daemon is not in a fleet: its "
			     "configuration has no fleet: section");
}

bool control__fleet_add(struct client *c, const struct config *cfg, json_t *reply)
{
	struct daemon *d = c->ctl->d;
	char clash[CFG_NAME_MAX + 1] = "", err[512] = "";
	json_t *added;
	int r;

	if (!d->fleet)
		return no_fleet(reply);
	for (size_t i = 0; i < cfg->njobs; i++) {
		struct job_state *js = sup_find(d->sup, cfg->jobs[i].name);

		/* A fleet job running here is judged by etcd below, like any other. */
		if (js && js->origin != ORIGIN_FLEET)
			return control__fail(reply, "exists", "job %s is a local job of this member "
					     "(%s:%u): a fleet job may not take its name",
					     js->job->name, js->job->where.file ? js->job->where.file :
					     "added", js->job->where.line);
	}
	r = fleet_add(d->fleet, cfg, clash, sizeof clash, err, sizeof err);
	if (r == -EEXIST)
		return control__fail(reply, "exists", "fleet job %s exists already; "
				     "'coctl kill --fleet %s' first to replace it", clash, clash);
	if (r < 0)
		return control__fail(reply, "failed", "cannot write to etcd: %s", err);
	added = json_array();
	for (size_t i = 0; i < cfg->njobs; i++)
		json_array_append_new(added, json_string(cfg->jobs[i].name));
	log_msg(LOG_NOTICE, "control: added %zu fleet job%s by uid %d pid %d", cfg->njobs,
		cfg->njobs == 1 ? "" : "s", (int)c->cred.uid, (int)c->cred.pid);
	json_object_set_new(reply, "ok", json_true());
	json_object_set_new(reply, "added", added);
	json_object_set_new(reply, "fleet", json_true());
	json_object_set_new(reply, "persisted", json_true());
	return true;
}

bool control__fleet_kill(struct client *c, json_t *names, json_t *reply)
{
	struct daemon *d = c->ctl->d;
	json_t *killed, *missing, *v;
	size_t i;

	if (!d->fleet)
		return no_fleet(reply);
	killed = json_array();
	missing = json_array();
	json_array_foreach(names, i, v) {
		char err[512] = "";
		int r = fleet_kill(d->fleet, json_string_value(v), err, sizeof err);

		if (r == -ENOENT)
			json_array_append(missing, v);
		else if (r < 0) {
			json_decref(killed);
			json_decref(missing);
			return control__fail(reply, "failed", "cannot write to etcd: %s", err);
		} else
			json_array_append_new(killed, json_pack("{s:O, s:s, s:b}", "name", v,
								"origin", "fleet",
								"returns_on_reload", 0));
	}
	json_object_set_new(reply, "killed", killed);
	if (json_array_size(missing)) {
		json_t *list = json_array();
		size_t k;

		json_array_foreach(missing, k, v)
			json_array_append(list, v);
		control__fail(reply, "no_such_job", "no such fleet job: %s%s",
			      json_string_value(json_array_get(missing, 0)),
			      json_array_size(missing) > 1 ? " (and others)" : "");
		json_object_set_new(reply, "missing", list);
	} else
		json_object_set_new(reply, "ok", json_true());
	json_decref(missing);
	return true;
}

static bool members(struct client *c, json_t *reply)
{
	struct fleet *f = c->ctl->d->fleet;
	size_t n = fleet_member_count(f);
	struct fleet_member_info *v = calloc(n ? n : 1, sizeof *v);
	json_t *list = json_array();

	if (!v)
		return control__fail(reply, "failed", "out of memory");
	/* Copied first: asking etcd for the TTLs yields, and the members may change. */
	for (size_t i = 0; i < n; i++) {
		fleet_member_get(f, i, &v[i]);
		v[i].name = strdup(v[i].name);
		v[i].version = v[i].version ? strdup(v[i].version) : NULL;
		v[i].metrics = v[i].metrics ? strdup(v[i].metrics) : NULL;
	}
	for (size_t i = 0; i < n; i++) {
		int64_t ttl = fleet_lease_ttl(f, v[i].lease);
		json_t *m = json_pack("{s:s?, s:b, s:I, s:I, s:s?, s:s?}", "member", v[i].name,
				      "self", v[i].self, "since_ms", (json_int_t)v[i].since_ms,
				      "jobs", (json_int_t)v[i].jobs, "version", v[i].version,
				      "metrics", v[i].metrics);

		if (m) {
			json_object_set_new(m, "ttl_left_s", ttl >= 0 ? json_integer(ttl) : json_null());
			json_array_append_new(list, m);
		}
	}
	for (size_t i = 0; i < n; i++) {
		free((char *)v[i].name);
		free((char *)v[i].version);
		free((char *)v[i].metrics);
	}
	free(v);
	json_object_set_new(reply, "ok", json_true());
	json_object_set_new(reply, "member", json_string(fleet_member(f)));
	json_object_set_new(reply, "members", list);
	return true;
}

static json_t *job_json(const struct fleet_job_info *j)
{
	char every[64];
	json_t *v = json_pack("{s:s, s:s, s:s?, s:s, s:b}", "name", j->name, "type",
			      job_type_name(j->type), "owner", j->owner, "state", j->health,
			      "exclusive", j->exclusive);

	if (v)
		json_object_set_new(v, "schedule",
				    json_sprintf("every %s", config_format_duration(j->every_ms, every,
										    sizeof every)));
	return v;
}

static bool list(struct client *c, json_t *reply)
{
	struct fleet *f = c->ctl->d->fleet;
	size_t n = fleet_job_count(f);
	json_t *jobs = json_array();

	for (size_t i = 0; i < n; i++) {
		struct fleet_job_info j;

		fleet_job_get(f, i, &j);
		json_array_append_new(jobs, job_json(&j));
	}
	json_object_set_new(reply, "ok", json_true());
	json_object_set_new(reply, "member", json_string(fleet_member(f)));
	json_object_set_new(reply, "jobs", jobs);
	return true;
}

static bool where(struct client *c, json_t *req, json_t *reply)
{
	struct fleet *f = c->ctl->d->fleet;
	json_t *names = json_object_get(req, "names"), *jobs, *missing, *v;
	size_t i;

	if (!json_is_array(names) || !json_array_size(names))
		return control__fail(reply, "bad_request", "fleet where: expected \"names\", a "
				     "non-empty array of job names");
	jobs = json_array();
	missing = json_array();
	json_array_foreach(names, i, v) {
		struct fleet_job_info j;

		if (!json_is_string(v)) {
			json_decref(jobs);
			json_decref(missing);
			return control__fail(reply, "bad_request", "fleet where: names are strings");
		}
		if (fleet_job_find(f, json_string_value(v), &j))
			json_array_append_new(jobs, json_pack("{s:s, s:s?}", "name", j.name, "owner",
							      j.owner));
		else
			json_array_append(missing, v);
	}
	json_object_set_new(reply, "jobs", jobs);
	if (json_array_size(missing)) {
		control__fail(reply, "no_such_job", "no such fleet job: %s%s",
			      json_string_value(json_array_get(missing, 0)),
			      json_array_size(missing) > 1 ? " (and others)" : "");
		json_object_set_new(reply, "missing", missing);
	} else {
		json_decref(missing);
		json_object_set_new(reply, "ok", json_true());
	}
	return true;
}

bool control__cmd_fleet(struct client *c, json_t *req, json_t *reply)
{
	const char *what = json_string_value(json_object_get(req, "what"));

	if (!c->ctl->d->fleet)
		return no_fleet(reply);
	if (what && strcmp(what, "members") == 0)
		return members(c, reply);
	if (what && strcmp(what, "list") == 0)
		return list(c, reply);
	if (what && strcmp(what, "where") == 0)
		return where(c, req, reply);
	return control__fail(reply, "bad_request", "fleet: expected \"what\": \"members\", "
			     "\"list\" or \"where\"");
}

void control__fleet_stats(struct client *c, json_t *reply)
{
	struct fleet_stats st;
	char lease[32];
	json_t *v;

	if (!c->ctl->d->fleet)
		return;
	fleet_get_stats(c->ctl->d->fleet, &st);
	snprintf(lease, sizeof lease, "%llx", (unsigned long long)st.lease_id);
	v = json_pack("{s:s, s:s, s:s?, s:b, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
		      "member", st.member, "state", st.state, "endpoint", st.endpoint,
		      "etcd_up", st.etcd_up, "lease_id", lease,
		      "last_renewal_ms", (json_int_t)st.last_renewal_ms,
		      "watch_revision", (json_int_t)st.watch_revision,
		      "members", (json_int_t)st.members, "jobs", (json_int_t)st.jobs,
		      "jobs_owned", (json_int_t)st.jobs_owned,
		      "jobs_invalid", (json_int_t)st.jobs_invalid,
		      "moves", (json_int_t)st.moves, "renewals", (json_int_t)st.renewals);
	if (v)
		json_object_set_new(reply, "fleet", v);
}
