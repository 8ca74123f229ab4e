/* SPDX-License-Identifier: MIT */
/*
 * test-fpenv.c: the floating-point control state belongs to each context.
 * x86-64: the MXCSR control bits (SSE rounding, flush-to-zero,
 * denormals-are-zero) and the x87 control word (rounding, precision);
 * aarch64: FPCR (rounding, flush-to-zero).
 *
 * Every context sets its own mode, then all of them are interleaved at
 * random (main resuming coroutines, coroutines resuming each other, on
 * private and on shared stacks) and each checks, after every switch, both
 * the control registers and what its arithmetic actually computes.
 *
 * The expected results are not written in the test: main computes them
 * once per rounding mode before any coroutine exists, and the test checks
 * that the modes give four different answers, so that a context running
 * under someone else's mode cannot pass by accident. The computations mix
 * arithmetic with conversions (double to float, to integer), because
 * valgrind honours rounding modes only in conversions.
 *
 * The mode is set and read as glibc's fesetround/fegetround do it (they
 * live in libm, which the test binaries do not link): the x87 control word
 * and the MXCSR together on x86-64, FPCR on aarch64. The FE_* values are
 * <fenv.h>'s, which are those registers' bits.
 */
#define _GNU_SOURCE
#include <fenv.h>
#include <float.h>
#include <stdint.h>
#include <string.h>

#include "coro/coro.h"
#include "tests/unit/tap.h"

static const int modes[4] = { FE_TONEAREST, FE_TOWARDZERO, FE_UPWARD, FE_DOWNWARD };

/* What one context computes; compared bit for bit. */
struct fp_result {
	uint64_t div[3];  /* 1/3, 1/10, -1/10 in double (SSE, or aarch64 FP) */
	uint32_t cvt[4];  /* 0.1, -0.1, 1/3, -1/3 converted to float */
	long rint[2];     /* 2.5, -2.5 converted to integer in the current mode */
#if defined(__x86_64__)
	long double x87_div;  /* 1/3 in long double (x87) */
	long long x87_rint[2]; /* 2.5, -2.5 by fistp: x87 rounding */
#endif
};

/* fesetround and fegetround, as glibc does them. */
static void set_round(int mode)
{
#if defined(__x86_64__)
	uint16_t cw;
	uint32_t mxcsr;

	__asm__ volatile("fnstcw %0" : "=m"(cw));
	cw = (uint16_t)((cw & ~0x0c00) | mode);
	__asm__ volatile("fldcw %0" : : "m"(cw));
	__asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
	mxcsr = (mxcsr & ~0x6000u) | (uint32_t)mode << 3;
	__asm__ volatile("ldmxcsr %0" : : "m"(mxcsr));
#elif defined(__aarch64__)
	uint64_t fpcr;

	__asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
	fpcr = (fpcr & ~(uint64_t)0xc00000) | (uint64_t)mode;
	__asm__ volatile("msr fpcr, %0" : : "r"(fpcr));
#endif
}

static int get_round(void)
{
#if defined(__x86_64__)
	uint16_t cw;

	__asm__ volatile("fnstcw %0" : "=m"(cw));
	return cw & 0x0c00;
#elif defined(__aarch64__)
	uint64_t fpcr;

	__asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
	return (int)(fpcr & 0xc00000);
#endif
}

/* Converts to an integer in the current rounding mode (lrint, without libm). */
static long round_to_long(double d)
{
#if defined(__x86_64__)
	long r;

	__asm__ volatile("cvtsd2si %1, %0" : "=r"(r) : "x"(d));
	return r;
#elif defined(__aarch64__)
	double r;

	__asm__ volatile("frintx %d0, %d1" : "=w"(r) : "w"(d));
	return (long)r;
#endif
}

static volatile double one = 1.0, three = 3.0, ten = 10.0;
static volatile double cvt_in[4] = { 0.1, -0.1, 1.0 / 3.0, -1.0 / 3.0 };
static volatile double half_up = 2.5;

static void compute(struct fp_result *r)
{
	double d;
	float f;

	memset(r, 0, sizeof *r);
	d = one / three;
	memcpy(&r->div[0], &d, 8);
	d = one / ten;
	memcpy(&r->div[1], &d, 8);
	d = -one / ten;
	memcpy(&r->div[2], &d, 8);
	for (int i = 0; i < 4; i++) {
		f = (float)cvt_in[i];
		memcpy(&r->cvt[i], &f, 4);
	}
	r->rint[0] = round_to_long(half_up);
	r->rint[1] = round_to_long(-half_up);
#if defined(__x86_64__)
	{
		volatile long double l1 = 1.0L, l3 = 3.0L, lh = 2.5L;
		long double a = lh, b = -lh;

		r->x87_div = l1 / l3;
		__asm__ volatile("fistpll %0" : "=m"(r->x87_rint[0]) : "t"(a) : "st");
		__asm__ volatile("fistpll %0" : "=m"(r->x87_rint[1]) : "t"(b) : "st");
	}
#endif
}

static int same_result(const struct fp_result *a, const struct fp_result *b)
{
	int same = memcmp(a->div, b->div, sizeof a->div) == 0 &&
		   memcmp(a->cvt, b->cvt, sizeof a->cvt) == 0 &&
		   memcmp(a->rint, b->rint, sizeof a->rint) == 0;
#if defined(__x86_64__)
	same = same && a->x87_div == b->x87_div &&
	       memcmp(a->x87_rint, b->x87_rint, sizeof a->x87_rint) == 0;
#endif
	return same;
}

static struct fp_result expected[4];

/* Computes the reference results on main, one per mode, and checks they differ. */
static void compute_expected(void)
{
	for (int m = 0; m < 4; m++) {
		set_round(modes[m]);
		compute(&expected[m]);
	}
	set_round(FE_TONEAREST);
	for (int a = 0; a < 4; a++)
		for (int b = a + 1; b < 4; b++)
			ASSERT(!same_result(&expected[a], &expected[b]));
#if defined(__x86_64__)
	/* The x87 side on its own tells the modes apart too. */
	ASSERT(expected[1].x87_rint[0] != expected[2].x87_rint[0]);
	ASSERT(expected[1].x87_rint[1] != expected[3].x87_rint[1]);
#endif
}

/* The rounding bits of each control register, in FE_* terms. */
static void check_control_registers(int mode)
{
#if defined(__x86_64__)
	uint32_t mxcsr;
	uint16_t cw;

	__asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
	__asm__ volatile("fnstcw %0" : "=m"(cw));
	ASSERT_EQ(cw & 0x0c00, mode);              /* x87 RC, bits 10-11 */
	ASSERT_EQ((mxcsr >> 3) & 0x0c00, mode);    /* MXCSR RC, bits 13-14 */
#elif defined(__aarch64__)
	uint64_t fpcr;

	__asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
	ASSERT_EQ(fpcr & 0xc00000, mode);          /* FPCR RMode, bits 22-23 */
#endif
	ASSERT_EQ(get_round(), mode);
}

static int mode_index(int mode)
{
	for (int m = 0; m < 4; m++)
		if (modes[m] == mode)
			return m;
	tap__fail(__FILE__, __LINE__, "unknown rounding mode %d", mode);
}

static void check_mode(int mode)
{
	struct fp_result r;

	check_control_registers(mode);
	compute(&r);
	ASSERT(same_result(&r, &expected[mode_index(mode)]));
}

/* ---- random interleaving ------------------------------------------------ */

#define NCO 5

struct fp_co {
	struct co *co;
	int mode;     /* -1: cycles through all modes, one per step */
	int on_stack; /* resumed and not yet back: must not be resumed */
};

static struct fp_co fcs[NCO];
static uint64_t rng = 0x2545f4914f6cdd1dull;
static int nesting;

static unsigned next_rand(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng % n);
}

static void resume_tracked(struct fp_co *f)
{
	f->on_stack = 1;
	co_resume(f->co);
	f->on_stack = 0;
}

/*
 * Sets its mode, then forever: checks it, sometimes resumes another
 * coroutine (which runs under its own mode), checks again, yields.
 */
static void *fp_worker(void *arg)
{
	struct fp_co *me = arg;
	int mode = me->mode;

	for (unsigned step = 0;; step++) {
		if (me->mode < 0)
			mode = modes[step % 4];
		set_round(mode);
		check_mode(mode);
		if (nesting < 3 && next_rand(3) == 0) {
			struct fp_co *other = &fcs[next_rand(NCO)];

			if (!other->on_stack) {
				nesting++;
				resume_tracked(other);
				nesting--;
			}
			check_mode(mode);
		}
		co_yield_ct();
		check_mode(mode);
	}
	return NULL;
}

static void interleave(struct co_sharestack *pool, unsigned steps)
{
	struct co_attr attr = { 32 * 1024, pool };
	static const int worker_modes[NCO] = { FE_TOWARDZERO, FE_UPWARD, FE_DOWNWARD,
					       FE_TONEAREST, -1 };

	compute_expected();
	for (int i = 0; i < NCO; i++) {
		fcs[i].mode = worker_modes[i];
		fcs[i].on_stack = 0;
		ASSERT_EQ(co_create(&fcs[i].co, &attr, fp_worker, &fcs[i]), 0);
	}
	for (unsigned s = 0; s < steps; s++) {
		resume_tracked(&fcs[next_rand(NCO)]);
		check_mode(FE_TONEAREST);
	}
	/* Main changes its own mode: the coroutines must not notice. */
	set_round(FE_UPWARD);
	for (unsigned s = 0; s < steps / 4; s++) {
		resume_tracked(&fcs[next_rand(NCO)]);
		check_mode(FE_UPWARD);
	}
	for (int i = 0; i < NCO; i++)
		co_release(fcs[i].co);
}

TEST(rounding_modes_private_stacks)
{
	interleave(NULL, 3000);
}

TEST(rounding_modes_shared_stacks)
{
	struct co_sharestack *pool = co_alloc_sharestack(2, 64 * 1024);

	ASSERT(pool);
	interleave(pool, 3000);
	co_free_sharestack(pool);
}

/* ---- flush-to-zero and x87 precision ----------------------------------- */

/*
 * valgrind does not model flush-to-zero, denormals-are-zero or x87
 * precision control (it computes as if they were off), so the cases below
 * cannot observe them there.
 */

static volatile double dbl_min = DBL_MIN, half = 0.5;

static int flushes_to_zero(void)
{
	return dbl_min * half == 0.0;
}

static void set_flush_to_zero(void)
{
#if defined(__x86_64__)
	uint32_t mxcsr;

	__asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
	mxcsr |= 1u << 15 | 1u << 6; /* FTZ, DAZ */
	__asm__ volatile("ldmxcsr %0" : : "m"(mxcsr));
#elif defined(__aarch64__)
	uint64_t fpcr;

	__asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
	fpcr |= 1u << 24; /* FZ */
	__asm__ volatile("msr fpcr, %0" : : "r"(fpcr));
#endif
}

static void *ftz_worker(void *arg)
{
	(void)arg;
	ASSERT(!flushes_to_zero());
	set_flush_to_zero();
	for (;;) {
		ASSERT(flushes_to_zero());
		co_yield_ct();
	}
	return NULL;
}

static void *no_ftz_worker(void *arg)
{
	(void)arg;
	for (;;) {
		ASSERT(!flushes_to_zero());
		co_yield_ct();
	}
	return NULL;
}

TEST_NO_VALGRIND(flush_to_zero_per_coroutine)
{
	struct co_sharestack *pool = co_alloc_sharestack(1, 32 * 1024);
	struct co_attr shared = { 0, pool };
	struct co *ftz, *ftz_shared, *plain, *plain_shared;

	ASSERT(pool);
	ASSERT(!flushes_to_zero());
	ASSERT_EQ(co_create(&ftz, NULL, ftz_worker, NULL), 0);
	ASSERT_EQ(co_create(&ftz_shared, &shared, ftz_worker, NULL), 0);
	ASSERT_EQ(co_create(&plain, NULL, no_ftz_worker, NULL), 0);
	ASSERT_EQ(co_create(&plain_shared, &shared, no_ftz_worker, NULL), 0);
	for (int i = 0; i < 500; i++) {
		co_resume(ftz);
		ASSERT(!flushes_to_zero());
		co_resume(plain);
		co_resume(ftz_shared);
		co_resume(plain_shared);
		ASSERT(!flushes_to_zero());
	}
	co_release(ftz);
	co_release(ftz_shared);
	co_release(plain);
	co_release(plain_shared);
	co_free_sharestack(pool);
}

#if defined(__x86_64__)
/* x87 precision control: bits 8-9 of the control word. */
enum { PC_SINGLE = 0x000, PC_DOUBLE = 0x200, PC_EXTENDED = 0x300 };

static volatile long double ld_one = 1.0L, ld_three = 3.0L;
static volatile float f_one = 1.0f, f_three = 3.0f;

static void set_precision(uint16_t pc)
{
	uint16_t cw;

	__asm__ volatile("fnstcw %0" : "=m"(cw));
	cw = (uint16_t)((cw & ~0x0300) | pc);
	__asm__ volatile("fldcw %0" : : "m"(cw));
}

static void check_precision(uint16_t pc)
{
	uint16_t cw;
	long double third = ld_one / ld_three;

	__asm__ volatile("fnstcw %0" : "=m"(cw));
	ASSERT_EQ(cw & 0x0300, pc);
	switch (pc) {
	case PC_SINGLE:
		ASSERT(third == (long double)(f_one / f_three));
		break;
	case PC_DOUBLE:
		ASSERT(third == (long double)(one / three));
		break;
	default:
		ASSERT(third != (long double)(one / three));
		ASSERT(third != (long double)(f_one / f_three));
		break;
	}
}

static void *precision_worker(void *arg)
{
	uint16_t pc = (uint16_t)(uintptr_t)arg;

	set_precision(pc);
	for (;;) {
		check_precision(pc);
		co_yield_ct();
	}
	return NULL;
}

TEST_NO_VALGRIND(x87_precision_per_coroutine)
{
	struct co_sharestack *pool = co_alloc_sharestack(1, 32 * 1024);
	struct co_attr shared = { 0, pool };
	struct co *single, *dbl, *single_shared, *dbl_shared;

	ASSERT(pool);
	check_precision(PC_EXTENDED);
	ASSERT_EQ(co_create(&single, NULL, precision_worker, (void *)(uintptr_t)PC_SINGLE), 0);
	ASSERT_EQ(co_create(&dbl, NULL, precision_worker, (void *)(uintptr_t)PC_DOUBLE), 0);
	ASSERT_EQ(co_create(&single_shared, &shared, precision_worker,
			    (void *)(uintptr_t)PC_SINGLE), 0);
	ASSERT_EQ(co_create(&dbl_shared, &shared, precision_worker,
			    (void *)(uintptr_t)PC_DOUBLE), 0);
	for (int i = 0; i < 500; i++) {
		co_resume(single);
		check_precision(PC_EXTENDED);
		co_resume(dbl);
		co_resume(single_shared);
		check_precision(PC_EXTENDED);
		co_resume(dbl_shared);
		check_precision(PC_EXTENDED);
	}
	co_release(single);
	co_release(dbl);
	co_release(single_shared);
	co_release(dbl_shared);
	co_free_sharestack(pool);
}
#endif
