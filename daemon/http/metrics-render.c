/* SPDX-License-Identifier: MIT */
/*
 * metrics-render.c: the /metrics page (docs/metrics.md lists what is on
 * it), in the Prometheus text format 0.0.4.
 *
 * The format wants every sample of a metric family together, after its
 * # HELP and # TYPE lines: so the page is the daemon's families, then
 * one pass per per-job family over a snapshot of the jobs (see struct
 * metrics_render). A render proceeds a slice at a time
 * (metrics__render_step) so that the HTTP server can send each chunk, and
 * let the loop run, before rendering the next one.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "coro/coro.h"
#include "daemon/core/core.h"
#include "daemon/fleet/fleet.h"
#include "daemon/history/history.h"
#include "daemon/notify/notify.h"
#include "daemon/http/http-internal.h"

#ifndef CORO_VERSION
#define CORO_VERSION "unknown"
#endif

struct family {
	const char *name;
	const char *type;
	const char *help;
	/* Per-job families: the job's samples, labels being its label set. */
	void (*job)(struct mbuf *b, const char *name, const struct metrics_row *js,
		    const char *labels, size_t labels_len);
	/* Daemon families: every sample. */
	void (*daemon)(struct metrics_render *r, struct mbuf *b, const char *name);
};

/* One sample: name{labels,extra} value. labels and extra may be empty. */
static void sample(struct mbuf *b, const char *name, const char *labels, size_t labels_len,
		   const char *extra, const char *value, size_t value_len)
{
	size_t name_len = strlen(name), extra_len = extra ? strlen(extra) : 0;
	char *at = metrics__mbuf_room(b, name_len + labels_len + extra_len + value_len + 5);

	if (!at)
		return;
	memcpy(at, name, name_len);
	at += name_len;
	if (labels_len || extra_len) {
		*at++ = '{';
		if (labels_len)
			memcpy(at, labels, labels_len);
		at += labels_len;
		if (labels_len && extra_len)
			*at++ = ',';
		if (extra_len)
			memcpy(at, extra, extra_len);
		at += extra_len;
		*at++ = '}';
	}
	*at++ = ' ';
	memcpy(at, value, value_len);
	at += value_len;
	*at++ = '\n';
	b->len = (size_t)(at - b->p);
}

static void sample_u64(struct mbuf *b, const char *name, const char *labels, size_t labels_len,
		       const char *extra, uint64_t v)
{
	char num[24];

	sample(b, name, labels, labels_len, extra, num, metrics__fmt_u64(num, v));
}

/* v / 10^scale: microseconds as seconds with scale 6, milliseconds with 3. */
static void sample_scaled(struct mbuf *b, const char *name, const char *labels,
			  size_t labels_len, const char *extra, int64_t v, unsigned scale)
{
	char num[24];

	sample(b, name, labels, labels_len, extra, num, metrics__fmt_scaled(num, v, scale));
}

/* ---- per-job families --------------------------------------------------- */

static void job_success(struct mbuf *b, const char *name, const struct metrics_row *js,
			const char *labels, size_t labels_len)
{
	if (js->has_last)
		sample(b, name, labels, labels_len, NULL, js->ok ? "1" : "0", 1);
}

static void job_duration(struct mbuf *b, const char *name, const struct metrics_row *js,
			 const char *labels, size_t labels_len)
{
	if (js->has_last)
		sample_scaled(b, name, labels, labels_len, NULL, js->duration_us, 6);
}

static void job_http_status(struct mbuf *b, const char *name, const struct metrics_row *js,
			    const char *labels, size_t labels_len)
{
	if (js->has_last && js->type == JOB_HTTP)
		sample_u64(b, name, labels, labels_len, NULL,
			   js->http_status > 0 ? (uint64_t)js->http_status : 0);
}

static void job_dns_time(struct mbuf *b, const char *name, const struct metrics_row *js,
			 const char *labels, size_t labels_len)
{
	if (js->has_last && js->type == JOB_DNS)
		sample_scaled(b, name, labels, labels_len, NULL, js->duration_us, 6);
}

static void job_runs(struct mbuf *b, const char *name, const struct metrics_row *js,
		     const char *labels, size_t labels_len)
{
	sample_u64(b, name, labels, labels_len, "result=\"ok\"", js->by_outcome[OUTCOME_OK]);
	sample_u64(b, name, labels, labels_len, "result=\"failed\"", js->by_outcome[OUTCOME_FAILED]);
	sample_u64(b, name, labels, labels_len, "result=\"timeout\"",
		   js->by_outcome[OUTCOME_TIMEOUT]);
}

static void job_consecutive(struct mbuf *b, const char *name, const struct metrics_row *js,
			    const char *labels, size_t labels_len)
{
	sample_u64(b, name, labels, labels_len, NULL, js->consecutive_failures);
}

static void job_up(struct mbuf *b, const char *name, const struct metrics_row *js,
		   const char *labels, size_t labels_len)
{
	if (js->health != HEALTH_UNKNOWN)
		sample(b, name, labels, labels_len, NULL, js->health == HEALTH_UP ? "1" : "0", 1);
}

static void job_skipped(struct mbuf *b, const char *name, const struct metrics_row *js,
			const char *labels, size_t labels_len)
{
	sample_u64(b, name, labels, labels_len, NULL, js->skipped);
}

static void job_last_run(struct mbuf *b, const char *name, const struct metrics_row *js,
			 const char *labels, size_t labels_len)
{
	if (js->has_last)
		sample_scaled(b, name, labels, labels_len, NULL, js->end_ms, 3);
}

/* ---- daemon families ---------------------------------------------------- */

static void d_jobs(struct metrics_render *r, struct mbuf *b, const char *name)
{
	struct sup_stats st;

	sup_get_stats(r->d->sup, &st);
	sample_u64(b, name, "", 0, NULL, st.jobs);
}

static void d_coroutines(struct metrics_render *r, struct mbuf *b, const char *name)
{
	struct co_stats st;

	co_get_stats(&st);
	sample_u64(b, name, "", 0, NULL, st.coroutines);
}

static void d_sharestacks(struct metrics_render *r, struct mbuf *b, const char *name)
{
	struct co_stats st;

	co_get_stats(&st);
	sample_u64(b, name, "", 0, NULL, st.sharestacks);
}

static void d_saved(struct metrics_render *r, struct mbuf *b, const char *name)
{
	struct co_stats st;

	co_get_stats(&st);
	sample_u64(b, name, "", 0, NULL, st.saved_stack_bytes);
}

static void d_switches(struct metrics_render *r, struct mbuf *b, const char *name)
{
	struct co_stats st;

	co_get_stats(&st);
	sample_u64(b, name, "", 0, NULL, st.switches);
}

/*
 * The histogram's buckets are counts per bucket; the format wants them
 * cumulative, with strictly increasing bounds and a +Inf bucket equal to
 * the count.
 */
static void d_lag(struct metrics_render *r, struct mbuf *b, const char *name)
{
	uint64_t sum_us = 0, count = 0, cum = 0, last_le = 0;
	const uint64_t *buckets = sup_lag_buckets(r->d->sup, &sum_us, &count);
	size_t len = strlen(name);
	char bucket[128], tail[128], le[48];

	if (len > sizeof bucket - 8)
		return;
	memcpy(bucket, name, len);
	memcpy(bucket + len, "_bucket", 8);
	for (unsigned i = 0; buckets && i < LAG_BUCKETS; i++) {
		uint64_t le_us = sup_lag_bucket_le_us(i);

		cum += buckets[i];
		if (le_us == UINT64_MAX || le_us > INT64_MAX)
			break;
		/* A bound equal to the next one is folded into it (cumulative counts). */
		if (i + 1 < LAG_BUCKETS && sup_lag_bucket_le_us(i + 1) == le_us)
			continue;
		if (i > 0 && le_us <= last_le)
			continue;
		last_le = le_us;
		memcpy(le, "le=\"", 4);
		len = 4 + metrics__fmt_scaled(le + 4, (int64_t)le_us, 6);
		le[len++] = '"';
		le[len] = '\0';
		sample_u64(b, bucket, "", 0, le, cum);
	}
	if (count < cum)
		count = cum;
	sample_u64(b, bucket, "", 0, "le=\"+Inf\"", count);
	snprintf(tail, sizeof tail, "%s_sum", name);
	sample_scaled(b, tail, "", 0, NULL, (int64_t)sum_us, 6);
	snprintf(tail, sizeof tail, "%s_count", name);
	sample_u64(b, tail, "", 0, NULL, count);
}

static void d_reload_ok(struct metrics_render *r, struct mbuf *b, const char *name)
{
	struct sup_stats st;

	sup_get_stats(r->d->sup, &st);
	sample(b, name, "", 0, NULL, st.last_reload_ok ? "1" : "0", 1);
}

static void d_reload_time(struct metrics_render *r, struct mbuf *b, const char *name)
{
	sample_scaled(b, name, "", 0, NULL, r->reload_ok_ms, 3);
}

static void d_reloads(struct metrics_render *r, struct mbuf *b, const char *name)
{
	struct sup_stats st;

	sup_get_stats(r->d->sup, &st);
	sample_u64(b, name, "", 0, "result=\"ok\"", st.reloads_ok);
	sample_u64(b, name, "", 0, "result=\"failed\"", st.reloads_failed);
}

static void d_build(struct metrics_render *r, struct mbuf *b, const char *name)
{
	sample(b, name, "", 0, "version=\"" CORO_VERSION "\"", "1", 1);
}

static void d_start(struct metrics_render *r, struct mbuf *b, const char *name)
{
	sample_scaled(b, name, "", 0, NULL, r->d->start_wall_ms, 3);
}

static void d_rss(struct metrics_render *r, struct mbuf *b, const char *name)
{
	sample_u64(b, name, "", 0, NULL, daemon_rss_bytes());
}

static void d_cpu(struct metrics_render *r, struct mbuf *b, const char *name)
{
	struct rusage ru;
	int64_t us;

	if (getrusage(RUSAGE_SELF, &ru) < 0)
		return;
	us = (int64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 +
	     ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
	sample_scaled(b, name, "", 0, NULL, us, 6);
}

/* ---- fleet families ------------------------------------------------------ */

static void d_fleet(struct metrics_render *r, struct mbuf *b, const char *name)
{
	struct fleet_stats st;
	uint64_t v;

	fleet_get_stats(r->d->fleet, &st);
	if (strcmp(name, "coro_runner_fleet_members") == 0)
		v = st.members;
	else if (strcmp(name, "coro_runner_fleet_jobs") == 0)
		v = st.jobs;
	else if (strcmp(name, "coro_runner_fleet_jobs_owned") == 0)
		v = st.jobs_owned;
	else if (strcmp(name, "coro_runner_fleet_etcd_up") == 0)
		v = st.etcd_up;
	else if (strcmp(name, "coro_runner_fleet_lease_renewals_total") == 0)
		v = st.renewals;
	else if (strcmp(name, "coro_runner_fleet_invalid_jobs_total") == 0)
		v = st.jobs_invalid;
	else
		v = st.moves;
	sample_u64(b, name, "", 0, NULL, v);
}

/* ---- notification families ---------------------------------------------- */

static void d_notify(struct metrics_render *r, struct mbuf *b, const char *name)
{
	size_t n = notify_count(r->d->notify);

	for (size_t i = 0; i < n; i++) {
		struct notify_stats st;
		struct mbuf l = { 0 };

		notify_get(r->d->notify, i, &st);
		metrics__puts(&l, "notifier=\"");
		metrics__put_label_value(&l, st.name);
		metrics__puts(&l, "\"");
		if (l.oom) {
			b->oom = true;
			metrics__mbuf_free(&l);
			return;
		}
		if (strcmp(name, "coro_runner_notifications_total") == 0) {
			sample_u64(b, name, l.p, l.len, "result=\"delivered\"", st.delivered);
			sample_u64(b, name, l.p, l.len, "result=\"failed\"", st.failed);
		} else if (strcmp(name, "coro_runner_notification_queue") == 0) {
			sample_u64(b, name, l.p, l.len, NULL, st.queued);
		} else if (strcmp(name, "coro_runner_notifications_dropped_total") == 0) {
			sample_u64(b, name, l.p, l.len, NULL, st.dropped);
		} else {
			sample_u64(b, name, l.p, l.len, NULL, st.firing);
		}
		metrics__mbuf_free(&l);
	}
}

/* ---- history families --------------------------------------------------- */

static void d_history(struct metrics_render *r, struct mbuf *b, const char *name)
{
	struct history_stats st;

	history_get_stats(r->d->history, &st);
	if (strcmp(name, "coro_runner_history_up") == 0) {
		sample_u64(b, name, "", 0, NULL, st.working);
	} else if (strcmp(name, "coro_runner_history_records_total") == 0) {
		sample_u64(b, name, "", 0, "kind=\"result\"", st.written);
		sample_u64(b, name, "", 0, "kind=\"event\"", st.events);
	} else if (strcmp(name, "coro_runner_history_dropped_total") == 0) {
		sample_u64(b, name, "", 0, NULL, st.dropped);
	} else if (strcmp(name, "coro_runner_history_queue") == 0) {
		sample_u64(b, name, "", 0, NULL, st.queued);
	} else if (strcmp(name, "coro_runner_history_write_errors_total") == 0) {
		sample_u64(b, name, "", 0, NULL, st.write_errors);
	} else {
		sample_u64(b, name, "", 0, NULL, st.db_bytes);
	}
}

static const struct family families[] = {
	{ "coro_runner_build_info", "gauge",
	  "Always 1; the version label is coro-runnerd's version.", NULL, d_build },
	{ "coro_runner_jobs", "gauge", "Jobs defined.", NULL, d_jobs },
	{ "coro_runner_coroutines", "gauge",
	  "Coroutines alive (jobs, servers, clients).", NULL, d_coroutines },
	{ "coro_runner_sharestacks", "gauge",
	  "Shared stacks the job coroutines run on.", NULL, d_sharestacks },
	{ "coro_runner_saved_stack_bytes", "gauge",
	  "Heap bytes holding the saved stacks of coroutines swapped off a shared stack.",
	  NULL, d_saved },
	{ "coro_runner_context_switches_total", "counter",
	  "Coroutine context switches (two per resume).", NULL, d_switches },
	{ "coro_runner_loop_lag_seconds", "histogram",
	  "How late the event loop ran a due timer.", NULL, d_lag },
	{ "coro_runner_config_last_reload_successful", "gauge",
	  "1 if the last configuration reload succeeded (or none was tried), else 0.",
	  NULL, d_reload_ok },
	{ "coro_runner_config_last_reload_success_timestamp_seconds", "gauge",
	  "When the configuration in force was loaded (at start or by a reload).", NULL,
	  d_reload_time },
	{ "coro_runner_config_reloads_total", "counter",
	  "Configuration reloads tried, by result (ok, failed).", NULL, d_reloads },
	{ "coro_runner_fleet_members", "gauge",
	  "Live members of the fleet, as this member sees them.", NULL, d_fleet },
	{ "coro_runner_fleet_jobs", "gauge", "Fleet jobs defined in etcd.", NULL, d_fleet },
	{ "coro_runner_fleet_jobs_owned", "gauge",
	  "Fleet jobs placed on this member.", NULL, d_fleet },
	{ "coro_runner_fleet_etcd_up", "gauge",
	  "1 if the last call to etcd succeeded, else 0.", NULL, d_fleet },
	{ "coro_runner_fleet_lease_renewals_total", "counter",
	  "Successful renewals of this member's lease.", NULL, d_fleet },
	{ "coro_runner_fleet_moves_total", "counter",
	  "Fleet jobs whose owner changed, as seen by this member.", NULL, d_fleet },
	{ "coro_runner_fleet_invalid_jobs_total", "counter",
	  "Definitions under the jobs prefix that were not a valid job (skipped).", NULL, d_fleet },
	{ "coro_runner_notifications_total", "counter",
	  "Notification events by notifier and result: delivered, or failed (each failed "
	  "attempt of each event).", NULL, d_notify },
	{ "coro_runner_notification_queue", "gauge",
	  "Events waiting in the notifier's queue (a delivery in flight included).", NULL,
	  d_notify },
	{ "coro_runner_notifications_dropped_total", "counter",
	  "Events dropped because the notifier's queue was full.", NULL, d_notify },
	{ "coro_runner_notification_firing_alerts", "gauge",
	  "Alertmanager notifiers: alerts re-sent as firing in the last round.", NULL, d_notify },
	{ "coro_runner_history_up", "gauge",
	  "1 if the history database is open and written, else 0.", NULL, d_history },
	{ "coro_runner_history_records_total", "counter",
	  "Records written to the history database, by kind (result, event).", NULL, d_history },
	{ "coro_runner_history_dropped_total", "counter",
	  "Records dropped because the history's queue was full.", NULL, d_history },
	{ "coro_runner_history_queue", "gauge",
	  "Records waiting for the history's writer.", NULL, d_history },
	{ "coro_runner_history_write_errors_total", "counter",
	  "Batches the history's writer could not commit.", NULL, d_history },
	{ "coro_runner_history_database_bytes", "gauge",
	  "Size of the history database and its write-ahead log.", NULL, d_history },
	{ "process_start_time_seconds", "gauge",
	  "Start time of the process since the Unix epoch in seconds.", NULL, d_start },
	{ "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", NULL,
	  d_rss },
	{ "process_cpu_seconds_total", "counter",
	  "Total user and system CPU time spent in seconds.", NULL, d_cpu },

	{ "probe_success", "gauge",
	  "1 if the job's last run passed, 0 if it failed or timed out.", job_success, NULL },
	{ "probe_duration_seconds", "gauge",
	  "How long the job's last run took, retries included.", job_duration, NULL },
	{ "probe_http_status_code", "gauge",
	  "HTTP status of the last response of an http job, 0 if none came.", job_http_status,
	  NULL },
	{ "probe_dns_lookup_time_seconds", "gauge",
	  "How long the last run of a dns job took.", job_dns_time, NULL },
	{ "coro_runner_job_runs_total", "counter",
	  "Runs of the job that ended, by result (ok, failed, timeout).", job_runs, NULL },
	{ "coro_runner_job_consecutive_failures", "gauge",
	  "Runs that failed in a row, up to the last one.", job_consecutive, NULL },
	{ "coro_runner_job_up", "gauge",
	  "1 if the job is up, 0 if it is down (failures_before_down failures in a row).",
	  job_up, NULL },
	{ "coro_runner_job_skipped_total", "counter",
	  "Ticks of the job skipped because a run overran.", job_skipped, NULL },
	{ "coro_runner_job_last_run_timestamp_seconds", "gauge",
	  "When the job's last run ended, since the Unix epoch.", job_last_run, NULL },
};

#define NFAMILIES (sizeof families / sizeof *families)

#define SNAPSHOT_SLICE 1024 /* jobs taken per step (well under 1 ms) */

void metrics__render_begin(struct metrics_render *r, struct daemon *d, int64_t reload_ok_ms)
{
	size_t n = sup_count(d->sup);

	memset(r, 0, sizeof *r);
	r->d = d;
	r->reload_ok_ms = reload_ok_ms;
	for (size_t i = 0; i < n; i++) {
		const struct job_state *js = sup_job(d->sup, i);

		if (js && js->id > r->max_id)
			r->max_id = js->id;
	}
	/* Room for every row and typical labels now: no large realloc in a step later. */
	r->rows = malloc(n * sizeof *r->rows);
	r->cap_rows = r->rows ? n : 0;
	metrics__mbuf_room(&r->labels, n * 48 + 64);
	r->labels.oom = false;
}

void metrics__render_end(struct metrics_render *r)
{
	free(r->rows);
	r->rows = NULL;
	metrics__mbuf_free(&r->labels);
}

static void header(struct mbuf *b, const struct family *f)
{
	metrics__put(b, "# HELP ", 7);
	metrics__puts(b, f->name);
	metrics__put(b, " ", 1);
	metrics__puts(b, f->help);
	metrics__put(b, "\n# TYPE ", 8);
	metrics__puts(b, f->name);
	metrics__put(b, " ", 1);
	metrics__puts(b, f->type);
	metrics__put(b, "\n", 1);
}

/*
 * After a pause the job list may have changed: go on after the last job
 * taken, wherever it now is. If it is gone, go on at the same index,
 * which may miss jobs but never repeats one (removal only moves jobs
 * towards the front, and new jobs are skipped).
 */
static void find_place(struct metrics_render *r, size_t n)
{
	const struct job_state *js;

	if (!r->have_last)
		return;
	if (r->next > 0 && r->next <= n && (js = sup_job(r->d->sup, r->next - 1)) &&
	    js->id == r->last_id)
		return;
	for (size_t i = 0; i < n; i++) {
		js = sup_job(r->d->sup, i);
		if (js && js->id == r->last_id) {
			r->next = i + 1;
			return;
		}
	}
	if (r->next > n)
		r->next = n;
}

static bool take(struct metrics_render *r, const struct job_state *js)
{
	struct metrics_row *row;
	size_t off = r->labels.len;

	if (r->nrows == r->cap_rows) {
		size_t cap = r->cap_rows ? 2 * r->cap_rows : 1024;
		struct metrics_row *rows = realloc(r->rows, cap * sizeof *rows);

		if (!rows)
			return false;
		r->rows = rows;
		r->cap_rows = cap;
	}
	metrics__put_job_labels(&r->labels, js);
	if (r->labels.oom || r->labels.len > UINT32_MAX)
		return false;
	row = &r->rows[r->nrows++];
	for (int o = 0; o < 3; o++)
		row->by_outcome[o] = js->by_outcome[o];
	row->skipped = js->skipped;
	row->end_ms = js->last.end_ms;
	row->duration_us = js->last.duration_us;
	row->consecutive_failures = js->consecutive_failures;
	row->labels_off = (uint32_t)off;
	row->labels_len = (uint32_t)(r->labels.len - off);
	row->http_status = js->last_http_status;
	row->type = (uint8_t)js->job->type;
	row->has_last = js->has_last;
	row->ok = js->last.outcome == OUTCOME_OK;
	row->health = (uint8_t)js->health;
	return true;
}

/* Takes the next slice of jobs; true when all are taken. */
static bool snapshot(struct metrics_render *r, struct mbuf *b)
{
	size_t n = sup_count(r->d->sup), end;

	find_place(r, n);
	end = r->next + SNAPSHOT_SLICE < n ? r->next + SNAPSHOT_SLICE : n;
	while (r->next < end) {
		const struct job_state *js = sup_job(r->d->sup, r->next++);

		if (!js || js->removed || js->id > r->max_id || !js->job)
			continue;
		if (!take(r, js)) {
			b->oom = true;
			return true;
		}
		r->last_id = js->id;
		r->have_last = true;
	}
	if (r->next < n)
		return false;
	r->next = 0;
	return true;
}

/* Renders one per-job family from row r->next on; false when it stopped at limit. */
static bool job_family(struct metrics_render *r, struct mbuf *b, size_t limit,
		       const struct family *f)
{
	while (r->next < r->nrows) {
		const struct metrics_row *row = &r->rows[r->next];

		if (b->len >= limit)
			return false;
		f->job(b, f->name, row, r->labels.p + row->labels_off, row->labels_len);
		r->next++;
	}
	return true;
}

bool metrics__render_step(struct metrics_render *r, struct mbuf *b, size_t limit)
{
	if (!r->snapshot_done) {
		if (!snapshot(r, b))
			return false;
		r->snapshot_done = true;
		if (b->oom)
			return true;
	}
	while (r->family < NFAMILIES) {
		const struct family *f = &families[r->family];

		if ((f->daemon == d_fleet && !r->d->fleet) ||
		    (f->daemon == d_notify && !notify_count(r->d->notify)) ||
		    (f->daemon == d_history && !history_enabled(r->d->history))) {
			/* fleet families: fleet mode only; notifications: with notifiers */
			r->family++;
			continue;
		}
		if (!r->header_done)
			header(b, f);
		r->header_done = true;
		if (f->job) {
			if (!job_family(r, b, limit, f))
				return false;
		} else {
			f->daemon(r, b, f->name);
		}
		r->family++;
		r->next = 0;
		r->header_done = false;
		if (b->len >= limit && r->family < NFAMILIES)
			return false;
	}
	return true;
}
