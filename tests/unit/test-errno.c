/* SPDX-License-Identifier: MIT */
/*
 * test-errno.c: errno belongs to each context. A coroutine finds errno as
 * it left it whatever the others (and main) did meanwhile, and main's errno
 * survives resuming coroutines that change theirs: set by hand, set by
 * failing system calls, across nested resumes, shared stacks and returns.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <unistd.h>

#include "coro/coro.h"
#include "tests/unit/tap.h"

static void *set_and_check(void *arg)
{
	int mine = (int)(intptr_t)arg;

	for (int i = 0; i < 100; i++) {
		errno = mine + i;
		co_yield_ct();
		ASSERT_EQ(errno, mine + i);
	}
	errno = -mine;
	return NULL;
}

TEST(main_keeps_its_errno)
{
	struct co *co;

	ASSERT_EQ(co_create(&co, NULL, set_and_check, (void *)(intptr_t)5000), 0);
	for (int i = 0; i <= 100; i++) {
		errno = 77 + i;
		co_resume(co);
		ASSERT_EQ(errno, 77 + i);
	}
	/* The coroutine's last assignment, just before it returned, stays its own. */
	ASSERT(co_is_dead(co));
	ASSERT_EQ(errno, 77 + 100);
	co_release(co);
}

#define NCO 8

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static unsigned next_rand(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng % n);
}

static void interleave(struct co_sharestack *pool)
{
	struct co_attr attr = { 16 * 1024, pool };
	struct co *cos[NCO];
	int resumes[NCO] = { 0 };
	int live = NCO;

	for (int i = 0; i < NCO; i++)
		ASSERT_EQ(co_create(&cos[i], &attr, set_and_check, (void *)(intptr_t)(1000 * (i + 1))), 0);
	for (int step = 0; live > 0; step++) {
		int i = (int)next_rand(NCO);

		if (co_is_dead(cos[i]))
			continue;
		errno = -step;
		co_resume(cos[i]);
		ASSERT_EQ(errno, -step);
		if (++resumes[i] == 101) {
			ASSERT(co_is_dead(cos[i]));
			live--;
		}
	}
	for (int i = 0; i < NCO; i++)
		co_release(cos[i]);
}

TEST(each_coroutine_keeps_its_errno)
{
	interleave(NULL);
}

TEST(each_coroutine_keeps_its_errno_shared_stacks)
{
	struct co_sharestack *pool = co_alloc_sharestack(3, 32 * 1024);

	ASSERT(pool);
	interleave(pool);
	co_free_sharestack(pool);
}

/* errno as the C library sets it: real failing calls in each context. */
static void *fails_with_ebadf(void *arg)
{
	(void)arg;
	for (;;) {
		ASSERT_EQ(close(-1), -1);
		ASSERT_EQ(errno, EBADF);
		co_yield_ct();
		ASSERT_EQ(errno, EBADF);
	}
	return NULL;
}

static void *fails_with_enoent(void *arg)
{
	(void)arg;
	for (;;) {
		ASSERT_EQ(open("/nonexistent/coro-test", O_RDONLY | O_CLOEXEC), -1);
		ASSERT_EQ(errno, ENOENT);
		co_yield_ct();
		ASSERT_EQ(errno, ENOENT);
	}
	return NULL;
}

TEST(errno_from_system_calls)
{
	struct co *a, *b;

	ASSERT_EQ(co_create(&a, NULL, fails_with_ebadf, NULL), 0);
	ASSERT_EQ(co_create(&b, NULL, fails_with_enoent, NULL), 0);
	for (int i = 0; i < 50; i++) {
		ASSERT_EQ(write(-1, "", 0), -1);
		ASSERT_EQ(errno, EBADF);
		errno = EINTR;
		co_resume(a);
		ASSERT_EQ(errno, EINTR);
		co_resume(b);
		ASSERT_EQ(errno, EINTR);
	}
	co_release(a);
	co_release(b);
}

/* A resumes B, which changes errno and yields back into the middle of A. */
static struct co *inner;

static void *inner_fn(void *arg)
{
	(void)arg;
	for (int i = 0;; i++) {
		errno = 300 + i;
		co_yield_ct();
		ASSERT_EQ(errno, 300 + i);
	}
	return NULL;
}

static void *outer_fn(void *arg)
{
	(void)arg;
	for (int i = 0;; i++) {
		errno = 200 + i;
		co_resume(inner);
		ASSERT_EQ(errno, 200 + i);
		co_yield_ct();
		ASSERT_EQ(errno, 200 + i);
	}
	return NULL;
}

static void nested(struct co_sharestack *pool)
{
	struct co_attr attr = { 0, pool };
	struct co *outer;

	ASSERT_EQ(co_create(&outer, &attr, outer_fn, NULL), 0);
	ASSERT_EQ(co_create(&inner, &attr, inner_fn, NULL), 0);
	for (int i = 0; i < 100; i++) {
		errno = 100 + i;
		co_resume(outer);
		ASSERT_EQ(errno, 100 + i);
	}
	co_release(outer);
	co_release(inner);
}

TEST(nested_resumes)
{
	nested(NULL);
}

/* On one shared stack both switches of the nested pair go through the copy helper. */
TEST(nested_resumes_one_shared_stack)
{
	struct co_sharestack *pool = co_alloc_sharestack(1, 64 * 1024);

	ASSERT(pool);
	nested(pool);
	co_free_sharestack(pool);
}
