/* SPDX-License-Identifier: MIT */
/*
 * test-many.c: scale. 10,000 coroutines nested, each resumed by the one
 * before (libco stops at 128), all suspended at once and then unwound;
 * more shared-stack coroutines alive at once than private stacks could
 * ever be (the kernel's mapping limit stops those near 32,000); and
 * co_switch_count counting every resume, yield and return.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>

#include "coro/coro.h"
#include "tests/unit/tap.h"

#define DEPTH 10000

static struct co *level_co[DEPTH];
static unsigned deepest;

/*
 * Level d creates level d + 1 and resumes it; the deepest yields, and every
 * level yields in turn, so main gets control back with all of them
 * suspended. Resumed again, each resumes its child, which returns; then it
 * releases the child and returns itself.
 */
static void *level_fn(void *arg)
{
	unsigned d = (unsigned)(uintptr_t)arg;
	struct co_attr attr = { 16 * 1024, NULL };
	struct co *me = co_self();

	ASSERT_PTR_EQ(me, level_co[d]);
	if (d + 1 < DEPTH) {
		ASSERT_EQ(co_create(&level_co[d + 1], &attr, level_fn, (void *)(uintptr_t)(d + 1)), 0);
		co_resume(level_co[d + 1]);
		ASSERT_PTR_EQ(co_self(), me);
		ASSERT(!co_is_dead(level_co[d + 1]));
	} else {
		deepest = d;
	}
	co_yield_ct();
	ASSERT_PTR_EQ(co_self(), me);
	if (d + 1 < DEPTH) {
		co_resume(level_co[d + 1]);
		ASSERT_PTR_EQ(co_self(), me);
		ASSERT(co_is_dead(level_co[d + 1]));
		co_release(level_co[d + 1]);
		level_co[d + 1] = NULL;
	}
	return NULL;
}

TEST(ten_thousand_levels)
{
	struct co_attr attr = { 16 * 1024, NULL };
	unsigned long long c0;

	c0 = co_switch_count();
	ASSERT_EQ(co_create(&level_co[0], &attr, level_fn, (void *)0), 0);
	/* Down: DEPTH resumes; up: DEPTH yields. */
	co_resume(level_co[0]);
	ASSERT_EQ(deepest, DEPTH - 1);
	ASSERT_EQ(co_switch_count() - c0, 2 * DEPTH);
	for (unsigned d = 0; d < DEPTH; d++) {
		ASSERT(level_co[d] != NULL);
		ASSERT(!co_is_dead(level_co[d]));
	}
	/* Down again: DEPTH resumes; up: DEPTH returns. */
	co_resume(level_co[0]);
	ASSERT(co_is_dead(level_co[0]));
	ASSERT_EQ(co_switch_count() - c0, 4 * DEPTH);
	for (unsigned d = 1; d < DEPTH; d++)
		ASSERT_PTR_EQ(level_co[d], NULL);
	co_release(level_co[0]);
	ASSERT_PTR_EQ(co_self(), NULL);
}

/* ---- more coroutines than private stacks could hold --------------------- */

#define SHARED_MANY 40000

static struct co *parked[SHARED_MANY];

static void *park(void *arg)
{
	volatile uintptr_t mine = (uintptr_t)arg;
	char buf[64];

	for (unsigned i = 0; i < sizeof buf; i++)
		buf[i] = (char)(mine + i);
	__asm__ volatile("" : : "r"(buf) : "memory");
	co_yield_ct();
	for (unsigned i = 0; i < sizeof buf; i++)
		ASSERT_EQ(buf[i], (char)(mine + i));
	ASSERT_EQ(mine, (uintptr_t)arg);
	return NULL;
}

TEST(forty_thousand_on_shared_stacks)
{
	struct co_sharestack *pool = co_alloc_sharestack(4, 32 * 1024);
	struct co_attr attr = { 0, pool };

	ASSERT(pool);
	for (uintptr_t i = 0; i < SHARED_MANY; i++) {
		ASSERT_EQ(co_create(&parked[i], &attr, park, (void *)(i * 3)), 0);
		co_resume(parked[i]);
	}
	/* All 40,000 alive; now in another order than they were made. */
	for (uintptr_t i = 0; i < SHARED_MANY; i++) {
		struct co *co = parked[(i * 7919) % SHARED_MANY];

		ASSERT(!co_is_dead(co));
		co_resume(co);
		ASSERT(co_is_dead(co));
	}
	for (uintptr_t i = 0; i < SHARED_MANY; i++)
		co_release(parked[i]);
	co_free_sharestack(pool);
}

/* ---- co_switch_count ---------------------------------------------------- */

static unsigned long long seen[4];

static void *count_inside(void *arg)
{
	(void)arg;
	seen[0] = co_switch_count();
	co_yield_ct();
	seen[1] = co_switch_count();
	return NULL;
}

/* From main: a resume and its yield, a resume and its return. */
TEST(switch_count_from_main)
{
	struct co_sharestack *pool = co_alloc_sharestack(1, 32 * 1024);
	struct co_attr shared = { 0, pool };
	struct co *a, *b;
	unsigned long long c0;

	ASSERT(pool);
	c0 = co_switch_count();
	ASSERT_EQ(co_create(&a, NULL, count_inside, NULL), 0);
	ASSERT_EQ(co_create(&b, &shared, count_inside, NULL), 0);
	ASSERT_EQ(co_switch_count(), c0); /* creating switches nothing */
	co_resume(a);
	ASSERT_EQ(co_switch_count(), c0 + 2);
	co_resume(b);  /* the copy helper's switches are not the program's */
	ASSERT_EQ(co_switch_count(), c0 + 4);
	co_resume(a);
	co_resume(b);
	ASSERT_EQ(co_switch_count(), c0 + 8);
	ASSERT(co_is_dead(a) && co_is_dead(b));
	co_release(a);
	co_release(b);
	co_free_sharestack(pool);
}

/*
 * Read inside a coroutine, the count already includes the switch back out
 * of it: coro.h counts two per co_resume, at the resume (one counter
 * increment on the resume path, none on the yield path).
 */
TEST(switch_count_seen_from_inside)
{
	struct co *co;
	unsigned long long c0;

	c0 = co_switch_count();
	ASSERT_EQ(co_create(&co, NULL, count_inside, NULL), 0);
	co_resume(co);
	ASSERT_EQ(co_switch_count(), c0 + 2);
	co_resume(co);
	ASSERT_EQ(co_switch_count(), c0 + 4);
	ASSERT_EQ(seen[0], c0 + 2);
	ASSERT_EQ(seen[1], c0 + 4);
	co_release(co);
}
