/* SPDX-License-Identifier: MIT */
/*
 * kinds.c: a node of the tree read as one kind of value (a duration, a
 * whole number, a boolean, a string, a word of a list, a mapping of names
 * to strings), and the checks of a node's shape that go with it. What is
 * wrong is reported at the node's position, in the words of the key it
 * is the value of; the grammars themselves are values.c's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "config/config-internal.h"
#include "config/values.h"

bool cfg__main_section(struct load *ld, const struct node *key, const struct node *map, bool main,
		       const char *name, const char *expected)
{
	if (!main) {
		if (ld->main_file)
			ERR(ld, key, "\"%s\" belongs in the main file (%s), not in a drop-in", name,
			    ld->main_file);
		else
			ERR(ld, key, "\"%s\" belongs in the main file, not in a drop-in", name);
		return false;
	}
	if (map->kind != NODE_MAP) {
		ERR(ld, map, "\"%s\": expected %s, not %s", name, expected, cfg__kind_name(map));
		return false;
	}
	return true;
}

const char *cfg__kind_name(const struct node *n)
{
	return n->kind == NODE_MAP ? "a mapping" : n->kind == NODE_SEQ ? "a list" : "a value";
}

bool cfg__want_scalar(struct load *ld, const struct node *n, const char *key, const char *what)
{
	if (n->kind == NODE_SCALAR)
		return true;
	ERR(ld, n, "\"%s\": expected %s, not %s", key, what, cfg__kind_name(n));
	return false;
}

/* Duplicate keys in a mapping: the second is an error. */
bool cfg__map_keys_unique(struct load *ld, const struct node *map)
{
	bool ok = true;

	for (size_t i = 0; i < map->nkids; i += 2) {
		const struct node *k = map->kids[i];

		if (k->kind != NODE_SCALAR) {
			ERR(ld, k, "a key must be a plain word, not %s", cfg__kind_name(k));
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

bool cfg__get_duration(struct load *ld, const struct node *n, const char *key, uint64_t min_ms,
		       uint64_t *ret)
{
	int r;
	char a[32];

	if (!cfg__want_scalar(ld, n, key, "a duration such as 30s"))
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

bool cfg__get_uint(struct load *ld, const struct node *n, const char *key, uint64_t min,
		   uint64_t max, unsigned *ret)
{
	uint64_t v;

	if (!cfg__want_scalar(ld, n, key, "a whole number"))
		return false;
	if (cfg__parse_uint(n->value, max, &v) < 0 || v < min) {
		ERR(ld, n, "\"%s\": expected a whole number from %llu to %llu, not \"%s\"", key,
		    (unsigned long long)min, (unsigned long long)max, n->value);
		return false;
	}
	*ret = (unsigned)v;
	return true;
}

bool cfg__get_bool(struct load *ld, const struct node *n, const char *key, bool *ret)
{
	if (!cfg__want_scalar(ld, n, key, "true or false"))
		return false;
	if (cfg__parse_bool(n->value, ret) < 0) {
		ERR(ld, n, "\"%s\": expected true or false, not \"%s\"", key, n->value);
		return false;
	}
	return true;
}

bool cfg__get_string(struct load *ld, const struct node *n, const char *key, bool nonempty,
		     char **ret)
{
	if (!cfg__want_scalar(ld, n, key, "a string"))
		return false;
	if (nonempty && !*n->value) {
		ERR(ld, n, "\"%s\": must not be empty", key);
		return false;
	}
	*ret = cfg__keep(ld, n->value);
	return *ret != NULL;
}

bool cfg__get_word(struct load *ld, const struct node *n, const char *key,
		   const char *const *words, size_t nwords, char **ret)
{
	char list[256];
	size_t off = 0;
	const char *hint;

	if (!cfg__want_scalar(ld, n, key, "a word"))
		return false;
	if (cfg__word_index(n->value, words, nwords) >= 0) {
		*ret = cfg__keep(ld, n->value);
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

bool cfg__get_hostport(struct load *ld, const struct node *n, const char *key, bool port_required,
		       uint16_t default_port, char **ret_host, uint16_t *ret_port)
{
	char host[256];
	const char *problem;

	if (!cfg__want_scalar(ld, n, key, port_required ? "HOST:PORT" : "HOST[:PORT]"))
		return false;
	problem = cfg__parse_hostport(n->value, port_required, default_port, host, sizeof host,
				      ret_port);
	if (problem) {
		ERR(ld, n, "\"%s\": \"%s\": %s", key, n->value, problem);
		return false;
	}
	if (ret_host)
		*ret_host = cfg__keep(ld, host);
	return true;
}

bool cfg__get_pairs(struct load *ld, const struct node *n, const char *key,
		    const char *(*check_key)(const char *), struct cfg_pair **ret, size_t *ret_n)
{
	struct cfg_pair *v;
	bool ok = true;

	if (n->kind != NODE_MAP) {
		ERR(ld, n, "\"%s\": expected a mapping of names to values, not %s", key, cfg__kind_name(n));
		return false;
	}
	if (!cfg__map_keys_unique(ld, n))
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
			    k->value, cfg__kind_name(val));
			ok = false;
			continue;
		}
		v[i / 2].key = cfg__keep(ld, k->value);
		v[i / 2].value = cfg__keep(ld, val->value);
	}
	*ret = v;
	*ret_n = n->nkids / 2;
	return ok;
}

bool cfg__get_command(struct load *ld, const struct node *n, char ***ret_argv, size_t *ret_argc)
{
	char **argv;

	if (n->kind != NODE_SEQ) {
		ERR(ld, n, "\"command\": expected a list of arguments, such as [\"/usr/bin/du\", \"-s\", "
			   "\"/var\"] (no shell is involved), not %s", cfg__kind_name(n));
		return false;
	}
	if (!n->nkids) {
		ERR(ld, n, "\"command\": the list is empty: give the program and its arguments");
		return false;
	}
	argv = cfg__alloc(&ld->cfg->arena, (n->nkids + 1) * sizeof *argv);
	if (!argv)
		return false;
	for (size_t i = 0; i < n->nkids; i++) {
		const struct node *a = n->kids[i];

		if (a->kind != NODE_SCALAR) {
			ERR(ld, a, "\"command\": each argument must be a string, not %s", cfg__kind_name(a));
			return false;
		}
		if (!(argv[i] = cfg__keep(ld, a->value)))
			return false;
	}
	if (!*argv[0]) {
		ERR(ld, n->kids[0], "\"command\": the program name is empty");
		return false;
	}
	argv[n->nkids] = NULL;
	*ret_argv = argv;
	*ret_argc = n->nkids;
	return true;
}
