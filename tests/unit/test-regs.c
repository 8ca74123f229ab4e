/* SPDX-License-Identifier: MIT */
/*
 * test-regs.c: every callee-saved register survives a context switch, in
 * both directions (main <-> coroutine, coroutine <-> coroutine), on private
 * and shared stacks, on a coroutine's first entry and on its return.
 *
 * The registers are owned by an assembly helper (regs-$(ARCH).S): it loads
 * a pattern unique to (context, step) into all of them, calls co_resume or
 * co_yield (or a C callback that does), and reports what they hold when the
 * call returns. Meanwhile the other contexts load patterns of their own, so
 * a register the switch forgot to restore comes back holding someone
 * else's value.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>

#include "coro/coro.h"
#include "tests/unit/tap.h"

#if defined(__x86_64__)
#define REGS_N 6
static const char *const reg_names[REGS_N] = { "rbx", "rbp", "r12", "r13", "r14", "r15" };
#elif defined(__aarch64__)
#define REGS_N 19
static const char *const reg_names[REGS_N] = {
	"x19", "x20", "x21", "x22", "x23", "x24", "x25", "x26", "x27", "x28",
	"x29", "d8",  "d9",  "d10", "d11", "d12", "d13", "d14", "d15",
};
#else
#error "test-regs: no register helper for this CPU"
#endif

typedef void regs_fn(void *);

/* regs-$(ARCH).S */
void regs_call(const uint64_t *in, regs_fn *fn, void *arg, uint64_t *out);
void regs_scribble(const uint64_t *vals);

/* co_resume and co_yield take one pointer and return nothing: callable as regs_fn. */
#define AS_REGS_FN(f) ((regs_fn *)(void (*)(void))(f))

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* A pattern for every register, unique to (who, step). */
static void patterns(uint64_t *p, unsigned who, unsigned step)
{
	for (unsigned i = 0; i < REGS_N; i++)
		p[i] = mix(((uint64_t)who << 40) ^ ((uint64_t)step << 8) ^ i);
}

static void check_regs(const uint64_t *want, const uint64_t *got, unsigned who,
		       unsigned step)
{
	for (unsigned i = 0; i < REGS_N; i++) {
		if (want[i] != got[i])
			fprintf(stderr, "# context %u, step %u: %s lost its value\n", who,
				step, reg_names[i]);
		ASSERT_UEQ(got[i], want[i]);
	}
}

/*
 * Calls fn(arg) with the callee-saved registers holding (who, step)'s
 * patterns and checks they still do afterwards.
 */
static void call_checked(unsigned who, unsigned step, regs_fn *fn, void *arg)
{
	uint64_t in[REGS_N], out[REGS_N];

	patterns(in, who, step);
	regs_call(in, fn, arg, out);
	check_regs(in, out, who, step);
}

static void nothing(void *arg)
{
	(void)arg;
}

/* The checker itself: a callee that preserves passes, one that does not fails. */
TEST(helper_detects_lost_registers)
{
	uint64_t in[REGS_N], other[REGS_N], out[REGS_N];

	call_checked(0, 0, nothing, NULL);
	patterns(in, 1, 0);
	patterns(other, 2, 0);
	regs_call(in, AS_REGS_FN(regs_scribble), other, out);
	for (unsigned i = 0; i < REGS_N; i++) {
		ASSERT_UEQ(out[i], other[i]);
		ASSERT(out[i] != in[i]);
	}
}

#define STEPS 200

static void *yielder(void *arg)
{
	unsigned who = (unsigned)(uintptr_t)arg;

	for (unsigned k = 0; k < STEPS; k++)
		call_checked(who, k, AS_REGS_FN(co_yield), NULL);
	return NULL;
}

TEST(main_to_coroutine_and_back)
{
	struct co *a, *b;

	ASSERT_EQ(co_create(&a, NULL, yielder, (void *)1), 0);
	ASSERT_EQ(co_create(&b, NULL, yielder, (void *)2), 0);
	for (unsigned k = 0; k <= STEPS; k++) {
		call_checked(0, 2 * k, AS_REGS_FN(co_resume), a);
		call_checked(0, 2 * k + 1, AS_REGS_FN(co_resume), b);
	}
	ASSERT(co_is_dead(a) && co_is_dead(b));
	co_release(a);
	co_release(b);
}

static struct co *cb_targets[2];

/* A C callback between the helper and the switches, as a program would have. */
static void resume_both(void *arg)
{
	(void)arg;
	co_resume(cb_targets[0]);
	co_resume(cb_targets[1]);
}

TEST(through_c_callback)
{
	ASSERT_EQ(co_create(&cb_targets[0], NULL, yielder, (void *)1), 0);
	ASSERT_EQ(co_create(&cb_targets[1], NULL, yielder, (void *)2), 0);
	for (unsigned k = 0; k <= STEPS; k++)
		call_checked(0, k, resume_both, NULL);
	ASSERT(co_is_dead(cb_targets[0]) && co_is_dead(cb_targets[1]));
	co_release(cb_targets[0]);
	co_release(cb_targets[1]);
}

/*
 * A chain: context 1 resumes 2, which resumes 3, ...; each yields back in
 * turn. Every resume and every yield happens inside call_checked, so each
 * direction of each switch is checked, at every level.
 */
#define CHAIN 5

static struct co *chain[CHAIN];

static void *chain_link(void *arg)
{
	unsigned i = (unsigned)(uintptr_t)arg;

	for (unsigned k = 0; k < STEPS; k++) {
		if (i + 1 < CHAIN)
			call_checked(i + 1, 2 * k, AS_REGS_FN(co_resume), chain[i + 1]);
		call_checked(i + 1, 2 * k + 1, AS_REGS_FN(co_yield), NULL);
	}
	if (i + 1 < CHAIN)
		call_checked(i + 1, 2 * STEPS, AS_REGS_FN(co_resume), chain[i + 1]);
	return NULL;
}

static void run_chain(struct co_sharestack *pool_a, struct co_sharestack *pool_b)
{
	for (unsigned i = 0; i < CHAIN; i++) {
		struct co_attr attr = { 16 * 1024, i % 2 ? pool_b : pool_a };

		ASSERT_EQ(co_create(&chain[i], &attr, chain_link, (void *)(uintptr_t)i), 0);
	}
	for (unsigned k = 0; k <= STEPS; k++)
		call_checked(0, k, AS_REGS_FN(co_resume), chain[0]);
	for (unsigned i = 0; i < CHAIN; i++) {
		ASSERT(co_is_dead(chain[i]));
		co_release(chain[i]);
	}
}

TEST(coroutine_to_coroutine_private)
{
	run_chain(NULL, NULL);
}

/* One shared stack for all: every resume and yield goes through the copy helper. */
TEST(coroutine_to_coroutine_one_shared_stack)
{
	struct co_sharestack *pool = co_alloc_sharestack(1, 64 * 1024);

	ASSERT(pool);
	run_chain(pool, pool);
	co_free_sharestack(pool);
}

/* Private and shared stacks alternate along the chain. */
TEST(coroutine_to_coroutine_mixed)
{
	struct co_sharestack *pool = co_alloc_sharestack(2, 64 * 1024);

	ASSERT(pool);
	run_chain(NULL, pool);
	run_chain(pool, NULL);
	co_free_sharestack(pool);
}

static void *returns_at_once(void *arg)
{
	return arg;
}

/* The first switch into a new context, and the switch out of a finished one. */
TEST(first_entry_and_return)
{
	struct co_sharestack *pool = co_alloc_sharestack(1, 32 * 1024);
	struct co_attr shared = { 0, pool };
	struct co *co;

	ASSERT(pool);
	for (unsigned k = 0; k < 50; k++) {
		ASSERT_EQ(co_create(&co, k % 2 ? &shared : NULL, returns_at_once, NULL), 0);
		call_checked(0, k, AS_REGS_FN(co_resume), co);
		ASSERT(co_is_dead(co));
		co_reset(co);
		call_checked(0, 1000 + k, AS_REGS_FN(co_resume), co);
		ASSERT(co_is_dead(co));
		co_release(co);
	}
	co_free_sharestack(pool);
}
