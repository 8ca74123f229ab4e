/* SPDX-License-Identifier: MIT */
/*
 * test-sharestack.c: shared (copy) stacks. Many coroutines on few stacks
 * keep their frames intact across random interleavings, nested resumes on
 * the same stack, coroutines finishing, being reset and released while
 * others are swapped out; a parked coroutine costs the bytes it uses, not
 * the whole stack; a pool cannot be freed under its users.
 *
 * Frames hold buffers filled with a pattern derived from (coroutine, depth,
 * round) and their checksum; every frame checks its buffer after every
 * switch that may have swapped it out and back in. All randomness comes
 * from a fixed-seed generator, so a failure repeats.
 */
#define _GNU_SOURCE
#include <alloca.h>
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>

#include "coro/coro.h"
#include "tests/unit/tap.h"

#if defined(__SANITIZE_ADDRESS__)
/* From the sanitizer runtime (GCC ships no allocator_interface.h). */
size_t __sanitizer_get_current_allocated_bytes(void);
#elif __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define HAVE_MEMCHECK 1
#endif

static uint64_t rng = 0x243f6a8885a308d3ull;

static unsigned next_rand(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng % n);
}

static uint8_t pattern(unsigned id, unsigned depth, unsigned round, size_t i)
{
	uint64_t x = ((uint64_t)id << 48) ^ ((uint64_t)depth << 32) ^ ((uint64_t)round << 20) ^ i;

	x *= 0x9e3779b97f4a7c15ull;
	return (uint8_t)(x >> 56);
}

/* Fills buf with (id, depth, round)'s pattern; returns the checksum. */
static uint32_t fill(volatile uint8_t *buf, size_t len, unsigned id, unsigned depth,
		     unsigned round)
{
	uint32_t sum = 0;

	for (size_t i = 0; i < len; i++) {
		buf[i] = pattern(id, depth, round, i);
		sum = sum * 31 + buf[i];
	}
	return sum;
}

static void verify(const volatile uint8_t *buf, size_t len, uint32_t want, unsigned id,
		   unsigned depth, unsigned round)
{
	uint32_t sum = 0;

	for (size_t i = 0; i < len; i++)
		sum = sum * 31 + buf[i];
	if (sum == want)
		return;
	for (size_t i = 0; i < len; i++)
		if (buf[i] != pattern(id, depth, round, i)) {
			fprintf(stderr, "# coroutine %u, depth %u, round %u: byte %zu of %zu"
				" is %#x, not %#x\n", id, depth, round, i, len, buf[i],
				pattern(id, depth, round, i));
			break;
		}
	ASSERT_UEQ(sum, want);
}

/* ---- many coroutines, few stacks, random interleaving ------------------- */

#define NCO 50
#define ROUNDS 4
#define MAX_DEPTH 24
#define MAX_NESTING 4

struct sc {
	struct co *co;
	unsigned id;
	int on_stack; /* resumed and not back yet */
};

static struct sc scs[NCO];
static unsigned nesting;
static unsigned long nested_resumes;

static void resume_tracked(struct sc *s)
{
	s->on_stack = 1;
	co_resume(s->co);
	s->on_stack = 0;
}

/* Yields, or resumes another coroutine (nested, often on the same stack), or neither. */
static void maybe_switch(struct sc *me)
{
	unsigned r = next_rand(8);

	if (r < 3) {
		co_yield_ct();
	} else if (r == 3 && nesting < MAX_NESTING) {
		struct sc *other = &scs[next_rand(NCO)];

		if (other != me && !other->on_stack && !co_is_dead(other->co)) {
			nesting++;
			nested_resumes++;
			resume_tracked(other);
			nesting--;
		}
	}
}

static void descend(struct sc *me, unsigned depth, unsigned target, unsigned round)
{
	volatile uint8_t buf[96];
	size_t extra_len = 1 + (me->id * 37 + depth * 101) % 400;
	volatile uint8_t *extra = alloca(extra_len);
	uint32_t sum = fill(buf, sizeof buf, me->id, depth, round);
	uint32_t extra_sum = fill(extra, extra_len, me->id, depth + 1000, round);

	maybe_switch(me);
	verify(buf, sizeof buf, sum, me->id, depth, round);
	if (depth < target)
		descend(me, depth + 1, target, round);
	else
		co_yield_ct();
	verify(extra, extra_len, extra_sum, me->id, depth + 1000, round);
	maybe_switch(me);
	verify(buf, sizeof buf, sum, me->id, depth, round);
	verify(extra, extra_len, extra_sum, me->id, depth + 1000, round);
}

static void *random_worker(void *arg)
{
	struct sc *me = arg;

	for (unsigned round = 0; round < ROUNDS; round++)
		descend(me, 1, 1 + next_rand(MAX_DEPTH), round);
	return NULL;
}

/* Coroutine i runs on a private stack when private_every divides i + 1. */
static void run_random(int nstacks, int stack_size, int private_every)
{
	struct co_sharestack *pool = co_alloc_sharestack(nstacks, stack_size);
	unsigned live = NCO;

	ASSERT(pool);
	for (unsigned i = 0; i < NCO; i++) {
		int priv = private_every && (i + 1) % (unsigned)private_every == 0;
		struct co_attr attr = { 32 * 1024, priv ? NULL : pool };

		scs[i].id = i;
		scs[i].on_stack = 0;
		ASSERT_EQ(co_create(&scs[i].co, &attr, random_worker, &scs[i]), 0);
		if (!priv)
			ASSERT_EQ(co_stack_size(scs[i].co), stack_size);
	}
	while (live > 0) {
		struct sc *s = &scs[next_rand(NCO)];

		if (co_is_dead(s->co))
			continue;
		resume_tracked(s);
		live = 0;
		for (unsigned i = 0; i < NCO; i++)
			live += !co_is_dead(scs[i].co);
	}
	/* The nested path must have been exercised, or the test is weaker than it says. */
	ASSERT_GT(nested_resumes, 20);
	for (unsigned i = 0; i < NCO; i++)
		co_release(scs[i].co);
	co_free_sharestack(pool);
}

TEST(fifty_coroutines_three_stacks)
{
	run_random(3, 64 * 1024, 0);
}

TEST(fifty_coroutines_one_stack)
{
	run_random(1, 64 * 1024, 0);
}

/* Every fourth coroutine on a private stack: switches between both kinds. */
TEST(shared_and_private_mixed)
{
	run_random(2, 64 * 1024, 4);
}

/* ---- nested resumes on one stack ---------------------------------------- */

#define LEVELS 3
#define NEST_ROUNDS 20

static struct co *levels[LEVELS];

/*
 * Level i resumes level i + 1 from the middle of its frame; all levels share
 * one stack, so each resume and yield swaps the stack's contents. After its
 * rounds each level resumes its child once more, so the deepest finishes
 * first while the others are swapped out, then the next, and so on.
 */
static void *level_fn(void *arg)
{
	unsigned level = (unsigned)(uintptr_t)arg;

	for (unsigned round = 0; round < NEST_ROUNDS; round++) {
		volatile uint8_t buf[2048];
		uint32_t sum = fill(buf, sizeof buf, level, 0, round);

		if (level + 1 < LEVELS)
			co_resume(levels[level + 1]);
		verify(buf, sizeof buf, sum, level, 0, round);
		co_yield_ct();
		verify(buf, sizeof buf, sum, level, 0, round);
	}
	if (level + 1 < LEVELS) {
		co_resume(levels[level + 1]);
		ASSERT(co_is_dead(levels[level + 1]));
	}
	return NULL;
}

TEST(nested_on_one_stack)
{
	struct co_sharestack *pool = co_alloc_sharestack(1, 64 * 1024);
	struct co_attr attr = { 0, pool };

	ASSERT(pool);
	for (unsigned i = 0; i < LEVELS; i++)
		ASSERT_EQ(co_create(&levels[i], &attr, level_fn, (void *)(uintptr_t)i), 0);
	for (unsigned round = 0; round < NEST_ROUNDS; round++) {
		co_resume(levels[0]);
		for (unsigned i = 0; i < LEVELS; i++)
			ASSERT(!co_is_dead(levels[i]));
	}
	co_resume(levels[0]);
	for (unsigned i = 0; i < LEVELS; i++) {
		ASSERT(co_is_dead(levels[i]));
		co_release(levels[i]);
	}
	co_free_sharestack(pool);
}

/* ---- finishing, reset and release while swapped out --------------------- */

static int starts;

/* Fills a frame, yields `yields` times checking it, returns. */
static void *holder(void *arg)
{
	unsigned yields = (unsigned)(uintptr_t)arg;
	volatile uint8_t buf[4096];
	uint32_t sum = fill(buf, sizeof buf, yields, 7, (unsigned)starts);
	unsigned round = (unsigned)starts;

	starts++;
	for (unsigned i = 0; i < yields; i++) {
		co_yield_ct();
		verify(buf, sizeof buf, sum, yields, 7, round);
	}
	return NULL;
}

TEST(finish_while_others_swapped_out)
{
	struct co_sharestack *pool = co_alloc_sharestack(1, 32 * 1024);
	struct co_attr attr = { 0, pool };
	struct co *a, *b, *c, *d;

	ASSERT(pool);
	ASSERT_EQ(co_create(&a, &attr, holder, (void *)3), 0);
	ASSERT_EQ(co_create(&b, &attr, holder, (void *)1), 0);
	ASSERT_EQ(co_create(&c, &attr, holder, (void *)0), 0);
	co_resume(a);      /* a occupies the stack */
	co_resume(b);      /* a swapped out */
	co_resume(c);      /* b swapped out; c finishes on the stack */
	ASSERT(co_is_dead(c));
	co_resume(b);      /* b back; it finishes */
	ASSERT(co_is_dead(b));
	co_resume(a);      /* a back, checks its frame */
	ASSERT(!co_is_dead(a));
	ASSERT_EQ(co_create(&d, &attr, holder, (void *)0), 0);
	co_resume(d);      /* a new one runs and finishes while a is swapped out */
	ASSERT(co_is_dead(d));
	co_resume(a);
	co_resume(a);
	ASSERT(co_is_dead(a));
	co_release(a);
	co_release(b);
	co_release(c);
	co_release(d);
	co_free_sharestack(pool);
}

TEST(reset_and_release_swapped_out)
{
	struct co_sharestack *pool = co_alloc_sharestack(1, 32 * 1024);
	struct co_attr attr = { 0, pool };
	struct co *a, *b, *c;

	ASSERT(pool);
	starts = 0;
	ASSERT_EQ(co_create(&a, &attr, holder, (void *)5), 0);
	ASSERT_EQ(co_create(&b, &attr, holder, (void *)5), 0);
	ASSERT_EQ(co_create(&c, &attr, holder, (void *)5), 0);
	co_resume(a);
	co_resume(b);        /* a swapped out, its bytes on the heap */
	ASSERT_EQ(starts, 2);

	co_reset(a);         /* reset while swapped out: starts over */
	co_resume(a);        /* b swapped out */
	ASSERT_EQ(starts, 3);
	co_resume(a);        /* a's new frame is intact */

	co_release(b);       /* release while swapped out */
	co_resume(c);        /* a swapped out */
	ASSERT_EQ(starts, 4);
	co_reset(c);         /* reset while it occupies the stack */
	co_resume(c);
	ASSERT_EQ(starts, 5);
	co_resume(a);        /* a back over c's bytes; checks its frame */
	co_release(a);       /* release the occupant */
	co_resume(c);        /* c's saved bytes come back to a stack nobody occupies */
	for (int i = 0; i < 4; i++)
		co_resume(c);
	ASSERT(co_is_dead(c));
	co_release(c);
	/* Every user released: the pool can go. */
	co_free_sharestack(pool);
}

static void *never_started(void *arg)
{
	(void)arg;
	ASSERT(0);
	return NULL;
}

TEST_DEATH(free_pool_with_users_aborts, SIGABRT, "2 coroutines still use the pool")
{
	struct co_sharestack *pool = co_alloc_sharestack(2, 32 * 1024);
	struct co_attr attr = { 0, pool };
	struct co *a, *b, *c;

	ASSERT(pool);
	ASSERT_EQ(co_create(&a, &attr, holder, (void *)2), 0);
	ASSERT_EQ(co_create(&b, &attr, never_started, NULL), 0);
	ASSERT_EQ(co_create(&c, &attr, never_started, NULL), 0);
	co_resume(a);
	co_release(c);
	co_free_sharestack(pool);
}

TEST(alloc_sharestack_invalid)
{
	errno = 0;
	ASSERT_PTR_EQ(co_alloc_sharestack(0, 64 * 1024), NULL);
	ASSERT_EQ(errno, EINVAL);
	errno = 0;
	ASSERT_PTR_EQ(co_alloc_sharestack(-1, 64 * 1024), NULL);
	ASSERT_EQ(errno, EINVAL);
	errno = 0;
	ASSERT_PTR_EQ(co_alloc_sharestack(2, 0), NULL);
	ASSERT_EQ(errno, EINVAL);
	errno = 0;
	ASSERT_PTR_EQ(co_alloc_sharestack(2, -4096), NULL);
	ASSERT_EQ(errno, EINVAL);
	co_free_sharestack(NULL);
}

TEST(pool_stack_size_and_round_robin)
{
	struct co_sharestack *pool = co_alloc_sharestack(3, 40000);
	struct co_attr attr = { 0, pool };
	struct co *cos[6];

	ASSERT(pool);
	for (int i = 0; i < 6; i++) {
		ASSERT_EQ(co_create(&cos[i], &attr, holder, (void *)1), 0);
		/* Rounded up to whole pages. */
		ASSERT_EQ(co_stack_size(cos[i]), 40960);
	}
	/* Three stacks in turn: 0 and 3 share one, 1 and 4 another... */
	for (int i = 0; i < 6; i++)
		co_resume(cos[i]);
	for (int i = 0; i < 6; i++) {
		co_resume(cos[i]);
		ASSERT(co_is_dead(cos[i]));
		co_release(cos[i]);
	}
	co_free_sharestack(pool);
}

/* ---- a parked coroutine costs the bytes it uses ------------------------- */

/* Bytes the program has allocated on the heap, however malloc is provided. */
static size_t heap_in_use(void)
{
#if defined(__SANITIZE_ADDRESS__)
	return __sanitizer_get_current_allocated_bytes();
#else
#if defined(HAVE_MEMCHECK)
	if (RUNNING_ON_VALGRIND) {
		unsigned long leaked = 0, dubious = 0, reachable = 0, suppressed = 0;

		VALGRIND_DO_QUICK_LEAK_CHECK;
		VALGRIND_COUNT_LEAKS(leaked, dubious, reachable, suppressed);
		return leaked + dubious + reachable + suppressed;
	}
#endif
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
#endif
}

#define BIG (100 * 1024)
#define SMALL_COS 20

static void *big_frame(void *arg)
{
	volatile uint8_t buf[BIG];
	uint32_t sum = fill(buf, sizeof buf, 999, 0, 0);

	(void)arg;
	for (int i = 0; i < 10; i++) {
		co_yield_ct();
		verify(buf, sizeof buf, sum, 999, 0, 0);
	}
	return NULL;
}

static void *small_frame(void *arg)
{
	unsigned id = (unsigned)(uintptr_t)arg;
	volatile uint8_t buf[512];
	uint32_t sum = fill(buf, sizeof buf, id, 0, 0);

	for (int i = 0; i < 10; i++) {
		co_yield_ct();
		verify(buf, sizeof buf, sum, id, 0, 0);
	}
	return NULL;
}

/*
 * One 128 KiB stack: a coroutine using 100 KiB of it, and 20 using a little.
 * Parked, they cost the heap about 100 KiB plus a little each; if whole
 * stacks were saved it would be 21 x 128 KiB.
 */
TEST(big_and_small_frames_on_one_stack)
{
	struct co_sharestack *pool = co_alloc_sharestack(1, 128 * 1024);
	struct co_attr attr = { 0, pool };
	struct co *big, *small[SMALL_COS];
	size_t before, parked;

	ASSERT(pool);
	before = heap_in_use();
	ASSERT_EQ(co_create(&big, &attr, big_frame, NULL), 0);
	for (unsigned i = 0; i < SMALL_COS; i++)
		ASSERT_EQ(co_create(&small[i], &attr, small_frame, (void *)(uintptr_t)i), 0);
	for (int round = 0; round < 11; round++) {
		co_resume(big);
		for (unsigned i = 0; i < SMALL_COS; i++)
			co_resume(small[i]);
		if (round == 1) {
			/* Everyone but the last small one is parked on the heap. */
			parked = heap_in_use() - before;
			fprintf(stderr, "# heap for 21 parked coroutines: %zu bytes\n", parked);
			ASSERT_GE(parked, BIG);
			ASSERT_LT(parked, BIG + SMALL_COS * 8 * 1024);
		}
	}
	ASSERT(co_is_dead(big));
	co_release(big);
	for (unsigned i = 0; i < SMALL_COS; i++) {
		ASSERT(co_is_dead(small[i]));
		co_release(small[i]);
	}
	co_free_sharestack(pool);
}

/* ---- overflow of a shared stack ----------------------------------------- */

static volatile int keep_going = 1;

static int recurse(int n)
{
	volatile char pad[512];

	pad[0] = (char)n;
	if (keep_going)
		return recurse(n + 1) + pad[0];
	return pad[0];
}

static void *overflow_fn(void *arg)
{
	return (void *)(intptr_t)recurse((int)(intptr_t)arg);
}

TEST_DEATH(shared_stack_overflow_reported, SIGABRT,
	   "\"shared-deep\" overflowed its 32768-byte shared stack")
{
	struct co_sharestack *pool = co_alloc_sharestack(2, 32 * 1024);
	struct co_attr attr = { 0, pool };
	struct co *other, *co;

	ASSERT(pool);
	ASSERT_EQ(co_create(&other, &attr, holder, (void *)3), 0);
	ASSERT_EQ(co_create(&co, &attr, overflow_fn, NULL), 0);
	ASSERT_EQ(co_set_name(co, "shared-deep"), 0);
	co_resume(other);
	co_resume(co);
}

static void *park_deep(void *arg)
{
	volatile char buf[3000];

	buf[0] = (char)(uintptr_t)arg;
	buf[sizeof buf - 1] = buf[0];
	co_yield_ct();
	return (void *)(uintptr_t)(buf[0] + buf[sizeof buf - 1]);
}

/* co_get_stats counts coroutines, pool stacks and the heap of saved stacks, up and back down. */
TEST(stats_count_coroutines_stacks_and_saved_bytes)
{
	struct co_stats before, mid, after;
	struct co_sharestack *pool;
	struct co *co[3];

	co_get_stats(&before);
	pool = co_alloc_sharestack(2, 64 * 1024);
	ASSERT(pool != NULL);
	for (int i = 0; i < 3; i++) {
		ASSERT_EQ(co_create(&co[i], &(struct co_attr){ 0, pool }, park_deep,
				    (void *)(uintptr_t)i), 0);
		co_resume(co[i]);
	}
	co_get_stats(&mid);
	ASSERT_EQ(mid.coroutines, before.coroutines + 3);
	ASSERT_EQ(mid.sharestacks, before.sharestacks + 2);
	/* 0 and 2 share a stack: 0 was saved when 2 came in (at least its 3000-byte frame). */
	ASSERT_GE(mid.saved_stack_bytes, before.saved_stack_bytes + 3000);
	ASSERT_GT(mid.switches, before.switches);
	for (int i = 0; i < 3; i++) {
		co_resume(co[i]);
		co_release(co[i]);
	}
	co_free_sharestack(pool);
	co_get_stats(&after);
	ASSERT_EQ(after.coroutines, before.coroutines);
	ASSERT_EQ(after.sharestacks, before.sharestacks);
	ASSERT_EQ(after.saved_stack_bytes, before.saved_stack_bytes);
}
