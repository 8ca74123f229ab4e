/* SPDX-License-Identifier: MIT */
/*
 * web.c: the `web:` section of the main file: the read-only status page
 * (issue 15; coro-runner.yaml(5), TOP-LEVEL KEYS): its own listener, or
 * none (then it is served on the metrics listener), the label its jobs
 * are grouped by and its title. The daemon serves it; this file only
 * reads and checks the values, and every string it keeps lives in the
 * configuration's arena.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <strings.h>
#include <string.h>

#include "config/config-internal.h"
#include "config/values.h"

#define TITLE_MAX 128 /* characters of `title` */

enum web_key { W_LISTEN, W_GROUP_BY, W_TITLE, NWEB_KEYS };

static const char *const web_keys[NWEB_KEYS] = { "listen", "group_by", "title" };

#define COUNT(a) (sizeof(a) / sizeof *(a))

/* `group_by`: a label name a job may have. */
static bool get_group_by(struct load *ld, const struct node *n, struct cfg_web *w)
{
	const char *problem;

	if (!cfg__get_string(ld, n, "group_by", true, &w->group_by))
		return false;
	if ((problem = cfg__label_name_problem(n->value)) != NULL) {
		ERR(ld, n, "\"group_by\": \"%s\" %s", n->value, problem);
		return false;
	}
	return true;
}

/*
 * The first control character (C0, DEL or C1) of UTF-8 text s, len bytes,
 * as a code point, or -1; *ret_at: how many characters come before it.
 * The tree holds valid UTF-8 only.
 */
static int control_at(const unsigned char *s, size_t len, size_t *ret_at)
{
	size_t chars = 0;

	for (size_t i = 0; i < len; i++) {
		if ((s[i] & 0xc0) == 0x80)
			continue; /* a continuation byte */
		if (s[i] < 0x20 || s[i] == 0x7f) {
			*ret_at = chars;
			return s[i];
		}
		if (s[i] == 0xc2 && i + 1 < len && s[i + 1] >= 0x80 && s[i + 1] <= 0x9f) {
			*ret_at = chars;
			return s[i + 1];
		}
		chars++;
	}
	return -1;
}

/* The number of characters of UTF-8 text s, len bytes. */
static size_t count_chars(const unsigned char *s, size_t len)
{
	size_t chars = 0;

	for (size_t i = 0; i < len; i++)
		chars += (s[i] & 0xc0) != 0x80;
	return chars;
}

/* `title`: 1 to TITLE_MAX characters, one line, no control characters. */
static bool get_title(struct load *ld, const struct node *n, struct cfg_web *w)
{
	size_t at, chars;
	int c;

	if (!cfg__get_string(ld, n, "title", true, &w->title))
		return false;
	if ((c = control_at((const unsigned char *)n->value, n->len, &at)) >= 0) {
		ERR(ld, n, "\"title\": character %zu is a control character (U+%04X): the title is "
			   "one line of printable text", at + 1, (unsigned)c);
		return false;
	}
	chars = count_chars((const unsigned char *)n->value, n->len);
	if (chars > TITLE_MAX) {
		ERR(ld, n, "\"title\": %zu characters, more than the %u it may have", chars, TITLE_MAX);
		return false;
	}
	return true;
}

/* Reports k, a key the section does not have. */
static void unknown_key(struct load *ld, const struct node *k)
{
	const char *hint = cfg__suggest(k->value, web_keys, COUNT(web_keys));

	if (hint)
		ERR(ld, k, "unknown key \"%s\" (did you mean \"%s\"?)", k->value, hint);
	else
		ERR(ld, k, "unknown key \"%s\" (web has listen, group_by and title)", k->value);
}

void cfg__read_web(struct load *ld, const struct node *key, const struct node *map, bool main)
{
	const struct node *own[NWEB_KEYS] = { 0 };
	struct cfg_web *w;
	uint16_t port;
	bool ok = true;

	if (!cfg__main_section(ld, key, map, main, "web", "a mapping such as {listen: "
			       "127.0.0.1:9465}, or {} for the metrics listener"))
		return;
	w = cfg__alloc(&ld->cfg->arena, sizeof *w);
	if (!w)
		return;
	memset(w, 0, sizeof *w);
	w->where.file = ld->ctx.file;
	w->where.line = map->line;
	w->where.column = map->column;

	ld->ctx.section = "web";
	if (!cfg__map_keys_unique(ld, map))
		ok = false;
	for (size_t i = 0; i < map->nkids; i += 2) {
		const struct node *k = map->kids[i];
		int idx;

		if (k->kind != NODE_SCALAR)
			continue;
		idx = cfg__word_index(k->value, web_keys, COUNT(web_keys));
		if (idx < 0) {
			unknown_key(ld, k);
			ok = false;
		} else if (!own[idx]) { /* a second one is cfg__map_keys_unique's error */
			own[idx] = map->kids[i + 1];
		}
	}
	if (own[W_LISTEN]) {
		const struct node *n = own[W_LISTEN];

		if (!cfg__get_hostport(ld, n, "listen", true, 0, NULL, &port) ||
		    !(w->listen = cfg__keep(ld, n->value))) {
			ok = false;
		} else {
			ld->web_listen = w->listen;
			ld->web_listen_file = ld->ctx.file;
			ld->web_listen_line = n->line;
			ld->web_listen_column = n->column;
		}
	}
	if (own[W_GROUP_BY] && !get_group_by(ld, own[W_GROUP_BY], w))
		ok = false;
	if (own[W_TITLE] && !get_title(ld, own[W_TITLE], w))
		ok = false;
	ld->ctx.section = NULL;
	if (ok)
		ld->cfg->pub.web = w;
}

/* ---- web.listen against metrics.listen ----------------------------------- */

/* A listen address as the daemon binds it: its host and port. */
struct address {
	char host[256];
	uint16_t port;
};

static bool split(const char *text, struct address *a)
{
	return cfg__parse_hostport(text, true, 0, a->host, sizeof a->host, &a->port) == NULL;
}

/* host as a literal address: its family (AF_INET, AF_INET6) and bytes, or 0. */
static int literal(const char *host, unsigned char bytes[16])
{
	memset(bytes, 0, 16);
	if (inet_pton(AF_INET, host, bytes) == 1)
		return AF_INET;
	if (inet_pton(AF_INET6, host, bytes) == 1)
		return AF_INET6;
	return 0;
}

/* Whether two hosts are the same address (a host name: the same name). */
static bool same_host(const char *x, const char *y)
{
	unsigned char bx[16], by[16];
	int fx = literal(x, bx), fy = literal(y, by);

	if (fx && fy)
		return fx == fy && memcmp(bx, by, sizeof bx) == 0;
	return strcasecmp(x, y) == 0;
}

/*
 * Whether wild is a wildcard address (0.0.0.0, ::) that takes the port on
 * host too: the daemon's IPv6 listeners are IPv6 only (daemon/http/), so
 * each wildcard covers its own family's addresses. A host name may
 * resolve to either: only the same name counts, which same_host sees.
 */
static bool covers(const char *wild, const char *host)
{
	unsigned char bw[16], bh[16], any[16] = { 0 };
	int fw = literal(wild, bw);

	return fw && memcmp(bw, any, sizeof any) == 0 && literal(host, bh) == fw;
}

void cfg__check_web_listen(struct load *ld)
{
	const struct config_full *c = ld->cfg;
	const char *listen = ld->web_listen, *saved = ld->ctx.file;
	struct address web, metrics;

	if (!listen || !c->pub.metrics_listen)
		return;
	if (!split(listen, &web) || !split(c->pub.metrics_listen, &metrics) ||
	    web.port != metrics.port)
		return;
	ld->ctx.file = ld->web_listen_file;
	ld->ctx.job = NULL;
	ld->ctx.section = "web";
	if (same_host(web.host, metrics.host))
		cfg__error_at(&ld->ctx, ld->web_listen_line, ld->web_listen_column,
			      "\"listen\": \"%s\" is the address metrics listens on (metrics at "
			      "%s:%u:%u): omit web.listen to share the metrics listener",
			      listen, c->metrics_file, c->metrics_line, c->metrics_column);
	else if (covers(web.host, metrics.host) || covers(metrics.host, web.host))
		cfg__error_at(&ld->ctx, ld->web_listen_line, ld->web_listen_column,
			      "\"listen\": \"%s\" and the metrics listener's \"%s\" (metrics at "
			      "%s:%u:%u) take the same port: omit web.listen to share the metrics "
			      "listener, or give another port",
			      listen, c->pub.metrics_listen, c->metrics_file, c->metrics_line,
			      c->metrics_column);
	ld->ctx.section = NULL;
	ld->ctx.file = saved;
}
