/* SPDX-License-Identifier: MIT */
/*
 * test-probe-tcp.c: a tcp job's run in a hooked coroutine against loopback
 * listeners: connect, refusal, send/expect, mismatch, timeout, a name
 * resolved through the loop, and cancellation from another coroutine.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#define PT_PROBE probe_tcp
#include "tests/unit/probe-util.h"
#include "tests/unit/server.h"

/* A tcp job: the fields of its flow mapping follow, then "}\n". */
#define JOB "jobs:\n  - {name: t, type: tcp, every: 10s, "

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

TEST(connects_to_a_listener)
{
	struct probe_test t = { 0 };
	int port, lfd = listener(INADDR_LOOPBACK, &port);

	pt_load(&t, JOB "timeout: 2s, target: \"127.0.0.1:%d\"}\n", port);
	pt_run(&t);
	ASSERT_EQ(t.ret, 0);
	ASSERT(t.p.result.ok);
	ASSERT_STR_EQ(t.p.result.error, "");
	ASSERT(t.p.result.duration_us > 0);
	ASSERT(t.p.result.duration_us < 2000000);
	close(lfd);
	pt_done(&t);
}

TEST(refused_port_fails)
{
	struct probe_test t = { 0 };
	char want[96];
	int port, lfd = listener(INADDR_LOOPBACK, &port);

	close(lfd); /* nothing listens there now */
	pt_load(&t, JOB "timeout: 2s, target: \"127.0.0.1:%d\"}\n", port);
	pt_run(&t);
	ASSERT_EQ(t.ret, 0);
	ASSERT(!t.p.result.ok);
	snprintf(want, sizeof want, "connect 127.0.0.1:%d: connection refused", port);
	ASSERT_STR_EQ(t.p.result.error, want);
	pt_done(&t);
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

/* The job sends PING and expects +PONG of a responder that answers reply. */
static void run_against(struct probe_test *t, struct responder *rs)
{
	int port;

	rs->lfd = listener(INADDR_LOOPBACK, &port);
	pt_load(t, JOB "timeout: 2s, target: \"127.0.0.1:%d\", send: \"PING\\r\\n\", "
		"expect: \"+PONG\"}\n", port);
	t->peer = respond;
	t->peer_arg = rs;
	pt_run(t);
	close(rs->lfd);
}

TEST(send_and_expect_round_trip)
{
	struct responder rs = { .reply = "hello +PONG\r\n" };
	struct probe_test t = { 0 };

	run_against(&t, &rs);
	ASSERT_EQ(t.ret, 0);
	ASSERT_STR_EQ(t.p.result.error, "");
	ASSERT(t.p.result.ok);
	ASSERT_STR_EQ(rs.got, "PING\r\n");
	pt_done(&t);
}

TEST(expect_mismatch_fails)
{
	struct responder rs = { .reply = "-ERR unknown\r\n" };
	struct probe_test t = { 0 };

	run_against(&t, &rs);
	ASSERT_EQ(t.ret, 0);
	ASSERT(!t.p.result.ok);
	ASSERT_STR_EQ(t.p.result.error, "reply lacks \"+PONG\"");
	pt_done(&t);
}

TEST(silent_listener_times_out)
{
	struct probe_test t = { 0 };
	int port, lfd = listener(INADDR_LOOPBACK, &port);

	/* The kernel completes the handshake; nobody ever answers. */
	pt_load(&t, JOB "timeout: 500ms, target: \"127.0.0.1:%d\", expect: \"+PONG\"}\n", port);
	pt_run(&t);
	ASSERT_EQ(t.ret, 0);
	ASSERT(!t.p.result.ok);
	ASSERT_STR_EQ(t.p.result.error, "timeout after 500ms");
	ASSERT_GE(t.elapsed * 1000, 500);
	ASSERT_LT(t.elapsed * 1000, 1500);
	ASSERT_GE(t.p.result.duration_us, 500000);
	close(lfd);
	pt_done(&t);
}

TEST(whole_seconds_timeout_text)
{
	struct probe_test t = { 0 };
	int port, lfd = listener(INADDR_LOOPBACK, &port);

	pt_load(&t, JOB "timeout: 1s, target: \"127.0.0.1:%d\", expect: x}\n", port);
	pt_run(&t);
	ASSERT(!t.p.result.ok);
	ASSERT_STR_EQ(t.p.result.error, "timeout after 1s");
	close(lfd);
	pt_done(&t);
}

TEST(cancel_while_blocked_in_read)
{
	struct probe_test t = { 0 };
	int port, lfd = listener(INADDR_LOOPBACK, &port), before;

	ASSERT(co_get_epoll_ct()); /* the loop's own descriptors are not the probe's */
	before = pt_count_fds();
	pt_load(&t, JOB "timeout: 5s, target: \"127.0.0.1:%d\", expect: \"+PONG\"}\n", port);
	t.cancel_after_ms = 200;
	t.cancel_twice = true;
	pt_run(&t);
	ASSERT_EQ(t.ret, -ECANCELED);
	ASSERT_GE(t.elapsed * 1000, 200);
	ASSERT_LT(t.elapsed * 1000, 1500);
	ASSERT_EQ(pt_count_fds(), before);
	for (int i = 0; i < PROBE_FDS_MAX; i++)
		ASSERT_EQ(t.p.fds[i], -1);
	close(lfd);
	pt_done(&t);
}

TEST(name_resolved_through_the_loop)
{
	const char *args[] = { "--delay", "0.05", NULL };
	struct test_server dns = test_server_start("slow-dns.py", args);
	struct probe_test t = { 0 };
	char servers[64];
	unsigned last = 1;
	int port, lfd;

	for (const char *s = "db.test"; *s; s++)
		last += (unsigned char)*s;
	last = 1 + (last - 1) % 250;
	/* slow-dns.py gives db.test 127.0.0.<last>: listen there. */
	lfd = listener(0x7f000000u | last, &port);
	snprintf(servers, sizeof servers, "127.0.0.1:%d", dns.port);
	ASSERT_EQ(co_set_dns_servers(servers), 0);
	pt_load(&t, JOB "timeout: 3s, target: \"db.test:%d\"}\n", port);
	pt_run(&t);
	ASSERT_STR_EQ(t.p.result.error, "");
	ASSERT(t.p.result.ok);
	pt_done(&t);

	pt_load(&t, JOB "timeout: 3s, target: \"nxdb.test:5432\"}\n");
	pt_run(&t);
	ASSERT_EQ(t.ret, 0);
	ASSERT(!t.p.result.ok);
	ASSERT_STR_EQ(t.p.result.error, "resolve nxdb.test: name not found");
	pt_done(&t);
	close(lfd);
	test_server_stop(&dns);
}

/* A name server slower than the job's timeout: the run ends at the timeout, not c-ares's. */
TEST(slow_name_lookup_bounded_by_the_timeout)
{
	const char *args[] = { "--delay", "5", NULL };
	struct test_server dns = test_server_start("slow-dns.py", args);
	struct probe_test t = { 0 };
	char servers[64];

	snprintf(servers, sizeof servers, "127.0.0.1:%d", dns.port);
	ASSERT_EQ(co_set_dns_servers(servers), 0);
	pt_load(&t, JOB "timeout: 300ms, target: \"slow.test:5432\"}\n");
	pt_run(&t);
	ASSERT_EQ(t.ret, 0);
	ASSERT_STR_EQ(t.p.result.error, "timeout after 300ms");
	ASSERT_GE(t.elapsed * 1000, 300);
	ASSERT_LT(t.elapsed * 1000, 1500);
	pt_done(&t);
	test_server_stop(&dns);
}
