/* SPDX-License-Identifier: MIT */
/*
 * fleet.c: the `fleet:` section of the main file: the etcd endpoints a
 * fleet of daemons shares its jobs through, the prefix of its keys there,
 * this daemon's member name, its lease's TTL and the TLS files for
 * https:// endpoints (coro-runner.yaml(5), FLEET). The daemon's side is
 * daemon/fleet/; this file only reads and checks the values, and every
 * string it keeps lives in the configuration's arena (config_free frees
 * them with the rest).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "config/config-internal.h"
#include "config/values.h"

#define PREFIX_MAX 128 /* bytes of `prefix` */

enum fleet_key { F_ETCD, F_PREFIX, F_MEMBER, F_TTL, F_CA, F_CERT, F_KEY, NFLEET_KEYS };

static const char *const fleet_keys[NFLEET_KEYS] = {
	"etcd", "prefix", "member", "ttl", "ca", "cert", "key",
};

#define COUNT(a) (sizeof(a) / sizeof *(a))

/* `etcd`: one endpoint, or a list of them; none twice. */
static bool get_endpoints(struct load *ld, const struct node *n, struct cfg_fleet *f)
{
	const struct node *const *items = &n;
	size_t count = 1;
	bool ok = true;

	if (n->kind == NODE_SEQ) {
		items = (const struct node *const *)n->kids;
		count = n->nkids;
		if (!count) {
			ERR(ld, n, "\"etcd\": the list is empty: give at least one endpoint, such as "
				   "\"http://127.0.0.1:2379\"");
			return false;
		}
	} else if (n->kind != NODE_SCALAR) {
		ERR(ld, n, "\"etcd\": expected an endpoint or a list of them, such as "
			   "[\"http://127.0.0.1:2379\"], not %s", cfg__kind_name(n));
		return false;
	}
	f->etcd = cfg__alloc(&ld->cfg->arena, count * sizeof *f->etcd);
	if (!f->etcd)
		return false;
	for (size_t i = 0; i < count; i++) {
		const struct node *e = items[i]; /* NULL once found wanting */
		const char *problem;

		if (e->kind != NODE_SCALAR) {
			ERR(ld, e, "\"etcd\": each endpoint must be a string, not %s", cfg__kind_name(e));
			ok = false;
			continue;
		}
		if (!*e->value) {
			ERR(ld, e, "\"etcd\": an endpoint must not be empty");
			ok = false;
			continue;
		}
		if ((problem = cfg__check_endpoint(e->value)) != NULL) {
			ERR(ld, e, "\"etcd\": \"%s\": %s", e->value, problem);
			ok = false;
			continue;
		}
		for (size_t j = 0; j < f->netcd && e; j++) {
			if (strcmp(f->etcd[j], e->value) == 0) {
				ERR(ld, e, "\"etcd\": \"%s\" is listed twice", e->value);
				ok = false;
				e = NULL;
			}
		}
		if (e && !(f->etcd[f->netcd++] = cfg__keep(ld, e->value)))
			return false;
	}
	return ok;
}

/* `prefix`: /.../, printable ASCII without spaces, at most PREFIX_MAX bytes. */
static bool get_prefix(struct load *ld, const struct node *n, struct cfg_fleet *f)
{
	if (!cfg__get_string(ld, n, "prefix", true, &f->prefix))
		return false;
	if (n->len > PREFIX_MAX) {
		ERR(ld, n, "\"prefix\": %zu bytes, more than the %u it may have", n->len, PREFIX_MAX);
		return false;
	}
	for (size_t i = 0; i < n->len; i++) {
		if ((unsigned char)n->value[i] <= ' ' || (unsigned char)n->value[i] >= 0x7f) {
			ERR(ld, n, "\"prefix\": \"%s\": printable ASCII only, without spaces", n->value);
			return false;
		}
	}
	if (n->value[0] != '/' || n->value[n->len - 1] != '/') {
		ERR(ld, n, "\"prefix\": \"%s\" must start and end with \"/\" (such as %s)", n->value,
		    CFG_FLEET_PREFIX_DEFAULT);
		return false;
	}
	return true;
}

/* `ttl`: whole seconds from CFG_FLEET_TTL_MIN_MS to CFG_FLEET_TTL_MAX_MS. */
static bool get_ttl(struct load *ld, const struct node *n, struct cfg_fleet *f)
{
	char a[32], b[32];

	if (!cfg__get_duration(ld, n, "ttl", 0, &f->ttl_ms))
		return false;
	/* Whole seconds first: the bounds are in seconds too. */
	if (f->ttl_ms % 1000) {
		ERR(ld, n, "\"ttl\": %s is not a whole number of seconds (etcd grants leases in "
			   "seconds)", n->value);
		return false;
	}
	if (f->ttl_ms < CFG_FLEET_TTL_MIN_MS || f->ttl_ms > CFG_FLEET_TTL_MAX_MS) {
		ERR(ld, n, "\"ttl\": %s is too %s (at least %s, at most %s)", n->value,
		    f->ttl_ms < CFG_FLEET_TTL_MIN_MS ? "short" : "long",
		    config_format_duration(CFG_FLEET_TTL_MIN_MS, a, sizeof a),
		    config_format_duration(CFG_FLEET_TTL_MAX_MS, b, sizeof b));
		return false;
	}
	return true;
}

/* `ca`, `cert`, `key`: absolute paths (read by the daemon, not here). */
static bool get_path(struct load *ld, const struct node *n, const char *key, char **ret)
{
	if (!cfg__get_string(ld, n, key, true, ret))
		return false;
	if (n->value[0] != '/') {
		ERR(ld, n, "\"%s\": \"%s\" must be an absolute path", key, n->value);
		return false;
	}
	return true;
}

/*
 * `member` left out: the host name, if it is a valid member name. The
 * error is at the `fleet` mapping, the place to add `member:`.
 */
static bool default_member(struct load *ld, const struct node *map, struct cfg_fleet *f)
{
	char host[256];

	if (gethostname(host, sizeof host) < 0) {
		ERR(ld, map, "\"member\" is missing and the host name cannot be read (%s): set "
			     "\"member:\"", strerror(errno));
		return false;
	}
	host[sizeof host - 1] = '\0';
	if (!cfg__name_ok(host)) {
		ERR(ld, map, "\"member\" is missing and the host name \"%s\" is not a member name "
			     "(1 to 64 letters, digits, \"_\", \".\" or \"-\"): set \"member:\"", host);
		return false;
	}
	f->member = cfg__keep(ld, host);
	return f->member != NULL;
}

/* Whether any endpoint is https:// (the TLS keys are for those). */
static bool any_https(const struct cfg_fleet *f)
{
	for (size_t i = 0; i < f->netcd; i++)
		if (strncmp(f->etcd[i], "https://", 8) == 0)
			return true;
	return false;
}

/* The relations between the keys: cert with key, TLS keys with https. */
static bool check_tls(struct load *ld, const struct node *const *keys, const struct cfg_fleet *f)
{
	bool ok = true;

	if (keys[F_CERT] && !keys[F_KEY]) {
		ERR(ld, keys[F_CERT], "\"cert\" without \"key\": give the client certificate's "
				      "private key too");
		ok = false;
	}
	if (keys[F_KEY] && !keys[F_CERT]) {
		ERR(ld, keys[F_KEY], "\"key\" without \"cert\": give the client certificate too");
		ok = false;
	}
	if (f->netcd && !any_https(f)) {
		for (int k = F_CA; k <= F_KEY; k++) {
			if (!keys[k])
				continue;
			ERR(ld, keys[k], "\"%s\" is for https:// endpoints, and every endpoint in \"etcd\" "
					"is http://", fleet_keys[k]);
			ok = false;
			break;
		}
	}
	return ok;
}

void cfg__read_fleet(struct load *ld, const struct node *key, const struct node *map, bool main)
{
	const struct node *own[NFLEET_KEYS] = { 0 }, *keynode[NFLEET_KEYS] = { 0 };
	struct cfg_fleet *f;
	bool ok = true;

	if (!cfg__main_section(ld, key, map, main, "fleet",
			       "a mapping such as {etcd: \"http://127.0.0.1:2379\"}"))
		return;
	f = cfg__alloc(&ld->cfg->arena, sizeof *f);
	if (!f)
		return;
	memset(f, 0, sizeof *f);
	f->where.file = ld->ctx.file;
	f->where.line = map->line;
	f->where.column = map->column;
	f->ttl_ms = CFG_FLEET_TTL_DEFAULT_MS;

	ld->ctx.section = "fleet";
	if (!cfg__map_keys_unique(ld, map))
		ok = false;
	for (size_t i = 0; i < map->nkids; i += 2) {
		const struct node *k = map->kids[i];
		int idx;

		if (k->kind != NODE_SCALAR)
			continue;
		idx = cfg__word_index(k->value, fleet_keys, COUNT(fleet_keys));
		if (idx < 0) {
			const char *hint = cfg__suggest(k->value, fleet_keys, COUNT(fleet_keys));

			if (hint)
				ERR(ld, k, "unknown key \"%s\" (did you mean \"%s\"?)", k->value, hint);
			else
				ERR(ld, k, "unknown key \"%s\" (fleet has etcd, prefix, member, ttl, ca, "
					   "cert and key)", k->value);
			ok = false;
			continue;
		}
		if (!own[idx]) { /* a second one is cfg__map_keys_unique's error */
			own[idx] = map->kids[i + 1];
			keynode[idx] = k;
		}
	}

	if (!own[F_ETCD]) {
		ERR(ld, map, "\"etcd\" is missing: the endpoints of the fleet's etcd, such as "
			     "etcd: [\"http://127.0.0.1:2379\"]");
		ok = false;
	} else if (!get_endpoints(ld, own[F_ETCD], f)) {
		ok = false;
	}
	if (own[F_PREFIX] ? !get_prefix(ld, own[F_PREFIX], f) :
			    !(f->prefix = cfg__keep(ld, CFG_FLEET_PREFIX_DEFAULT)))
		ok = false;
	if (own[F_MEMBER]) {
		const struct node *n = own[F_MEMBER];

		if (!cfg__get_string(ld, n, "member", true, &f->member)) {
			ok = false;
		} else if (!cfg__name_ok(n->value)) {
			ERR(ld, n, "\"member\": \"%s\" is not a member name (1 to 64 letters, digits, "
				   "\"_\", \".\" or \"-\")", n->value);
			ok = false;
		}
	} else if (!default_member(ld, map, f)) {
		ok = false;
	}
	if (own[F_TTL] && !get_ttl(ld, own[F_TTL], f))
		ok = false;
	if (own[F_CA] && !get_path(ld, own[F_CA], "ca", &f->ca_file))
		ok = false;
	if (own[F_CERT] && !get_path(ld, own[F_CERT], "cert", &f->cert_file))
		ok = false;
	if (own[F_KEY] && !get_path(ld, own[F_KEY], "key", &f->key_file))
		ok = false;
	/* Errors about a key as a whole are at the key, not its value. */
	if (!check_tls(ld, keynode, f))
		ok = false;
	ld->ctx.section = NULL;
	if (ok)
		ld->cfg->pub.fleet = f;
}
