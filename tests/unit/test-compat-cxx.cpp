/* SPDX-License-Identifier: MIT */
/*
 * test-compat-cxx.cpp: a libco program, compiled as C++, builds and runs
 * against co_routine.h included alone: libco's type names, default
 * attributes from the constructor, the attribute's layout, and libco's
 * call signatures.
 */
#include <errno.h>
#include <pthread.h>
#include <stddef.h>

#include "coro/co_routine.h"
#include "tests/unit/tap.h"

/* Laid out as struct co_attr, which the library reads it as. */
static_assert(offsetof(stCoRoutineAttr_t, stack_size) == 0, "stack_size first");
static_assert(offsetof(stCoRoutineAttr_t, share_stack) == sizeof(void *), "share_stack aligned");
static_assert(sizeof(stCoRoutineAttr_t) == 2 * sizeof(void *), "no more than the two fields");

namespace {

struct task {
	stCoRoutine_t *co;
	int steps;
};

void *routine(void *arg)
{
	task *t = static_cast<task *>(arg);

	for (;;) {
		t->steps++;
		co_yield(t->co);
	}
	return 0;
}

}

/* Not static: a store to a static never read would be dropped, and the pool reported leaked. */
stShareStack_t *kept_share;

TEST(libco_style_program)
{
	stCoRoutineAttr_t attr;

	ASSERT_EQ(attr.stack_size, 128 * 1024);
	ASSERT_PTR_EQ(attr.share_stack, 0);

	stShareStack_t *share = co_alloc_sharestack(2, 64 * 1024);
	ASSERT(share);
	attr.share_stack = share;

	task tasks[4];
	for (int i = 0; i < 4; i++) {
		tasks[i].steps = 0;
		pfn_co_routine_t fn = routine;
		ASSERT_EQ(co_create(&tasks[i].co, &attr, fn, &tasks[i]), 0);
	}
	for (int round = 0; round < 10; round++)
		for (int i = 0; i < 4; i++)
			co_resume(tasks[i].co);
	for (int i = 0; i < 4; i++) {
		ASSERT_EQ(tasks[i].steps, 10);
		co_release(tasks[i].co);
	}
	/* libco has no call that frees a pool: the program keeps it. */
	kept_share = share;
}

static pthread_key_t key;
static int finished;

void *specific_routine(void *arg)
{
	co_setspecific(key, arg);
	co_yield_ct();
	ASSERT_PTR_EQ(co_getspecific(key), arg);
	finished++;
	return 0;
}

TEST(libco_specific_and_self)
{
	stCoRoutine_t *a, *b;
	int x, y;

	ASSERT_EQ(pthread_key_create(&key, 0), 0);
	ASSERT_EQ(co_create(&a, 0, specific_routine, &x), 0);
	ASSERT_EQ(co_create(&b, 0, specific_routine, &y), 0);
	co_resume(a);
	co_resume(b);
	ASSERT_PTR_EQ(co_getspecific(key), 0);
	co_resume(a);
	co_resume(b);
	ASSERT_EQ(finished, 2);
	ASSERT_PTR_EQ(co_self(), 0);
	co_release(a);
	co_release(b);
}

/* libco's event-loop side, spelt as a libco program spells it. */
namespace {

stCoCond_t *cond;
int woken;

void *waiter(void *)
{
	co_enable_hook_sys();
	if (co_cond_timedwait(cond, 5000) == 0)
		woken++;
	return 0;
}

void *signaller(void *)
{
	co_enable_hook_sys();
	struct pollfd none;
	co_poll(co_get_epoll_ct(), &none, 0, 30); /* sleep 30 ms in the loop */
	co_cond_broadcast(cond);
	return 0;
}

int until_done(void *)
{
	return woken == 2 ? -1 : 0;
}

}

TEST(libco_eventloop_poll_and_cond)
{
	stCoRoutine_t *w1, *w2, *s;
	pfn_co_eventloop_t fn = until_done;

	cond = co_cond_alloc();
	ASSERT(cond);
	ASSERT_EQ(co_create(&w1, 0, waiter, 0), 0);
	ASSERT_EQ(co_create(&w2, 0, waiter, 0), 0);
	ASSERT_EQ(co_create(&s, 0, signaller, 0), 0);
	co_resume(w1);
	co_resume(w2);
	co_resume(s);
	stCoEpoll_t *ep = co_get_epoll_ct();
	co_eventloop(ep, fn, 0);
	ASSERT_EQ(woken, 2);
	ASSERT_EQ(co_cond_free(cond), 0);
	co_release(w1);
	co_release(w2);
	co_release(s);
}
