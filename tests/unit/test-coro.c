/* SPDX-License-Identifier: MIT */
/*
 * test-coro.c: the coroutine life cycle: resume and yield, values passed
 * back and forth, nesting, return, reset, release, misuse.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "coro/coro.h"
#include "tests/unit/tap.h"

static long shared_value;

static void *counter(void *arg)
{
	long n = (long)(intptr_t)arg;

	for (long i = 0; i < n; i++) {
		shared_value = i;
		co_yield_ct();
	}
	shared_value = -1;
	return NULL;
}

TEST(ping_pong_values)
{
	struct co *co;

	ASSERT_EQ(co_create(&co, NULL, counter, (void *)(intptr_t)1000), 0);
	for (long i = 0; i < 1000; i++) {
		co_resume(co);
		ASSERT_EQ(shared_value, i);
		ASSERT(!co_is_dead(co));
	}
	co_resume(co);
	ASSERT_EQ(shared_value, -1);
	ASSERT(co_is_dead(co));
	co_release(co);
}

static void *selfcheck(void *arg)
{
	struct co **slot = arg;

	ASSERT_PTR_EQ(co_self(), *slot);
	ASSERT_PTR_EQ(co_get_current(), *slot);
	ASSERT(!co_is_main());
	co_yield_ct();
	ASSERT_PTR_EQ(co_self(), *slot);
	return NULL;
}

TEST(self_and_main)
{
	struct co *co;

	ASSERT_PTR_EQ(co_self(), NULL);
	ASSERT(co_is_main());
	ASSERT_EQ(co_create(&co, NULL, selfcheck, &co), 0);
	co_resume(co);
	ASSERT_PTR_EQ(co_self(), NULL);
	co_resume(co);
	ASSERT(co_is_dead(co));
	co_release(co);
}

static int depth_reached;

static void *nest(void *arg)
{
	long depth = (long)(intptr_t)arg;
	struct co *child;
	struct co_attr attr = { 16 * 1024, NULL };

	if (depth > depth_reached)
		depth_reached = (int)depth;
	if (depth == 1000)
		return NULL;
	ASSERT_EQ(co_create(&child, &attr, nest, (void *)(intptr_t)(depth + 1)), 0);
	co_resume(child);
	ASSERT(co_is_dead(child));
	co_release(child);
	return NULL;
}

TEST(nesting_past_libco_limit)
{
	struct co *co;

	ASSERT_EQ(co_create(&co, NULL, nest, (void *)(intptr_t)1), 0);
	co_resume(co);
	ASSERT(co_is_dead(co));
	ASSERT_EQ(depth_reached, 1000);
	co_release(co);
}

TEST(reset_runs_again)
{
	struct co *co;

	ASSERT_EQ(co_create(&co, NULL, counter, (void *)(intptr_t)2), 0);
	co_resume(co);
	ASSERT_EQ(shared_value, 0);
	co_reset(co);
	co_resume(co);
	ASSERT_EQ(shared_value, 0);
	co_resume(co);
	co_resume(co);
	ASSERT(co_is_dead(co));
	co_reset(co);
	ASSERT(!co_is_dead(co));
	co_resume(co);
	ASSERT_EQ(shared_value, 0);
	co_release(co);
}

static void *shared_worker(void *arg)
{
	volatile char buf[300];
	long id = (long)(intptr_t)arg;

	for (int i = 0; i < 5; i++) {
		for (unsigned j = 0; j < sizeof buf; j++)
			buf[j] = (char)(id + i + j);
		co_yield_ct();
		for (unsigned j = 0; j < sizeof buf; j++)
			ASSERT_EQ(buf[j], (char)(id + i + j));
	}
	return NULL;
}

TEST(shared_stack_interleaving)
{
	struct co_sharestack *pool = co_alloc_sharestack(2, 64 * 1024);
	struct co_attr attr = { 0, pool };
	struct co *cos[7];

	ASSERT(pool);
	for (int i = 0; i < 7; i++)
		ASSERT_EQ(co_create(&cos[i], &attr, shared_worker, (void *)(intptr_t)(i * 31)), 0);
	for (int round = 0; round < 6; round++)
		for (int i = 0; i < 7; i++)
			co_resume(cos[i]);
	for (int i = 0; i < 7; i++) {
		ASSERT(co_is_dead(cos[i]));
		co_release(cos[i]);
	}
	co_free_sharestack(pool);
}

static void *finish(void *arg)
{
	(void)arg;
	return NULL;
}

TEST_DEATH(resume_finished_aborts, SIGABRT, "has finished")
{
	struct co *co;

	ASSERT_EQ(co_create(&co, NULL, finish, NULL), 0);
	co_resume(co);
	co_resume(co);
}

TEST_DEATH(yield_outside_aborts, SIGABRT, "outside a coroutine")
{
	co_yield_ct();
}

static void *release_self(void *arg)
{
	co_release(co_self());
	return arg;
}

TEST_DEATH(release_running_aborts, SIGABRT, "is running")
{
	struct co *co;

	ASSERT_EQ(co_create(&co, NULL, release_self, NULL), 0);
	co_resume(co);
}

static volatile int keep_going = 1;

static void *recurse(void *arg)
{
	volatile char pad[512];

	pad[0] = (char)(intptr_t)arg;
	if (keep_going)
		recurse((void *)(intptr_t)(pad[0] + 1));
	return (void *)(intptr_t)pad[0];
}

TEST_DEATH(overflow_reported, SIGABRT, "overflowed its 16384-byte stack")
{
	struct co *co;
	struct co_attr attr = { 16 * 1024, NULL };

	ASSERT_EQ(co_create(&co, &attr, recurse, NULL), 0);
	co_set_name(co, "deep");
	co_resume(co);
}
