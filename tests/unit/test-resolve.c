/* SPDX-License-Identifier: MIT */
/*
 * test-resolve.c: name resolution in hooked coroutines goes through the
 * event loop (c-ares): many coroutines resolving names from a DNS server
 * that answers after one second all finish in about a second, with the
 * addresses, errors and freeing that glibc's getaddrinfo gives.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "coro/coro.h"
#include "tests/unit/server.h"
#include "tests/unit/tap.h"

static struct test_server dns;

static void start_dns(const char *delay)
{
	const char *args[] = { "--delay", delay, NULL };
	char servers[64];

	dns = test_server_start("slow-dns.py", args);
	snprintf(servers, sizeof servers, "127.0.0.1:%d", dns.port);
	ASSERT_EQ(co_set_dns_servers(servers), 0);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The address slow-dns.py gives a name. */
static unsigned expected_last_octet(const char *name)
{
	unsigned sum = 0;

	for (const char *p = name; *p; p++)
		sum += (unsigned char)*p;
	return 1 + sum % 250;
}

struct lookup {
	char name[32];
	int err;
	unsigned last_octet;
	int done;
};

static int finished, total;

static void *resolve_one(void *arg)
{
	struct lookup *l = arg;
	struct addrinfo hints, *res = NULL;

	co_enable_hook_sys();
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_INET;
	hints.ai_socktype = SOCK_STREAM;
	l->err = getaddrinfo(l->name, "80", &hints, &res);
	if (l->err == 0) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)(void *)res->ai_addr;

		ASSERT_EQ(res->ai_family, AF_INET);
		ASSERT_EQ(res->ai_socktype, SOCK_STREAM);
		ASSERT_EQ(res->ai_protocol, IPPROTO_TCP);
		ASSERT_EQ(ntohs(sin->sin_port), 80);
		l->last_octet = ntohl(sin->sin_addr.s_addr) & 0xff;
		ASSERT_EQ(ntohl(sin->sin_addr.s_addr) >> 8, 0x7f0000);
		freeaddrinfo(res);
	}
	l->done = 1;
	finished++;
	return NULL;
}

static int all_done(void *arg)
{
	(void)arg;
	return finished == total ? -1 : 0;
}

TEST_NO_VALGRIND(hundred_slow_lookups_run_concurrently)
{
	enum { N = 100 };
	static struct lookup l[N];
	struct co_sharestack *pool = co_alloc_sharestack(4, 256 * 1024);
	struct co_attr attr = { 0, pool };
	double t0;

	start_dns("1.0");
	total = N;
	t0 = now_s();
	for (int i = 0; i < N; i++) {
		struct co *co;

		snprintf(l[i].name, sizeof l[i].name, "host%d.test", i);
		ASSERT_EQ(co_create(&co, &attr, resolve_one, &l[i]), 0);
		co_resume(co);
	}
	co_eventloop(co_get_epoll_ct(), all_done, NULL);
	for (int i = 0; i < N; i++) {
		ASSERT_EQ(l[i].err, 0);
		ASSERT_EQ(l[i].last_octet, expected_last_octet(l[i].name));
	}
	/* Serially this is 100 s; concurrently about 1 s. */
	ASSERT(now_s() - t0 < 10.0);
	ASSERT(now_s() - t0 >= 1.0);
	test_server_stop(&dns);
}

TEST(nxdomain_is_eai_noname)
{
	struct lookup l = { .name = "nxhost.test" };
	struct co *co;

	start_dns("0.05");
	total = 1;
	ASSERT_EQ(co_create(&co, NULL, resolve_one, &l), 0);
	co_resume(co);
	co_eventloop(co_get_epoll_ct(), all_done, NULL);
	ASSERT_EQ(l.err, EAI_NONAME);
	co_release(co);
	test_server_stop(&dns);
}

struct canon {
	int err;
	char canon[64];
	int families, entries;
};

static void *resolve_unspec(void *arg)
{
	struct canon *c = arg;
	struct addrinfo hints, *res = NULL;

	co_enable_hook_sys();
	memset(&hints, 0, sizeof hints);
	hints.ai_flags = AI_CANONNAME;
	c->err = getaddrinfo("canon.test", NULL, &hints, &res);
	if (c->err == 0) {
		ASSERT(res->ai_canonname);
		snprintf(c->canon, sizeof c->canon, "%s", res->ai_canonname);
		for (struct addrinfo *a = res; a; a = a->ai_next) {
			c->entries++;
			c->families |= a->ai_family == AF_INET ? 1 : 2;
		}
		freeaddrinfo(res);
	}
	finished++;
	return NULL;
}

TEST(unspec_socktype_gives_glibc_triplets_and_canonname)
{
	struct canon c = { 0 };
	struct co *co;

	start_dns("0.01");
	total = 1;
	ASSERT_EQ(co_create(&co, NULL, resolve_unspec, &c), 0);
	co_resume(co);
	co_eventloop(co_get_epoll_ct(), all_done, NULL);
	ASSERT_EQ(c.err, 0);
	ASSERT_STR_EQ(c.canon, "canon.test");
	/* One IPv4 address (no AAAA): stream, datagram and raw, as glibc. */
	ASSERT_EQ(c.entries, 3);
	ASSERT_EQ(c.families, 1);
	co_release(co);
	test_server_stop(&dns);
}

static int numeric_err;

static void *resolve_numeric(void *arg)
{
	struct addrinfo *res = NULL;

	(void)arg;
	co_enable_hook_sys();
	numeric_err = getaddrinfo("127.0.0.1", "8080", NULL, &res);
	if (!numeric_err) {
		ASSERT_EQ(((struct sockaddr_in *)(void *)res->ai_addr)->sin_port, htons(8080));
		freeaddrinfo(res);
	}
	numeric_err |= getaddrinfo("localhost", NULL, NULL, &res) << 8;
	if (!(numeric_err >> 8))
		freeaddrinfo(res);
	finished++;
	return NULL;
}

TEST(numeric_and_hosts_file_need_no_server)
{
	struct co *co;

	/* A server that is not there: nothing may ask it. */
	ASSERT_EQ(co_set_dns_servers("127.0.0.1:9"), 0);
	total = 1;
	ASSERT_EQ(co_create(&co, NULL, resolve_numeric, NULL), 0);
	co_resume(co);
	co_eventloop(co_get_epoll_ct(), all_done, NULL);
	ASSERT_EQ(numeric_err, 0);
	co_release(co);
}

static struct hostent copy;
static char copy_name[64];
static unsigned char copy_addr[4];

static void *by_name(void *arg)
{
	struct hostent *h;

	(void)arg;
	co_enable_hook_sys();
	h = gethostbyname("legacy.test");
	ASSERT(h);
	copy = *h;
	snprintf(copy_name, sizeof copy_name, "%s", h->h_name);
	ASSERT(h->h_addr_list[0]);
	memcpy(copy_addr, h->h_addr_list[0], 4);
	ASSERT(!gethostbyname("nxlegacy.test"));
	ASSERT_EQ(h_errno, HOST_NOT_FOUND);
	finished++;
	return NULL;
}

TEST(gethostbyname_through_the_loop)
{
	struct co *co;

	start_dns("0.01");
	total = 1;
	ASSERT_EQ(co_create(&co, NULL, by_name, NULL), 0);
	co_resume(co);
	co_eventloop(co_get_epoll_ct(), all_done, NULL);
	ASSERT_EQ(copy.h_addrtype, AF_INET);
	ASSERT_EQ(copy.h_length, 4);
	ASSERT_STR_EQ(copy_name, "legacy.test");
	ASSERT_EQ(copy_addr[0], 127);
	ASSERT_EQ(copy_addr[3], expected_last_octet("legacy.test"));
	co_release(co);
	test_server_stop(&dns);
}

TEST(bad_server_list_is_refused)
{
	ASSERT_EQ(co_set_dns_servers("not-an-address"), -EINVAL);
	ASSERT_EQ(co_set_dns_servers("127.0.0.1:53,bogus"), -EINVAL);
	ASSERT_EQ(co_set_dns_servers("[::1]:5353,127.0.0.1"), 0);
	ASSERT_EQ(co_set_dns_servers(NULL), 0);
}

static void *bounded_lookups(void *arg)
{
	struct addrinfo *res = NULL;
	double t0;

	(void)arg;
	co_enable_hook_sys();
	ASSERT_EQ(co_set_resolve_timeout(-1), -EINVAL);
	ASSERT_EQ(co_set_resolve_timeout(200), 0);
	t0 = now_s();
	ASSERT_EQ(getaddrinfo("slow.test", "80", NULL, &res), EAI_AGAIN);
	ASSERT(now_s() - t0 >= 0.2);
	ASSERT(now_s() - t0 < 1.0);
	t0 = now_s();
	ASSERT(!gethostbyname("slow2.test"));
	ASSERT_EQ(h_errno, TRY_AGAIN);
	ASSERT(now_s() - t0 < 1.0);
	/* Without the bound, the 1.5 s server is waited for. */
	ASSERT_EQ(co_set_resolve_timeout(0), 0);
	ASSERT_EQ(getaddrinfo("slow3.test", "80", NULL, &res), 0);
	ASSERT(now_s() - t0 >= 1.5);
	freeaddrinfo(res);
	finished++;
	return NULL;
}

/* co_set_resolve_timeout bounds a coroutine's lookups below c-ares's own timeouts. */
TEST(resolve_timeout_bounds_lookups)
{
	struct co *co;

	ASSERT_EQ(co_set_resolve_timeout(100), -EPERM); /* not in a coroutine */
	start_dns("1.5");
	total = 1;
	ASSERT_EQ(co_create(&co, NULL, bounded_lookups, NULL), 0);
	co_resume(co);
	co_eventloop(co_get_epoll_ct(), all_done, NULL);
	co_release(co);
	test_server_stop(&dns);
}
