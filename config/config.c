/* SPDX-License-Identifier: MIT */
/*
 * config.c: the schema of coro-runner's job files (SPEC §4): which keys
 * exist, for which job types, the kind and bounds of each one's value,
 * their built-in defaults, and the suggestions for a misspelt key or
 * type. Adding a key is an entry in each table here (and in enum key)
 * and a case in cfg__apply. Loading is load.c's, the walk of a document
 * validate.c's.
 */
#include <regex.h>
#include <string.h>

#include "config/config-internal.h"
#include "config/values.h"

/* ---- the tables --------------------------------------------------------- */

/* The job types a key belongs to, as a bit mask. */
#define T_ALL 0xf
#define T_HTTP (1u << JOB_HTTP)
#define T_TCP (1u << JOB_TCP)
#define T_DNS (1u << JOB_DNS)
#define T_EXEC (1u << JOB_EXEC)

/*
 * How each key is spelt, and which job types have it. tests/bats/coctl-check.bats
 * reads key_names from this file, to check that every key is documented.
 */
static const char *const key_names[NKEYS] = {
	"name", "type", "every", "jitter", "timeout", "retries", "retry_delay",
	"failures_before_down", "successes_before_up", "labels", "enabled", "exclusive",
	"notify", "notify_repeat",
	"url", "method", "headers", "body", "expect_status", "expect_body",
	"expect_body_regex", "tls_verify", "follow_redirects",
	"target", "send", "expect",
	"query", "record", "server", "expect_rcode", "expect_answer",
	"command", "env", "workdir", "output_limit", "kill_grace",
};

static const unsigned key_types[NKEYS] = {
	T_ALL, T_ALL, T_ALL, T_ALL, T_ALL, T_ALL, T_ALL, T_ALL, T_ALL, T_ALL, T_ALL, T_ALL,
	T_ALL, T_ALL,
	T_HTTP, T_HTTP, T_HTTP, T_HTTP, T_HTTP, T_HTTP, T_HTTP, T_HTTP, T_HTTP,
	T_TCP, T_TCP, T_TCP,
	T_DNS, T_DNS, T_DNS, T_DNS, T_DNS,
	T_EXEC, T_EXEC, T_EXEC, T_EXEC, T_EXEC,
};

static const char *const type_names[] = { "http", "tcp", "dns", "exec" };
static const char *const top_keys[] = { "defaults", "jobs", "metrics", "fleet", "notifiers",
					 "history", "web" };
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
	{ "exclusive", K_EXCLUSIVE },
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
	{ "notify", K_NOTIFY },
	{ "notify_repeat", K_NOTIFY_REPEAT },
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

int cfg__key_index(const char *name)
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

const char *cfg__key_name(enum key k)
{
	return key_names[k];
}

bool cfg__key_of_type(enum key k, enum job_type type)
{
	return key_types[k] & (1u << type);
}

const char *cfg__key_owner(enum key k)
{
	return key_types[k] == T_HTTP ? "http" : key_types[k] == T_TCP ? "tcp" :
	       key_types[k] == T_DNS ? "dns" : "exec";
}

enum key cfg__required_key(enum job_type type)
{
	static const enum key required[] = { K_URL, K_TARGET, K_QUERY, K_COMMAND };

	return required[type];
}

int cfg__type_index(const char *word)
{
	return cfg__word_index(word, type_names, COUNT(type_names));
}

/* ---- suggestions -------------------------------------------------------- */

const char *cfg__key_hint(const char *word, int type)
{
	const char *cands[NKEYS], *hint;
	size_t nc = 0;

	for (int c = 0; c < NKEYS; c++)
		if (type < 0 || (key_types[c] & (1u << type)))
			cands[nc++] = key_names[c];
	hint = cfg__suggest(word, cands, nc);
	if (!hint)
		hint = cfg__suggest(word, key_names, NKEYS);
	return hint;
}

const char *cfg__type_hint(const char *word)
{
	return cfg__suggest(word, type_names, COUNT(type_names));
}

const char *cfg__top_key_hint(const char *word)
{
	return cfg__suggest(word, top_keys, COUNT(top_keys));
}

/* ---- built-in defaults -------------------------------------------------- */

/* The defaults of every job, then the type-specific ones. */
void cfg__job_defaults(struct job *j)
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

/* ---- the values of the keys --------------------------------------------- */

const char *cfg__label_name_problem(const char *name)
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

/* `expect_status`: one status code, or a list of them. */
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
		    cfg__kind_name(n));
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
			    c->kind == NODE_SCALAR ? c->value : cfg__kind_name(c),
			    c->kind == NODE_SCALAR ? "\"" : "");
			return false;
		}
		h->expect_status[i] = (int)code;
	}
	h->nexpect_status = count;
	return true;
}

bool cfg__apply(struct load *ld, struct job *j, enum key k, const struct node *n)
{
	const char *name = key_names[k], *problem;
	uint64_t size;
	regex_t re;
	int rc;

	switch (k) {
	case K_NAME:
	case K_TYPE:
		return true; /* read before the rest */
	case K_EVERY:
		return cfg__get_duration(ld, n, name, 10, &j->every_ms);
	case K_JITTER:
		if (!cfg__want_scalar(ld, n, name, "a duration or a percentage of every"))
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
		return cfg__get_duration(ld, n, name, 0, &j->jitter_ms);
	case K_TIMEOUT:
		return cfg__get_duration(ld, n, name, 1, &j->timeout_ms);
	case K_RETRIES:
		return cfg__get_uint(ld, n, name, 0, 10, &j->retries);
	case K_RETRY_DELAY:
		return cfg__get_duration(ld, n, name, 0, &j->retry_delay_ms);
	case K_FAILURES_BEFORE_DOWN:
		return cfg__get_uint(ld, n, name, 1, 1000, &j->failures_before_down);
	case K_SUCCESSES_BEFORE_UP:
		return cfg__get_uint(ld, n, name, 1, 1000, &j->successes_before_up);
	case K_LABELS:
		return cfg__get_pairs(ld, n, name, cfg__label_name_problem, &j->labels, &j->nlabels);
	case K_ENABLED:
		return cfg__get_bool(ld, n, name, &j->enabled);
	case K_EXCLUSIVE:
		return cfg__get_bool(ld, n, name, &j->exclusive);
	case K_NOTIFY:
		return cfg__get_notify(ld, n, &j->notify, &j->nnotify);
	case K_NOTIFY_REPEAT:
		if (!cfg__get_duration(ld, n, name, 0, &j->notify_repeat_ms))
			return false;
		if (j->notify_repeat_ms && j->notify_repeat_ms < CFG_NOTIFY_REPEAT_MIN_MS) {
			ERR(ld, n, "\"notify_repeat\": %s is too short (at least 1m, or 0s for never)",
			    n->value);
			return false;
		}
		return true;
	case K_URL:
		if (!cfg__get_string(ld, n, name, true, &j->u.http.url))
			return false;
		if ((problem = cfg__check_url(n->value)) != NULL) {
			ERR(ld, n, "\"url\": \"%s\": %s", n->value, problem);
			return false;
		}
		return true;
	case K_METHOD:
		return cfg__get_word(ld, n, name, methods, COUNT(methods), &j->u.http.method);
	case K_HEADERS:
		return cfg__get_pairs(ld, n, name, cfg__header_name_problem, &j->u.http.headers,
				 &j->u.http.nheaders);
	case K_BODY:
		return cfg__get_string(ld, n, name, false, &j->u.http.body);
	case K_EXPECT_STATUS:
		return get_status_list(ld, n, &j->u.http);
	case K_EXPECT_BODY:
		return cfg__get_string(ld, n, name, true, &j->u.http.expect_body);
	case K_EXPECT_BODY_REGEX:
		if (!cfg__get_string(ld, n, name, true, &j->u.http.expect_body_regex))
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
		return cfg__get_bool(ld, n, name, &j->u.http.tls_verify);
	case K_FOLLOW_REDIRECTS:
		return cfg__get_bool(ld, n, name, &j->u.http.follow_redirects);
	case K_TARGET:
		return cfg__get_hostport(ld, n, name, true, 0, &j->u.tcp.host, &j->u.tcp.port);
	case K_SEND:
		return cfg__get_string(ld, n, name, true, &j->u.tcp.send);
	case K_EXPECT:
		return cfg__get_string(ld, n, name, true, &j->u.tcp.expect);
	case K_QUERY:
		if (!cfg__get_string(ld, n, name, true, &j->u.dns.query))
			return false;
		if (n->len > 253) {
			ERR(ld, n, "\"query\": a DNS name is at most 253 characters");
			return false;
		}
		return true;
	case K_RECORD:
		return cfg__get_word(ld, n, name, records, COUNT(records), &j->u.dns.record);
	case K_SERVER:
		return cfg__get_hostport(ld, n, name, false, 53, &j->u.dns.server_host,
					 &j->u.dns.server_port);
	case K_EXPECT_RCODE:
		return cfg__get_word(ld, n, name, rcodes, COUNT(rcodes), &j->u.dns.expect_rcode);
	case K_EXPECT_ANSWER:
		return cfg__get_string(ld, n, name, true, &j->u.dns.expect_answer);
	case K_COMMAND:
		return cfg__get_command(ld, n, &j->u.exec.argv, &j->u.exec.argc);
	case K_ENV:
		return cfg__get_pairs(ld, n, name, cfg__env_name_problem, &j->u.exec.env, &j->u.exec.nenv);
	case K_WORKDIR:
		if (!cfg__get_string(ld, n, name, true, &j->u.exec.workdir))
			return false;
		if (n->value[0] != '/') {
			ERR(ld, n, "\"workdir\": \"%s\" must be an absolute path", n->value);
			return false;
		}
		return true;
	case K_OUTPUT_LIMIT:
		if (!cfg__want_scalar(ld, n, name, "a size such as 64KiB"))
			return false;
		if (cfg__parse_size(n->value, &size) < 0 || size > (16u << 20)) {
			ERR(ld, n, "\"output_limit\": expected a size up to 16MiB (such as 65536, 64KiB, "
				   "1MiB), not \"%s\"", n->value);
			return false;
		}
		j->u.exec.output_limit = size;
		return true;
	case K_KILL_GRACE:
		return cfg__get_duration(ld, n, name, 0, &j->u.exec.kill_grace_ms);
	case NKEYS:
		break;
	}
	return false;
}
