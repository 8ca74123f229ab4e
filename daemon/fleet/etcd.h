/* SPDX-License-Identifier: MIT */
/*
 * etcd.h (internal to daemon/fleet/): a client of etcd's v3 API through its
 * HTTP/JSON gateway (etcd 3.4: POST /v3/lease/grant, /v3/lease/keepalive,
 * /v3/lease/timetolive, /v3/lease/revoke, /v3/kv/range, /v3/kv/txn,
 * /v3/kv/deleterange, /v3/watch), with libcurl's easy API run as ordinary
 * blocking code in a coroutine with the system call hooks on (as
 * probe-http.c does), and jansson for the JSON. Keys and values are
 * base64 on the wire; here they are plain bytes.
 *
 * One struct etcd is one connection's worth of state, used by one
 * coroutine at a time (one call in flight); the fleet uses one for the
 * watch and one for everything else. Every call but etcd_watch is bounded
 * by the handle's timeout; a call tries the listed endpoints in turn,
 * starting with the one that answered last, until one answers (a
 * transport failure or an HTTP 5xx moves to the next; an answer from etcd,
 * even an error, does not). etcd_cancel from another coroutine of the same
 * thread ends the call in flight at once with -ECANCELED.
 *
 * Errors: 0 on success, or a negative errno, with a message for people in
 * etcd_error() ("http://127.0.0.1:2379: connect: connection refused",
 * "etcd: lease not found"):
 *   -ETIMEDOUT   no endpoint answered within the timeout;
 *   -ECONNREFUSED, -EHOSTUNREACH, -EIO  every endpoint failed to connect or broke off;
 *   -ENOENT      the lease (keepalive, timetolive, put with a lease) is gone;
 *   -EPROTO      an answer that is not what the API promises (bad JSON, bad base64);
 *   -ESTALE      etcd_watch: start_revision was compacted (see there);
 *   -ECANCELED   etcd_cancel;
 *   -ENOMEM;
 *   -EINVAL      etcd answered with another error (its message in etcd_error).
 */
#ifndef CORO_DAEMON_FLEET_ETCD_H
#define CORO_DAEMON_FLEET_ETCD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ETCD_ERROR_MAX 256

struct etcd_options {
	const char *const *endpoints; /* "http://host:port" or "https://host:port", no path */
	size_t nendpoints;            /* at least 1 */
	const char *ca_file;          /* https: CA bundle to verify etcd with, or NULL: the system's */
	const char *cert_file;        /* https: client certificate and key, or NULL */
	const char *key_file;
	uint64_t timeout_ms;          /* each call (etcd_watch: its connect only); 0: 3000 */
	unsigned page;                /* keys per page of etcd_range_prefix; 0: ETCD_PAGE */
};

/* One key-value pair (etcd's mvccpb.KeyValue). */
struct etcd_kv {
	char *key;                    /* NUL-terminated (keys never hold NUL here) */
	size_t key_len;
	char *value;                  /* NUL-terminated after value_len bytes */
	size_t value_len;
	int64_t create_revision;
	int64_t mod_revision;
	int64_t version;
	int64_t lease;                /* 0: none */
};

/* A list of pairs; free with etcd_kvs_free. */
struct etcd_kvs {
	struct etcd_kv *v;
	size_t n;
};

enum etcd_event_type {
	ETCD_PUT,
	ETCD_DELETE,                  /* kv.key and kv.mod_revision only; value empty */
};

struct etcd_event {
	enum etcd_event_type type;
	struct etcd_kv kv;
};

struct etcd;

/* A new handle (copies what opt points to); NULL on out of memory. */
struct etcd *etcd_new(const struct etcd_options *opt);
void etcd_free(struct etcd *e);

/* The last call's error message ("" after a success). */
const char *etcd_error(const struct etcd *e);

/* The endpoint the next call tries first (the one that answered last). */
const char *etcd_endpoint(const struct etcd *e);

/* From another coroutine of the thread: ends the call in flight with -ECANCELED. */
void etcd_cancel(struct etcd *e);

/* ---- leases (may yield) ---------------------------------------------------- */

/* Grants a lease of ttl_s seconds: its ID in *ret_id, the TTL etcd gave in *ret_ttl_s. */
int etcd_grant(struct etcd *e, int64_t ttl_s, int64_t *ret_id, int64_t *ret_ttl_s);

/*
 * Renews a lease once (one request and its one answer on /v3/lease/keepalive).
 * Returns 0 with the renewed TTL in *ret_ttl_s, or -ENOENT if the lease
 * has expired or was revoked (etcd answers TTL 0 or "lease not found").
 */
int etcd_keepalive(struct etcd *e, int64_t id, int64_t *ret_ttl_s);

/* The seconds left on a lease (-ENOENT if it is gone). */
int etcd_timetolive(struct etcd *e, int64_t id, int64_t *ret_ttl_s);

/* Revokes a lease, deleting the keys attached to it (0 also if it was gone). */
int etcd_revoke(struct etcd *e, int64_t id);

/* ---- keys (may yield) ------------------------------------------------------ */

/*
 * Every pair whose key starts with prefix, in key order, read in pages
 * (ETCD_PAGE keys each) all at the revision of the first page, so that the
 * list is one consistent snapshot even while others write: that revision
 * in *ret_revision. The caller frees *ret with etcd_kvs_free (also on
 * error: then it is empty).
 */
#define ETCD_PAGE 5000 /* etcd 3.4 pays per page for the keys after it: fewer, bigger pages */
int etcd_range_prefix(struct etcd *e, const char *prefix, struct etcd_kvs *ret,
		      int64_t *ret_revision);

/* One key: 0 with *ret filled (free with etcd_kv_free), -ENOENT if absent. */
int etcd_get(struct etcd *e, const char *key, struct etcd_kv *ret);

/* Puts key = value, attached to lease (0: none). */
int etcd_put(struct etcd *e, const char *key, const void *value, size_t len, int64_t lease);

/*
 * Puts key = value only if key does not exist (one transaction: compare
 * create_revision == 0). Returns 0 with *ret_created true if it was put;
 * if the key existed, 0 with *ret_created false and, when existing is not
 * NULL, the pair that is there in *existing (free with etcd_kv_free).
 */
int etcd_create(struct etcd *e, const char *key, const void *value, size_t len, int64_t lease,
		bool *ret_created, struct etcd_kv *existing);

/*
 * Deletes key. With if_lease not 0, only while the key is attached to that
 * lease (a transaction: compare lease == if_lease), so that a member never
 * deletes a key another member has since taken. *ret_deleted (may be
 * NULL): whether a key was deleted.
 */
int etcd_delete(struct etcd *e, const char *key, int64_t if_lease, bool *ret_deleted);

/* ---- watch (may yield) ----------------------------------------------------- */

/*
 * What etcd_watch calls for each answer that carries events, in revision
 * order: n events of one revision batch, and the header's revision. A
 * return other than 0 ends the watch, which then returns that value.
 */
typedef int etcd_watch_fn(void *arg, const struct etcd_event *events, size_t n,
			  int64_t revision);

/*
 * Watches every key starting with prefix from start_revision on (the
 * revision after a range's, so that nothing is missed between the two),
 * calling fn as events arrive, until fn returns non-zero (that value is
 * returned), the connection breaks (its error; the caller resumes from
 * the last revision it saw plus one), etcd_cancel (-ECANCELED), or
 * start_revision is compacted away: -ESTALE, with the compaction's
 * revision in *ret_compact_revision (may be NULL); the caller then
 * ranges afresh and watches from there. Asks etcd for progress
 * notifications and uses TCP keepalives, but a silent etcd is only
 * noticed by the caller (who cancels). The watch's connection is made to
 * one endpoint at a time, like every call.
 */
int etcd_watch(struct etcd *e, const char *prefix, int64_t start_revision, etcd_watch_fn *fn,
	       void *arg, int64_t *ret_compact_revision);

void etcd_kv_free(struct etcd_kv *kv);
void etcd_kvs_free(struct etcd_kvs *kvs);

/* ---- for the tests and the fuzzer ------------------------------------------- */

/*
 * base64 (RFC 4648, with padding): the encoding of len bytes as a
 * NUL-terminated heap string, or NULL on out of memory; the decoding of a
 * NUL-terminated string into a heap buffer (NUL-terminated too, length in
 * *ret_len), NULL with errno EINVAL if it is not valid base64.
 */
char *etcd_b64_encode(const void *data, size_t len);
char *etcd_b64_decode(const char *text, size_t *ret_len);

#endif
