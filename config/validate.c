/* SPDX-License-Identifier: MIT */
/*
 * validate.c: one document of a job file walked and checked, key by key
 * (the keys themselves are config.c's, the `fleet` section fleet.c's, the
 * `notifiers` section notify.c's, `history` history.c's, `web` web.c's),
 * and the errors it reports.
 *
 * A job's value for a key comes from the job, else from its file's
 * `defaults`, else from the main file's `defaults`, else from the
 * built-in default. Every problem is reported, with its position, and
 * the walk goes on to find the others; any error means no configuration
 * at all.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config-internal.h"
#include "config/values.h"

/* ---- errors ------------------------------------------------------------- */

void cfg__error_at(struct cfg_ctx *ctx, unsigned line, unsigned column, const char *fmt, ...)
{
	char msg[512], *text;
	va_list ap;
	int n;

	ctx->nerrors++;
	if (!ctx->errs)
		return;
	ctx->errs->total++;
	if (ctx->errs->n >= CFG_MAX_ERRORS)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (!line) /* about the whole file */
		n = asprintf(&text, "%s: %s", ctx->file, msg);
	else if (ctx->section)
		n = asprintf(&text, "%s:%u:%u: %s: %s", ctx->file, line, column, ctx->section, msg);
	else if (ctx->job)
		n = asprintf(&text, "%s:%u:%u: job \"%s\": %s", ctx->file, line, column, ctx->job, msg);
	else
		n = asprintf(&text, "%s:%u:%u: %s", ctx->file, line, column, msg);
	if (n < 0)
		return;
	if (ctx->errs->n == 0 || !(ctx->errs->n & (ctx->errs->n - 1))) {
		/* Room for twice as many at each power of two. */
		size_t cap = ctx->errs->n < 4 ? 8 : 2 * ctx->errs->n;
		struct cfg_error *v = realloc(ctx->errs->v, cap * sizeof *v);

		if (!v) {
			free(text);
			return;
		}
		ctx->errs->v = v;
	}
	ctx->errs->v[ctx->errs->n].text = text;
	/* Its own copy: the configuration (and its names) is gone on failure. */
	ctx->errs->v[ctx->errs->n].where.file = strdup(ctx->file);
	ctx->errs->v[ctx->errs->n].where.line = line;
	ctx->errs->v[ctx->errs->n].where.column = column;
	ctx->errs->n++;
}

/* Errors of one file in the order of their positions (stable). */
static int by_position(const void *a, const void *b)
{
	const struct cfg_error *x = a, *y = b;

	if (x->where.line != y->where.line)
		return x->where.line < y->where.line ? -1 : 1;
	if (x->where.column != y->where.column)
		return x->where.column < y->where.column ? -1 : 1;
	return 0;
}

void cfg__sort_errors(struct cfg_errors *errs)
{
	size_t start = 0;

	if (!errs)
		return;
	while (start < errs->n) {
		size_t end = start;

		while (end < errs->n && errs->v[end].where.file && errs->v[start].where.file &&
		       strcmp(errs->v[end].where.file, errs->v[start].where.file) == 0)
			end++;
		if (end == start)
			end++;
		/* Insertion sort: stable, and a file's errors are few and mostly in order. */
		for (size_t i = start + 1; i < end; i++) {
			struct cfg_error e = errs->v[i];
			size_t j = i;

			while (j > start && by_position(&errs->v[j - 1], &e) > 0) {
				errs->v[j] = errs->v[j - 1];
				j--;
			}
			errs->v[j] = e;
		}
		start = end;
	}
}

void cfg_errors_free(struct cfg_errors *errs)
{
	if (!errs)
		return;
	for (size_t i = 0; i < errs->n; i++) {
		free(errs->v[i].text);
		free((char *)errs->v[i].where.file);
	}
	free(errs->v);
	memset(errs, 0, sizeof *errs);
}

/* Reports k, a key no job has, with the key it is likely a typo of (cfg__key_hint). */
static void unknown_key(struct load *ld, const struct node *k, int type)
{
	const char *hint = cfg__key_hint(k->value, type);

	if (hint)
		ERR(ld, k, "unknown key \"%s\" (did you mean \"%s\"?)", k->value, hint);
	else
		ERR(ld, k, "unknown key \"%s\"", k->value);
}

/* ---- the configuration being built -------------------------------------- */

char *cfg__keep(struct load *ld, const char *s)
{
	return s ? cfg__strndup(&ld->cfg->arena, s, strlen(s)) : NULL;
}

/* ---- defaults ----------------------------------------------------------- */

static void read_defaults(struct load *ld, const struct node *map, struct defaults *d)
{
	if (map->kind != NODE_MAP) {
		ERR(ld, map, "\"defaults\": expected a mapping of job keys, not %s", cfg__kind_name(map));
		return;
	}
	ld->ctx.section = "defaults";
	cfg__map_keys_unique(ld, map);
	for (size_t i = 0; i < map->nkids; i += 2) {
		const struct node *k = map->kids[i], *v = map->kids[i + 1];
		struct job scratch;
		int idx;

		if (k->kind != NODE_SCALAR)
			continue;
		idx = cfg__key_index(k->value);
		if (idx < 0) {
			unknown_key(ld, k, -1);
			continue;
		}
		if (idx == K_NAME) {
			ERR(ld, k, "\"name\" cannot have a default: every job names itself");
			continue;
		}
		/* Check the value now, once, where it is written. */
		memset(&scratch, 0, sizeof scratch);
		d->node[idx] = v;
		d->file[idx] = ld->ctx.file;
		d->bad[idx] = false;
		if (idx == K_TYPE) {
			if (!cfg__want_scalar(ld, v, "type", "http, tcp, dns or exec") ||
			    cfg__type_index(v->value) < 0) {
				if (v->kind == NODE_SCALAR)
					ERR(ld, v, "unknown job type \"%s\" (expected http, tcp, dns or exec)",
					    v->value);
				d->bad[idx] = true;
			}
			continue;
		}
		if (!cfg__apply(ld, &scratch, (enum key)idx, v))
			d->bad[idx] = true;
	}
	ld->ctx.section = NULL;
}

/* ---- jobs --------------------------------------------------------------- */

static uint64_t hash_name(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ull;
	return h;
}

/* Finds name; returns its slot (empty or the job's). */
static size_t *name_slot(struct config_full *c, const char *name)
{
	size_t mask = c->capnames - 1, i = hash_name(name) & mask;

	while (c->names[i] && strcmp(c->pub.jobs[c->names[i] - 1].name, name) != 0)
		i = (i + 1) & mask;
	return &c->names[i];
}

static int names_grow(struct config_full *c)
{
	size_t old = c->capnames, *slots = c->names;

	c->capnames = old ? 2 * old : 16; /* one-job configurations are common (coctl add, fleet) */
	c->names = calloc(c->capnames, sizeof *c->names);
	if (!c->names) {
		c->names = slots;
		c->capnames = old;
		return -ENOMEM;
	}
	for (size_t i = 0; i < old; i++)
		if (slots[i])
			*name_slot(c, c->pub.jobs[slots[i] - 1].name) = slots[i];
	free(slots);
	return 0;
}

static struct job *job_new(struct load *ld)
{
	struct config_full *c = ld->cfg;

	if (c->pub.njobs == c->capjobs) {
		size_t cap = c->capjobs ? 2 * c->capjobs : 4;
		struct job *v = realloc(c->pub.jobs, cap * sizeof *v);

		if (!v)
			return NULL;
		c->pub.jobs = v;
		c->capjobs = cap;
	}
	return memset(&c->pub.jobs[c->pub.njobs], 0, sizeof(struct job));
}

/* The node for key k: the job's own, else the file's defaults, else the main file's. */
static const struct node *effective(const struct node *const *own, const struct defaults *file,
				    const struct defaults *global, enum key k, bool *bad,
				    const char **from)
{
	*bad = false;
	*from = NULL;
	if (own[k])
		return own[k];
	if (file && (file->node[k] || file->bad[k])) {
		*bad = file->bad[k];
		*from = "defaults";
		return file->bad[k] ? NULL : file->node[k];
	}
	if (global->node[k] || global->bad[k]) {
		*bad = global->bad[k];
		*from = "defaults";
		return global->bad[k] ? NULL : global->node[k];
	}
	return NULL;
}

static void read_job(struct load *ld, const struct node *map, size_t index,
		     const struct defaults *file)
{
	const struct node *own[NKEYS] = { 0 }, *n;
	const char *from;
	char label[32], a[32], b[32];
	struct job *j;
	enum key need;
	bool ok = true, bad;
	int t;

	ld->ctx.job = NULL;
	if (map->kind != NODE_MAP) {
		ERR(ld, map, "jobs: item %zu: expected a job (a mapping with name, type, every, ...), "
			     "not %s", index + 1, cfg__kind_name(map));
		return;
	}
	snprintf(label, sizeof label, "#%zu", index + 1);
	ld->ctx.job = label;
	for (size_t i = 0; i < map->nkids; i += 2)
		if (map->kids[i]->kind == NODE_SCALAR && (t = cfg__key_index(map->kids[i]->value)) >= 0 &&
		    !own[t])
			own[t] = map->kids[i + 1];
	n = own[K_NAME];
	if (n && n->kind == NODE_SCALAR && cfg__name_ok(n->value))
		ld->ctx.job = n->value;
	if (!cfg__map_keys_unique(ld, map))
		ok = false;

	/* The name first: errors then say which job. */
	n = own[K_NAME];
	if (!n) {
		ERR(ld, map, "\"name\" is missing");
		ok = false;
	} else if (n->kind != NODE_SCALAR || !cfg__name_ok(n->value)) {
		ERR(ld, n, "\"name\": %s%s%s is not a job name (1 to 64 letters, digits, \"_\", \".\" "
			   "or \"-\")", n->kind == NODE_SCALAR ? "\"" : "",
		    n->kind == NODE_SCALAR ? n->value : cfg__kind_name(n), n->kind == NODE_SCALAR ? "\"" : "");
		ok = false;
	} else {
		ld->ctx.job = n->value;
	}

	n = effective(own, file, &ld->global, K_TYPE, &bad, &from);
	t = -1;
	if (bad) {
		ok = false;
	} else if (!n) {
		ERR(ld, map, "\"type\" is missing (expected http, tcp, dns or exec)");
		ok = false;
	} else if (cfg__want_scalar(ld, n, "type", "http, tcp, dns or exec") &&
		   (t = cfg__type_index(n->value)) < 0) {
		const char *hint = cfg__type_hint(n->value);

		if (hint)
			ERR(ld, n, "unknown job type \"%s\" (did you mean \"%s\"?)", n->value, hint);
		else
			ERR(ld, n, "unknown job type \"%s\" (expected http, tcp, dns or exec)", n->value);
	}

	/* Unknown keys, and keys of another type. */
	for (size_t i = 0; i < map->nkids; i += 2) {
		const struct node *k = map->kids[i];
		int idx;

		if (k->kind != NODE_SCALAR)
			continue;
		idx = cfg__key_index(k->value);
		if (idx < 0) {
			unknown_key(ld, k, t);
			ok = false;
		} else if (t >= 0 && !cfg__key_of_type((enum key)idx, (enum job_type)t)) {
			ERR(ld, k, "\"%s\" is not a key of %s jobs (it belongs to %s jobs)", k->value,
			    job_type_name((enum job_type)t), cfg__key_owner((enum key)idx));
			ok = false;
		}
	}
	if (t < 0) {
		/* No type: still check the keys every job has, to report everything at once. */
		struct job scratch;

		memset(&scratch, 0, sizeof scratch);
		for (int k = K_EVERY; k <= K_LAST_COMMON; k++)
			if (own[k])
				cfg__apply(ld, &scratch, (enum key)k, own[k]);
		ld->ctx.job = NULL;
		return;
	}

	j = job_new(ld);
	if (!j)
		return;
	j->type = (enum job_type)t;
	cfg__job_defaults(j);
	j->where.file = ld->ctx.file;
	j->where.line = map->line;
	j->where.column = map->column;
	for (int k = K_EVERY; k < NKEYS; k++) {
		if (!cfg__key_of_type((enum key)k, (enum job_type)t))
			continue;
		n = effective(own, file, &ld->global, (enum key)k, &bad, &from);
		if (bad)
			ok = false;
		else if (n && !cfg__apply(ld, j, (enum key)k, n))
			ok = false;
	}

	/* What must be there. */
	need = cfg__required_key(j->type);
	if (!effective(own, file, &ld->global, need, &bad, &from) && !bad) {
		ERR(ld, map, "\"%s\" is missing (a %s job needs it)", cfg__key_name(need),
		    job_type_name(j->type));
		ok = false;
	}
	n = effective(own, file, &ld->global, K_EVERY, &bad, &from);
	if (!n && !bad) {
		ERR(ld, map, "\"every\" is missing (how often it runs, such as 30s), here or in defaults");
		ok = false;
	}
	if (!ok || !j->every_ms) {
		ld->ctx.job = NULL;
		return;
	}

	/* Relations between values. */
	n = effective(own, file, &ld->global, K_TIMEOUT, &bad, &from);
	if (!n) {
		j->timeout_ms = j->every_ms / 2 < 10000 ? j->every_ms / 2 : 10000;
		if (!j->timeout_ms)
			j->timeout_ms = 1;
	} else if (j->timeout_ms >= j->every_ms) {
		const struct node *at = own[K_TIMEOUT] ? own[K_TIMEOUT] : map;

		ERR(ld, at, "\"timeout\" %s%s must be shorter than \"every\" %s",
		    config_format_duration(j->timeout_ms, a, sizeof a), from ? " (from defaults)" : "",
		    config_format_duration(j->every_ms, b, sizeof b));
		ok = false;
	}
	if (j->jitter_ms && j->jitter_ms >= j->every_ms) {
		n = effective(own, file, &ld->global, K_JITTER, &bad, &from);
		ERR(ld, own[K_JITTER] ? own[K_JITTER] : map,
		    "\"jitter\" %s%s must be shorter than \"every\" %s",
		    config_format_duration(j->jitter_ms, a, sizeof a), from ? " (from defaults)" : "",
		    config_format_duration(j->every_ms, b, sizeof b));
		ok = false;
	}
	if (!ok) {
		ld->ctx.job = NULL;
		return;
	}

	/* Unique across every file. */
	j->name = cfg__keep(ld, own[K_NAME]->value);
	if (!j->name)
		return;
	if (ld->cfg->pub.njobs * 2 >= ld->cfg->capnames && names_grow(ld->cfg) < 0)
		return;
	{
		size_t *slot = name_slot(ld->cfg, j->name);

		if (*slot) {
			const struct job *first = &ld->cfg->pub.jobs[*slot - 1];

			ERR(ld, own[K_NAME], "defined twice: here and at %s:%u:%u", first->where.file,
			    first->where.line, first->where.column);
			ld->ctx.job = NULL;
			return;
		}
		*slot = ld->cfg->pub.njobs + 1;
	}
	ld->cfg->pub.njobs++;
	ld->ctx.job = NULL;
}

/* ---- metrics ------------------------------------------------------------ */

static void read_metrics(struct load *ld, const struct node *map)
{
	struct config_full *c = ld->cfg;
	uint16_t port;

	if (map->kind != NODE_MAP) {
		ERR(ld, map, "\"metrics\": expected a mapping such as {listen: 127.0.0.1:9464}, not %s",
		    cfg__kind_name(map));
		return;
	}
	if (c->pub.metrics_listen) {
		ERR(ld, map, "\"metrics\" is set twice: here and at %s:%u:%u", c->metrics_file,
		    c->metrics_line, c->metrics_column);
		return;
	}
	cfg__map_keys_unique(ld, map);
	for (size_t i = 0; i < map->nkids; i += 2) {
		const struct node *k = map->kids[i], *v = map->kids[i + 1];

		if (k->kind != NODE_SCALAR)
			continue;
		if (strcmp(k->value, "listen") != 0) {
			static const char *const mkeys[] = { "listen" };
			const char *hint = cfg__suggest(k->value, mkeys, 1);

			ERR(ld, k, "metrics: unknown key \"%s\"%s", k->value,
			    hint ? " (did you mean \"listen\"?)" : " (the only key is \"listen\")");
			continue;
		}
		if (!cfg__get_hostport(ld, v, "listen", true, 0, NULL, &port))
			continue;
		c->pub.metrics_listen = cfg__keep(ld, v->value);
		c->metrics_file = ld->ctx.file;
		c->metrics_line = map->line;
		c->metrics_column = map->column;
	}
}

/* ---- the document ------------------------------------------------------- */

/* Reads one file's text; main says whether its defaults are the global ones. */
int cfg__load_text(struct load *ld, const char *name, const char *data, size_t len, bool main)
{
	struct node *root = NULL;
	struct defaults file_defaults;
	const struct node *defaults = NULL, *jobs = NULL, *metrics = NULL;
	const struct node *fleet_key = NULL, *fleet = NULL, *notifiers_key = NULL, *notifiers = NULL;
	const struct node *history_key = NULL, *history = NULL, *web_key = NULL, *web = NULL;
	int err;

	ld->ctx.file = name;
	if (main) {
		ld->main_file = name;
		/* Unless the document can be read, jobs' `notify` are not checked (no cascade). */
		ld->notifiers_bad = true;
	}
	ld->ctx.job = NULL;
	memset(&file_defaults, 0, sizeof file_defaults);
	err = cfg__parse_tree(&ld->ctx, data, len, &root);
	if (err == -ENOMEM) {
		cfg__arena_free(&ld->ctx.arena);
		return err;
	}
	if (err < 0)
		goto out;
	if (main && (!root || root->kind == NODE_MAP))
		ld->notifiers_bad = false;
	if (!root)
		goto out;
	if (root->kind != NODE_MAP) {
		ERR(ld, root, "the file must be a mapping with \"jobs:\" (and optionally \"defaults:\" "
			      "and \"metrics:\"), not %s", cfg__kind_name(root));
		goto out;
	}
	cfg__map_keys_unique(ld, root);
	for (size_t i = 0; i < root->nkids; i += 2) {
		const struct node *k = root->kids[i], *v = root->kids[i + 1];

		if (k->kind != NODE_SCALAR)
			continue;
		if (!strcmp(k->value, "defaults")) {
			defaults = v;
		} else if (!strcmp(k->value, "jobs")) {
			jobs = v;
		} else if (!strcmp(k->value, "metrics")) {
			metrics = v;
		} else if (!strcmp(k->value, "fleet")) {
			fleet_key = k;
			fleet = v;
		} else if (!strcmp(k->value, "notifiers")) {
			notifiers_key = k;
			notifiers = v;
		} else if (!strcmp(k->value, "history")) {
			if (!history) { /* a second one is cfg__map_keys_unique's error */
				history_key = k;
				history = v;
			}
		} else if (!strcmp(k->value, "web")) {
			if (!web) {
				web_key = k;
				web = v;
			}
		} else {
			const char *hint = cfg__top_key_hint(k->value);

			if (hint)
				ERR(ld, k, "unknown key \"%s\" (did you mean \"%s\"?)", k->value, hint);
			else if (cfg__key_index(k->value) >= 0)
				ERR(ld, k, "unknown key \"%s\" at the top level: job keys go in an item of "
					   "\"jobs:\" or in \"defaults:\"", k->value);
			else
				ERR(ld, k, "unknown key \"%s\" (the top level has jobs, defaults, "
					   "metrics, fleet, notifiers, history and web)", k->value);
		}
	}
	/* The notifiers first: `notify` in defaults and jobs names them. */
	if (notifiers)
		cfg__read_notifiers(ld, notifiers_key, notifiers, main);
	if (defaults)
		read_defaults(ld, defaults, main ? &ld->global : &file_defaults);
	if (metrics)
		read_metrics(ld, metrics);
	if (fleet)
		cfg__read_fleet(ld, fleet_key, fleet, main);
	if (history)
		cfg__read_history(ld, history_key, history, main);
	if (web)
		cfg__read_web(ld, web_key, web, main);
	if (jobs) {
		if (jobs->kind != NODE_SEQ) {
			ERR(ld, jobs, "\"jobs\": expected a list of jobs (items starting with \"- \"), not %s",
			    cfg__kind_name(jobs));
		} else {
			for (size_t i = 0; i < jobs->nkids; i++)
				read_job(ld, jobs->kids[i], i, main ? NULL : &file_defaults);
		}
	}
out:
	if (main) {
		/* Its defaults apply to the drop-ins still to come: keep its tree. */
		cfg__arena_free(&ld->main_tree);
		ld->main_tree = ld->ctx.arena;
		ld->ctx.arena.head = NULL;
	} else {
		cfg__arena_free(&ld->ctx.arena);
	}
	return 0;
}
