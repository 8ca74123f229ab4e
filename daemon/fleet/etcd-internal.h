/* SPDX-License-Identifier: MIT */
/*
 * etcd-internal.h: what the etcd client's two files share. etcd.c: the
 * handle, base64 and one HTTP exchange with endpoint failover (etcd__call);
 * etcd-kv.c: the v3 calls on top of it (leases, keys, transactions, the
 * watch). Callers outside daemon/fleet/ use etcd.h only.
 */
#ifndef CORO_DAEMON_FLEET_ETCD_INTERNAL_H
#define CORO_DAEMON_FLEET_ETCD_INTERNAL_H

#include <curl/curl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
	unsigned page;               /* keys per range page */
	CURL *curl;                  /* kept: its connection is reused between calls */
	int fds[MAX_FDS];
	bool cancelled;
	char err[ETCD_ERROR_MAX];
};

/* What an exchange collects; a watch hands each line to its parser as it comes. */
struct etcd_answer {
	struct etcd *e;
	char *buf;
	size_t len, cap;
	bool too_big;
	int (*line)(struct etcd_answer *a, const char *text, size_t len); /* watch: non-zero stops */
	int line_ret;
	void *watch;
};

/* The handle's error message, printf-style. */
void etcd__set_error(struct etcd *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * POSTs body to one endpoint, the answer into *a (streamed line by line
 * to a->line if set). Returns the HTTP status (> 0), or a negative errno
 * for a transport failure (message set). stream: no overall timeout.
 * Yields (hooked libcurl).
 */
long etcd__post(struct etcd *e, const char *endpoint, const char *path, const char *body,
		struct etcd_answer *a, long timeout_ms, long connect_ms, bool stream);

/* An int64 field, as the gateway writes them (a string) or as a number; 0 if absent. */
int64_t etcd__i64(json_t *obj, const char *name);

/* Maps an error answer ({"error", "message", "code"}) to an errno (0: not an error). */
int etcd__answer_error(struct etcd *e, json_t *root);

/*
 * One call: body (consumed) to path, trying the endpoints in turn within
 * the timeout. Returns 0 with the answer's JSON in *ret (a streaming
 * call's "result" object), or a negative errno. Yields.
 */
int etcd__call(struct etcd *e, const char *path, json_t *body, json_t **ret);

#endif
