/* SPDX-License-Identifier: MIT */
/*
 * history.c: the `history:` section of the main file: where the daemon
 * keeps its results and outages (SQLite) and for how long (issue 15;
 * coro-runner.yaml(5), TOP-LEVEL KEYS). The daemon's side is
 * daemon/history/; this file only reads and checks the values.
 *
 * The section is off (or false), on (or true: the defaults), or a mapping
 * of its keys, each with a default. Absent, the configuration has no
 * struct cfg_history (NULL), which the daemon reads as on with the
 * defaults. Strings live in the configuration's arena.
 */
#define _GNU_SOURCE
#include <string.h>

#include "config/config-internal.h"
#include "config/values.h"

/* `hourly`, `daily`, `events`: how long rows are kept, 1 day to 10 years. */
#define RETENTION_MIN_MS (86400000ull)
#define RETENTION_MAX_MS (3650ull * 86400000)

enum history_key { H_PATH, H_RAW_RESULTS, H_HOURLY, H_DAILY, H_EVENTS, NHISTORY_KEYS };

static const char *const history_keys[NHISTORY_KEYS] = {
	"path", "raw_results", "hourly", "daily", "events",
};

#define KIND_TEXT "expected a mapping such as {path: /var/lib/coro-runner/history.db}, or off"

#define COUNT(a) (sizeof(a) / sizeof *(a))

/* `path`: the database file, absolute, not a directory. */
static bool get_path(struct load *ld, const struct node *n, struct cfg_history *h)
{
	if (!cfg__get_string(ld, n, "path", true, &h->path))
		return false;
	if (n->value[0] != '/') {
		ERR(ld, n, "\"path\": \"%s\" must be an absolute path", n->value);
		return false;
	}
	if (n->value[n->len - 1] == '/') {
		ERR(ld, n, "\"path\": \"%s\" is a directory: give the database file, such as "
			   "/var/lib/coro-runner/history.db", n->value);
		return false;
	}
	return true;
}

/* `hourly`, `daily`, `events`: a duration from RETENTION_MIN_MS to RETENTION_MAX_MS. */
static bool get_retention(struct load *ld, const struct node *n, const char *key, uint64_t *ret)
{
	char a[32], b[32];

	if (!cfg__get_duration(ld, n, key, 0, ret))
		return false;
	if (*ret < RETENTION_MIN_MS || *ret > RETENTION_MAX_MS) {
		ERR(ld, n, "\"%s\": %s is too %s (at least %s, at most %s: 10 years)", key, n->value,
		    *ret < RETENTION_MIN_MS ? "short" : "long",
		    config_format_duration(RETENTION_MIN_MS, a, sizeof a),
		    config_format_duration(RETENTION_MAX_MS, b, sizeof b));
		return false;
	}
	return true;
}

/* Reports k, a key the section does not have. */
static void unknown_key(struct load *ld, const struct node *k)
{
	const char *hint = cfg__suggest(k->value, history_keys, COUNT(history_keys));

	if (hint)
		ERR(ld, k, "unknown key \"%s\" (did you mean \"%s\"?)", k->value, hint);
	else if (strcmp(k->value, "enabled") == 0)
		ERR(ld, k, "unknown key \"enabled\" (\"history: off\" keeps no history)");
	else
		ERR(ld, k, "unknown key \"%s\" (history has path, raw_results, hourly, daily and "
			   "events)", k->value);
}

/* A section with the defaults, at node n. */
static struct cfg_history *history_new(struct load *ld, const struct node *n)
{
	struct cfg_history *h = cfg__alloc(&ld->cfg->arena, sizeof *h);

	if (!h)
		return NULL;
	memset(h, 0, sizeof *h);
	h->enabled = true;
	h->raw_results = CFG_HISTORY_RAW_DEFAULT;
	h->hourly_ms = CFG_HISTORY_HOURLY_DEFAULT_MS;
	h->daily_ms = CFG_HISTORY_DAILY_DEFAULT_MS;
	h->events_ms = CFG_HISTORY_EVENTS_DEFAULT_MS;
	h->where.file = ld->ctx.file;
	h->where.line = n->line;
	h->where.column = n->column;
	return h;
}

/* `history: off` or `history: on` (any spelling of a boolean). */
static void read_switch(struct load *ld, const struct node *n)
{
	struct cfg_history *h;
	bool on;

	if (cfg__parse_bool(n->value, &on) < 0) {
		if (*n->value)
			ERR(ld, n, "\"history\": " KIND_TEXT ", not \"%s\"", n->value);
		else
			ERR(ld, n, "\"history\": " KIND_TEXT ", not an empty value");
		return;
	}
	h = history_new(ld, n);
	if (!h)
		return;
	h->enabled = on;
	ld->cfg->pub.history = h;
}

void cfg__read_history(struct load *ld, const struct node *key, const struct node *value,
		       bool main)
{
	const struct node *own[NHISTORY_KEYS] = { 0 };
	struct cfg_history *h;
	bool ok = true;

	if (!main) {
		if (ld->main_file)
			ERR(ld, key, "\"history\" belongs in the main file (%s), not in a drop-in",
			    ld->main_file);
		else
			ERR(ld, key, "\"history\" belongs in the main file, not in a drop-in");
		return;
	}
	if (value->kind == NODE_SCALAR) {
		read_switch(ld, value);
		return;
	}
	if (value->kind != NODE_MAP) {
		ERR(ld, value, "\"history\": " KIND_TEXT ", not %s", cfg__kind_name(value));
		return;
	}
	h = history_new(ld, value);
	if (!h)
		return;

	ld->ctx.section = "history";
	if (!cfg__map_keys_unique(ld, value))
		ok = false;
	for (size_t i = 0; i < value->nkids; i += 2) {
		const struct node *k = value->kids[i];
		int idx;

		if (k->kind != NODE_SCALAR)
			continue;
		idx = cfg__word_index(k->value, history_keys, COUNT(history_keys));
		if (idx < 0) {
			unknown_key(ld, k);
			ok = false;
		} else if (!own[idx]) { /* a second one is cfg__map_keys_unique's error */
			own[idx] = value->kids[i + 1];
		}
	}
	if (own[H_PATH] && !get_path(ld, own[H_PATH], h))
		ok = false;
	if (own[H_RAW_RESULTS] && !cfg__get_uint(ld, own[H_RAW_RESULTS], "raw_results", 0,
						 CFG_HISTORY_RAW_MAX, &h->raw_results))
		ok = false;
	if (own[H_HOURLY] && !get_retention(ld, own[H_HOURLY], "hourly", &h->hourly_ms))
		ok = false;
	if (own[H_DAILY] && !get_retention(ld, own[H_DAILY], "daily", &h->daily_ms))
		ok = false;
	if (own[H_EVENTS] && !get_retention(ld, own[H_EVENTS], "events", &h->events_ms))
		ok = false;
	ld->ctx.section = NULL;
	if (ok)
		ld->cfg->pub.history = h;
}
