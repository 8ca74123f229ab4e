/* SPDX-License-Identifier: MIT */
/*
 * test-probe-http.c: the http probe against tests/tools/slow-http.py on
 * loopback (it answers 200 "ok <path>" after a delay): success, the body
 * and status checks, a refused port, the timeout, and a cancel.
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#define PT_PROBE probe_http
#include "tests/unit/probe-util.h"
#include "tests/unit/server.h"

#define JOB "jobs:\n  - name: j\n    type: http\n    every: 10s\n    timeout: %s\n" \
	    "    url: \"http://127.0.0.1:%d/x\"\n"

/* The requests go to loopback, never through a proxy of the environment. */
__attribute__((constructor)) static void no_proxy(void)
{
	static const char *const vars[] = { "http_proxy", "HTTP_PROXY", "https_proxy",
					    "HTTPS_PROXY", "all_proxy", "ALL_PROXY" };

	for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
		unsetenv(vars[i]);
}

static struct test_server start(const char *delay)
{
	const char *args[] = { "--delay", delay, NULL };

	ASSERT_EQ(curl_global_init(CURL_GLOBAL_DEFAULT), CURLE_OK);
	return test_server_start("slow-http.py", args);
}

static void finish(struct test_server *s, struct probe_test *t)
{
	pt_done(t);
	test_server_stop(s);
	curl_global_cleanup();
}

TEST(http_ok)
{
	struct test_server s = start("0.05");
	struct probe_test t = { 0 };

	pt_load(&t, JOB, "2s", s.port);
	pt_run(&t);
	ASSERT_EQ(t.ret, 0);
	ASSERT_STR_EQ(t.p.result.error, "");
	ASSERT(t.p.result.ok);
	ASSERT_EQ(t.p.result.http_status, 200);
	ASSERT(t.p.result.duration_us >= 40000);
	ASSERT(t.p.result.duration_us < 2000000);
	finish(&s, &t);
}

/* One run of the job with extra keys: its result, then the job freed. */
static void check(const struct test_server *s, const char *extra, bool ok, const char *error)
{
	struct probe_test t = { 0 };

	pt_load(&t, JOB "%s", "2s", s->port, extra);
	pt_run(&t);
	ASSERT_EQ(t.ret, 0);
	if (strcmp(t.p.result.error, error) != 0)
		tap__fail(__FILE__, __LINE__, "with %s: error \"%s\", not \"%s\"", extra,
			  t.p.result.error, error);
	ASSERT_EQ(t.p.result.ok, ok);
	ASSERT_EQ(t.p.result.http_status, 200);
	pt_done(&t);
}

/* Cases in one process: under valgrind each start of libcurl costs seconds. */
TEST(http_methods)
{
	struct test_server s = start("0.01");

	check(&s, "    method: HEAD\n", true, "");
	check(&s, "    method: POST\n    body: \"a=1\"\n    headers: {X-Test: yes}\n"
		  "    expect_body: \"ok /x\"\n", true, "");
	check(&s, "    method: DELETE\n", true, "");
	test_server_stop(&s);
	curl_global_cleanup();
}

TEST(http_body_and_status)
{
	struct test_server s = start("0.01");

	check(&s, "    expect_body: \"ok /x\"\n", true, "");
	check(&s, "    expect_body: \"healthy\"\n", false, "body lacks \"healthy\"");
	check(&s, "    expect_body_regex: \"^ok /[a-z]+$\"\n", true, "");
	check(&s, "    expect_body_regex: \"^[0-9]+$\"\n", false,
	      "body does not match /^[0-9]+$/");
	check(&s, "    expect_status: [404, 410]\n", false, "status 200 (expected 404, 410)");
	check(&s, "    expect_status: [201, 200]\n", true, "");
	test_server_stop(&s);
	curl_global_cleanup();
}

/* A loopback port with nothing listening: bound, then closed. */
static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof a;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	ASSERT(fd >= 0);
	ASSERT_EQ(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	ASSERT_EQ(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

TEST(http_refused)
{
	struct probe_test t = { 0 };

	ASSERT_EQ(curl_global_init(CURL_GLOBAL_DEFAULT), CURLE_OK);
	pt_load(&t, JOB, "2s", free_port());
	pt_run(&t);
	ASSERT_EQ(t.ret, 0);
	ASSERT(!t.p.result.ok);
	ASSERT_EQ(t.p.result.http_status, 0);
	ASSERT_STR_EQ(t.p.result.error, "connect: connection refused");
	pt_done(&t);
	curl_global_cleanup();
}

TEST(http_timeout)
{
	struct test_server s = start("5");
	struct probe_test t = { 0 };

	pt_load(&t, JOB, "300ms", s.port);
	pt_run(&t);
	ASSERT_EQ(t.ret, 0);
	ASSERT(!t.p.result.ok);
	ASSERT_STR_EQ(t.p.result.error, "timeout after 300ms");
	ASSERT(t.elapsed >= 0.25);
	ASSERT(t.elapsed < 1.5);
	finish(&s, &t);
}

TEST(http_cancel)
{
	struct test_server s = start("5");
	struct probe_test t = { 0 };
	int fds;

	pt_load(&t, JOB, "4s", s.port);
	co_get_epoll_ct();
	fds = pt_count_fds();
	t.cancel_after_ms = 200;
	pt_run(&t);
	ASSERT_EQ(t.ret, -ECANCELED);
	ASSERT(t.elapsed >= 0.15);
	ASSERT(t.elapsed < 1.0);
	ASSERT_EQ(pt_count_fds(), fds);
	for (int i = 0; i < PROBE_FDS_MAX; i++)
		ASSERT_EQ(t.p.fds[i], -1);
	pt_done(&t);

	/* Cancelled before it starts: it does not start. */
	memset(&t, 0, sizeof t);
	pt_load(&t, JOB, "2s", s.port);
	probe_cancel(&t.p);
	pt_run(&t);
	ASSERT_EQ(t.ret, -ECANCELED);
	ASSERT_EQ(t.p.result.duration_us, 0);
	finish(&s, &t);
}
