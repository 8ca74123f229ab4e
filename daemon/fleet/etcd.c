/* SPDX-License-Identifier: MIT */
/*
 * etcd.c: etcd's v3 API through its HTTP/JSON gateway (etcd.h), with
 * libcurl's easy API as blocking code in a hooked coroutine, and jansson:
 * the handle, base64 and one exchange (etcd-kv.c has the calls).
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

#include "daemon/fleet/etcd-internal.h"


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

void etcd__set_error(struct etcd *e, const char *fmt, ...)
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
	e->page = opt->page ? opt->page : ETCD_PAGE;
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


static size_t on_data(char *data, size_t size, size_t n, void *arg)
{
	struct etcd_answer *a = arg;
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
long etcd__post(struct etcd *e, const char *endpoint, const char *path, const char *body,
		struct etcd_answer *a, long timeout_ms, long connect_ms, bool stream)
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
		etcd__set_error(e, "%s: cancelled", endpoint);
		return -ECANCELED;
	}
	if (rc == CURLE_WRITE_ERROR && a->line_ret)
		return 200; /* the watch's callback stopped it */
	if (a->too_big) {
		etcd__set_error(e, "%s: an answer over %u MiB", endpoint, MAX_ANSWER >> 20);
		return -EPROTO;
	}
	if (rc != CURLE_OK) {
		etcd__set_error(e, "%s: %s", endpoint, curl_easy_strerror(rc));
		return rc == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT :
		       rc == CURLE_COULDNT_CONNECT ? -ECONNREFUSED :
		       rc == CURLE_OUT_OF_MEMORY ? -ENOMEM : -EIO;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	return status;
}

/* An int64 field, as the gateway writes them (a string) or as a number; 0 if absent. */
int64_t etcd__i64(json_t *obj, const char *name)
{
	json_t *v = json_object_get(obj, name);

	if (json_is_string(v))
		return strtoll(json_string_value(v), NULL, 10);
	if (json_is_integer(v))
		return json_integer_value(v);
	return 0;
}

/* Maps an error answer ({"error", "message", "code"}) to an errno. */
int etcd__answer_error(struct etcd *e, json_t *root)
{
	json_t *msg = json_object_get(root, "message"), *err = json_object_get(root, "error");
	const char *text = json_is_string(msg) ? json_string_value(msg) :
			   json_is_string(err) ? json_string_value(err) : NULL;
	json_int_t code = json_integer_value(json_object_get(root, "code"));

	if (!text && json_is_object(err)) /* a streaming call's error */
		return etcd__answer_error(e, err);
	if (!text && !code)
		return 0;
	etcd__set_error(e, "etcd: %s", text ? text : "error");
	if (code == 5 || (text && strstr(text, "not found")))
		return -ENOENT;
	return -EINVAL;
}

/*
 * One call: body to path, trying the endpoints in turn within the
 * timeout. Returns 0 with the answer's JSON in *ret (a streaming call's
 * "result" object), or a negative errno.
 */
int etcd__call(struct etcd *e, const char *path, json_t *body, json_t **ret)
{
	char *text = json_dumps(body, JSON_COMPACT);
	uint64_t deadline = mono_ms() + e->timeout_ms;
	int err = -ETIMEDOUT;

	*ret = NULL;
	json_decref(body);
	if (!text) {
		etcd__set_error(e, "out of memory");
		return -ENOMEM;
	}
	e->cancelled = false;
	for (size_t tried = 0, first = e->cur; tried < e->n; tried++) {
		size_t i = (first + tried) % e->n;
		uint64_t now = mono_ms();
		long left = now < deadline ? (long)(deadline - now) : 0, status;
		/*
		 * Each endpoint left gets an equal share of the time left: one
		 * that accepts and never answers (a hung etcd member) must not
		 * take it all, or the healthy ones are never asked and the
		 * member's lease expires.
		 */
		long share = left / (long)(e->n - tried);
		struct etcd_answer a = { .e = e };
		json_error_t je;
		json_t *root, *result;

		if (left <= 0)
			break;
		if (share < 100)
			share = left < 100 ? left : 100;
		status = etcd__post(e, e->endpoints[i], path, text, &a, share, share, false);
		if (status == -ECANCELED || status == -ENOMEM) {
			free(a.buf);
			err = (int)status;
			break;
		}
		if (status < 0 || status >= 500) {
			if (status >= 500)
				etcd__set_error(e, "%s: HTTP status %ld", e->endpoints[i], status);
			err = status < 0 ? (int)status : -EIO;
			free(a.buf);
			/* The next call starts with the next endpoint, not this one again. */
			e->cur = (i + 1) % e->n;
			continue;
		}
		root = a.buf ? json_loadb(a.buf, a.len, 0, &je) : NULL;
		free(a.buf);
		e->cur = i;
		if (!json_is_object(root)) {
			etcd__set_error(e, "%s: HTTP status %ld, %s", e->endpoints[i], status,
				  root ? "not a JSON object" : "not JSON");
			json_decref(root);
			err = -EPROTO;
			break;
		}
		if ((err = etcd__answer_error(e, root)) < 0) {
			json_decref(root);
			break;
		}
		result = json_object_get(root, "result");
		if (json_is_object(result)) {
			json_incref(result);
			json_decref(root);
			root = result;
			if ((err = etcd__answer_error(e, root)) < 0) {
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
