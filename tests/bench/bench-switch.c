/* SPDX-License-Identifier: MIT */
/*
 * bench-switch: the cost of one round trip into a coroutine and back
 * (two context switches), through libcoro's public API, against its
 * baselines in the same process: Boost.Context's jump_fcontext pair and
 * glibc's swapcontext pair.
 *
 *   bench-switch [time [RUNS [ROUNDTRIPS]]]
 *       Timing mode (the default: 11 runs of 2M round trips). After one
 *       warm-up run, each run times every implementation in turn, the order
 *       rotating from run to run, so that all of them see the same machine
 *       noise. Prints median, min and max ns per round trip, the median of
 *       the per-run ratios, then BENCH lines.
 *   bench-switch count IMPL N
 *       Sets IMPL up, does exactly N round trips and exits: for callgrind,
 *       instructions(2N) - instructions(N) over N is the cost of one round
 *       trip with all setup cancelled out (tests/bench/run does this).
 *       IMPL is one of: coro, fcontext, swapcontext, coro-sharedcopy.
 *
 * What a round trip is, for each:
 *   coro             co_resume(co) from main; the coroutine, on a private
 *                    stack, loops on co_yield_ct().
 *   fcontext         jump_fcontext into the context; it jumps straight back.
 *   swapcontext      swapcontext(main -> co); it swapcontexts back. Each
 *                    call makes an rt_sigprocmask system call.
 *   coro-sharedcopy  (information) two coroutines on one shared stack,
 *                    resumed in turn: every resume first saves the other's
 *                    used stack to the heap and copies its own back.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <ucontext.h>

#include "coro/coro.h"
#include "tests/bench/bench.h"

/*
 * Boost.Context's C-linkage primitives (boost/context/detail/fcontext.hpp,
 * which is C++ only; libboost_context.so exports them unmangled).
 */
typedef void *fcontext_t;
typedef struct {
	fcontext_t fctx;
	void *data;
} transfer_t;
transfer_t jump_fcontext(fcontext_t const to, void *vp);
fcontext_t make_fcontext(void *sp, size_t size, void (*fn)(transfer_t));

#define STACK_SIZE (128 * 1024) /* libcoro's default; the baselines get the same */

/* ---- libcoro, private stack --------------------------------------------- */

static struct co *coro_co;

static void *coro_loop(void *arg)
{
	for (;;)
		co_yield_ct();
	return arg;
}

static void coro_setup(void)
{
	int err = co_create(&coro_co, NULL, coro_loop, NULL);

	if (err < 0)
		bench_die("co_create: %s", strerror(-err));
	co_resume(coro_co); /* the first entry is not a round trip: keep it out */
}

static void coro_run(long n)
{
	struct co *co = coro_co;

	for (long i = 0; i < n; i++)
		co_resume(co);
}

/* ---- Boost.Context jump_fcontext ---------------------------------------- */

static fcontext_t fc_ctx;

static void fc_loop(transfer_t t)
{
	for (;;)
		t = jump_fcontext(t.fctx, NULL);
}

static void fc_setup(void)
{
	char *stack = bench_stack(STACK_SIZE);

	fc_ctx = make_fcontext(stack + STACK_SIZE, STACK_SIZE, fc_loop);
	fc_ctx = jump_fcontext(fc_ctx, NULL).fctx;
}

static void fc_run(long n)
{
	fcontext_t ctx = fc_ctx;

	for (long i = 0; i < n; i++)
		ctx = jump_fcontext(ctx, NULL).fctx;
	fc_ctx = ctx;
}

/* ---- glibc swapcontext -------------------------------------------------- */

static ucontext_t uc_main, uc_co;

static void uc_loop(void)
{
	for (;;)
		swapcontext(&uc_co, &uc_main);
}

static void uc_setup(void)
{
	if (getcontext(&uc_co) < 0)
		bench_die("getcontext: %s", strerror(errno));
	uc_co.uc_stack.ss_sp = bench_stack(STACK_SIZE);
	uc_co.uc_stack.ss_size = STACK_SIZE;
	uc_co.uc_link = NULL; /* uc_loop never returns */
	makecontext(&uc_co, uc_loop, 0);
	swapcontext(&uc_main, &uc_co);
}

static void uc_run(long n)
{
	for (long i = 0; i < n; i++)
		swapcontext(&uc_main, &uc_co);
}

/* ---- libcoro, two coroutines taking turns on one shared stack ----------- */

static struct co *share_co[2];

static void share_setup(void)
{
	struct co_sharestack *pool = co_alloc_sharestack(1, STACK_SIZE);
	struct co_attr attr = { .share_stack = pool };

	if (!pool)
		bench_die("co_alloc_sharestack: %s", strerror(errno));
	for (int i = 0; i < 2; i++) {
		int err = co_create(&share_co[i], &attr, coro_loop, NULL);

		if (err < 0)
			bench_die("co_create: %s", strerror(-err));
		co_resume(share_co[i]);
	}
}

static void share_run(long n)
{
	for (long i = 0; i < n; i++)
		co_resume(share_co[i & 1]);
}

/* ---- the table ---------------------------------------------------------- */

enum { IMPL_CORO, IMPL_FCONTEXT, IMPL_SWAPCONTEXT, IMPL_SHARED, NIMPL };

static const struct impl {
	const char *name; /* for `count` */
	const char *what; /* for the table */
	void (*setup)(void);
	void (*run)(long n);
	int div;          /* does ROUNDTRIPS/div per run: swapcontext is 40x slower */
} impls[NIMPL] = {
	[IMPL_CORO] = { "coro", "libcoro co_resume + co_yield_ct (private stack)",
			coro_setup, coro_run, 1 },
	[IMPL_FCONTEXT] = { "fcontext", "Boost.Context jump_fcontext pair",
			    fc_setup, fc_run, 1 },
	[IMPL_SWAPCONTEXT] = { "swapcontext", "glibc swapcontext pair",
			       uc_setup, uc_run, 20 },
	[IMPL_SHARED] = { "coro-sharedcopy", "libcoro, 2 coroutines on 1 shared stack (copying)",
			  share_setup, share_run, 4 },
};

static int count_mode(const char *name, const char *n_arg)
{
	long n = bench_count(n_arg, "N");

	for (int i = 0; i < NIMPL; i++) {
		if (strcmp(impls[i].name, name) == 0) {
			impls[i].setup();
			impls[i].run(n);
			return 0;
		}
	}
	bench_die("count: unknown implementation \"%s\" (coro, fcontext, swapcontext, coro-sharedcopy)",
		  name);
}

static int time_mode(int runs, long roundtrips)
{
	static double ns[NIMPL][BENCH_RUNS_MAX];
	double vs_fc[BENCH_RUNS_MAX], vs_uc[BENCH_RUNS_MAX];
	struct bench_stats st[NIMPL], r_fc, r_uc;

	for (int i = 0; i < NIMPL; i++)
		impls[i].setup();
	/* Run -1 warms caches, predictors and the CPU clock; it is not kept. */
	for (int r = -1; r < runs; r++) {
		for (int k = 0; k < NIMPL; k++) {
			int i = (k + r + 1) % NIMPL;
			long n = roundtrips / impls[i].div;
			double t0 = bench_now_ns();

			impls[i].run(n);
			if (r >= 0)
				ns[i][r] = (bench_now_ns() - t0) / (double)n;
		}
	}
	for (int r = 0; r < runs; r++) {
		vs_fc[r] = ns[IMPL_CORO][r] / ns[IMPL_FCONTEXT][r];
		vs_uc[r] = ns[IMPL_CORO][r] / ns[IMPL_SWAPCONTEXT][r];
	}
	for (int i = 0; i < NIMPL; i++)
		st[i] = bench_stats_of(ns[i], runs);
	r_fc = bench_stats_of(vs_fc, runs);
	r_uc = bench_stats_of(vs_uc, runs);

	printf("Switch: one round trip = resume + yield (two context switches)\n");
	printf("%d runs after a warm-up, implementations interleaved in each run\n\n", runs);
	printf("%-52s %10s %9s %9s %9s\n", "implementation", "trips/run", "median ns",
	       "min ns", "max ns");
	for (int i = 0; i < NIMPL; i++)
		printf("%-52s %10ld %9.1f %9.1f %9.1f\n", impls[i].what,
		       roundtrips / impls[i].div, st[i].med, st[i].min, st[i].max);
	printf("\nlibcoro / Boost jump_fcontext, per run: median %.3f (min %.3f, max %.3f)  goal <= 1.2\n",
	       r_fc.med, r_fc.min, r_fc.max);
	printf("libcoro / glibc swapcontext, per run:   median %.4f (min %.4f, max %.4f)\n\n",
	       r_uc.med, r_uc.min, r_uc.max);

	bench_headline("switch_roundtrip_ns", st[IMPL_CORO].med, 1, "ns");
	bench_headline("switch_roundtrip_vs_fcontext", r_fc.med, -1, "ratio");
	bench_headline("switch_roundtrip_vs_swapcontext", r_uc.med, -1, "ratio");
	bench_headline("fcontext_roundtrip_ns", st[IMPL_FCONTEXT].med, 1, "ns");
	bench_headline("swapcontext_roundtrip_ns", st[IMPL_SWAPCONTEXT].med, 1, "ns");
	bench_headline("switch_roundtrip_sharedcopy_ns", st[IMPL_SHARED].med, 1, "ns");
	return 0;
}

int main(int argc, char **argv)
{
	int runs = 11;
	long roundtrips = 2000000;

	if (argc >= 2 && strcmp(argv[1], "count") == 0) {
		if (argc != 4)
			bench_die("usage: bench-switch count IMPL N");
		return count_mode(argv[2], argv[3]);
	}
	if (argc >= 2 && strcmp(argv[1], "time") != 0)
		bench_die("usage: bench-switch [time [RUNS [ROUNDTRIPS]]] | count IMPL N");
	if (argc >= 3)
		runs = (int)bench_count(argv[2], "RUNS");
	if (argc >= 4)
		roundtrips = bench_count(argv[3], "ROUNDTRIPS");
	if (runs > BENCH_RUNS_MAX)
		bench_die("RUNS: at most %d", BENCH_RUNS_MAX);
	if (roundtrips < 20)
		bench_die("ROUNDTRIPS: at least 20");
	return time_mode(runs, roundtrips);
}
