/*
 * test-probe-tcp.c: a tcp job's run in a hooked coroutine against loopback
 * listeners: connect, refusal, send/expect, mismatch, timeout, a name
 * resolved through the loop, and cancellation from another coroutine.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "config/config.h"
#include "coro/coro.h"
#include "daemon/probe/probe.h"
#include "tests/unit/server.h"
#include "tests/unit/tap.h"

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	ASSERT(d);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own */
}

/* A listening socket on addr (host order) and an ephemeral port. */
static int listener(uint32_t addr, int *port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(addr) };
	socklen_t len = sizeof sin;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ASSERT(fd >= 0);
	ASSERT_EQ(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
	ASSERT_EQ(listen(fd, 8), 0);
	ASSERT_EQ(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

static struct config *cfg;

/* The one job of a YAML snippet (the fields of its flow mapping). */
static const struct job *job_of(const char *fields)
{
	char yaml[512];
	struct cfg_errors errs;
	int r;

	snprintf(yaml, sizeof yaml, "jobs:\n  - {name: t, type: tcp, every: 10s, %s}\n", fields);
	r = config_load_buffer("t.yaml", yaml, strlen(yaml), &cfg, &errs);
	if (r)
		tap__fail(__FILE__, __LINE__, "%s", errs.n ? errs.v[0].text : "config");
	cfg_errors_free(&errs);
	ASSERT_EQ(cfg->njobs, 1);
	return &cfg->jobs[0];
}

static struct probe probe;
static int probe_ret, probe_done;

static void *run_probe(void *arg)
{
	(void)arg;
	co_enable_hook_sys();
	probe_ret = probe_tcp(&probe);
	probe_done = 1;
	return NULL;
}

static int until_done(void *arg)
{
	(void)arg;
	return probe_done ? -1 : 0;
}

/* Runs the probe of job in a coroutine, with peer (if any) beside it. */
static void run(const struct job *job, co_fn *peer, void *peer_arg)
{
	struct co *co, *pc = NULL;

	probe_init(&probe, job);
	probe_done = 0;
	if (peer) {
		ASSERT_EQ(co_create(&pc, NULL, peer, peer_arg), 0);
		co_resume(pc);
	}
	ASSERT_EQ(co_create(&co, NULL, run_probe, NULL), 0);
	co_resume(co);
	co_eventloop(co_get_epoll_ct(), until_done, NULL);
	co_release(co);
	if (pc)
		co_release(pc);
}

static void finish(void)
{
	probe_result_free(&probe.result);
	config_free(cfg);
	cfg = NULL;
}

TEST(connects_to_a_listener)
{
	char f[128];
	int port, lfd = listener(INADDR_LOOPBACK, &port);

	snprintf(f, sizeof f, "timeout: 2s, target: \"127.0.0.1:%d\"", port);
	run(job_of(f), NULL, NULL);
	ASSERT_EQ(probe_ret, 0);
	ASSERT(probe.result.ok);
	ASSERT_STR_EQ(probe.result.error, "");
	ASSERT(probe.result.duration_us > 0);
	ASSERT(probe.result.duration_us < 2000000);
	close(lfd);
	finish();
}

TEST(refused_port_fails)
{
	char f[128], want[96];
	int port, lfd = listener(INADDR_LOOPBACK, &port);

	close(lfd); /* nothing listens there now */
	snprintf(f, sizeof f, "timeout: 2s, target: \"127.0.0.1:%d\"", port);
	run(job_of(f), NULL, NULL);
	ASSERT_EQ(probe_ret, 0);
	ASSERT(!probe.result.ok);
	snprintf(want, sizeof want, "connect 127.0.0.1:%d: connection refused", port);
	ASSERT_STR_EQ(probe.result.error, want);
	finish();
}

/* A peer that accepts one connection, reads a line and answers reply. */
struct responder {
	int lfd;
	const char *reply;
	char got[64];
};

static void *respond(void *arg)
{
	struct responder *rs = arg;
	size_t have = 0;
	int fd;

	co_enable_hook_sys();
	fd = accept(rs->lfd, NULL, NULL);
	ASSERT(fd >= 0);
	while (have < sizeof rs->got - 1 && !memchr(rs->got, '\n', have)) {
		ssize_t n = read(fd, rs->got + have, sizeof rs->got - 1 - have);

		if (n <= 0)
			break;
		have += (size_t)n;
	}
	rs->got[have] = '\0';
	ASSERT_EQ(write(fd, rs->reply, strlen(rs->reply)), (ssize_t)strlen(rs->reply));
	close(fd);
	return NULL;
}

TEST(send_and_expect_round_trip)
{
	char f[192];
	struct responder rs = { .reply = "hello +PONG\r\n" };
	int port;

	rs.lfd = listener(INADDR_LOOPBACK, &port);
	snprintf(f, sizeof f, "timeout: 2s, target: \"127.0.0.1:%d\", send: \"PING\\r\\n\", expect: \"+PONG\"",
		 port);
	run(job_of(f), respond, &rs);
	ASSERT_EQ(probe_ret, 0);
	ASSERT_STR_EQ(probe.result.error, "");
	ASSERT(probe.result.ok);
	ASSERT_STR_EQ(rs.got, "PING\r\n");
	close(rs.lfd);
	finish();
}

TEST(expect_mismatch_fails)
{
	char f[192];
	struct responder rs = { .reply = "-ERR unknown\r\n" };
	int port;

	rs.lfd = listener(INADDR_LOOPBACK, &port);
	snprintf(f, sizeof f, "timeout: 2s, target: \"127.0.0.1:%d\", send: \"PING\\r\\n\", expect: \"+PONG\"",
		 port);
	run(job_of(f), respond, &rs);
	ASSERT_EQ(probe_ret, 0);
	ASSERT(!probe.result.ok);
	ASSERT_STR_EQ(probe.result.error, "reply lacks \"+PONG\"");
	close(rs.lfd);
	finish();
}

TEST(silent_listener_times_out)
{
	char f[160];
	long long t0;
	int port, lfd = listener(INADDR_LOOPBACK, &port);

	/* The kernel completes the handshake; nobody ever answers. */
	snprintf(f, sizeof f, "timeout: 500ms, target: \"127.0.0.1:%d\", expect: \"+PONG\"", port);
	t0 = now_ms();
	run(job_of(f), NULL, NULL);
	ASSERT_EQ(probe_ret, 0);
	ASSERT(!probe.result.ok);
	ASSERT_STR_EQ(probe.result.error, "timeout after 500ms");
	ASSERT_GE(now_ms() - t0, 500);
	ASSERT_LT(now_ms() - t0, 1500);
	ASSERT_GE(probe.result.duration_us, 500000);
	close(lfd);
	finish();
}

TEST(whole_seconds_timeout_text)
{
	char f[160];
	int port, lfd = listener(INADDR_LOOPBACK, &port);

	snprintf(f, sizeof f, "timeout: 1s, target: \"127.0.0.1:%d\", expect: x", port);
	run(job_of(f), NULL, NULL);
	ASSERT(!probe.result.ok);
	ASSERT_STR_EQ(probe.result.error, "timeout after 1s");
	close(lfd);
	finish();
}

static void *cancel_later(void *arg)
{
	co_enable_hook_sys();
	usleep(200000);
	probe_cancel(arg);
	probe_cancel(arg); /* twice is harmless */
	return NULL;
}

TEST(cancel_while_blocked_in_read)
{
	char f[160];
	long long t0;
	int port, lfd = listener(INADDR_LOOPBACK, &port), before;

	ASSERT(co_get_epoll_ct()); /* the loop's own descriptors are not the probe's */
	before = count_fds();
	snprintf(f, sizeof f, "timeout: 5s, target: \"127.0.0.1:%d\", expect: \"+PONG\"", port);
	t0 = now_ms();
	run(job_of(f), cancel_later, &probe);
	ASSERT_EQ(probe_ret, -ECANCELED);
	ASSERT_GE(now_ms() - t0, 200);
	ASSERT_LT(now_ms() - t0, 1500);
	ASSERT_EQ(count_fds(), before);
	for (int i = 0; i < PROBE_FDS_MAX; i++)
		ASSERT_EQ(probe.fds[i], -1);
	close(lfd);
	finish();
}

TEST(name_resolved_through_the_loop)
{
	const char *args[] = { "--delay", "0.05", NULL };
	struct test_server dns = test_server_start("slow-dns.py", args);
	char servers[64], f[160];
	unsigned last = 1;
	int port, lfd;

	for (const char *s = "db.test"; *s; s++)
		last += (unsigned char)*s;
	last = 1 + (last - 1) % 250;
	/* slow-dns.py gives db.test 127.0.0.<last>: listen there. */
	lfd = listener(0x7f000000u | last, &port);
	snprintf(servers, sizeof servers, "127.0.0.1:%d", dns.port);
	ASSERT_EQ(co_set_dns_servers(servers), 0);
	snprintf(f, sizeof f, "timeout: 3s, target: \"db.test:%d\"", port);
	run(job_of(f), NULL, NULL);
	ASSERT_STR_EQ(probe.result.error, "");
	ASSERT(probe.result.ok);
	finish();

	run(job_of("timeout: 3s, target: \"nxdb.test:5432\""), NULL, NULL);
	ASSERT_EQ(probe_ret, 0);
	ASSERT(!probe.result.ok);
	ASSERT_STR_EQ(probe.result.error, "resolve nxdb.test: name not found");
	finish();
	close(lfd);
	test_server_stop(&dns);
}

/* A name server slower than the job's timeout: the run ends at the timeout, not c-ares's. */
TEST(slow_name_lookup_bounded_by_the_timeout)
{
	const char *args[] = { "--delay", "5", NULL };
	struct test_server dns = test_server_start("slow-dns.py", args);
	char servers[64];
	long long t0;

	snprintf(servers, sizeof servers, "127.0.0.1:%d", dns.port);
	ASSERT_EQ(co_set_dns_servers(servers), 0);
	t0 = now_ms();
	run(job_of("timeout: 300ms, target: \"slow.test:5432\""), NULL, NULL);
	ASSERT_EQ(probe_ret, 0);
	ASSERT_STR_EQ(probe.result.error, "timeout after 300ms");
	ASSERT_GE(now_ms() - t0, 300);
	ASSERT_LT(now_ms() - t0, 1500);
	finish();
	test_server_stop(&dns);
}
