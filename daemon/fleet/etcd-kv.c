/* SPDX-License-Identifier: MIT */
/*
 * etcd-kv.c: etcd's v3 calls (etcd.h) over etcd.c's exchange: leases,
 * ranges with pagination, gets, puts, create-if-absent and
 * delete-if-owned transactions, and the watch stream.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/fleet/etcd-internal.h"

/* ---- keys on the wire ------------------------------------------------------------ */

/* The base64 of len bytes as a JSON string (NULL on out of memory). */
static json_t *b64_json(const void *data, size_t len)
{
	char *s = etcd_b64_encode(data, len);
	json_t *v = s ? json_string(s) : NULL;

	free(s);
	return v;
}

/* The end of prefix's range: the prefix with its last byte incremented. */
static json_t *prefix_end(const char *prefix)
{
	size_t len = strlen(prefix);
	char *end = strndup(prefix, len);
	json_t *v;

	if (!end)
		return NULL;
	while (len && (unsigned char)end[len - 1] == 0xff)
		len--;
	if (!len) {
		free(end);
		return b64_json("", 1); /* "\0": every key */
	}
	end[len - 1]++;
	v = b64_json(end, len);
	free(end);
	return v;
}

static int decode_field(struct etcd *e, json_t *obj, const char *name, char **ret, size_t *ret_len)
{
	json_t *v = json_object_get(obj, name);

	*ret_len = 0;
	if (!v) {
		*ret = strdup("");
		return *ret ? 0 : -ENOMEM;
	}
	if (!json_is_string(v) || !(*ret = etcd_b64_decode(json_string_value(v), ret_len))) {
		etcd__set_error(e, "etcd: %s is not base64", name);
		return -EPROTO;
	}
	return 0;
}

static int decode_kv(struct etcd *e, json_t *obj, struct etcd_kv *kv)
{
	int r;

	memset(kv, 0, sizeof *kv);
	if (!json_is_object(obj)) {
		etcd__set_error(e, "etcd: a key-value pair is not an object");
		return -EPROTO;
	}
	if ((r = decode_field(e, obj, "key", &kv->key, &kv->key_len)) < 0 ||
	    (r = decode_field(e, obj, "value", &kv->value, &kv->value_len)) < 0) {
		etcd_kv_free(kv);
		return r;
	}
	if (!kv->key_len || memchr(kv->key, '\0', kv->key_len)) {
		etcd_kv_free(kv);
		etcd__set_error(e, "etcd: a key that is empty or holds NUL");
		return -EPROTO;
	}
	kv->create_revision = etcd__i64(obj, "create_revision");
	kv->mod_revision = etcd__i64(obj, "mod_revision");
	kv->version = etcd__i64(obj, "version");
	kv->lease = etcd__i64(obj, "lease");
	return 0;
}

static int decode_kvs(struct etcd *e, json_t *arr, struct etcd_kvs *out)
{
	size_t n = json_array_size(arr), i;
	json_t *v;
	struct etcd_kv *grown;

	if (arr && !json_is_array(arr)) {
		etcd__set_error(e, "etcd: kvs is not an array");
		return -EPROTO;
	}
	if (!n)
		return 0;
	if (!(grown = realloc(out->v, (out->n + n) * sizeof *grown)))
		return -ENOMEM;
	out->v = grown;
	json_array_foreach(arr, i, v) {
		int r = decode_kv(e, v, &out->v[out->n]);

		if (r < 0)
			return r;
		out->n++;
	}
	return 0;
}

/* ---- leases ------------------------------------------------------------------- */

static json_t *id_body(int64_t id)
{
	return json_pack("{s:o}", "ID", json_sprintf("%lld", (long long)id));
}

int etcd_grant(struct etcd *e, int64_t ttl_s, int64_t *ret_id, int64_t *ret_ttl_s)
{
	json_t *ans;
	int r = etcd__call(e, "/v3/lease/grant",
		     json_pack("{s:o}", "TTL", json_sprintf("%lld", (long long)ttl_s)), &ans);

	if (r < 0)
		return r;
	*ret_id = etcd__i64(ans, "ID");
	*ret_ttl_s = etcd__i64(ans, "TTL");
	json_decref(ans);
	if (!*ret_id || *ret_ttl_s <= 0) {
		etcd__set_error(e, "etcd: a grant without an ID or TTL");
		return -EPROTO;
	}
	return 0;
}

int etcd_keepalive(struct etcd *e, int64_t id, int64_t *ret_ttl_s)
{
	json_t *ans;
	int r = etcd__call(e, "/v3/lease/keepalive", id_body(id), &ans);

	if (r < 0)
		return r;
	*ret_ttl_s = etcd__i64(ans, "TTL");
	json_decref(ans);
	if (*ret_ttl_s <= 0) {
		etcd__set_error(e, "etcd: lease %llx not found", (unsigned long long)id);
		return -ENOENT;
	}
	return 0;
}

int etcd_timetolive(struct etcd *e, int64_t id, int64_t *ret_ttl_s)
{
	json_t *ans;
	int r = etcd__call(e, "/v3/lease/timetolive", id_body(id), &ans);

	if (r < 0)
		return r;
	*ret_ttl_s = etcd__i64(ans, "TTL");
	json_decref(ans);
	if (*ret_ttl_s < 0) {
		etcd__set_error(e, "etcd: lease %llx not found", (unsigned long long)id);
		return -ENOENT;
	}
	return 0;
}

int etcd_revoke(struct etcd *e, int64_t id)
{
	json_t *ans;
	int r = etcd__call(e, "/v3/lease/revoke", id_body(id), &ans);

	json_decref(ans);
	return r == -ENOENT ? 0 : r;
}

/* ---- keys ------------------------------------------------------------------------ */

int etcd_range_prefix(struct etcd *e, const char *prefix, struct etcd_kvs *ret,
		      int64_t *ret_revision)
{
	json_t *from = b64_json(prefix, strlen(prefix)), *end = prefix_end(prefix);
	int64_t rev = 0;
	int r = 0;

	memset(ret, 0, sizeof *ret);
	if (!from || !end) {
		json_decref(from);
		json_decref(end);
		return -ENOMEM;
	}
	for (;;) {
		json_t *body = json_pack("{s:O, s:O, s:I}", "key", from, "range_end", end, "limit",
					 (json_int_t)e->page), *ans;
		bool more;

		if (body && rev)
			json_object_set_new(body, "revision", json_sprintf("%lld", (long long)rev));
		if ((r = etcd__call(e, "/v3/kv/range", body, &ans)) < 0)
			break;
		if (!rev)
			rev = etcd__i64(json_object_get(ans, "header"), "revision");
		r = decode_kvs(e, json_object_get(ans, "kvs"), ret);
		more = json_is_true(json_object_get(ans, "more"));
		json_decref(ans);
		if (r < 0 || !more || !ret->n)
			break;
		/* The next page starts just after the last key: the key and a NUL. */
		{
			struct etcd_kv *last = &ret->v[ret->n - 1];
			char *next = malloc(last->key_len + 1);

			if (!next) {
				r = -ENOMEM;
				break;
			}
			memcpy(next, last->key, last->key_len);
			next[last->key_len] = '\0';
			json_decref(from);
			from = b64_json(next, last->key_len + 1);
			free(next);
			if (!from) {
				r = -ENOMEM;
				break;
			}
		}
	}
	json_decref(from);
	json_decref(end);
	if (r < 0) {
		etcd_kvs_free(ret);
		return r;
	}
	*ret_revision = rev;
	return 0;
}

int etcd_get(struct etcd *e, const char *key, struct etcd_kv *ret)
{
	json_t *ans, *kvs;
	int r = etcd__call(e, "/v3/kv/range", json_pack("{s:o}", "key", b64_json(key, strlen(key))), &ans);

	memset(ret, 0, sizeof *ret);
	if (r < 0)
		return r;
	kvs = json_object_get(ans, "kvs");
	r = json_array_size(kvs) ? decode_kv(e, json_array_get(kvs, 0), ret) : -ENOENT;
	json_decref(ans);
	return r;
}

static json_t *put_request(const char *key, const void *value, size_t len, int64_t lease)
{
	json_t *p = json_pack("{s:o, s:o}", "key", b64_json(key, strlen(key)), "value",
			      b64_json(value, len));

	if (p && lease)
		json_object_set_new(p, "lease", json_sprintf("%lld", (long long)lease));
	return p;
}

int etcd_put(struct etcd *e, const char *key, const void *value, size_t len, int64_t lease)
{
	json_t *ans;
	int r = etcd__call(e, "/v3/kv/put", put_request(key, value, len, lease), &ans);

	json_decref(ans);
	return r;
}

int etcd_create(struct etcd *e, const char *key, const void *value, size_t len, int64_t lease,
		bool *ret_created, struct etcd_kv *existing)
{
	json_t *ans, *resp, *kvs;
	json_t *body = json_pack("{s:[{s:s, s:o, s:s}], s:[{s:o}], s:[{s:{s:o}}]}",
				 "compare", "target", "CREATE", "key", b64_json(key, strlen(key)),
				 "create_revision", "0",
				 "success", "request_put", put_request(key, value, len, lease),
				 "failure", "request_range", "key", b64_json(key, strlen(key)));
	int r = etcd__call(e, "/v3/kv/txn", body, &ans);

	if (existing)
		memset(existing, 0, sizeof *existing);
	if (r < 0)
		return r;
	*ret_created = json_is_true(json_object_get(ans, "succeeded"));
	if (!*ret_created && existing) {
		resp = json_object_get(json_array_get(json_object_get(ans, "responses"), 0),
				       "response_range");
		kvs = json_object_get(resp, "kvs");
		if (json_array_size(kvs))
			r = decode_kv(e, json_array_get(kvs, 0), existing);
	}
	json_decref(ans);
	return r;
}

int etcd_delete(struct etcd *e, const char *key, int64_t if_lease, bool *ret_deleted)
{
	json_t *ans, *resp;
	int r;

	if (if_lease) {
		json_t *body = json_pack("{s:[{s:s, s:o, s:o}], s:[{s:{s:o}}]}", "compare",
					 "target", "LEASE", "key", b64_json(key, strlen(key)),
					 "lease", json_sprintf("%lld", (long long)if_lease),
					 "success", "request_delete_range", "key",
					 b64_json(key, strlen(key)));

		r = etcd__call(e, "/v3/kv/txn", body, &ans);
		if (r < 0)
			return r;
		resp = json_object_get(json_array_get(json_object_get(ans, "responses"), 0),
				       "response_delete_range");
	} else {
		r = etcd__call(e, "/v3/kv/deleterange",
			 json_pack("{s:o}", "key", b64_json(key, strlen(key))), &ans);
		if (r < 0)
			return r;
		resp = ans;
	}
	if (ret_deleted)
		*ret_deleted = etcd__i64(resp, "deleted") > 0;
	json_decref(ans);
	return 0;
}

/* ---- watch ----------------------------------------------------------------------- */

struct watch {
	struct etcd *e;
	etcd_watch_fn *fn;
	void *arg;
	int64_t compact;
	int ret;                     /* why the stream was stopped */
	int64_t last_revision;
};

static int watch_line(struct etcd_answer *a, const char *text, size_t len)
{
	struct watch *w = a->watch;
	struct etcd *e = w->e;
	json_t *root = json_loadb(text, len, 0, NULL), *res, *events, *ev;
	struct etcd_event *v = NULL;
	size_t n = 0, i;
	int r;

	if (!json_is_object(root)) {
		json_decref(root);
		etcd__set_error(e, "etcd: a watch message that is not JSON");
		return w->ret = -EPROTO;
	}
	if ((r = etcd__answer_error(e, root)) < 0) {
		json_decref(root);
		return w->ret = r;
	}
	res = json_object_get(root, "result");
	if (!json_is_object(res)) {
		json_decref(root);
		return 0;
	}
	if (json_is_true(json_object_get(res, "canceled"))) {
		w->compact = etcd__i64(res, "compact_revision");
		etcd__set_error(e, "etcd: watch cancelled%s", w->compact ? ": revision compacted" : "");
		json_decref(root);
		return w->ret = w->compact ? -ESTALE : -EIO;
	}
	events = json_object_get(res, "events");
	if (json_array_size(events) && !(v = calloc(json_array_size(events), sizeof *v))) {
		json_decref(root);
		return w->ret = -ENOMEM;
	}
	r = 0;
	json_array_foreach(events, i, ev) {
		json_t *type = json_object_get(ev, "type");

		v[n].type = json_is_string(type) && strcmp(json_string_value(type), "DELETE") == 0 ?
				    ETCD_DELETE : ETCD_PUT;
		if ((r = decode_kv(e, json_object_get(ev, "kv"), &v[n].kv)) < 0)
			break;
		n++;
	}
	if (r == 0 && n) {
		int64_t rev = etcd__i64(json_object_get(res, "header"), "revision");

		w->last_revision = rev;
		r = w->fn(w->arg, v, n, rev);
	}
	for (i = 0; i < n; i++)
		etcd_kv_free(&v[i].kv);
	free(v);
	json_decref(root);
	return r ? (w->ret = r) : 0;
}

int etcd_watch(struct etcd *e, const char *prefix, int64_t start_revision, etcd_watch_fn *fn,
	       void *arg, int64_t *ret_compact_revision)
{
	struct watch w = { .e = e, .fn = fn, .arg = arg };
	json_t *body = json_pack("{s:{s:o, s:o, s:o, s:b}}", "create_request", "key",
				 b64_json(prefix, strlen(prefix)), "range_end", prefix_end(prefix),
				 "start_revision", json_sprintf("%lld", (long long)start_revision),
				 "progress_notify", 1);
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	int r = -EIO;

	json_decref(body);
	if (!text)
		return -ENOMEM;
	e->cancelled = false;
	for (size_t tried = 0, first = e->cur; tried < e->n; tried++) {
		size_t i = (first + tried) % e->n;
		struct etcd_answer a = { .e = e, .line = watch_line, .watch = &w };
		long status = etcd__post(e, e->endpoints[i], "/v3/watch", text, &a,
				   0, (long)e->timeout_ms, true);

		free(a.buf);
		if (w.ret) {
			r = w.ret;
			e->cur = i;
			break;
		}
		if (status == -ECANCELED) {
			/*
			 * Cancelled because etcd seemed gone (or at stop): resume on
			 * another endpoint, in case this one hangs with its socket open.
			 */
			r = -ECANCELED;
			e->cur = (i + 1) % e->n;
			break;
		}
		if (status < 0 || status >= 500) {
			r = status < 0 ? (int)status : -EIO;
			e->cur = (i + 1) % e->n;
			if (status >= 500)
				etcd__set_error(e, "%s: HTTP status %ld", e->endpoints[i], status);
			continue;
		}
		/* The stream ended: etcd went away or closed it. */
		e->cur = i;
		etcd__set_error(e, "%s: the watch stream ended", e->endpoints[i]);
		r = -EIO;
		break;
	}
	free(text);
	if (r == -ESTALE && ret_compact_revision)
		*ret_compact_revision = w.compact;
	return r;
}
