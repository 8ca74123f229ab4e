/* SPDX-License-Identifier: MIT */
/*
 * test-etcd.c: the etcd client (daemon/fleet/etcd.c) against a real etcd
 * (Debian's etcd-server, which `make deps` installs), started on loopback
 * ports by this program before the cases and stopped after them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "coro/coro.h"
#include "daemon/fleet/etcd.h"
#include "tests/unit/tap.h"

#define ETCD_BIN "/usr/bin/etcd"

static pid_t etcd_pid, parent_pid;
static char endpoint[64], datadir[64] = "/tmp/test-etcd.XXXXXX";

static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof a;
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	bind(fd, (struct sockaddr *)&a, sizeof a);
	getsockname(fd, (struct sockaddr *)&a, &len);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- running a coroutine on the loop ------------------------------------------ */

struct run {
	void (*fn)(void *arg);
	void *arg;
	bool done;
};

static void *trampoline(void *arg)
{
	struct run *r = arg;

	co_enable_hook_sys();
	r->fn(r->arg);
	r->done = true;
	return NULL;
}

static int until_done(void *arg)
{
	struct run *r = arg;

	return r->done ? -1 : 0;
}

/* Runs fn(arg) in a hooked coroutine until it returns. */
static void run(void (*fn)(void *arg), void *arg)
{
	struct run r = { fn, arg, false };
	struct co *co;

	ASSERT_EQ(co_create(&co, NULL, trampoline, &r), 0);
	co_resume(co);
	co_eventloop(co_get_epoll_ct(), until_done, &r);
	co_release(co);
}

static struct etcd *handle_on(const char *const *eps, size_t n, uint64_t timeout_ms)
{
	/* Pages of 1000 keys: the range case's 2500 keys take three. */
	struct etcd_options o = { .endpoints = eps, .nendpoints = n, .timeout_ms = timeout_ms,
				  .page = 1000 };
	struct etcd *e = etcd_new(&o);

	ASSERT(e);
	return e;
}

static struct etcd *handle(void)
{
	const char *eps[] = { endpoint };

	return handle_on(eps, 1, 3000);
}

/* ---- etcd itself ----------------------------------------------------------------- */

__attribute__((constructor)) static void start_etcd(void)
{
	int client = free_port(), peer = free_port();
	char listen_c[64], listen_p[64], cluster[96];

	parent_pid = getpid();
	if (access(ETCD_BIN, X_OK) != 0) {
		fprintf(stderr, "# %s is missing: `make deps` installs Debian's etcd-server\n",
			ETCD_BIN);
		return; /* every case then fails on its first call */
	}
	if (!mkdtemp(datadir))
		return;
	snprintf(endpoint, sizeof endpoint, "http://127.0.0.1:%d", client);
	snprintf(listen_c, sizeof listen_c, "http://127.0.0.1:%d", client);
	snprintf(listen_p, sizeof listen_p, "http://127.0.0.1:%d", peer);
	snprintf(cluster, sizeof cluster, "t=http://127.0.0.1:%d", peer);
	etcd_pid = fork();
	if (etcd_pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		dup2(null, 1);
		dup2(null, 2);
		execl(ETCD_BIN, "etcd", "--name", "t", "--data-dir", datadir,
		      "--listen-client-urls", listen_c, "--advertise-client-urls", listen_c,
		      "--listen-peer-urls", listen_p, "--initial-advertise-peer-urls", listen_p,
		      "--initial-cluster", cluster, (char *)NULL);
		_exit(127);
	}
	/* Ready when a grant succeeds (at most 15 s). */
	for (int i = 0; i < 150; i++) {
		char cmd[256];

		snprintf(cmd, sizeof cmd, "curl -sf -o /dev/null -d '{}' %s/v3/maintenance/status",
			 endpoint);
		if (system(cmd) == 0)
			return;
		usleep(100 * 1000);
	}
	fprintf(stderr, "# etcd did not answer on %s\n", endpoint);
}

__attribute__((destructor)) static void stop_etcd(void)
{
	char cmd[128];

	if (getpid() != parent_pid || etcd_pid <= 0)
		return;
	kill(etcd_pid, SIGKILL);
	waitpid(etcd_pid, NULL, 0);
	snprintf(cmd, sizeof cmd, "rm -rf %s", datadir);
	if (system(cmd) != 0)
		fprintf(stderr, "# cannot remove %s\n", datadir);
}

/* A unique prefix per case: the cases share one etcd. */
static const char *prefix(const char *name)
{
	static char buf[128];

	snprintf(buf, sizeof buf, "/t/%s/%ld/", name, (long)getpid());
	return buf;
}

/* ---- base64 ----------------------------------------------------------------------- */

TEST(base64_round_trip_and_bad_input)
{
	const char *cases[] = { "", "a", "ab", "abc", "abcd", "\xff\x00\x80" };
	size_t lens[] = { 0, 1, 2, 3, 4, 3 };
	size_t n;

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char *enc = etcd_b64_encode(cases[i], lens[i]), *dec;

		ASSERT(enc);
		dec = etcd_b64_decode(enc, &n);
		ASSERT(dec);
		ASSERT_EQ(n, lens[i]);
		ASSERT(memcmp(dec, cases[i], n) == 0);
		free(enc);
		free(dec);
	}
	{
		char *enc = etcd_b64_encode("ab", 2);

		ASSERT_STR_EQ(enc, "YWI=");
		free(enc);
	}
	ASSERT(etcd_b64_decode("YWI", &n) == NULL);     /* not a multiple of 4 */
	ASSERT(etcd_b64_decode("Y!I=", &n) == NULL);    /* not the alphabet */
	ASSERT(etcd_b64_decode("Y=I=", &n) == NULL);    /* padding inside */
	ASSERT(etcd_b64_decode("YWI=YWI=", &n) == NULL);/* padding before the end */
}

/* ---- leases ------------------------------------------------------------------------ */

static void leases(void *arg)
{
	struct etcd *e = handle();
	int64_t id = 0, ttl = 0, left = 0;

	(void)arg;
	ASSERT_EQ(etcd_grant(e, 30, &id, &ttl), 0);
	ASSERT(id != 0);
	ASSERT_EQ(ttl, 30);
	ASSERT_EQ(etcd_keepalive(e, id, &ttl), 0);
	ASSERT_EQ(ttl, 30);
	ASSERT_EQ(etcd_timetolive(e, id, &left), 0);
	ASSERT(left > 25 && left <= 30);
	ASSERT_EQ(etcd_revoke(e, id), 0);
	ASSERT_EQ(etcd_keepalive(e, id, &ttl), -ENOENT);
	ASSERT_EQ(etcd_timetolive(e, id, &left), -ENOENT);
	ASSERT_EQ(etcd_revoke(e, id), 0); /* gone already: fine */
	/* A put under a lease that is gone is refused. */
	ASSERT_EQ(etcd_put(e, "/t/lease/x", "v", 1, id), -ENOENT);
	ASSERT(strstr(etcd_error(e), "lease not found"));
	etcd_free(e);
}

TEST(leases_grant_renew_expire_and_revoke)
{
	run(leases, NULL);
}

/* ---- keys -------------------------------------------------------------------------- */

static void keys(void *arg)
{
	struct etcd *e = handle();
	const char *p = prefix("keys");
	char key[192], other[192];
	const char value[] = "bin\0ary \xc3\xa9";
	struct etcd_kv kv, held;
	bool created, deleted;
	int64_t lease, ttl, lease2;

	(void)arg;
	snprintf(key, sizeof key, "%sa", p);
	snprintf(other, sizeof other, "%sb", p);
	ASSERT_EQ(etcd_get(e, key, &kv), -ENOENT);
	ASSERT_EQ(etcd_put(e, key, value, sizeof value - 1, 0), 0);
	ASSERT_EQ(etcd_get(e, key, &kv), 0);
	ASSERT_EQ(kv.value_len, sizeof value - 1);
	ASSERT(memcmp(kv.value, value, kv.value_len) == 0);
	ASSERT_STR_EQ(kv.key, key);
	ASSERT(kv.create_revision > 0 && kv.mod_revision >= kv.create_revision);
	ASSERT_EQ(kv.version, 1);
	etcd_kv_free(&kv);

	/* create: only the first wins; the second sees what is there. */
	ASSERT_EQ(etcd_grant(e, 60, &lease, &ttl), 0);
	ASSERT_EQ(etcd_create(e, other, "first", 5, lease, &created, &held), 0);
	ASSERT(created);
	ASSERT_EQ(etcd_create(e, other, "second", 6, 0, &created, &held), 0);
	ASSERT(!created);
	ASSERT_STR_EQ(held.value, "first");
	ASSERT_EQ(held.lease, lease);
	etcd_kv_free(&held);

	/* delete with if_lease: another lease does not delete it, its own does. */
	ASSERT_EQ(etcd_grant(e, 60, &lease2, &ttl), 0);
	ASSERT_EQ(etcd_delete(e, other, lease2, &deleted), 0);
	ASSERT(!deleted);
	ASSERT_EQ(etcd_get(e, other, &kv), 0);
	etcd_kv_free(&kv);
	ASSERT_EQ(etcd_delete(e, other, lease, &deleted), 0);
	ASSERT(deleted);
	ASSERT_EQ(etcd_get(e, other, &kv), -ENOENT);
	ASSERT_EQ(etcd_delete(e, key, 0, &deleted), 0);
	ASSERT(deleted);
	ASSERT_EQ(etcd_delete(e, key, 0, &deleted), 0);
	ASSERT(!deleted);
	etcd_revoke(e, lease);
	etcd_revoke(e, lease2);
	etcd_free(e);
}

TEST(keys_put_get_create_and_delete)
{
	run(keys, NULL);
}

/* ---- range ---------------------------------------------------------------------------- */

enum { NKEYS = 2500 };

struct range_test {
	const char *prefix;
	bool writing, stop;
	int written;
};

static void writer(void *arg)
{
	struct range_test *t = arg;
	struct etcd *e = handle();
	char key[160];

	while (!t->stop) {
		snprintf(key, sizeof key, "%slate-%05d", t->prefix, t->written);
		if (etcd_put(e, key, "x", 1, 0) == 0)
			t->written++;
	}
	etcd_free(e);
	t->writing = false;
}

static void *writer_co(void *arg)
{
	co_enable_hook_sys();
	writer(arg);
	return NULL;
}

static void range(void *arg)
{
	struct etcd *e = handle();
	struct range_test t = { .prefix = prefix("range") };
	struct etcd_kvs kvs;
	struct co *w;
	char key[160];
	int64_t rev = 0;

	(void)arg;
	for (int i = 0; i < NKEYS; i++) {
		snprintf(key, sizeof key, "%sk-%05d", t.prefix, i);
		ASSERT_EQ(etcd_put(e, key, key, strlen(key), 0), 0);
	}
	/* A key just past the prefix's range must not come back. */
	snprintf(key, sizeof key, "%.*s0", (int)strlen(t.prefix) - 1, t.prefix);
	ASSERT_EQ(etcd_put(e, key, "outside", 7, 0), 0);

	t.writing = true;
	ASSERT_EQ(co_create(&w, NULL, writer_co, &t), 0);
	co_resume(w);
	ASSERT_EQ(etcd_range_prefix(e, t.prefix, &kvs, &rev), 0);
	t.stop = true;
	/* One snapshot: the keys written at or before its revision, in order, each once. */
	ASSERT(kvs.n >= NKEYS);
	for (size_t i = 1; i < kvs.n; i++)
		ASSERT(strcmp(kvs.v[i - 1].key, kvs.v[i].key) < 0);
	for (size_t i = 0; i < kvs.n; i++) {
		ASSERT(strncmp(kvs.v[i].key, t.prefix, strlen(t.prefix)) == 0);
		ASSERT(kvs.v[i].mod_revision <= rev);
	}
	ASSERT_STR_EQ(kvs.v[0].key + strlen(t.prefix), "k-00000");
	ASSERT_STR_EQ(kvs.v[NKEYS - 1].value + strlen(t.prefix), "k-02499");
	etcd_kvs_free(&kvs);
	while (t.writing)
		poll(NULL, 0, 5);
	co_release(w);
	ASSERT(t.written > 0); /* the writer did run during the range */
	etcd_free(e);
}

TEST(range_prefix_pages_through_one_revision)
{
	run(range, NULL);
}

/* ---- watch -------------------------------------------------------------------------- */

struct seen {
	int puts, deletes, batches;
	int64_t last_rev;
	int stop_after;              /* events */
	char first_key[160];
};

static int on_events(void *arg, const struct etcd_event *ev, size_t n, int64_t rev)
{
	struct seen *s = arg;

	for (size_t i = 0; i < n; i++) {
		if (!s->first_key[0])
			snprintf(s->first_key, sizeof s->first_key, "%s", ev[i].kv.key);
		if (ev[i].type == ETCD_PUT)
			s->puts++;
		else
			s->deletes++;
	}
	s->batches++;
	s->last_rev = rev;
	return s->puts + s->deletes >= s->stop_after ? 42 : 0;
}

static void watch(void *arg)
{
	struct etcd *e = handle();
	const char *p = prefix("watch");
	struct seen s = { .stop_after = 3 };
	char key[160];
	int64_t start, compacted = 0;
	struct etcd_kv kv;

	(void)arg;
	snprintf(key, sizeof key, "%sa", p);
	ASSERT_EQ(etcd_put(e, key, "1", 1, 0), 0);
	ASSERT_EQ(etcd_get(e, key, &kv), 0);
	start = kv.mod_revision;
	etcd_kv_free(&kv);
	ASSERT_EQ(etcd_put(e, key, "2", 1, 0), 0);
	ASSERT_EQ(etcd_delete(e, key, 0, NULL), 0);
	ASSERT_EQ(etcd_put(e, "/elsewhere", "x", 1, 0), 0);
	/* From start: the two puts and the delete, and nothing outside the prefix. */
	ASSERT_EQ(etcd_watch(e, p, start, on_events, &s, NULL), 42);
	ASSERT_EQ(s.puts, 2);
	ASSERT_EQ(s.deletes, 1);
	ASSERT_STR_EQ(s.first_key, key);

	/* Resumed after the last revision: only what came since. */
	ASSERT_EQ(etcd_put(e, key, "3", 1, 0), 0);
	s = (struct seen){ .stop_after = 1, .last_rev = s.last_rev };
	ASSERT_EQ(etcd_watch(e, p, s.last_rev + 1, on_events, &s, NULL), 42);
	ASSERT_EQ(s.puts, 1);
	ASSERT_EQ(s.deletes, 0);

	/* Compacted away: -ESTALE with the compaction's revision. */
	{
		char cmd[256];

		snprintf(cmd, sizeof cmd, "curl -sf -o /dev/null -d '{\"revision\":\"%lld\"}' "
			 "%s/v3/kv/compaction", (long long)s.last_rev, endpoint);
		ASSERT_EQ(system(cmd), 0);
	}
	s = (struct seen){ .stop_after = 1 };
	ASSERT_EQ(etcd_watch(e, p, start, on_events, &s, &compacted), -ESTALE);
	ASSERT(compacted >= start);
	ASSERT_EQ(s.puts + s.deletes, 0);
	etcd_free(e);
}

TEST(watch_delivers_in_order_resumes_and_reports_compaction)
{
	run(watch, NULL);
}

/* ---- endpoints, timeouts, cancel ---------------------------------------------------- */

static void failover(void *arg)
{
	char dead[64];
	const char *eps[2] = { dead, endpoint };
	struct etcd *e;
	int64_t id, ttl;

	(void)arg;
	snprintf(dead, sizeof dead, "http://127.0.0.1:%d", free_port());
	e = handle_on(eps, 2, 3000);
	ASSERT_STR_EQ(etcd_endpoint(e), dead);
	ASSERT_EQ(etcd_grant(e, 10, &id, &ttl), 0);
	ASSERT_STR_EQ(etcd_endpoint(e), endpoint);
	ASSERT_EQ(etcd_revoke(e, id), 0);
	etcd_free(e);

	/* Every endpoint down: a connection error, with the endpoint in the message. */
	eps[1] = dead;
	e = handle_on(eps, 2, 1000);
	ASSERT_EQ(etcd_grant(e, 10, &id, &ttl), -ECONNREFUSED);
	ASSERT(strstr(etcd_error(e), dead));
	etcd_free(e);
}

TEST(a_dead_endpoint_is_skipped)
{
	run(failover, NULL);
}

static int silent_fd = -1;

static void silent(void *arg)
{
	char ep[64];
	const char *eps[] = { ep };
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof a;
	struct etcd *e;
	int64_t id, ttl;
	double t0;

	(void)arg;
	/* A listener that accepts (the kernel does) and never answers. */
	silent_fd = socket(AF_INET, SOCK_STREAM, 0);
	ASSERT_EQ(bind(silent_fd, (struct sockaddr *)&a, sizeof a), 0);
	ASSERT_EQ(listen(silent_fd, 8), 0);
	getsockname(silent_fd, (struct sockaddr *)&a, &len);
	snprintf(ep, sizeof ep, "http://127.0.0.1:%d", ntohs(a.sin_port));
	e = handle_on(eps, 1, 500);
	t0 = now_s();
	ASSERT_EQ(etcd_grant(e, 10, &id, &ttl), -ETIMEDOUT);
	ASSERT(now_s() - t0 >= 0.45 && now_s() - t0 < 2.0);
	etcd_free(e);
	close(silent_fd);
}

TEST(a_silent_endpoint_times_out)
{
	run(silent, NULL);
}

struct cancel_test {
	struct etcd *e;
	int ret;
	double took;
};

static int never(void *arg, const struct etcd_event *ev, size_t n, int64_t rev)
{
	(void)arg, (void)ev, (void)n, (void)rev;
	return 0;
}

static void *canceller(void *arg)
{
	struct cancel_test *t = arg;

	co_enable_hook_sys();
	poll(NULL, 0, 300);
	etcd_cancel(t->e);
	return NULL;
}

static void cancel(void *arg)
{
	struct cancel_test t = { .e = handle() };
	struct co *c;
	double t0 = now_s();

	(void)arg;
	ASSERT_EQ(co_create(&c, NULL, canceller, &t), 0);
	co_resume(c);
	t.ret = etcd_watch(t.e, prefix("cancel"), 0, never, NULL, NULL);
	t.took = now_s() - t0;
	ASSERT_EQ(t.ret, -ECANCELED);
	ASSERT(t.took >= 0.25 && t.took < 1.5);
	co_release(c);
	etcd_free(t.e);
}

TEST(cancel_ends_a_watch_at_once)
{
	run(cancel, NULL);
}
