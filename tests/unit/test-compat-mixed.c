/* SPDX-License-Identifier: MIT */
/*
 * test-compat-mixed.c: a file that includes coro.h and then co_routine.h
 * sees one set of types under both spellings: libco's names are typedefs
 * of libcoro's, so a stCoRoutine_t is a struct co and libcoro's own calls
 * (co_is_dead, co_set_name, co_free_sharestack, ...) take what libco's
 * return. libco's extra entry points (co_accept, co_gethostbyname,
 * co_log_err) are declared in this mode too.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "coro/coro.h"
#include "coro/co_routine.h"
#include "tests/unit/tap.h"

/* The same types, not look-alikes: these only compile if they are. */
static struct co *as_co(stCoRoutine_t *c) { return c; }
static struct co_sharestack *as_pool(stShareStack_t *s) { return s; }
static struct co_epoll *as_loop(stCoEpoll_t *e) { return e; }
static struct co_cond *as_cond(stCoCond_t *c) { return c; }
static co_fn *as_fn(pfn_co_routine_t f) { return f; }
static co_eventloop_fn *as_loop_fn(pfn_co_eventloop_t f) { return f; }

static void *count(void *arg)
{
	int *n = arg;

	++*n;
	co_yield_ct();
	++*n;
	return NULL;
}

static int stop_at_once(void *arg)
{
	(void)arg;
	return -1;
}

TEST(both_spellings_are_one_type)
{
	stShareStack_t *pool = co_alloc_sharestack(1, 64 * 1024);
	stCoRoutineAttr_t attr = CO_ATTR_INIT;
	stCoRoutine_t *c;
	stCoCond_t *cond = co_cond_alloc();
	int n = 0;

	ASSERT(pool && cond);
	attr.share_stack = as_pool(pool);
	ASSERT_EQ(co_create(&c, &attr, as_fn(count), &n), 0);
	ASSERT_EQ(co_set_name(as_co(c), "mixed"), 0);
	ASSERT_STR_EQ(co_get_name(c), "mixed");
	co_resume(c);
	ASSERT_EQ(n, 1);
	ASSERT(!co_is_dead(c));
	co_resume(c);
	ASSERT_EQ(n, 2);
	ASSERT(co_is_dead(c));
	co_eventloop(as_loop(co_get_epoll_ct()), as_loop_fn(stop_at_once), NULL);
	co_release(c);
	ASSERT_EQ(co_cond_free(as_cond(cond)), 0);
	co_free_sharestack(pool);
}

TEST(libco_extras_in_mixed_mode)
{
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof addr;
	int l = socket(AF_INET, SOCK_STREAM, 0), c;
	struct hostent *h;

	/* Outside a coroutine co_accept is accept(2): a blocking listener with a connection waiting. */
	ASSERT(l >= 0);
	ASSERT_EQ(bind(l, (struct sockaddr *)&addr, sizeof addr), 0);
	ASSERT_EQ(listen(l, 4), 0);
	ASSERT_EQ(getsockname(l, (struct sockaddr *)&addr, &len), 0);
	c = socket(AF_INET, SOCK_STREAM, 0);
	ASSERT_EQ(connect(c, (struct sockaddr *)&addr, sizeof addr), 0);
	int a = co_accept(l, NULL, NULL);
	ASSERT(a >= 0);
	ASSERT_EQ(write(c, "hi", 2), 2);
	char buf[4];
	ASSERT_EQ(read(a, buf, sizeof buf), 2);
	close(a);
	close(c);
	close(l);
	ASSERT_EQ(co_accept(l, NULL, NULL), -1);
	ASSERT_EQ(errno, EBADF);
	h = co_gethostbyname("127.0.0.1");
	ASSERT(h);
	ASSERT_STR_EQ(h->h_name, "127.0.0.1");
}
