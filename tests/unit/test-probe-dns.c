/* SPDX-License-Identifier: MIT */
/*
 * test-probe-dns.c: a dns job's run in a hooked coroutine against
 * tests/tools/slow-dns.py: an A record, NXDOMAIN expected or not, the
 * expected answer found or not, the timeout, and a cancel from another
 * coroutine.
 */
#define _GNU_SOURCE
#define PT_PROBE probe_dns
#include "tests/unit/probe-util.h"
#include "tests/unit/server.h"

/* A dns job: the fields of its flow mapping follow, then "}\n". */
#define LOCAL "jobs:\n  - {name: d, type: dns, every: 10s, "
/* One asking the test server: its port is the first argument. */
#define JOB LOCAL "server: \"127.0.0.1:%d\", "

static struct test_server start_dns(const char *delay)
{
	const char *args[] = { "--delay", delay, NULL };

	return test_server_start("slow-dns.py", args);
}

/* The address slow-dns.py gives a name. */
static unsigned last_octet(const char *name)
{
	unsigned sum = 0;

	for (const char *p = name; *p; p++)
		sum += (unsigned char)*p;
	return 1 + sum % 250;
}

TEST(a_record_ok)
{
	struct test_server dns = start_dns("0.05");
	struct probe_test t = { 0 };

	pt_load(&t, JOB "timeout: 2s, query: host.test, record: A}\n", dns.port);
	pt_run(&t);
	ASSERT_EQ(t.ret, 0);
	ASSERT_STR_EQ(t.p.result.error, "");
	ASSERT(t.p.result.ok);
	ASSERT_GE(t.p.result.duration_us, 50000);
	pt_done(&t);
	test_server_stop(&dns);
}

TEST(nxdomain_expected_or_not)
{
	struct test_server dns = start_dns("0.05");
	struct probe_test t = { 0 };

	pt_load(&t, JOB "timeout: 2s, query: nxhost.test, expect_rcode: NXDOMAIN}\n", dns.port);
	pt_run(&t);
	ASSERT_EQ(t.ret, 0);
	ASSERT_STR_EQ(t.p.result.error, "");
	ASSERT(t.p.result.ok);
	pt_done(&t);

	pt_load(&t, JOB "timeout: 2s, query: nxhost.test}\n", dns.port);
	pt_run(&t);
	ASSERT_EQ(t.ret, 0);
	ASSERT(!t.p.result.ok);
	ASSERT_STR_EQ(t.p.result.error, "rcode NXDOMAIN (expected NOERROR)");
	pt_done(&t);

	/* A name that exists, where NXDOMAIN was expected. */
	pt_load(&t, JOB "timeout: 2s, query: host.test, expect_rcode: NXDOMAIN}\n", dns.port);
	pt_run(&t);
	ASSERT(!t.p.result.ok);
	ASSERT_STR_EQ(t.p.result.error, "rcode NOERROR (expected NXDOMAIN)");
	pt_done(&t);
	test_server_stop(&dns);
}

TEST(expect_answer_match_and_mismatch)
{
	struct test_server dns = start_dns("0.01");
	struct probe_test t = { 0 };

	pt_load(&t, JOB "timeout: 2s, query: host.test, expect_answer: \"127.0.0.%u\"}\n",
		dns.port, last_octet("host.test"));
	pt_run(&t);
	ASSERT_STR_EQ(t.p.result.error, "");
	ASSERT(t.p.result.ok);
	pt_done(&t);

	pt_load(&t, JOB "timeout: 2s, query: host.test, expect_answer: \"1.2.3.4\"}\n", dns.port);
	pt_run(&t);
	ASSERT_EQ(t.ret, 0);
	ASSERT(!t.p.result.ok);
	ASSERT_STR_EQ(t.p.result.error, "no answer contains \"1.2.3.4\"");
	pt_done(&t);

	/* AAAA: NOERROR with no records, so nothing can match. */
	pt_load(&t, JOB "timeout: 2s, query: host.test, record: AAAA}\n", dns.port);
	pt_run(&t);
	ASSERT(t.p.result.ok);
	pt_done(&t);
	pt_load(&t, JOB "timeout: 2s, query: host.test, record: AAAA, expect_answer: \"::1\"}\n",
		dns.port);
	pt_run(&t);
	ASSERT(!t.p.result.ok);
	ASSERT_STR_EQ(t.p.result.error, "no answer contains \"::1\"");
	pt_done(&t);
	test_server_stop(&dns);
}

TEST(slow_server_times_out)
{
	struct test_server dns = start_dns("30");
	struct probe_test t = { 0 };

	pt_load(&t, JOB "timeout: 700ms, query: host.test}\n", dns.port);
	pt_run(&t);
	ASSERT_EQ(t.ret, 0);
	ASSERT(!t.p.result.ok);
	ASSERT_STR_EQ(t.p.result.error, "timeout after 700ms");
	ASSERT_GE(t.elapsed * 1000, 700);
	ASSERT_LT(t.elapsed * 1000, 1700);
	ASSERT_GE(t.p.result.duration_us, 700000);
	pt_done(&t);

	pt_load(&t, JOB "timeout: 1s, query: host.test}\n", dns.port);
	pt_run(&t);
	ASSERT_STR_EQ(t.p.result.error, "timeout after 1s");
	pt_done(&t);
	test_server_stop(&dns);
}

TEST(cancel_while_waiting_for_the_reply)
{
	struct test_server dns = start_dns("30");
	struct probe_test t = { 0 };
	int before;

	ASSERT(co_get_epoll_ct()); /* the loop's own descriptors are not the probe's */
	before = pt_count_fds();
	pt_load(&t, JOB "timeout: 5s, query: host.test}\n", dns.port);
	t.cancel_after_ms = 200;
	t.cancel_twice = true;
	pt_run(&t);
	ASSERT_EQ(t.ret, -ECANCELED);
	ASSERT_GE(t.elapsed * 1000, 200);
	ASSERT_LT(t.elapsed * 1000, 1500);
	ASSERT_EQ(pt_count_fds(), before);
	for (int i = 0; i < PROBE_FDS_MAX; i++)
		ASSERT_EQ(t.p.fds[i], -1);
	pt_done(&t);
	test_server_stop(&dns);
}

/* RFC 6761: localhost names are answered without a server (this test has no network). */
TEST(localhost_answered_without_a_server)
{
	struct probe_test t = { 0 };

	pt_load(&t, LOCAL "query: localhost, expect_answer: 127.0.0.1}\n");
	pt_run(&t);
	ASSERT_EQ(t.ret, 0);
	ASSERT_STR_EQ(t.p.result.error, "");
	pt_done(&t);
	pt_load(&t, LOCAL "query: db.LOCALHOST., record: AAAA, expect_answer: '::1'}\n");
	pt_run(&t);
	ASSERT_STR_EQ(t.p.result.error, "");
	pt_done(&t);
	pt_load(&t, LOCAL "query: localhost, expect_answer: 10.0.0.1}\n");
	pt_run(&t);
	ASSERT_STR_EQ(t.p.result.error, "no answer contains \"10.0.0.1\"");
	pt_done(&t);
	pt_load(&t, LOCAL "query: localhost, expect_rcode: NXDOMAIN}\n");
	pt_run(&t);
	ASSERT_STR_EQ(t.p.result.error, "rcode NOERROR (expected NXDOMAIN)");
	pt_done(&t);
}

/* A server given by name is looked up first; a name that does not resolve fails clearly. */
TEST(server_given_by_name)
{
	struct test_server dns = start_dns("0.01");
	struct probe_test t = { 0 };

	pt_load(&t, LOCAL "timeout: 2s, query: host.test, server: \"localhost:%d\"}\n", dns.port);
	pt_run(&t);
	ASSERT_STR_EQ(t.p.result.error, "");
	ASSERT(t.p.result.ok);
	pt_done(&t);
	pt_load(&t, LOCAL "timeout: 2s, query: a.test, server: 'nosuchhost.invalid'}\n");
	pt_run(&t);
	ASSERT_EQ(t.ret, 0);
	ASSERT(!t.p.result.ok);
	if (strncmp(t.p.result.error, "resolve server nosuchhost.invalid: ", 35) != 0)
		tap__fail(__FILE__, __LINE__, "error \"%s\"", t.p.result.error);
	pt_done(&t);
	test_server_stop(&dns);
}
