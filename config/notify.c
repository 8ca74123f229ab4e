/* SPDX-License-Identifier: MIT */
/*
 * notify.c: the `notifiers:` section of the main file, where jobs' up and
 * down events go (issue 14; coro-runner.yaml(5), NOTIFIERS): a list of
 * notifiers, each of a type (alertmanager, webhook, email, exec) with keys
 * of its own; and a job's `notify`, the names of the notifiers it tells.
 *
 * The daemon's side is daemon/notify/; this file only reads and checks.
 * A header's value, `username` and `password` may hold ${env:NAME} and
 * ${file:/PATH}: their syntax is checked here, the text kept as written
 * (the daemon expands it when it sends, so that no secret reaches the
 * configuration, a log or coctl's output), and no message quotes more of
 * such a value than the bad ${...}. Strings live in the configuration's
 * arena; the array of notifiers is malloc'd and freed by config_free.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config-internal.h"
#include "config/values.h"

/*
 * Notifiers in a configuration, and names in one `notify`: a bound on what
 * hostile input costs (names are looked up by binary search, a `notify`
 * list is sorted to find a name given twice).
 */
#define NOTIFIERS_MAX 1000u

#define TIMEOUT_MIN_MS 100u      /* `timeout`: one delivery attempt */
#define TIMEOUT_MAX_MS 300000u

enum nkey {
	N_NAME, N_TYPE, N_URL, N_HEADERS, N_TLS_VERIFY, N_TIMEOUT, N_QUEUE,
	N_SMTP, N_FROM, N_TO, N_USERNAME, N_PASSWORD, N_COMMAND,
	NNKEYS
};

/* tests/bats/coctl-check.bats reads this table, to check that every key is documented. */
static const char *const nkey_names[NNKEYS] = {
	"name", "type", "url", "headers", "tls_verify", "timeout", "queue",
	"smtp", "from", "to", "username", "password", "command",
};

/* The notifier types a key belongs to, as a bit mask. */
#define T_AM (1u << NOTIFIER_ALERTMANAGER)
#define T_WH (1u << NOTIFIER_WEBHOOK)
#define T_EM (1u << NOTIFIER_EMAIL)
#define T_EX (1u << NOTIFIER_EXEC)
#define T_ALL (T_AM | T_WH | T_EM | T_EX)

static const unsigned nkey_types[NNKEYS] = {
	T_ALL, T_ALL, T_AM | T_WH, T_AM | T_WH, T_AM | T_WH | T_EM, T_ALL, T_ALL,
	T_EM, T_EM, T_EM, T_EM, T_EM, T_EX,
};

static const char *const type_names[] = { "alertmanager", "webhook", "email", "exec" };

#define TYPES_TEXT "alertmanager, webhook, email or exec"
#define NAME_RULE "(1 to 64 letters, digits, \"_\", \".\" or \"-\")"

#define COUNT(a) (sizeof(a) / sizeof *(a))

const char *notifier_type_name(enum notifier_type type)
{
	return (unsigned)type < COUNT(type_names) ? type_names[type] : "?";
}

const struct cfg_notifier *config_find_notifier(const struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->nnotifiers; i++)
		if (strcmp(cfg->notifiers[i].name, name) == 0)
			return &cfg->notifiers[i];
	return NULL;
}

/* "a" or "an", before the name of type t. */
static const char *article(int t)
{
	return strchr("aeiou", type_names[t][0]) ? "an" : "a";
}

/* The n words of list whose bit is set in mask, as "a, b and c", into buf. */
static const char *join(const char *const *list, size_t n, unsigned mask, char *buf, size_t size)
{
	size_t off = 0, done = 0, total = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n; i++)
		total += !!(mask & (1u << i));
	for (size_t i = 0; i < n && off < size; i++) {
		if (!(mask & (1u << i)))
			continue;
		done++;
		off += (size_t)snprintf(buf + off, size - off, "%s%s",
					done == 1 ? "" : done == total ? " and " : ", ", list[i]);
	}
	return buf;
}

/* The keys a notifier of type t has, as a mask of enum nkey bits. */
static unsigned keys_of_type(int t)
{
	unsigned mask = 0;

	for (int k = 0; k < NNKEYS; k++)
		if (nkey_types[k] & (1u << t))
			mask |= 1u << k;
	return mask;
}

/* ---- the values --------------------------------------------------------- */

/* `headers`: as a job's, and each value one line, its ${...} well formed. */
static bool get_headers(struct load *ld, const struct node *n, struct cfg_notifier *nt)
{
	char why[160];
	bool ok = cfg__get_pairs(ld, n, "headers", cfg__header_name_problem, &nt->headers,
				 &nt->nheaders);

	if (n->kind != NODE_MAP)
		return false;
	for (size_t i = 0; i + 1 < n->nkids; i += 2) {
		const struct node *k = n->kids[i], *v = n->kids[i + 1];

		if (k->kind != NODE_SCALAR || v->kind != NODE_SCALAR)
			continue;
		if (strpbrk(v->value, "\r\n")) {
			ERR(ld, v, "\"headers\": the value of \"%s\" must be one line", k->value);
			ok = false;
		} else if (cfg__expansion_problem(v->value, why, sizeof why)) {
			ERR(ld, v, "\"headers\": the value of \"%s\": %s", k->value, why);
			ok = false;
		}
	}
	return ok;
}

/* `username`, `password`: a nonempty string whose ${...} are well formed. */
static bool get_secret(struct load *ld, const struct node *n, const char *key, char **ret)
{
	char why[160];

	if (!cfg__get_string(ld, n, key, true, ret))
		return false;
	if (cfg__expansion_problem(n->value, why, sizeof why)) {
		ERR(ld, n, "\"%s\": %s", key, why);
		return false;
	}
	return true;
}

/* A node that must be one mail address; key names it in messages. */
static bool get_address(struct load *ld, const struct node *n, const char *key, char **ret)
{
	const char *problem;

	if (!cfg__get_string(ld, n, key, true, ret))
		return false;
	if ((problem = cfg__address_problem(n->value)) != NULL) {
		ERR(ld, n, "\"%s\": \"%s\": %s", key, n->value, problem);
		return false;
	}
	return true;
}

/* `to`: one address, or a list of them. */
static bool get_recipients(struct load *ld, const struct node *n, struct cfg_notifier *nt)
{
	const struct node *const *items = &n;
	size_t count = 1;
	bool ok = true;

	if (n->kind == NODE_SEQ) {
		items = (const struct node *const *)n->kids;
		count = n->nkids;
		if (!count) {
			ERR(ld, n, "\"to\": the list is empty: give at least one address");
			return false;
		}
	} else if (n->kind != NODE_SCALAR) {
		ERR(ld, n, "\"to\": expected an address or a list of them, not %s", cfg__kind_name(n));
		return false;
	}
	nt->to = cfg__alloc(&ld->cfg->arena, count * sizeof *nt->to);
	if (!nt->to)
		return false;
	for (size_t i = 0; i < count; i++) {
		if (items[i]->kind != NODE_SCALAR) {
			ERR(ld, items[i], "\"to\": each address must be a string, not %s",
			    cfg__kind_name(items[i]));
			ok = false;
		} else if (!get_address(ld, items[i], "to", &nt->to[nt->nto]))
			ok = false;
		else
			nt->nto++;
	}
	return ok;
}

/* Sets key k of notifier nt from node n; reports what is wrong and returns false. */
static bool apply(struct load *ld, struct cfg_notifier *nt, enum nkey k, const struct node *n)
{
	const char *name = nkey_names[k], *problem;
	char a[32];

	switch (k) {
	case N_NAME:
	case N_TYPE:
	case NNKEYS:
		return true; /* read before the rest */
	case N_URL:
		if (!cfg__get_string(ld, n, name, true, &nt->url))
			return false;
		if ((problem = cfg__check_url(n->value)) != NULL) {
			ERR(ld, n, "\"url\": \"%s\": %s", n->value, problem);
			return false;
		}
		return true;
	case N_HEADERS:
		return get_headers(ld, n, nt);
	case N_TLS_VERIFY:
		return cfg__get_bool(ld, n, name, &nt->tls_verify);
	case N_TIMEOUT:
		if (!cfg__get_duration(ld, n, name, TIMEOUT_MIN_MS, &nt->timeout_ms))
			return false;
		if (nt->timeout_ms > TIMEOUT_MAX_MS) {
			ERR(ld, n, "\"timeout\": %s is too long (at most %s)", n->value,
			    config_format_duration(TIMEOUT_MAX_MS, a, sizeof a));
			return false;
		}
		return true;
	case N_QUEUE:
		return cfg__get_uint(ld, n, name, 1, CFG_NOTIFY_QUEUE_MAX, &nt->queue);
	case N_SMTP:
		if (!cfg__get_string(ld, n, name, true, &nt->smtp))
			return false;
		if ((problem = cfg__check_smtp_url(n->value)) != NULL) {
			ERR(ld, n, "\"smtp\": \"%s\": %s", n->value, problem);
			return false;
		}
		return true;
	case N_FROM:
		return get_address(ld, n, name, &nt->from);
	case N_TO:
		return get_recipients(ld, n, nt);
	case N_USERNAME:
		return get_secret(ld, n, name, &nt->username);
	case N_PASSWORD:
		return get_secret(ld, n, name, &nt->password);
	case N_COMMAND:
		return cfg__get_command(ld, n, &nt->argv, &nt->argc);
	}
	return false;
}

/* ---- one notifier ------------------------------------------------------- */

/* A notifier's name met in the section, and where: for "defined twice". */
struct seen {
	const char *name;         /* kept with the configuration */
	unsigned line, column;
};

/* Reports k, a key no notifier has, with the key it is likely a typo of. */
static void unknown_key(struct load *ld, const struct node *k, int t)
{
	const char *cands[NNKEYS], *hint = NULL;
	size_t nc = 0;
	char list[256];

	if (t >= 0) {
		for (int c = 0; c < NNKEYS; c++)
			if (nkey_types[c] & (1u << t))
				cands[nc++] = nkey_names[c];
		hint = cfg__suggest(k->value, cands, nc);
	}
	if (!hint)
		hint = cfg__suggest(k->value, nkey_names, NNKEYS);
	if (hint)
		ERR(ld, k, "unknown key \"%s\" (did you mean \"%s\"?)", k->value, hint);
	else if (t >= 0)
		ERR(ld, k, "unknown key \"%s\" (%s %s notifier has %s)", k->value, article(t),
		    type_names[t], join(nkey_names, NNKEYS, keys_of_type(t), list, sizeof list));
	else
		ERR(ld, k, "unknown key \"%s\"", k->value);
}

/* `type`: the notifier type, or -1 (reported). */
static int read_type(struct load *ld, const struct node *map, const struct node *n)
{
	const char *hint;
	int t;

	if (!n) {
		ERR(ld, map, "\"type\" is missing (expected " TYPES_TEXT ")");
		return -1;
	}
	if (!cfg__want_scalar(ld, n, "type", TYPES_TEXT))
		return -1;
	t = cfg__word_index(n->value, type_names, COUNT(type_names));
	if (t >= 0)
		return t;
	hint = cfg__suggest(n->value, type_names, COUNT(type_names));
	if (hint)
		ERR(ld, n, "unknown notifier type \"%s\" (did you mean \"%s\"?)", n->value, hint);
	else
		ERR(ld, n, "unknown notifier type \"%s\" (expected " TYPES_TEXT ")", n->value);
	return -1;
}

/*
 * What a notifier of type t cannot do without (reported at its mapping),
 * and the keys that go together (reported at the key that is there).
 */
static bool check_required(struct load *ld, const struct node *map, const struct node *const *own,
			   const struct node *const *keynode, int t)
{
	static const unsigned required[] = {
		[NOTIFIER_ALERTMANAGER] = 1u << N_URL,
		[NOTIFIER_WEBHOOK] = 1u << N_URL,
		[NOTIFIER_EMAIL] = 1u << N_SMTP | 1u << N_FROM | 1u << N_TO,
		[NOTIFIER_EXEC] = 1u << N_COMMAND,
	};
	bool ok = true;

	for (int k = 0; k < NNKEYS; k++) {
		if (!(required[t] & (1u << k)) || own[k])
			continue;
		ERR(ld, map, "\"%s\" is missing (%s %s notifier needs it)", nkey_names[k], article(t),
		    type_names[t]);
		ok = false;
	}
	/* SMTP AUTH takes both. */
	if (own[N_USERNAME] && !own[N_PASSWORD]) {
		ERR(ld, keynode[N_USERNAME], "\"username\" without \"password\": SMTP AUTH needs both");
		ok = false;
	}
	if (own[N_PASSWORD] && !own[N_USERNAME]) {
		ERR(ld, keynode[N_PASSWORD], "\"password\" without \"username\": SMTP AUTH needs both");
		ok = false;
	}
	return ok;
}

/*
 * The name: true if it is sound and not a second one (then it is kept in
 * *ret and added to seen).
 */
static bool read_name(struct load *ld, const struct node *map, const struct node *n,
		      struct seen *seen, size_t *nseen, char **ret)
{
	if (!n) {
		ERR(ld, map, "\"name\" is missing");
		return false;
	}
	if (n->kind != NODE_SCALAR || !cfg__name_ok(n->value)) {
		ERR(ld, n, "\"name\": %s%s%s is not a notifier name " NAME_RULE,
		    n->kind == NODE_SCALAR ? "\"" : "",
		    n->kind == NODE_SCALAR ? n->value : cfg__kind_name(n),
		    n->kind == NODE_SCALAR ? "\"" : "");
		return false;
	}
	for (size_t i = 0; i < *nseen; i++) {
		if (strcmp(seen[i].name, n->value) == 0) {
			ERR(ld, n, "defined twice: here and at %s:%u:%u", ld->ctx.file, seen[i].line,
			    seen[i].column);
			return false;
		}
	}
	*ret = cfg__keep(ld, n->value);
	if (!*ret)
		return false;
	seen[*nseen].name = *ret;
	seen[*nseen].line = map->line;
	seen[*nseen].column = map->column;
	(*nseen)++;
	return true;
}

/*
 * Reads item index of `notifiers`. A notifier with a sound name goes in
 * seen even if a value of it is wrong (jobs naming it get no second
 * error); into the configuration only if nothing is wrong.
 */
static void read_notifier(struct load *ld, const struct node *map, size_t index,
			  struct seen *seen, size_t *nseen)
{
	const struct node *own[NNKEYS] = { 0 }, *keynode[NNKEYS] = { 0 }, *n;
	char section[CFG_NAME_MAX + 16];
	struct cfg_notifier *nt = &ld->cfg->pub.notifiers[ld->cfg->pub.nnotifiers];
	bool ok = true;
	int t;

	if (map->kind != NODE_MAP) {
		ERR(ld, map, "notifiers: item %zu: expected a notifier (a mapping with name, type, "
			     "...), not %s", index + 1, cfg__kind_name(map));
		return;
	}
	memset(nt, 0, sizeof *nt);
	for (size_t i = 0; i < map->nkids; i += 2) {
		const struct node *k = map->kids[i];
		int idx = k->kind == NODE_SCALAR ? cfg__word_index(k->value, nkey_names, NNKEYS) : -1;

		if (idx >= 0 && !own[idx]) { /* a second one is cfg__map_keys_unique's error */
			own[idx] = map->kids[i + 1];
			keynode[idx] = k;
		}
	}
	n = own[N_NAME];
	if (n && n->kind == NODE_SCALAR && cfg__name_ok(n->value))
		snprintf(section, sizeof section, "notifier \"%s\"", n->value);
	else
		snprintf(section, sizeof section, "notifier \"#%zu\"", index + 1);
	ld->ctx.section = section;

	if (!cfg__map_keys_unique(ld, map))
		ok = false;
	if (!read_name(ld, map, own[N_NAME], seen, nseen, &nt->name))
		ok = false;
	t = read_type(ld, map, own[N_TYPE]);

	/* Unknown keys, and keys of another type. */
	for (size_t i = 0; i < map->nkids; i += 2) {
		const struct node *k = map->kids[i];
		char types[64];
		int idx;

		if (k->kind != NODE_SCALAR)
			continue;
		idx = cfg__word_index(k->value, nkey_names, NNKEYS);
		if (idx < 0) {
			unknown_key(ld, k, t);
			ok = false;
		} else if (t >= 0 && !(nkey_types[idx] & (1u << t))) {
			ERR(ld, k, "\"%s\" is for %s notifiers", k->value,
			    join(type_names, COUNT(type_names), nkey_types[idx], types, sizeof types));
			ok = false;
		}
	}

	if (t < 0) {
		/* No type: still check the keys every notifier has, to report everything at once. */
		if (own[N_TIMEOUT])
			apply(ld, nt, N_TIMEOUT, own[N_TIMEOUT]);
		if (own[N_QUEUE])
			apply(ld, nt, N_QUEUE, own[N_QUEUE]);
		goto out;
	}
	nt->type = (enum notifier_type)t;
	nt->tls_verify = true;
	nt->timeout_ms = CFG_NOTIFY_TIMEOUT_DEFAULT_MS;
	nt->queue = CFG_NOTIFY_QUEUE_DEFAULT;
	nt->where.file = ld->ctx.file;
	nt->where.line = map->line;
	nt->where.column = map->column;
	for (int k = N_URL; k < NNKEYS; k++)
		if (own[k] && (nkey_types[k] & (1u << t)) && !apply(ld, nt, (enum nkey)k, own[k]))
			ok = false;
	if (!check_required(ld, map, own, keynode, t))
		ok = false;
	if (ok)
		ld->cfg->pub.nnotifiers++;
out:
	ld->ctx.section = NULL;
}

/* ---- the section -------------------------------------------------------- */

static int by_string(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void cfg__read_notifiers(struct load *ld, const struct node *key, const struct node *list,
			 bool main)
{
	struct config *c = &ld->cfg->pub;
	struct seen *seen;
	size_t nseen = 0;

	if (!main) {
		if (ld->main_file)
			ERR(ld, key, "\"notifiers\" belongs in the main file (%s), not in a drop-in",
			    ld->main_file);
		else
			ERR(ld, key, "\"notifiers\" belongs in the main file, not in a drop-in");
		return;
	}
	ld->notifiers_bad = true; /* until read: no job's `notify` is checked against them */
	if (list->kind != NODE_SEQ) {
		ERR(ld, list, "\"notifiers\": expected a list of notifiers (items starting with "
			      "\"- \"), not %s", cfg__kind_name(list));
		return;
	}
	if (list->nkids > NOTIFIERS_MAX) {
		ERR(ld, list, "\"notifiers\": %zu notifiers, more than the %u a configuration may "
			      "have", list->nkids, NOTIFIERS_MAX);
		return;
	}
	free(c->notifiers);
	free(ld->notifier_names);
	c->notifiers = NULL;
	c->nnotifiers = 0;
	ld->notifier_names = NULL;
	ld->nnotifier_names = 0;
	if (!list->nkids) {
		ld->notifiers_bad = false;
		return;
	}
	c->notifiers = calloc(list->nkids, sizeof *c->notifiers);
	seen = calloc(list->nkids, sizeof *seen);
	ld->notifier_names = calloc(list->nkids, sizeof *ld->notifier_names);
	if (!c->notifiers || !seen || !ld->notifier_names) {
		ERR(ld, key, "\"notifiers\": out of memory");
		free(seen);
		return;
	}
	for (size_t i = 0; i < list->nkids; i++)
		read_notifier(ld, list->kids[i], i, seen, &nseen);
	for (size_t i = 0; i < nseen; i++)
		ld->notifier_names[i] = seen[i].name;
	ld->nnotifier_names = nseen;
	qsort(ld->notifier_names, nseen, sizeof *ld->notifier_names, by_string);
	free(seen);
	ld->notifiers_bad = false;
}

/* ---- a job's `notify` --------------------------------------------------- */

/* Whether name is one of the notifiers of the section (any of them, sound or not). */
static bool notifier_known(const struct load *ld, const char *name)
{
	return ld->nnotifier_names &&
	       bsearch(&name, ld->notifier_names, ld->nnotifier_names,
		       sizeof *ld->notifier_names, by_string) != NULL;
}

/* Reports n, a name no notifier has. */
static void unknown_notifier(struct load *ld, const struct node *n)
{
	const char *hint = NULL;
	char list[256];
	size_t off = 0;

	if (!ld->nnotifier_names) {
		ERR(ld, n, "notify: unknown notifier \"%s\" (no notifiers are defined)", n->value);
		return;
	}
	/* A message past the kept ones is only counted: spare the search for a hint. */
	if (!ld->ctx.errs || ld->ctx.errs->n >= CFG_MAX_ERRORS) {
		ERR(ld, n, "notify: unknown notifier \"%s\"", n->value);
		return;
	}
	hint = cfg__suggest(n->value, ld->notifier_names, ld->nnotifier_names);
	if (hint) {
		ERR(ld, n, "notify: unknown notifier \"%s\" (did you mean \"%s\"?)", n->value, hint);
		return;
	}
	list[0] = '\0';
	for (size_t i = 0; i < ld->nnotifier_names && off < sizeof list; i++)
		off += (size_t)snprintf(list + off, sizeof list - off, "%s%s", i ? ", " : "",
					ld->notifier_names[i]);
	if (off >= sizeof list)
		memcpy(list + sizeof list - 5, "...", 4);
	ERR(ld, n, "notify: unknown notifier \"%s\" (expected one of %s)", n->value, list);
}

/* A name of one `notify` and its place in the list. */
struct name_at {
	const char *name;
	size_t index;
};

static int by_name_then_index(const void *a, const void *b)
{
	const struct name_at *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : x->index < y->index ? -1 : x->index > y->index;
}

/* Reports each name of names (count, NULL: skip) that an earlier one repeats. */
static bool none_twice(struct load *ld, const struct node *const *items, char *const *names,
		       size_t count)
{
	struct name_at *v = malloc(count * sizeof *v);
	bool *again = calloc(count, sizeof *again), ok = true;
	size_t n = 0;

	if (!v || !again) {
		ERR(ld, items[0], "\"notify\": out of memory");
		free(v);
		free(again);
		return false;
	}
	for (size_t i = 0; i < count; i++)
		if (names[i])
			v[n++] = (struct name_at){ names[i], i };
	qsort(v, n, sizeof *v, by_name_then_index);
	for (size_t i = 1; i < n; i++)
		if (strcmp(v[i].name, v[i - 1].name) == 0)
			again[v[i].index] = true;
	/* In the order of the list, as the other errors. */
	for (size_t i = 0; i < count; i++) {
		if (again[i]) {
			ERR(ld, items[i], "\"notify\": \"%s\" is listed twice", names[i]);
			ok = false;
		}
	}
	free(v);
	free(again);
	return ok;
}

bool cfg__get_notify(struct load *ld, const struct node *n, char ***ret, size_t *ret_n)
{
	const struct node *const *items = &n;
	size_t count = 1;
	bool ok = true;
	char **names;

	if (n->kind == NODE_SEQ) {
		items = (const struct node *const *)n->kids;
		count = n->nkids;
	} else if (n->kind != NODE_SCALAR) {
		ERR(ld, n, "\"notify\": expected a notifier's name or a list of them, not %s",
		    cfg__kind_name(n));
		return false;
	} else if (!*n->value) {
		ERR(ld, n, "\"notify\": expected a notifier's name, or [] for none");
		return false;
	}
	*ret = NULL;
	*ret_n = 0;
	if (!count)
		return true; /* [] : none, whatever the defaults say */
	if (count > NOTIFIERS_MAX) {
		ERR(ld, n, "\"notify\": %zu names, more than the %u notifiers a configuration may "
			   "have", count, NOTIFIERS_MAX);
		return false;
	}
	names = cfg__alloc(&ld->cfg->arena, count * sizeof *names);
	if (!names)
		return false;
	for (size_t i = 0; i < count; i++) {
		const struct node *c = items[i];

		names[i] = NULL;
		if (c->kind != NODE_SCALAR) {
			ERR(ld, c, "\"notify\": each item must be a notifier's name, not %s",
			    cfg__kind_name(c));
			ok = false;
			continue;
		}
		if (!cfg__name_ok(c->value)) {
			ERR(ld, c, "\"notify\": \"%s\" is not a notifier name " NAME_RULE, c->value);
			ok = false;
			continue;
		}
		if (ld->check_notify && !ld->notifiers_bad && !notifier_known(ld, c->value)) {
			unknown_notifier(ld, c);
			ok = false;
		}
		if (!(names[i] = cfg__keep(ld, c->value)))
			return false;
	}
	if (count > 1 && !none_twice(ld, items, names, count))
		ok = false;
	if (!ok)
		return false;
	*ret = names;
	*ret_n = count;
	return true;
}
