/* SPDX-License-Identifier: MIT */
/*
 * test-compat-c.c: a libco program written in C builds and runs against
 * co_routine.h: libco's type names (stCoRoutine_t, stCoRoutineAttr_t with
 * stack_size and share_stack, stShareStack_t, pfn_co_routine_t, and the
 * event loop's types), libco's call signatures, co_yield(co) naming the
 * coroutine, and co_self()/co_get_current() from inside.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stddef.h>

#include "coro/co_routine.h"
#include "tests/unit/tap.h"

/* The event loop's types exist and are distinct pointer types. */
static stCoEpoll_t *no_epoll;
static stCoCond_t *no_cond;
static pfn_co_eventloop_t no_loop;

struct task {
	stCoRoutine_t *co;
	int id;
	int steps;
	int *log;       /* shared: the order in which steps ran */
	int *log_len;
};

static void *routine(void *arg)
{
	struct task *t = arg;

	if (co_self() != t->co || co_get_current() != t->co)
		return NULL;
	for (;;) {
		t->log[(*t->log_len)++] = t->id;
		t->steps++;
		co_yield(t->co);
	}
	return NULL;
}

static void run(stCoRoutineAttr_t *attr)
{
	struct task tasks[4];
	int log[64], log_len = 0;
	pfn_co_routine_t fn = routine;

	for (int i = 0; i < 4; i++) {
		tasks[i].id = i;
		tasks[i].steps = 0;
		tasks[i].log = log;
		tasks[i].log_len = &log_len;
		ASSERT_EQ(co_create(&tasks[i].co, attr, fn, &tasks[i]), 0);
	}
	for (int round = 0; round < 10; round++)
		for (int i = 0; i < 4; i++)
			co_resume(tasks[i].co);
	ASSERT_EQ(log_len, 40);
	for (int i = 0; i < 40; i++)
		ASSERT_EQ(log[i], i % 4);
	for (int i = 0; i < 4; i++) {
		ASSERT_EQ(tasks[i].steps, 10);
		ASSERT(!co_is_dead(tasks[i].co));
		co_release(tasks[i].co);
	}
}

TEST(libco_program_private_stacks)
{
	stCoRoutineAttr_t attr;

	/* In C the attribute is a plain struct: the program fills it in, as with libco. */
	attr.stack_size = 64 * 1024;
	attr.share_stack = NULL;
	run(&attr);
	ASSERT_PTR_EQ(no_epoll, NULL);
	ASSERT_PTR_EQ(no_cond, NULL);
	ASSERT(no_loop == NULL);
}

TEST(libco_program_shared_stacks)
{
	stShareStack_t *share = co_alloc_sharestack(2, 64 * 1024);
	stCoRoutineAttr_t attr = { 0 };

	ASSERT(share);
	attr.stack_size = 128 * 1024;
	attr.share_stack = share;
	run(&attr);
	co_free_sharestack(share);
}

TEST(libco_program_default_attr)
{
	run(NULL);
	ASSERT_PTR_EQ(co_self(), NULL);
	ASSERT(co_is_main());
}

static pthread_key_t key;

static void *specific_routine(void *arg)
{
	co_setspecific(key, arg);
	co_yield_ct();
	if (co_getspecific(key) != arg)
		return NULL;
	*(int *)arg = 1;
	return NULL;
}

TEST(libco_specific)
{
	stCoRoutine_t *a, *b;
	int x = 0, y = 0;

	ASSERT_EQ(pthread_key_create(&key, NULL), 0);
	ASSERT_EQ(co_create(&a, NULL, specific_routine, &x), 0);
	ASSERT_EQ(co_create(&b, NULL, specific_routine, &y), 0);
	co_resume(a);
	co_resume(b);
	ASSERT_PTR_EQ(co_getspecific(key), NULL);
	co_resume(a);
	co_resume(b);
	ASSERT(co_is_dead(a) && co_is_dead(b));
	ASSERT_EQ(x, 1);
	ASSERT_EQ(y, 1);
	co_release(a);
	co_release(b);
}
