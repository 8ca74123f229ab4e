/* SPDX-License-Identifier: MIT */
/*
 * test-misuse.c: misuse that test-coro.c does not cover aborts with a
 * message that names the call and the coroutine, instead of corrupting a
 * stack: resuming, resetting or releasing a coroutine that is on the call
 * stack of resumers (itself, or one that resumed it), on private and shared
 * stacks; yielding on main once the environment exists; resuming a
 * finished shared-stack coroutine.
 *
 * (Releasing the main context is not possible through the API: co_self()
 * is NULL there and co_release(NULL) does nothing.)
 */
#define _GNU_SOURCE
#include <stdint.h>

#include "coro/coro.h"
#include "tests/unit/tap.h"

static struct co *first, *second;

enum action { RESUME, RESET, RELEASE };

static void act(enum action what, struct co *co)
{
	switch (what) {
	case RESUME:
		co_resume(co);
		break;
	case RESET:
		co_reset(co);
		break;
	case RELEASE:
		co_release(co);
		break;
	}
}

/* Does `what` to its own resumer. */
static void *on_resumer(void *arg)
{
	act((enum action)(intptr_t)arg, first);
	return NULL;
}

/* Resumes second, which does `what` to this one. */
static void *resume_second(void *arg)
{
	(void)arg;
	co_resume(second);
	return NULL;
}

/* Does `what` to itself. */
static void *on_self(void *arg)
{
	act((enum action)(intptr_t)arg, co_self());
	return NULL;
}

static void chain(enum action what, struct co_sharestack *pool)
{
	struct co_attr attr = { 0, pool };

	ASSERT_EQ(co_create(&first, &attr, resume_second, NULL), 0);
	ASSERT_EQ(co_set_name(first, "first"), 0);
	ASSERT_EQ(co_create(&second, &attr, on_resumer, (void *)(intptr_t)what), 0);
	co_resume(first);
}

static void self(enum action what)
{
	struct co *co;

	ASSERT_EQ(co_create(&co, NULL, on_self, (void *)(intptr_t)what), 0);
	ASSERT_EQ(co_set_name(co, "narcissus"), 0);
	co_resume(co);
}

TEST_DEATH(resume_own_resumer_aborts, SIGABRT, "co_resume: coroutine")
{
	chain(RESUME, NULL);
}

TEST_DEATH(resume_own_resumer_names_it, SIGABRT, "(\"first\") is running")
{
	chain(RESUME, NULL);
}

/* On one shared stack the resumer is also swapped out: still refused. */
TEST_DEATH(resume_own_resumer_shared_stack_aborts, SIGABRT, "(\"first\") is running")
{
	struct co_sharestack *pool = co_alloc_sharestack(1, 32 * 1024);

	ASSERT(pool);
	chain(RESUME, pool);
}

TEST_DEATH(resume_self_aborts, SIGABRT, "co_resume: coroutine")
{
	self(RESUME);
}

TEST_DEATH(reset_self_aborts, SIGABRT, "co_reset: coroutine")
{
	self(RESET);
}

TEST_DEATH(reset_own_resumer_aborts, SIGABRT, "co_reset: coroutine")
{
	chain(RESET, NULL);
}

TEST_DEATH(reset_own_resumer_shared_stack_aborts, SIGABRT, "co_reset: coroutine")
{
	struct co_sharestack *pool = co_alloc_sharestack(1, 32 * 1024);

	ASSERT(pool);
	chain(RESET, pool);
}

TEST_DEATH(release_own_resumer_aborts, SIGABRT, "co_release: coroutine")
{
	chain(RELEASE, NULL);
}

TEST_DEATH(release_own_resumer_shared_stack_aborts, SIGABRT, "co_release: coroutine")
{
	struct co_sharestack *pool = co_alloc_sharestack(1, 32 * 1024);

	ASSERT(pool);
	chain(RELEASE, pool);
}

static void *yield_once(void *arg)
{
	co_yield_ct();
	return arg;
}

/* test-coro.c yields on a thread without an environment; here it exists. */
TEST_DEATH(yield_on_main_after_setup_aborts, SIGABRT, "outside a coroutine")
{
	struct co *co;

	ASSERT_EQ(co_create(&co, NULL, yield_once, NULL), 0);
	co_resume(co);
	co_yield_ct();
}

TEST_DEATH(yield_via_libco_name_on_main_aborts, SIGABRT, "outside a coroutine")
{
	struct co *co;

	ASSERT_EQ(co_create(&co, NULL, yield_once, NULL), 0);
	co_yield(co);
}

TEST_DEATH(resume_finished_shared_aborts, SIGABRT, "has finished")
{
	struct co_sharestack *pool = co_alloc_sharestack(1, 32 * 1024);
	struct co_attr attr = { 0, pool };
	struct co *co;

	ASSERT(pool);
	ASSERT_EQ(co_create(&co, &attr, yield_once, NULL), 0);
	co_resume(co);
	co_resume(co);
	ASSERT(co_is_dead(co));
	co_resume(co);
}

/* None of the refused calls above happens by mistake on legitimate use. */
TEST(legitimate_neighbours_pass)
{
	struct co *co;

	ASSERT_EQ(co_create(&co, NULL, yield_once, NULL), 0);
	co_reset(co);         /* never started */
	co_resume(co);
	co_reset(co);         /* suspended */
	co_resume(co);
	co_resume(co);
	ASSERT(co_is_dead(co));
	co_reset(co);         /* finished */
	ASSERT(!co_is_dead(co));
	co_release(co);       /* suspended, never resumed since the reset */
	co_release(NULL);
}
