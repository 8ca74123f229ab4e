/* SPDX-License-Identifier: MIT */
/*
 * test-compat-specific.cpp: CO_ROUTINE_SPECIFIC as libco programs use it
 * (libco's example_specific.cpp is the model): a global declared with the
 * macro, read and written through -> from several coroutines that take
 * turns in the event loop; each finds its own object, zero-initialised on
 * first use, and the main context has one of its own. Objects of released
 * coroutines are deleted, and a thread's main-context object at thread
 * exit.
 *
 * Built by the unit tests and, against the installed headers and
 * library, by tests/bats/libcoro-install.bats.
 */
#include "co_routine.h"
#include "co_routine_specific.h"

#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tests/unit/tap.h"

struct stRoutineArgs_t {
	stCoRoutine_t *co;
	int routine_id;
	int zero_at_start; /* its object was all zero on first use */
	int kept;          /* its object held its values across every wait */
	void *seen;        /* the object's address */
};

struct stRoutineSpecificData_t {
	int idx;
	int rounds;
	char name[32];
	long pad[8];
};

CO_ROUTINE_SPECIFIC(stRoutineSpecificData_t, __routine);

static int AllZero(const void *p, size_t len)
{
	const unsigned char *b = (const unsigned char *)p;

	for (size_t i = 0; i < len; i++)
		if (b[i])
			return 0;
	return 1;
}

static int g_finished, g_routines;

static void *RoutineFunc(void *arg)
{
	co_enable_hook_sys();

	stRoutineArgs_t *routine_args = (stRoutineArgs_t *)arg;

	routine_args->seen = __routine.operator->();
	routine_args->zero_at_start = AllZero(routine_args->seen, sizeof(stRoutineSpecificData_t));
	__routine->idx = routine_args->routine_id;
	snprintf(__routine->name, sizeof __routine->name, "routine %d", routine_args->routine_id);
	routine_args->kept = 1;
	for (int i = 0; i < 5; i++) {
		/* Sleep in the loop, each for its own time: the others run meanwhile. */
		poll(NULL, 0, 1 + routine_args->routine_id % 4);
		char want[32];

		snprintf(want, sizeof want, "routine %d", routine_args->routine_id);
		if (__routine->idx != routine_args->routine_id || strcmp(__routine->name, want) != 0 ||
		    __routine->rounds != i || (void *)__routine.operator->() != routine_args->seen)
			routine_args->kept = 0;
		__routine->rounds++;
	}
	g_finished++;
	return NULL;
}

static int AllFinished(void *)
{
	return g_finished == g_routines ? -1 : 0;
}

static void Run(stShareStack_t *share)
{
	enum { N = 10 };
	stRoutineArgs_t args[N];
	stCoRoutineAttr_t attr;

	attr.share_stack = share;
	g_finished = 0;
	g_routines = N;
	memset(args, 0, sizeof args);
	for (int i = 0; i < N; i++) {
		args[i].routine_id = i;
		ASSERT_EQ(co_create(&args[i].co, &attr, RoutineFunc, &args[i]), 0);
		co_resume(args[i].co);
	}
	co_eventloop(co_get_epoll_ct(), AllFinished, NULL);
	for (int i = 0; i < N; i++) {
		ASSERT_EQ(args[i].zero_at_start, 1);
		ASSERT_EQ(args[i].kept, 1);
		ASSERT(args[i].seen != NULL);
		for (int j = 0; j < i; j++)
			ASSERT(args[i].seen != args[j].seen);
		co_release(args[i].co);
	}
}

TEST(each_coroutine_has_its_own_zeroed_object)
{
	/* The main context's own, first. */
	stRoutineSpecificData_t *mine = __routine.operator->();

	ASSERT(mine);
	ASSERT(AllZero(mine, sizeof *mine));
	__routine->idx = 99;
	Run(NULL);
	ASSERT_PTR_EQ(__routine.operator->(), mine);
	ASSERT_EQ(__routine->idx, 99);
	ASSERT_EQ(__routine->rounds, 0);
}

/* libco has no call that frees a pool: the program keeps it. */
/* Not static: a store to a static never read would be dropped, and the pool reported leaked. */
stShareStack_t *g_share;

TEST(on_shared_stacks_too)
{
	g_share = co_alloc_sharestack(2, 128 * 1024);
	ASSERT(g_share);
	Run(g_share);
}

/* ---- threads ---------------------------------------------------------------- */

static void *ThreadMain(void *arg)
{
	stRoutineSpecificData_t *p = __routine.operator->();

	*(int *)arg = p && AllZero(p, sizeof *p) && p != arg;
	if (p)
		p->idx = 7;
	return p;
}

TEST(each_thread_main_context_has_its_own)
{
	pthread_t t;
	int zero = 0;
	void *theirs;

	__routine->idx = 1;
	ASSERT_EQ(pthread_create(&t, NULL, ThreadMain, &zero), 0);
	ASSERT_EQ(pthread_join(t, &theirs), 0);
	ASSERT_EQ(zero, 1);
	ASSERT(theirs != __routine.operator->());
	ASSERT_EQ(__routine->idx, 1);
}

/* ---- construction and deletion ------------------------------------------------ */

static int g_live; /* stCounted_t objects alive (atomic: threads make them too) */

struct stCounted_t {
	stCounted_t() : magic(0x5eed), value(0) { __atomic_add_fetch(&g_live, 1, __ATOMIC_SEQ_CST); }
	~stCounted_t() { __atomic_sub_fetch(&g_live, 1, __ATOMIC_SEQ_CST); }
	int magic;
	int value;
};

CO_ROUTINE_SPECIFIC(stCounted_t, g_counted);
/* A second variable of the same type is a second object per coroutine. */
CO_ROUTINE_SPECIFIC(stCounted_t, g_counted_too);

static void *UseCounted(void *arg)
{
	int ok = g_counted->magic == 0x5eed && g_counted->value == 0 &&
		 g_counted_too->value == 0 && g_counted.operator->() != g_counted_too.operator->();

	g_counted->value = 1;
	g_counted_too->value = 2;
	co_yield_ct();
	*(int *)arg = ok && g_counted->value == 1 && g_counted_too->value == 2;
	return NULL;
}

TEST(objects_are_constructed_and_deleted_with_their_coroutine)
{
	enum { N = 6 };
	stCoRoutine_t *co[N];
	int ok[N];

	for (int i = 0; i < N; i++) {
		ok[i] = 0;
		ASSERT_EQ(co_create(&co[i], NULL, UseCounted, &ok[i]), 0);
		co_resume(co[i]);
	}
	ASSERT_EQ(g_live, 2 * N);
	for (int i = 0; i < N; i++)
		co_resume(co[i]);
	ASSERT_EQ(g_live, 2 * N); /* finished, not yet released */
	for (int i = 0; i < N; i++) {
		ASSERT_EQ(ok[i], 1);
		co_release(co[i]);
		ASSERT_EQ(g_live, 2 * (N - 1 - i));
	}
}

static void *ThreadCounted(void *)
{
	g_counted->value = 5;
	return NULL;
}

TEST(a_threads_object_is_deleted_when_it_exits)
{
	pthread_t t;

	ASSERT_EQ(g_live, 0);
	ASSERT_EQ(pthread_create(&t, NULL, ThreadCounted, NULL), 0);
	ASSERT_EQ(pthread_join(t, NULL), 0);
	ASSERT_EQ(g_live, 0);
}
