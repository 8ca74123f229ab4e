/* SPDX-License-Identifier: MIT */
/*
 * test-curl.c: the proof that the hooks are complete. libcurl's easy API,
 * unmodified blocking code, runs in 1,000 coroutines on one thread against
 * a loopback HTTP server that answers every request after one second: the
 * run takes about a second or two, not a thousand.
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "coro/coro.h"
#include "tests/unit/server.h"
#include "tests/unit/tap.h"

struct fetch {
	char url[96];
	char body[64];
	size_t len;
	long status;
	CURLcode rc;
};

static int finished, total;

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
	struct fetch *f = arg;
	size_t len = size * n, room = sizeof f->body - 1 - f->len;

	memcpy(f->body + f->len, data, len < room ? len : room);
	f->len += len < room ? len : room;
	f->body[f->len] = '\0';
	return len;
}

static void *fetch_one(void *arg)
{
	struct fetch *f = arg;
	CURL *curl;

	co_enable_hook_sys();
	curl = curl_easy_init();
	ASSERT(curl);
	curl_easy_setopt(curl, CURLOPT_URL, f->url);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, f);
	f->rc = curl_easy_perform(curl);
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &f->status);
	curl_easy_cleanup(curl);
	finished++;
	return NULL;
}

static int all_done(void *arg)
{
	(void)arg;
	return finished == total ? -1 : 0;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void run(int n, struct co_attr *attr)
{
	const char *args[] = { "--delay", "1.0", NULL };
	struct test_server http = test_server_start("slow-http.py", args);
	struct fetch *f = calloc((size_t)n, sizeof *f);
	struct co **cos = calloc((size_t)n, sizeof *cos);
	double t0, elapsed;

	ASSERT(f && cos);
	ASSERT_EQ(curl_global_init(CURL_GLOBAL_DEFAULT), CURLE_OK);
	total = n;
	t0 = now_s();
	for (int i = 0; i < n; i++) {
		snprintf(f[i].url, sizeof f[i].url, "http://127.0.0.1:%d/job/%d", http.port, i);
		ASSERT_EQ(co_create(&cos[i], attr, fetch_one, &f[i]), 0);
		co_resume(cos[i]);
	}
	co_eventloop(co_get_epoll_ct(), all_done, NULL);
	elapsed = now_s() - t0;
	for (int i = 0; i < n; i++) {
		char want[64];

		snprintf(want, sizeof want, "ok /job/%d", i);
		if (f[i].rc != CURLE_OK)
			tap__fail(__FILE__, __LINE__, "fetch %d: %s", i, curl_easy_strerror(f[i].rc));
		ASSERT_EQ(f[i].status, 200);
		ASSERT_STR_EQ(f[i].body, want);
		co_release(cos[i]);
	}
	printf("# %d fetches of a 1 s response took %.2f s on one thread\n", n, elapsed);
	/* One at a time this is n seconds; the issue expects one to two. */
	ASSERT(elapsed >= 1.0);
	ASSERT(elapsed < 15.0);
	curl_global_cleanup();
	test_server_stop(&http);
	free(f);
	free(cos);
}

TEST_NO_VALGRIND(curl_easy_in_1000_coroutines)
{
	struct rlimit rl;

	/* 1,000 sockets here and as many in the server: fine under 20,000. */
	ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	run(1000, NULL);
}

TEST(curl_easy_on_shared_stacks)
{
	struct co_sharestack *pool = co_alloc_sharestack(2, 256 * 1024);
	struct co_attr attr = { 0, pool };

	ASSERT(pool);
	run(20, &attr);
	co_free_sharestack(pool);
}
