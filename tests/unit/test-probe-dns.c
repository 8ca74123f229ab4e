/*
 * test-probe-dns.c: a dns job's run in a hooked coroutine against
 * tests/tools/slow-dns.py: an A record, NXDOMAIN expected or not, the
 * expected answer found or not, the timeout, and a cancel from another
 * coroutine.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

static struct test_server dns;
static struct config *cfg;

static void start_dns(const char *delay)
{
	const char *args[] = { "--delay", delay, NULL };

	dns = test_server_start("slow-dns.py", args);
}

/* The one dns job of a YAML snippet, asking the test server. */
static const struct job *job_of(const char *fields)
{
	char yaml[512];
	struct cfg_errors errs;
	int r;

	snprintf(yaml, sizeof yaml,
		 "jobs:\n  - {name: d, type: dns, every: 10s, server: \"127.0.0.1:%d\", %s}\n",
		 dns.port, fields);
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
	probe_ret = probe_dns(&probe);
	probe_done = 1;
	return NULL;
}

static int until_done(void *arg)
{
	(void)arg;
	return probe_done ? -1 : 0;
}

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
	start_dns("0.05");
	run(job_of("timeout: 2s, query: host.test, record: A"), NULL, NULL);
	ASSERT_EQ(probe_ret, 0);
	ASSERT_STR_EQ(probe.result.error, "");
	ASSERT(probe.result.ok);
	ASSERT_GE(probe.result.duration_us, 50000);
	finish();
	test_server_stop(&dns);
}

TEST(nxdomain_expected_or_not)
{
	start_dns("0.05");
	run(job_of("timeout: 2s, query: nxhost.test, expect_rcode: NXDOMAIN"), NULL, NULL);
	ASSERT_EQ(probe_ret, 0);
	ASSERT_STR_EQ(probe.result.error, "");
	ASSERT(probe.result.ok);
	finish();

	run(job_of("timeout: 2s, query: nxhost.test"), NULL, NULL);
	ASSERT_EQ(probe_ret, 0);
	ASSERT(!probe.result.ok);
	ASSERT_STR_EQ(probe.result.error, "rcode NXDOMAIN (expected NOERROR)");
	finish();

	/* A name that exists, where NXDOMAIN was expected. */
	run(job_of("timeout: 2s, query: host.test, expect_rcode: NXDOMAIN"), NULL, NULL);
	ASSERT(!probe.result.ok);
	ASSERT_STR_EQ(probe.result.error, "rcode NOERROR (expected NXDOMAIN)");
	finish();
	test_server_stop(&dns);
}

TEST(expect_answer_match_and_mismatch)
{
	char f[160];

	start_dns("0.01");
	snprintf(f, sizeof f, "timeout: 2s, query: host.test, expect_answer: \"127.0.0.%u\"",
		 last_octet("host.test"));
	run(job_of(f), NULL, NULL);
	ASSERT_STR_EQ(probe.result.error, "");
	ASSERT(probe.result.ok);
	finish();

	run(job_of("timeout: 2s, query: host.test, expect_answer: \"1.2.3.4\""), NULL, NULL);
	ASSERT_EQ(probe_ret, 0);
	ASSERT(!probe.result.ok);
	ASSERT_STR_EQ(probe.result.error, "no answer contains \"1.2.3.4\"");
	finish();

	/* AAAA: NOERROR with no records, so nothing can match. */
	run(job_of("timeout: 2s, query: host.test, record: AAAA"), NULL, NULL);
	ASSERT(probe.result.ok);
	finish();
	run(job_of("timeout: 2s, query: host.test, record: AAAA, expect_answer: \"::1\""), NULL, NULL);
	ASSERT(!probe.result.ok);
	ASSERT_STR_EQ(probe.result.error, "no answer contains \"::1\"");
	finish();
	test_server_stop(&dns);
}

TEST(slow_server_times_out)
{
	long long t0;

	start_dns("30");
	t0 = now_ms();
	run(job_of("timeout: 700ms, query: host.test"), NULL, NULL);
	ASSERT_EQ(probe_ret, 0);
	ASSERT(!probe.result.ok);
	ASSERT_STR_EQ(probe.result.error, "timeout after 700ms");
	ASSERT_GE(now_ms() - t0, 700);
	ASSERT_LT(now_ms() - t0, 1700);
	ASSERT_GE(probe.result.duration_us, 700000);
	finish();

	run(job_of("timeout: 1s, query: host.test"), NULL, NULL);
	ASSERT_STR_EQ(probe.result.error, "timeout after 1s");
	finish();
	test_server_stop(&dns);
}

static void *cancel_later(void *arg)
{
	co_enable_hook_sys();
	usleep(200000);
	probe_cancel(arg);
	probe_cancel(arg); /* twice is harmless */
	return NULL;
}

TEST(cancel_while_waiting_for_the_reply)
{
	long long t0;
	int before;

	start_dns("30");
	ASSERT(co_get_epoll_ct()); /* the loop's own descriptors are not the probe's */
	before = count_fds();
	t0 = now_ms();
	run(job_of("timeout: 5s, query: host.test"), cancel_later, &probe);
	ASSERT_EQ(probe_ret, -ECANCELED);
	ASSERT_GE(now_ms() - t0, 200);
	ASSERT_LT(now_ms() - t0, 1500);
	ASSERT_EQ(count_fds(), before);
	for (int i = 0; i < PROBE_FDS_MAX; i++)
		ASSERT_EQ(probe.fds[i], -1);
	finish();
	test_server_stop(&dns);
}

/* A job of a YAML snippet with no server of its own. */
static const struct job *local_job_of(const char *fields)
{
	char yaml[512];
	struct cfg_errors errs;

	snprintf(yaml, sizeof yaml, "jobs:\n  - {name: d, type: dns, every: 10s, %s}\n", fields);
	if (config_load_buffer("t.yaml", yaml, strlen(yaml), &cfg, &errs))
		tap__fail(__FILE__, __LINE__, "%s", errs.n ? errs.v[0].text : "config");
	cfg_errors_free(&errs);
	return &cfg->jobs[0];
}

/* RFC 6761: localhost names are answered without a server (this test has no network). */
TEST(localhost_answered_without_a_server)
{
	run(local_job_of("query: localhost, expect_answer: 127.0.0.1"), NULL, NULL);
	ASSERT_EQ(probe_ret, 0);
	ASSERT_STR_EQ(probe.result.error, "");
	finish();
	run(local_job_of("query: db.LOCALHOST., record: AAAA, expect_answer: '::1'"), NULL, NULL);
	ASSERT_STR_EQ(probe.result.error, "");
	finish();
	run(local_job_of("query: localhost, expect_answer: 10.0.0.1"), NULL, NULL);
	ASSERT_STR_EQ(probe.result.error, "no answer contains \"10.0.0.1\"");
	finish();
	run(local_job_of("query: localhost, expect_rcode: NXDOMAIN"), NULL, NULL);
	ASSERT_STR_EQ(probe.result.error, "rcode NOERROR (expected NXDOMAIN)");
	finish();
}

/* A server given by name is looked up first; a name that does not resolve fails clearly. */
TEST(server_given_by_name)
{
	char yaml[512];
	struct cfg_errors errs;

	start_dns("0.01");
	snprintf(yaml, sizeof yaml,
		 "jobs:\n  - {name: d, type: dns, every: 10s, timeout: 2s, query: host.test, "
		 "server: \"localhost:%d\"}\n", dns.port);
	ASSERT_EQ(config_load_buffer("t.yaml", yaml, strlen(yaml), &cfg, &errs), 0);
	cfg_errors_free(&errs);
	run(&cfg->jobs[0], NULL, NULL);
	ASSERT_STR_EQ(probe.result.error, "");
	ASSERT(probe.result.ok);
	finish();
	static const char bad[] = "jobs: [{name: d, type: dns, every: 10s, timeout: 2s, "
				  "query: a.test, server: 'nosuchhost.invalid'}]";
	ASSERT_EQ(config_load_buffer("t.yaml", bad, strlen(bad), &cfg, &errs), 0);
	cfg_errors_free(&errs);
	run(&cfg->jobs[0], NULL, NULL);
	ASSERT_EQ(probe_ret, 0);
	ASSERT(!probe.result.ok);
	if (strncmp(probe.result.error, "resolve server nosuchhost.invalid: ", 35) != 0)
		tap__fail(__FILE__, __LINE__, "error \"%s\"", probe.result.error);
	finish();
	test_server_stop(&dns);
}
