/*
 * config.c: the schema of coro-runner's job files (SPEC §4), and loading.
 *
 * A file is parsed into a tree (tree.c), then checked key by key. A job's
 * value for a key comes from the job, else from its file's `defaults`,
 * else from the main file's `defaults`, else from the built-in default.
 * Every problem is reported, with its position, and loading goes on to
 * find the others; any error means no configuration at all.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config-internal.h"
#include "config/values.h"

/* ---- keys --------------------------------------------------------------- */

enum key {
	K_NAME, K_TYPE, K_EVERY, K_JITTER, K_TIMEOUT, K_RETRIES, K_RETRY_DELAY,
	K_FAILURES_BEFORE_DOWN, K_SUCCESSES_BEFORE_UP, K_LABELS, K_ENABLED,
	K_URL, K_METHOD, K_HEADERS, K_BODY, K_EXPECT_STATUS, K_EXPECT_BODY,
	K_EXPECT_BODY_REGEX, K_TLS_VERIFY, K_FOLLOW_REDIRECTS,
	K_TARGET, K_SEND, K_EXPECT,
	K_QUERY, K_RECORD, K_SERVER, K_EXPECT_RCODE, K_EXPECT_ANSWER,
	K_COMMAND, K_ENV, K_WORKDIR, K_OUTPUT_LIMIT, K_KILL_GRACE,
	NKEYS
};

#define T_ALL 0xf
#define T_HTTP (1u << JOB_HTTP)
#define T_TCP (1u << JOB_TCP)
#define T_DNS (1u << JOB_DNS)
#define T_EXEC (1u << JOB_EXEC)

static const char *const key_names[NKEYS] = {
	"name", "type", "every", "jitter", "timeout", "retries", "retry_delay",
	"failures_before_down", "successes_before_up", "labels", "enabled",
	"url", "method", "headers", "body", "expect_status", "expect_body",
	"expect_body_regex", "tls_verify", "follow_redirects",
	"target", "send", "expect",
	"query", "record", "server", "expect_rcode", "expect_answer",
	"command", "env", "workdir", "output_limit", "kill_grace",
};

static const unsigned key_types[NKEYS] = {
	T_ALL, T_ALL, T_ALL, T_ALL, T_ALL, T_ALL, T_ALL, T_ALL, T_ALL, T_ALL, T_ALL,
	T_HTTP, T_HTTP, T_HTTP, T_HTTP, T_HTTP, T_HTTP, T_HTTP, T_HTTP, T_HTTP,
	T_TCP, T_TCP, T_TCP,
	T_DNS, T_DNS, T_DNS, T_DNS, T_DNS,
	T_EXEC, T_EXEC, T_EXEC, T_EXEC, T_EXEC,
};

static const char *const type_names[] = { "http", "tcp", "dns", "exec" };
static const char *const top_keys[] = { "defaults", "jobs", "metrics" };
static const char *const methods[] = { "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS" };
static const char *const records[] = { "A", "AAAA", "CNAME", "MX", "NS", "PTR", "SOA", "SRV", "TXT", "CAA" };
static const char *const rcodes[] = { "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
				      "YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE" };

#define COUNT(a) (sizeof(a) / sizeof *(a))

const char *job_type_name(enum job_type type)
{
	return (unsigned)type < COUNT(type_names) ? type_names[type] : "?";
}

/* key_names in byte order, for a binary search (keys are looked up a lot). */
static const struct {
	const char *name;
	enum key key;
} keys_sorted[NKEYS] = {
	{ "body", K_BODY },
	{ "command", K_COMMAND },
	{ "enabled", K_ENABLED },
	{ "env", K_ENV },
	{ "every", K_EVERY },
	{ "expect", K_EXPECT },
	{ "expect_answer", K_EXPECT_ANSWER },
	{ "expect_body", K_EXPECT_BODY },
	{ "expect_body_regex", K_EXPECT_BODY_REGEX },
	{ "expect_rcode", K_EXPECT_RCODE },
	{ "expect_status", K_EXPECT_STATUS },
	{ "failures_before_down", K_FAILURES_BEFORE_DOWN },
	{ "follow_redirects", K_FOLLOW_REDIRECTS },
	{ "headers", K_HEADERS },
	{ "jitter", K_JITTER },
	{ "kill_grace", K_KILL_GRACE },
	{ "labels", K_LABELS },
	{ "method", K_METHOD },
	{ "name", K_NAME },
	{ "output_limit", K_OUTPUT_LIMIT },
	{ "query", K_QUERY },
	{ "record", K_RECORD },
	{ "retries", K_RETRIES },
	{ "retry_delay", K_RETRY_DELAY },
	{ "send", K_SEND },
	{ "server", K_SERVER },
	{ "successes_before_up", K_SUCCESSES_BEFORE_UP },
	{ "target", K_TARGET },
	{ "timeout", K_TIMEOUT },
	{ "tls_verify", K_TLS_VERIFY },
	{ "type", K_TYPE },
	{ "url", K_URL },
	{ "workdir", K_WORKDIR },
};

static int key_index(const char *name)
{
	size_t lo = 0, hi = NKEYS;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(name, keys_sorted[mid].name);

		if (!c)
			return (int)keys_sorted[mid].key;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -1;
}

static int word_index(const char *word, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(word, list[i]) == 0)
			return (int)i;
	return -1;
}

/* ---- the configuration being built -------------------------------------- */

struct config_full {
	struct config pub;
	struct cfg_arena arena; /* every string of the configuration */
	size_t capjobs;
	/* Job names: open addressing, values are job indexes + 1. */
	size_t *names;
	size_t capnames;
	const char *metrics_file;
	unsigned metrics_line, metrics_column;
};

/* A `defaults` mapping: per key, the value node, or a bad value (skip quietly). */
struct defaults {
	const struct node *node[NKEYS];
	const char *file[NKEYS];
	bool bad[NKEYS];
};

struct load {
	struct cfg_ctx ctx;
	struct config_full *cfg;
	struct defaults global;  /* the main file's */
	struct cfg_arena main_tree; /* the main file's tree: global points into it */
};

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

#define ERR(ld, node, ...) cfg__error_at(&(ld)->ctx, (node)->line, (node)->column, __VA_ARGS__)

static char *keep(struct load *ld, const char *s)
{
	return s ? cfg__strndup(&ld->cfg->arena, s, strlen(s)) : NULL;
}

static const char *kind_name(const struct node *n)
{
	return n->kind == NODE_MAP ? "a mapping" : n->kind == NODE_SEQ ? "a list" : "a value";
}

/* Checks that n is a scalar; reports "KEY: expected WHAT" otherwise. */
static bool want_scalar(struct load *ld, const struct node *n, const char *key, const char *what)
{
	if (n->kind == NODE_SCALAR)
		return true;
	ERR(ld, n, "\"%s\": expected %s, not %s", key, what, kind_name(n));
	return false;
}

/* Duplicate keys in a mapping: the second is an error. Returns false if any. */
static bool map_keys_unique(struct load *ld, const struct node *map)
{
	bool ok = true;

	for (size_t i = 0; i < map->nkids; i += 2) {
		const struct node *k = map->kids[i];

		if (k->kind != NODE_SCALAR) {
			ERR(ld, k, "a key must be a plain word, not %s", kind_name(k));
			ok = false;
			continue;
		}
		for (size_t j = 0; j < i; j += 2) {
			const struct node *first = map->kids[j];

			if (first->kind == NODE_SCALAR && strcmp(first->value, k->value) == 0) {
				ERR(ld, k, "key \"%s\" appears twice (first at line %u, column %u)",
				    k->value, first->line, first->column);
				ok = false;
				break;
			}
		}
	}
	return ok;
}

/* ---- values ------------------------------------------------------------- */

static bool get_duration(struct load *ld, const struct node *n, const char *key, uint64_t min_ms,
			 uint64_t *ret)
{
	int r;
	char a[32];

	if (!want_scalar(ld, n, key, "a duration such as 30s"))
		return false;
	r = config_parse_duration(n->value, ret);
	if (r == -ERANGE) {
		ERR(ld, n, "\"%s\": duration \"%s\" is too long (at most 100 years)", key, n->value);
		return false;
	}
	if (r < 0) {
		ERR(ld, n, "\"%s\": invalid duration \"%s\" (expected a number and a unit, largest "
			   "first: 250ms, 5s, 10m, 1h30m, 2d)", key, n->value);
		return false;
	}
	if (*ret < min_ms) {
		ERR(ld, n, "\"%s\": %s is too short (at least %s)", key, n->value,
		    config_format_duration(min_ms, a, sizeof a));
		return false;
	}
	return true;
}

static bool get_uint(struct load *ld, const struct node *n, const char *key, uint64_t min,
		     uint64_t max, unsigned *ret)
{
	uint64_t v;

	if (!want_scalar(ld, n, key, "a whole number"))
		return false;
	if (cfg__parse_uint(n->value, max, &v) < 0 || v < min) {
		ERR(ld, n, "\"%s\": expected a whole number from %llu to %llu, not \"%s\"", key,
		    (unsigned long long)min, (unsigned long long)max, n->value);
		return false;
	}
	*ret = (unsigned)v;
	return true;
}

static bool get_bool(struct load *ld, const struct node *n, const char *key, bool *ret)
{
	if (!want_scalar(ld, n, key, "true or false"))
		return false;
	if (cfg__parse_bool(n->value, ret) < 0) {
		ERR(ld, n, "\"%s\": expected true or false, not \"%s\"", key, n->value);
		return false;
	}
	return true;
}

static bool get_string(struct load *ld, const struct node *n, const char *key, bool nonempty,
		       char **ret)
{
	if (!want_scalar(ld, n, key, "a string"))
		return false;
	if (nonempty && !*n->value) {
		ERR(ld, n, "\"%s\": must not be empty", key);
		return false;
	}
	*ret = keep(ld, n->value);
	return *ret != NULL;
}

static bool get_word(struct load *ld, const struct node *n, const char *key,
		     const char *const *words, size_t nwords, char **ret)
{
	char list[256];
	size_t off = 0;
	const char *hint;

	if (!want_scalar(ld, n, key, "a word"))
		return false;
	if (word_index(n->value, words, nwords) >= 0) {
		*ret = keep(ld, n->value);
		return true;
	}
	for (size_t i = 0; i < nwords && off < sizeof list; i++)
		off += (size_t)snprintf(list + off, sizeof list - off, "%s%s", i ? ", " : "", words[i]);
	hint = cfg__suggest(n->value, words, nwords);
	if (hint)
		ERR(ld, n, "\"%s\": unknown value \"%s\" (did you mean \"%s\"?)", key, n->value, hint);
	else
		ERR(ld, n, "\"%s\": unknown value \"%s\" (expected one of %s)", key, n->value, list);
	return false;
}

/* A mapping of strings to strings; check_key, if given, vets each key. */
static bool get_pairs(struct load *ld, const struct node *n, const char *key,
		      const char *(*check_key)(const char *), struct cfg_pair **ret, size_t *ret_n)
{
	struct cfg_pair *v;
	bool ok = true;

	if (n->kind != NODE_MAP) {
		ERR(ld, n, "\"%s\": expected a mapping of names to values, not %s", key, kind_name(n));
		return false;
	}
	if (!map_keys_unique(ld, n))
		return false;
	v = cfg__alloc(&ld->cfg->arena, (n->nkids / 2 + 1) * sizeof *v);
	if (!v)
		return false;
	for (size_t i = 0; i < n->nkids; i += 2) {
		const struct node *k = n->kids[i], *val = n->kids[i + 1];
		const char *problem = check_key ? check_key(k->value) : NULL;

		if (problem) {
			ERR(ld, k, "\"%s\": \"%s\" %s", key, k->value, problem);
			ok = false;
			continue;
		}
		if (val->kind != NODE_SCALAR) {
			ERR(ld, val, "\"%s\": the value of \"%s\" must be a string, not %s", key,
			    k->value, kind_name(val));
			ok = false;
			continue;
		}
		v[i / 2].key = keep(ld, k->value);
		v[i / 2].value = keep(ld, val->value);
	}
	*ret = v;
	*ret_n = n->nkids / 2;
	return ok;
}

static const char *label_name_problem(const char *name)
{
	if (!*name || !(name[0] == '_' || (name[0] | 32) >= 'a') || (name[0] | 32) > 'z')
		if (name[0] != '_')
			return "is not a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*)";
	for (const char *p = name; *p; p++)
		if (!(*p == '_' || (*p >= '0' && *p <= '9') || ((*p | 32) >= 'a' && (*p | 32) <= 'z')))
			return "is not a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*)";
	if (name[0] == '_' && name[1] == '_')
		return "is reserved (label names starting with __ are Prometheus's)";
	if (!strcmp(name, "job") || !strcmp(name, "instance"))
		return "is set by coro-runner itself";
	return NULL;
}

static const char *header_name_problem(const char *name)
{
	if (!*name)
		return "is not a header name";
	for (const char *p = name; *p; p++)
		if (*p <= ' ' || *p >= 127 || strchr("()<>@,;:\\\"/[]?={}", *p))
			return "is not a header name (letters, digits and !#$%&'*+-.^_`|~ only)";
	return NULL;
}

static const char *env_name_problem(const char *name)
{
	if (!*name || (*name >= '0' && *name <= '9'))
		return "is not an environment variable name ([A-Za-z_][A-Za-z0-9_]*)";
	for (const char *p = name; *p; p++)
		if (!(*p == '_' || (*p >= '0' && *p <= '9') || ((*p | 32) >= 'a' && (*p | 32) <= 'z')))
			return "is not an environment variable name ([A-Za-z_][A-Za-z0-9_]*)";
	return NULL;
}

static bool get_status_list(struct load *ld, const struct node *n, struct job_http *h)
{
	const struct node *const *items = &n;
	size_t count = 1;
	uint64_t code;

	if (n->kind == NODE_SEQ) {
		items = (const struct node *const *)n->kids;
		count = n->nkids;
		if (!count) {
			ERR(ld, n, "\"expect_status\": the list is empty");
			return false;
		}
	} else if (n->kind != NODE_SCALAR) {
		ERR(ld, n, "\"expect_status\": expected a status code or a list of them, not %s",
		    kind_name(n));
		return false;
	}
	h->expect_status = cfg__alloc(&ld->cfg->arena, count * sizeof *h->expect_status);
	if (!h->expect_status)
		return false;
	for (size_t i = 0; i < count; i++) {
		const struct node *c = items[i];

		if (c->kind != NODE_SCALAR || cfg__parse_uint(c->value, 599, &code) < 0 || code < 100) {
			ERR(ld, c, "\"expect_status\": expected an HTTP status code from 100 to 599, "
				   "not %s%s%s", c->kind == NODE_SCALAR ? "\"" : "",
			    c->kind == NODE_SCALAR ? c->value : kind_name(c), c->kind == NODE_SCALAR ? "\"" : "");
			return false;
		}
		h->expect_status[i] = (int)code;
	}
	h->nexpect_status = count;
	return true;
}

static bool get_command(struct load *ld, const struct node *n, struct job_exec *e)
{
	if (n->kind != NODE_SEQ) {
		ERR(ld, n, "\"command\": expected a list of arguments, such as [\"/usr/bin/du\", \"-s\", "
			   "\"/var\"] (no shell is involved), not %s", kind_name(n));
		return false;
	}
	if (!n->nkids) {
		ERR(ld, n, "\"command\": the list is empty: give the program and its arguments");
		return false;
	}
	e->argv = cfg__alloc(&ld->cfg->arena, (n->nkids + 1) * sizeof *e->argv);
	if (!e->argv)
		return false;
	for (size_t i = 0; i < n->nkids; i++) {
		const struct node *a = n->kids[i];

		if (a->kind != NODE_SCALAR) {
			ERR(ld, a, "\"command\": each argument must be a string, not %s", kind_name(a));
			return false;
		}
		e->argv[i] = keep(ld, a->value);
	}
	if (!*e->argv[0]) {
		ERR(ld, n->kids[0], "\"command\": the program name is empty");
		return false;
	}
	e->argv[n->nkids] = NULL;
	e->argc = n->nkids;
	return true;
}

/*
 * Sets key k of job j from node n; reports what is wrong and returns false
 * if the value is bad. The job's type is known (for type-specific keys).
 */
static bool apply(struct load *ld, struct job *j, enum key k, const struct node *n)
{
	const char *name = key_names[k], *problem;
	char host[256];
	uint64_t size;
	regex_t re;
	int rc;

	switch (k) {
	case K_NAME:
	case K_TYPE:
		return true; /* read before the rest */
	case K_EVERY:
		return get_duration(ld, n, name, 10, &j->every_ms);
	case K_JITTER:
		if (!want_scalar(ld, n, name, "a duration or a percentage of every"))
			return false;
		if (n->len > 1 && n->value[n->len - 1] == '%') {
			char digits[16];
			uint64_t pct;

			if (n->len - 1 >= sizeof digits)
				goto bad_percent;
			memcpy(digits, n->value, n->len - 1);
			digits[n->len - 1] = '\0';
			if (cfg__parse_uint(digits, 100, &pct) < 0 || pct > 99)
				goto bad_percent;
			j->jitter_percent = (unsigned)pct;
			j->jitter_ms = 0;
			return true;
bad_percent:
			ERR(ld, n, "\"jitter\": a percentage of every must be from 0%% to 99%%, not \"%s\"",
			    n->value);
			return false;
		}
		j->jitter_percent = 0;
		return get_duration(ld, n, name, 0, &j->jitter_ms);
	case K_TIMEOUT:
		return get_duration(ld, n, name, 1, &j->timeout_ms);
	case K_RETRIES:
		return get_uint(ld, n, name, 0, 10, &j->retries);
	case K_RETRY_DELAY:
		return get_duration(ld, n, name, 0, &j->retry_delay_ms);
	case K_FAILURES_BEFORE_DOWN:
		return get_uint(ld, n, name, 1, 1000, &j->failures_before_down);
	case K_SUCCESSES_BEFORE_UP:
		return get_uint(ld, n, name, 1, 1000, &j->successes_before_up);
	case K_LABELS:
		return get_pairs(ld, n, name, label_name_problem, &j->labels, &j->nlabels);
	case K_ENABLED:
		return get_bool(ld, n, name, &j->enabled);
	case K_URL:
		if (!get_string(ld, n, name, true, &j->u.http.url))
			return false;
		if ((problem = cfg__check_url(n->value)) != NULL) {
			ERR(ld, n, "\"url\": \"%s\": %s", n->value, problem);
			return false;
		}
		return true;
	case K_METHOD:
		return get_word(ld, n, name, methods, COUNT(methods), &j->u.http.method);
	case K_HEADERS:
		return get_pairs(ld, n, name, header_name_problem, &j->u.http.headers,
				 &j->u.http.nheaders);
	case K_BODY:
		return get_string(ld, n, name, false, &j->u.http.body);
	case K_EXPECT_STATUS:
		return get_status_list(ld, n, &j->u.http);
	case K_EXPECT_BODY:
		return get_string(ld, n, name, true, &j->u.http.expect_body);
	case K_EXPECT_BODY_REGEX:
		if (!get_string(ld, n, name, true, &j->u.http.expect_body_regex))
			return false;
		rc = regcomp(&re, n->value, REG_EXTENDED | REG_NOSUB);
		if (rc) {
			char why[128];

			regerror(rc, &re, why, sizeof why);
			ERR(ld, n, "\"expect_body_regex\": not a valid extended regular expression: %s", why);
			return false;
		}
		regfree(&re);
		return true;
	case K_TLS_VERIFY:
		return get_bool(ld, n, name, &j->u.http.tls_verify);
	case K_FOLLOW_REDIRECTS:
		return get_bool(ld, n, name, &j->u.http.follow_redirects);
	case K_TARGET:
		if (!want_scalar(ld, n, name, "HOST:PORT"))
			return false;
		problem = cfg__parse_hostport(n->value, true, 0, host, sizeof host, &j->u.tcp.port);
		if (problem) {
			ERR(ld, n, "\"target\": \"%s\": %s", n->value, problem);
			return false;
		}
		j->u.tcp.host = keep(ld, host);
		return true;
	case K_SEND:
		return get_string(ld, n, name, true, &j->u.tcp.send);
	case K_EXPECT:
		return get_string(ld, n, name, true, &j->u.tcp.expect);
	case K_QUERY:
		if (!get_string(ld, n, name, true, &j->u.dns.query))
			return false;
		if (n->len > 253) {
			ERR(ld, n, "\"query\": a DNS name is at most 253 characters");
			return false;
		}
		return true;
	case K_RECORD:
		return get_word(ld, n, name, records, COUNT(records), &j->u.dns.record);
	case K_SERVER:
		if (!want_scalar(ld, n, name, "HOST[:PORT]"))
			return false;
		problem = cfg__parse_hostport(n->value, false, 53, host, sizeof host,
					      &j->u.dns.server_port);
		if (problem) {
			ERR(ld, n, "\"server\": \"%s\": %s", n->value, problem);
			return false;
		}
		j->u.dns.server_host = keep(ld, host);
		return true;
	case K_EXPECT_RCODE:
		return get_word(ld, n, name, rcodes, COUNT(rcodes), &j->u.dns.expect_rcode);
	case K_EXPECT_ANSWER:
		return get_string(ld, n, name, true, &j->u.dns.expect_answer);
	case K_COMMAND:
		return get_command(ld, n, &j->u.exec);
	case K_ENV:
		return get_pairs(ld, n, name, env_name_problem, &j->u.exec.env, &j->u.exec.nenv);
	case K_WORKDIR:
		if (!get_string(ld, n, name, true, &j->u.exec.workdir))
			return false;
		if (n->value[0] != '/') {
			ERR(ld, n, "\"workdir\": \"%s\" must be an absolute path", n->value);
			return false;
		}
		return true;
	case K_OUTPUT_LIMIT:
		if (!want_scalar(ld, n, name, "a size such as 64KiB"))
			return false;
		if (cfg__parse_size(n->value, &size) < 0 || size > (16u << 20)) {
			ERR(ld, n, "\"output_limit\": expected a size up to 16MiB (such as 65536, 64KiB, "
				   "1MiB), not \"%s\"", n->value);
			return false;
		}
		j->u.exec.output_limit = size;
		return true;
	case K_KILL_GRACE:
		return get_duration(ld, n, name, 0, &j->u.exec.kill_grace_ms);
	case NKEYS:
		break;
	}
	return false;
}

/* ---- defaults ----------------------------------------------------------- */

static void read_defaults(struct load *ld, const struct node *map, struct defaults *d)
{
	if (map->kind != NODE_MAP) {
		ERR(ld, map, "\"defaults\": expected a mapping of job keys, not %s", kind_name(map));
		return;
	}
	ld->ctx.section = "defaults";
	map_keys_unique(ld, map);
	for (size_t i = 0; i < map->nkids; i += 2) {
		const struct node *k = map->kids[i], *v = map->kids[i + 1];
		struct job scratch;
		int idx;

		if (k->kind != NODE_SCALAR)
			continue;
		idx = key_index(k->value);
		if (idx < 0) {
			const char *hint = cfg__suggest(k->value, key_names, NKEYS);

			if (hint)
				ERR(ld, k, "unknown key \"%s\" (did you mean \"%s\"?)", k->value, hint);
			else
				ERR(ld, k, "unknown key \"%s\"", k->value);
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
			if (!want_scalar(ld, v, "type", "http, tcp, dns or exec") ||
			    word_index(v->value, type_names, COUNT(type_names)) < 0) {
				if (v->kind == NODE_SCALAR)
					ERR(ld, v, "unknown job type \"%s\" (expected http, tcp, dns or exec)",
					    v->value);
				d->bad[idx] = true;
			}
			continue;
		}
		if (!apply(ld, &scratch, (enum key)idx, v))
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

	c->capnames = old ? 2 * old : 1024;
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
		size_t cap = c->capjobs ? 2 * c->capjobs : 64;
		struct job *v = realloc(c->pub.jobs, cap * sizeof *v);

		if (!v)
			return NULL;
		c->pub.jobs = v;
		c->capjobs = cap;
	}
	return memset(&c->pub.jobs[c->pub.njobs], 0, sizeof(struct job));
}

/* Built-in defaults, then type-specific ones. */
static void job_defaults(struct job *j)
{
	j->retry_delay_ms = 1000;
	j->failures_before_down = 1;
	j->successes_before_up = 1;
	j->enabled = true;
	switch (j->type) {
	case JOB_HTTP:
		j->u.http.method = (char *)"GET";
		j->u.http.tls_verify = true;
		break;
	case JOB_DNS:
		j->u.dns.record = (char *)"A";
		j->u.dns.expect_rcode = (char *)"NOERROR";
		j->u.dns.server_port = 53;
		break;
	case JOB_EXEC:
		j->u.exec.output_limit = 65536;
		j->u.exec.kill_grace_ms = 5000;
		break;
	case JOB_TCP:
		break;
	}
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
	bool ok = true, bad;
	int t;

	ld->ctx.job = NULL;
	if (map->kind != NODE_MAP) {
		ERR(ld, map, "jobs: item %zu: expected a job (a mapping with name, type, every, ...), "
			     "not %s", index + 1, kind_name(map));
		return;
	}
	snprintf(label, sizeof label, "#%zu", index + 1);
	ld->ctx.job = label;
	for (size_t i = 0; i < map->nkids; i += 2)
		if (map->kids[i]->kind == NODE_SCALAR && (t = key_index(map->kids[i]->value)) >= 0 &&
		    !own[t])
			own[t] = map->kids[i + 1];
	n = own[K_NAME];
	if (n && n->kind == NODE_SCALAR && cfg__name_ok(n->value))
		ld->ctx.job = n->value;
	if (!map_keys_unique(ld, map))
		ok = false;

	/* The name first: errors then say which job. */
	n = own[K_NAME];
	if (!n) {
		ERR(ld, map, "\"name\" is missing");
		ok = false;
	} else if (n->kind != NODE_SCALAR || !cfg__name_ok(n->value)) {
		ERR(ld, n, "\"name\": %s%s%s is not a job name (1 to 64 letters, digits, \"_\", \".\" "
			   "or \"-\")", n->kind == NODE_SCALAR ? "\"" : "",
		    n->kind == NODE_SCALAR ? n->value : kind_name(n), n->kind == NODE_SCALAR ? "\"" : "");
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
	} else if (want_scalar(ld, n, "type", "http, tcp, dns or exec") &&
		   (t = word_index(n->value, type_names, COUNT(type_names))) < 0) {
		const char *hint = cfg__suggest(n->value, type_names, COUNT(type_names));

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
		idx = key_index(k->value);
		if (idx < 0) {
			const char *cands[NKEYS], *hint;
			size_t nc = 0;

			for (int c = 0; c < NKEYS; c++)
				if (t < 0 || (key_types[c] & (1u << t)))
					cands[nc++] = key_names[c];
			hint = cfg__suggest(k->value, cands, nc);
			if (!hint)
				hint = cfg__suggest(k->value, key_names, NKEYS);
			if (hint)
				ERR(ld, k, "unknown key \"%s\" (did you mean \"%s\"?)", k->value, hint);
			else
				ERR(ld, k, "unknown key \"%s\"", k->value);
			ok = false;
		} else if (t >= 0 && !(key_types[idx] & (1u << t))) {
				ERR(ld, k, "\"%s\" is not a key of %s jobs (it belongs to %s jobs)", k->value,
			    type_names[t], key_types[idx] == T_HTTP ? "http" : key_types[idx] == T_TCP ? "tcp" :
			    key_types[idx] == T_DNS ? "dns" : "exec");
			ok = false;
		}
	}
	if (t < 0) {
		/* No type: still check the keys every job has, to report everything at once. */
		struct job scratch;

		memset(&scratch, 0, sizeof scratch);
		for (int k = K_EVERY; k <= K_ENABLED; k++)
			if (own[k])
				apply(ld, &scratch, (enum key)k, own[k]);
		ld->ctx.job = NULL;
		return;
	}

	j = job_new(ld);
	if (!j)
		return;
	j->type = (enum job_type)t;
	job_defaults(j);
	j->where.file = ld->ctx.file;
	j->where.line = map->line;
	j->where.column = map->column;
	for (int k = K_EVERY; k < NKEYS; k++) {
		if (!(key_types[k] & (1u << t)))
			continue;
		n = effective(own, file, &ld->global, (enum key)k, &bad, &from);
		if (bad)
			ok = false;
		else if (n && !apply(ld, j, (enum key)k, n))
			ok = false;
	}

	/* What must be there. */
	static const enum key required[] = { K_URL, K_TARGET, K_QUERY, K_COMMAND };
	if (!effective(own, file, &ld->global, required[t], &bad, &from) && !bad) {
		ERR(ld, map, "\"%s\" is missing (a %s job needs it)", key_names[required[t]], type_names[t]);
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
	j->name = keep(ld, own[K_NAME]->value);
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

/* ---- files -------------------------------------------------------------- */

static void read_metrics(struct load *ld, const struct node *map)
{
	struct config_full *c = ld->cfg;
	char host[256];
	uint16_t port;
	const char *problem;

	if (map->kind != NODE_MAP) {
		ERR(ld, map, "\"metrics\": expected a mapping such as {listen: 127.0.0.1:9464}, not %s",
		    kind_name(map));
		return;
	}
	if (c->pub.metrics_listen) {
		ERR(ld, map, "\"metrics\" is set twice: here and at %s:%u:%u", c->metrics_file,
		    c->metrics_line, c->metrics_column);
		return;
	}
	map_keys_unique(ld, map);
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
		if (!want_scalar(ld, v, "listen", "HOST:PORT"))
			continue;
		problem = cfg__parse_hostport(v->value, true, 0, host, sizeof host, &port);
		if (problem) {
			ERR(ld, v, "\"listen\": \"%s\": %s", v->value, problem);
			continue;
		}
		c->pub.metrics_listen = keep(ld, v->value);
		c->metrics_file = ld->ctx.file;
		c->metrics_line = map->line;
		c->metrics_column = map->column;
	}
}

/* Reads one file's text; main says whether its defaults are the global ones. */
static int load_text(struct load *ld, const char *name, const char *data, size_t len, bool main)
{
	struct node *root = NULL;
	struct defaults file_defaults;
	const struct node *defaults = NULL, *jobs = NULL, *metrics = NULL;
	int err;

	ld->ctx.file = name;
	ld->ctx.job = NULL;
	memset(&file_defaults, 0, sizeof file_defaults);
	err = cfg__parse_tree(&ld->ctx, data, len, &root);
	if (err == -ENOMEM) {
		cfg__arena_free(&ld->ctx.arena);
		return err;
	}
	if (err < 0 || !root)
		goto out;
	if (root->kind != NODE_MAP) {
		ERR(ld, root, "the file must be a mapping with \"jobs:\" (and optionally \"defaults:\" "
			      "and \"metrics:\"), not %s", kind_name(root));
		goto out;
	}
	map_keys_unique(ld, root);
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
		} else {
			const char *hint = cfg__suggest(k->value, top_keys, COUNT(top_keys));

			if (hint)
				ERR(ld, k, "unknown key \"%s\" (did you mean \"%s\"?)", k->value, hint);
			else if (key_index(k->value) >= 0)
				ERR(ld, k, "unknown key \"%s\" at the top level: job keys go in an item of "
					   "\"jobs:\" or in \"defaults:\"", k->value);
			else
				ERR(ld, k, "unknown key \"%s\" (the top level has jobs, defaults and "
					   "metrics)", k->value);
		}
	}
	if (defaults)
		read_defaults(ld, defaults, main ? &ld->global : &file_defaults);
	if (metrics)
		read_metrics(ld, metrics);
	if (jobs) {
		if (jobs->kind != NODE_SEQ) {
			ERR(ld, jobs, "\"jobs\": expected a list of jobs (items starting with \"- \"), not %s",
			    kind_name(jobs));
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

/* The name errors give a file: kept with the configuration. */
static const char *keep_file(struct load *ld, const char *path)
{
	struct config *c = &ld->cfg->pub;
	char **v = realloc(c->files, (c->nfiles + 1) * sizeof *v);

	if (!v)
		return NULL;
	c->files = v;
	v[c->nfiles] = keep(ld, path);
	return v[c->nfiles] ? v[c->nfiles++] : NULL;
}

static int load_file(struct load *ld, const char *path, bool main)
{
	const char *name = keep_file(ld, path);
	struct stat st;
	char *data;
	size_t got = 0;
	int fd, err = 0;

	if (!name)
		return -ENOMEM;
	ld->ctx.file = name;
	ld->ctx.job = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		cfg__error_at(&ld->ctx, 0, 0, "cannot open: %s", strerror(errno));
		return 0;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		cfg__error_at(&ld->ctx, 0, 0, "not a regular file");
		close(fd);
		return 0;
	}
	if ((uint64_t)st.st_size > CFG_MAX_FILE_BYTES) {
		cfg__error_at(&ld->ctx, 0, 0, "the file is %lld bytes, more than the %u a configuration "
					      "file may have", (long long)st.st_size, CFG_MAX_FILE_BYTES);
		close(fd);
		return 0;
	}
	data = malloc((size_t)st.st_size + 1);
	if (!data) {
		close(fd);
		return -ENOMEM;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, data + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n < 0)
				cfg__error_at(&ld->ctx, 0, 0, "cannot read: %s", strerror(errno));
			break;
		}
		got += (size_t)n;
	}
	close(fd);
	if (got == (size_t)st.st_size)
		err = load_text(ld, name, data, got, main);
	free(data);
	return err;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every *.yaml of dir, in byte order; a missing directory is no error. */
static int load_dir(struct load *ld, const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **names = NULL;
	size_t n = 0, cap = 0;
	int err = 0;

	if (!d) {
		int why = errno;

		if (why != ENOENT) {
			ld->ctx.file = keep_file(ld, dir);
			if (!ld->ctx.file)
				return -ENOMEM;
			cfg__error_at(&ld->ctx, 0, 0, "cannot read the directory: %s", strerror(why));
		}
		return 0;
	}
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);

		if (e->d_name[0] == '.' || len < 6 || strcmp(e->d_name + len - 5, ".yaml") != 0)
			continue;
		if (n == cap) {
			char **v = realloc(names, (cap = cap ? 2 * cap : 16) * sizeof *v);

			if (!v) {
				err = -ENOMEM;
				break;
			}
			names = v;
		}
		if (asprintf(&names[n], "%s/%s", dir, e->d_name) < 0) {
			err = -ENOMEM;
			break;
		}
		n++;
	}
	closedir(d);
	if (!err && n)
		qsort(names, n, sizeof *names, by_name);
	for (size_t i = 0; i < n; i++) {
		if (!err)
			err = load_file(ld, names[i], false);
		free(names[i]);
	}
	free(names);
	return err;
}

/* ---- the API ------------------------------------------------------------ */

static struct load *load_begin(struct cfg_errors *errs)
{
	struct load *ld = calloc(1, sizeof *ld);

	if (!ld)
		return NULL;
	ld->cfg = calloc(1, sizeof *ld->cfg);
	if (!ld->cfg) {
		free(ld);
		return NULL;
	}
	if (errs)
		memset(errs, 0, sizeof *errs);
	ld->ctx.errs = errs;
	return ld;
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

static void sort_errors(struct cfg_errors *errs)
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

static int load_end(struct load *ld, int err, struct config **ret)
{
	struct config_full *c = ld->cfg;

	sort_errors(ld->ctx.errs);
	if (!err && ld->ctx.nerrors)
		err = -EINVAL;
	cfg__arena_free(&ld->main_tree);
	cfg__arena_free(&ld->ctx.arena);
	free(ld);
	free(c->names);
	c->names = NULL;
	if (err) {
		config_free(&c->pub);
		*ret = NULL;
		return err;
	}
	*ret = &c->pub;
	return 0;
}

int config_load(const char *main_file, const char *const *dirs, size_t ndirs,
		struct config **ret, struct cfg_errors *errs)
{
	struct load *ld = load_begin(errs);
	int err = 0;

	*ret = NULL;
	if (!ld)
		return -ENOMEM;
	if (main_file)
		err = load_file(ld, main_file, true);
	for (size_t i = 0; i < ndirs && !err; i++)
		err = load_dir(ld, dirs[i]);
	return load_end(ld, err, ret);
}

int config_load_files(const char *const *files, size_t nfiles, struct config **ret,
		      struct cfg_errors *errs)
{
	struct load *ld = load_begin(errs);
	int err = 0;

	*ret = NULL;
	if (!ld)
		return -ENOMEM;
	for (size_t i = 0; i < nfiles && !err; i++)
		err = load_file(ld, files[i], i == 0);
	return load_end(ld, err, ret);
}

int config_load_buffer(const char *name, const char *data, size_t len, struct config **ret,
		       struct cfg_errors *errs)
{
	struct load *ld = load_begin(errs);
	const char *kept;
	int err;

	*ret = NULL;
	if (!ld)
		return -ENOMEM;
	kept = keep_file(ld, name ? name : "-");
	if (!kept)
		err = -ENOMEM;
	else if (len > CFG_MAX_FILE_BYTES) {
		ld->ctx.file = kept;
		cfg__error_at(&ld->ctx, 0, 0, "more than the %u bytes a configuration file may have",
			      CFG_MAX_FILE_BYTES);
		err = 0;
	} else {
		err = load_text(ld, kept, data, len, true);
	}
	return load_end(ld, err, ret);
}

void config_free(struct config *cfg)
{
	struct config_full *c = (struct config_full *)cfg;

	if (!cfg)
		return;
	cfg__arena_free(&c->arena);
	free(c->pub.jobs);
	free(c->pub.files);
	free(c->names);
	free(c);
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

const struct job *config_find(const struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->njobs; i++)
		if (strcmp(cfg->jobs[i].name, name) == 0)
			return &cfg->jobs[i];
	return NULL;
}
