/* SPDX-License-Identifier: MIT */
/*
 * etcd.c: etcd's v3 API through its HTTP/JSON gateway (etcd.h), with
 * libcurl's easy API as blocking code in a hooked coroutine, and jansson.
 *
 * What the 3.4 gateway does, as seen from here (checked against Debian's
 * etcd-server 3.4.23):
 * - int64 fields are JSON strings ("revision": "12"); fields at their zero
 *   value are left out (a failed txn has no "succeeded", a PUT event no
 *   "type", a keepalive of a dead lease no "TTL");
 * - errors are {"error": ..., "message": ..., "code": N} with gRPC codes
 *   (5 NotFound: "etcdserver: requested lease not found");
 * - streaming calls (keepalive, watch) answer one {"result": {...}} line
 *   per message; lease/timetolive of a dead lease answers "TTL": "-1";
 * - a watch from a compacted revision answers "canceled": true with
 *   "compact_revision".
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "daemon/fleet/etcd.h"

#define DEFAULT_TIMEOUT_MS 3000
#define MAX_ANSWER (64u << 20)   /* bytes of one answer (a page, a watch message) */
#define MAX_FDS 8

struct etcd {
	char **endpoints;
	size_t n;
	size_t cur;                  /* the endpoint tried first */
	char *ca, *cert, *key;
	uint64_t timeout_ms;
	CURL *curl;                  /* kept: its connection is reused between calls */
	int fds[MAX_FDS];
	bool cancelled;
	char err[ETCD_ERROR_MAX];
};

/* ---- base64 ------------------------------------------------------------------ */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *etcd_b64_encode(const void *data, size_t len)
{
	const unsigned char *p = data;
	char *out = malloc((len + 2) / 3 * 4 + 1), *o = out;

	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i += 3) {
		unsigned v = (unsigned)p[i] << 16 | (i + 1 < len ? (unsigned)p[i + 1] << 8 : 0) |
			     (i + 2 < len ? p[i + 2] : 0);

		*o++ = b64[v >> 18 & 63];
		*o++ = b64[v >> 12 & 63];
		*o++ = i + 1 < len ? b64[v >> 6 & 63] : '=';
		*o++ = i + 2 < len ? b64[v & 63] : '=';
	}
	*o = '\0';
	return out;
}

static int b64_value(char c)
{
	const char *p = c ? strchr(b64, c) : NULL;

	return p ? (int)(p - b64) : -1;
}

char *etcd_b64_decode(const char *text, size_t *ret_len)
{
	size_t len = strlen(text), n = 0;
	char *out;

	if (len % 4) {
		errno = EINVAL;
		return NULL;
	}
	if (!(out = malloc(len / 4 * 3 + 1)))
		return NULL;
	for (size_t i = 0; i < len; i += 4) {
		int v[4];
		bool last = i + 4 == len;

		for (int k = 0; k < 4; k++)
			v[k] = b64_value(text[i + k]);
		if (v[0] < 0 || v[1] < 0 || (v[2] < 0 && !(last && text[i + 2] == '=' &&
							   text[i + 3] == '=')) ||
		    (v[3] < 0 && !(last && text[i + 3] == '='))) {
			free(out);
			errno = EINVAL;
			return NULL;
		}
		out[n++] = (char)(v[0] << 2 | v[1] >> 4);
		if (v[2] >= 0)
			out[n++] = (char)((v[1] & 15) << 4 | v[2] >> 2);
		if (v[2] >= 0 && v[3] >= 0)
			out[n++] = (char)((v[2] & 3) << 6 | v[3]);
	}
	out[n] = '\0';
	*ret_len = n;
	return out;
}

/* ---- the handle -------------------------------------------------------------- */

static void set_error(struct etcd *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_error(struct etcd *e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(e->err, sizeof e->err, fmt, ap);
	va_end(ap);
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

struct etcd *etcd_new(const struct etcd_options *opt)
{
	struct etcd *e = calloc(1, sizeof *e);
	bool ok;

	if (!e)
		return NULL;
	for (int i = 0; i < MAX_FDS; i++)
		e->fds[i] = -1;
	e->endpoints = calloc(opt->nendpoints ? opt->nendpoints : 1, sizeof *e->endpoints);
	ok = e->endpoints && opt->nendpoints;
	for (size_t i = 0; ok && i < opt->nendpoints; i++) {
		/* Without a trailing slash: paths are appended. */
		size_t len = strlen(opt->endpoints[i]);

		while (len && opt->endpoints[i][len - 1] == '/')
			len--;
		ok = (e->endpoints[i] = strndup(opt->endpoints[i], len)) != NULL;
		e->n = i + 1;
	}
	e->ca = dup_or_null(opt->ca_file);
	e->cert = dup_or_null(opt->cert_file);
	e->key = dup_or_null(opt->key_file);
	e->timeout_ms = opt->timeout_ms ? opt->timeout_ms : DEFAULT_TIMEOUT_MS;
	e->curl = curl_easy_init();
	ok = ok && e->curl && (!opt->ca_file || e->ca) && (!opt->cert_file || e->cert) &&
	     (!opt->key_file || e->key);
	if (!ok) {
		etcd_free(e);
		return NULL;
	}
	return e;
}

void etcd_free(struct etcd *e)
{
	if (!e)
		return;
	if (e->curl)
		curl_easy_cleanup(e->curl);
	for (size_t i = 0; i < e->n; i++)
		free(e->endpoints[i]);
	free(e->endpoints);
	free(e->ca);
	free(e->cert);
	free(e->key);
	free(e);
}

const char *etcd_error(const struct etcd *e)
{
	return e->err;
}

const char *etcd_endpoint(const struct etcd *e)
{
	return e->endpoints[e->cur];
}

void etcd_cancel(struct etcd *e)
{
	e->cancelled = true;
	for (int i = 0; i < MAX_FDS; i++)
		if (e->fds[i] >= 0)
			shutdown(e->fds[i], SHUT_RDWR); /* wakes a poll blocked on it */
}

void etcd_kv_free(struct etcd_kv *kv)
{
	if (!kv)
		return;
	free(kv->key);
	free(kv->value);
	memset(kv, 0, sizeof *kv);
}

void etcd_kvs_free(struct etcd_kvs *kvs)
{
	for (size_t i = 0; i < kvs->n; i++)
		etcd_kv_free(&kvs->v[i]);
	free(kvs->v);
	kvs->v = NULL;
	kvs->n = 0;
}

/* ---- one HTTP exchange --------------------------------------------------------- */

static curl_socket_t on_open(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct etcd *e = arg;
	int fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);

	(void)purpose;
	if (fd < 0)
		return CURL_SOCKET_BAD;
	for (int i = 0; i < MAX_FDS; i++) {
		if (e->fds[i] < 0) {
			e->fds[i] = fd;
			break;
		}
	}
	return fd;
}

static int on_close(void *arg, curl_socket_t fd)
{
	struct etcd *e = arg;

	for (int i = 0; i < MAX_FDS; i++)
		if (e->fds[i] == fd)
			e->fds[i] = -1;
	return close(fd);
}

static int on_progress(void *arg, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
	struct etcd *e = arg;

	(void)a, (void)b, (void)c, (void)d;
	return e->cancelled;
}

/* What an exchange collects; a watch hands each line to its parser as it comes. */
struct answer {
	struct etcd *e;
	char *buf;
	size_t len, cap;
	bool too_big;
	int (*line)(struct answer *a, const char *text, size_t len); /* watch: non-zero stops */
	int line_ret;
	void *watch;
};

static size_t on_data(char *data, size_t size, size_t n, void *arg)
{
	struct answer *a = arg;
	size_t len = size * n;

	if (a->e->cancelled)
		return 0;
	if (a->len + len + 1 > MAX_ANSWER) {
		a->too_big = true;
		return 0;
	}
	if (a->len + len + 1 > a->cap) {
		size_t cap = a->cap ? a->cap : 4096;
		char *b;

		while (cap < a->len + len + 1)
			cap *= 2;
		if (!(b = realloc(a->buf, cap)))
			return 0;
		a->buf = b;
		a->cap = cap;
	}
	memcpy(a->buf + a->len, data, len);
	a->len += len;
	a->buf[a->len] = '\0';
	if (a->line) {
		char *nl;

		while ((nl = memchr(a->buf, '\n', a->len))) {
			size_t l = (size_t)(nl - a->buf);

			if (l && (a->line_ret = a->line(a, a->buf, l)) != 0)
				return 0;
			memmove(a->buf, nl + 1, a->len - l - 1);
			a->len -= l + 1;
			a->buf[a->len] = '\0';
		}
	}
	return len;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * POSTs body to one endpoint. Returns the HTTP status (> 0), or a
 * negative errno for a transport failure (message set).
 */
static long post(struct etcd *e, const char *endpoint, const char *path, const char *body,
		 struct answer *a, long timeout_ms, long connect_ms, bool stream)
{
	CURL *c = e->curl;
	char url[1024];
	struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
	long status = 0;
	CURLcode rc;

	snprintf(url, sizeof url, "%s%s", endpoint, path);
	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
	if (!stream)
		curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPIDLE, 2L);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPINTVL, 2L);
	curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, on_open);
	curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, e);
	curl_easy_setopt(c, CURLOPT_CLOSESOCKETFUNCTION, on_close);
	curl_easy_setopt(c, CURLOPT_CLOSESOCKETDATA, e);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, e);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, a);
	if (e->ca)
		curl_easy_setopt(c, CURLOPT_CAINFO, e->ca);
	if (e->cert)
		curl_easy_setopt(c, CURLOPT_SSLCERT, e->cert);
	if (e->key)
		curl_easy_setopt(c, CURLOPT_SSLKEY, e->key);
	rc = curl_easy_perform(c);
	curl_slist_free_all(headers);
	if (e->cancelled) {
		set_error(e, "%s: cancelled", endpoint);
		return -ECANCELED;
	}
	if (rc == CURLE_WRITE_ERROR && a->line_ret)
		return 200; /* the watch's callback stopped it */
	if (a->too_big) {
		set_error(e, "%s: an answer over %u MiB", endpoint, MAX_ANSWER >> 20);
		return -EPROTO;
	}
	if (rc != CURLE_OK) {
		set_error(e, "%s: %s", endpoint, curl_easy_strerror(rc));
		return rc == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT :
		       rc == CURLE_COULDNT_CONNECT ? -ECONNREFUSED :
		       rc == CURLE_OUT_OF_MEMORY ? -ENOMEM : -EIO;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	return status;
}

/* An int64 field, as the gateway writes them (a string) or as a number; 0 if absent. */
static int64_t i64(json_t *obj, const char *name)
{
	json_t *v = json_object_get(obj, name);

	if (json_is_string(v))
		return strtoll(json_string_value(v), NULL, 10);
	if (json_is_integer(v))
		return json_integer_value(v);
	return 0;
}

/* Maps an error answer ({"error", "message", "code"}) to an errno. */
static int answer_error(struct etcd *e, json_t *root)
{
	json_t *msg = json_object_get(root, "message"), *err = json_object_get(root, "error");
	const char *text = json_is_string(msg) ? json_string_value(msg) :
			   json_is_string(err) ? json_string_value(err) : NULL;
	json_int_t code = json_integer_value(json_object_get(root, "code"));

	if (!text && json_is_object(err)) /* a streaming call's error */
		return answer_error(e, err);
	if (!text && !code)
		return 0;
	set_error(e, "etcd: %s", text ? text : "error");
	if (code == 5 || (text && strstr(text, "not found")))
		return -ENOENT;
	return -EINVAL;
}

/*
 * One call: body to path, trying the endpoints in turn within the
 * timeout. Returns 0 with the answer's JSON in *ret (a streaming call's
 * "result" object), or a negative errno.
 */
static int call(struct etcd *e, const char *path, json_t *body, json_t **ret)
{
	char *text = json_dumps(body, JSON_COMPACT);
	uint64_t deadline = mono_ms() + e->timeout_ms;
	int err = -ETIMEDOUT;

	*ret = NULL;
	json_decref(body);
	if (!text) {
		set_error(e, "out of memory");
		return -ENOMEM;
	}
	e->cancelled = false;
	for (size_t tried = 0; tried < e->n; tried++) {
		size_t i = (e->cur + tried) % e->n;
		uint64_t now = mono_ms();
		long left = now < deadline ? (long)(deadline - now) : 0, status;
		long connect = left / (long)(e->n - tried);
		struct answer a = { .e = e };
		json_error_t je;
		json_t *root, *result;

		if (left <= 0)
			break;
		status = post(e, e->endpoints[i], path, text, &a, left,
			      connect < 100 ? (left < 100 ? left : 100) : connect, false);
		if (status == -ECANCELED || status == -ENOMEM) {
			free(a.buf);
			err = (int)status;
			break;
		}
		if (status < 0 || status >= 500) {
			if (status >= 500)
				set_error(e, "%s: HTTP status %ld", e->endpoints[i], status);
			err = status < 0 ? (int)status : -EIO;
			free(a.buf);
			continue;
		}
		root = a.buf ? json_loadb(a.buf, a.len, 0, &je) : NULL;
		free(a.buf);
		e->cur = i;
		if (!json_is_object(root)) {
			set_error(e, "%s: HTTP status %ld, %s", e->endpoints[i], status,
				  root ? "not a JSON object" : "not JSON");
			json_decref(root);
			err = -EPROTO;
			break;
		}
		if ((err = answer_error(e, root)) < 0) {
			json_decref(root);
			break;
		}
		result = json_object_get(root, "result");
		if (json_is_object(result)) {
			json_incref(result);
			json_decref(root);
			root = result;
			if ((err = answer_error(e, root)) < 0) {
				json_decref(root);
				break;
			}
		}
		free(text);
		e->err[0] = '\0';
		*ret = root;
		return 0;
	}
	free(text);
	return err;
}

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
		set_error(e, "etcd: %s is not base64", name);
		return -EPROTO;
	}
	return 0;
}

static int decode_kv(struct etcd *e, json_t *obj, struct etcd_kv *kv)
{
	int r;

	memset(kv, 0, sizeof *kv);
	if (!json_is_object(obj)) {
		set_error(e, "etcd: a key-value pair is not an object");
		return -EPROTO;
	}
	if ((r = decode_field(e, obj, "key", &kv->key, &kv->key_len)) < 0 ||
	    (r = decode_field(e, obj, "value", &kv->value, &kv->value_len)) < 0) {
		etcd_kv_free(kv);
		return r;
	}
	if (!kv->key_len || memchr(kv->key, '\0', kv->key_len)) {
		etcd_kv_free(kv);
		set_error(e, "etcd: a key that is empty or holds NUL");
		return -EPROTO;
	}
	kv->create_revision = i64(obj, "create_revision");
	kv->mod_revision = i64(obj, "mod_revision");
	kv->version = i64(obj, "version");
	kv->lease = i64(obj, "lease");
	return 0;
}

static int decode_kvs(struct etcd *e, json_t *arr, struct etcd_kvs *out)
{
	size_t n = json_array_size(arr), i;
	json_t *v;
	struct etcd_kv *grown;

	if (arr && !json_is_array(arr)) {
		set_error(e, "etcd: kvs is not an array");
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
	int r = call(e, "/v3/lease/grant",
		     json_pack("{s:o}", "TTL", json_sprintf("%lld", (long long)ttl_s)), &ans);

	if (r < 0)
		return r;
	*ret_id = i64(ans, "ID");
	*ret_ttl_s = i64(ans, "TTL");
	json_decref(ans);
	if (!*ret_id || *ret_ttl_s <= 0) {
		set_error(e, "etcd: a grant without an ID or TTL");
		return -EPROTO;
	}
	return 0;
}

int etcd_keepalive(struct etcd *e, int64_t id, int64_t *ret_ttl_s)
{
	json_t *ans;
	int r = call(e, "/v3/lease/keepalive", id_body(id), &ans);

	if (r < 0)
		return r;
	*ret_ttl_s = i64(ans, "TTL");
	json_decref(ans);
	if (*ret_ttl_s <= 0) {
		set_error(e, "etcd: lease %llx not found", (unsigned long long)id);
		return -ENOENT;
	}
	return 0;
}

int etcd_timetolive(struct etcd *e, int64_t id, int64_t *ret_ttl_s)
{
	json_t *ans;
	int r = call(e, "/v3/lease/timetolive", id_body(id), &ans);

	if (r < 0)
		return r;
	*ret_ttl_s = i64(ans, "TTL");
	json_decref(ans);
	if (*ret_ttl_s < 0) {
		set_error(e, "etcd: lease %llx not found", (unsigned long long)id);
		return -ENOENT;
	}
	return 0;
}

int etcd_revoke(struct etcd *e, int64_t id)
{
	json_t *ans;
	int r = call(e, "/v3/lease/revoke", id_body(id), &ans);

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
					 (json_int_t)ETCD_PAGE), *ans;
		bool more;

		if (body && rev)
			json_object_set_new(body, "revision", json_sprintf("%lld", (long long)rev));
		if ((r = call(e, "/v3/kv/range", body, &ans)) < 0)
			break;
		if (!rev)
			rev = i64(json_object_get(ans, "header"), "revision");
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
	int r = call(e, "/v3/kv/range", json_pack("{s:o}", "key", b64_json(key, strlen(key))), &ans);

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
	int r = call(e, "/v3/kv/put", put_request(key, value, len, lease), &ans);

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
	int r = call(e, "/v3/kv/txn", body, &ans);

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

		r = call(e, "/v3/kv/txn", body, &ans);
		if (r < 0)
			return r;
		resp = json_object_get(json_array_get(json_object_get(ans, "responses"), 0),
				       "response_delete_range");
	} else {
		r = call(e, "/v3/kv/deleterange",
			 json_pack("{s:o}", "key", b64_json(key, strlen(key))), &ans);
		if (r < 0)
			return r;
		resp = ans;
	}
	if (ret_deleted)
		*ret_deleted = i64(resp, "deleted") > 0;
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

static int watch_line(struct answer *a, const char *text, size_t len)
{
	struct watch *w = a->watch;
	struct etcd *e = w->e;
	json_t *root = json_loadb(text, len, 0, NULL), *res, *events, *ev;
	struct etcd_event *v = NULL;
	size_t n = 0, i;
	int r;

	if (!json_is_object(root)) {
		json_decref(root);
		set_error(e, "etcd: a watch message that is not JSON");
		return w->ret = -EPROTO;
	}
	if ((r = answer_error(e, root)) < 0) {
		json_decref(root);
		return w->ret = r;
	}
	res = json_object_get(root, "result");
	if (!json_is_object(res)) {
		json_decref(root);
		return 0;
	}
	if (json_is_true(json_object_get(res, "canceled"))) {
		w->compact = i64(res, "compact_revision");
		set_error(e, "etcd: watch cancelled%s", w->compact ? ": revision compacted" : "");
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
		int64_t rev = i64(json_object_get(res, "header"), "revision");

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
	for (size_t tried = 0; tried < e->n; tried++) {
		size_t i = (e->cur + tried) % e->n;
		struct answer a = { .e = e, .line = watch_line, .watch = &w };
		long status = post(e, e->endpoints[i], "/v3/watch", text, &a,
				   0, (long)e->timeout_ms, true);

		free(a.buf);
		if (w.ret) {
			r = w.ret;
			e->cur = i;
			break;
		}
		if (status == -ECANCELED) {
			r = -ECANCELED;
			break;
		}
		if (status < 0 || status >= 500) {
			r = status < 0 ? (int)status : -EIO;
			if (status >= 500)
				set_error(e, "%s: HTTP status %ld", e->endpoints[i], status);
			continue;
		}
		/* The stream ended: etcd went away or closed it. */
		e->cur = i;
		set_error(e, "%s: the watch stream ended", e->endpoints[i]);
		r = -EIO;
		break;
	}
	free(text);
	if (r == -ESTALE && ret_compact_revision)
		*ret_compact_revision = w.compact;
	return r;
}
