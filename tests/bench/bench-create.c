/* SPDX-License-Identifier: MIT */
/*
 * bench-create: the cost of making a coroutine and freeing it again, in the
 * steady state a long-running program reaches (the private stack comes
 * from the thread's pool, the struct from malloc's cache), with two
 * baselines in the same process.
 *
 *   bench-create [time [RUNS [OPS]]]
 *       Timing mode (default: 11 runs of 500k operations each). After a
 *       warm-up run, each run times every variant in turn, the order
 *       rotating from run to run. Prints median, min and max ns per
 *       operation, then BENCH lines.
 *   bench-create count VARIANT N
 *       Sets VARIANT up (warm-up included), does exactly N operations and
 *       exits: for callgrind's instructions(2N) - instructions(N) over N.
 *
 * Variants (one operation each):
 *   private      co_create (default 128 KiB private stack) + co_release;
 *                never resumed.
 *   shared       co_create on a pool of 4 shared 128 KiB stacks + co_release;
 *                never resumed.
 *   private-run  co_create + co_resume (the function returns at once, so the
 *                coroutine runs to its end) + co_release: a whole short life.
 *   shared-run   the same on the shared-stack pool.
 *   malloc       (baseline) malloc(120) + free: the floor for anything that
 *                allocates struct co (120 bytes on x86-64).
 *   fcontext-run (baseline) make_fcontext on a preallocated stack + jump in +
 *                jump back: Boost.Context's floor for a short life.
 */
#define _GNU_SOURCE
#include "coro/coro.h"
#include "tests/bench/bench.h"

typedef void *fcontext_t;
typedef struct {
	fcontext_t fctx;
	void *data;
} transfer_t;
transfer_t jump_fcontext(fcontext_t const to, void *vp);
fcontext_t make_fcontext(void *sp, size_t size, void (*fn)(transfer_t));

#define STACK_SIZE (128 * 1024)

static struct co_attr shared_attr;

static void *done(void *arg)
{
	return arg;
}

static void make(const struct co_attr *attr, struct co **ret)
{
	int err = co_create(ret, attr, done, NULL);

	if (err < 0)
		bench_die("co_create: %s", strerror(-err));
}

static void private_run(long n)
{
	struct co *co;

	for (long i = 0; i < n; i++) {
		make(NULL, &co);
		co_release(co);
	}
}

static void shared_run(long n)
{
	struct co *co;

	for (long i = 0; i < n; i++) {
		make(&shared_attr, &co);
		co_release(co);
	}
}

static void private_life(long n)
{
	struct co *co;

	for (long i = 0; i < n; i++) {
		make(NULL, &co);
		co_resume(co);
		co_release(co);
	}
}

static void shared_life(long n)
{
	struct co *co;

	for (long i = 0; i < n; i++) {
		make(&shared_attr, &co);
		co_resume(co);
		co_release(co);
	}
}

static void malloc_run(long n)
{
	for (long i = 0; i < n; i++) {
		void *p = malloc(120);

		bench_escape(p);
		free(p);
	}
}

static char *fc_stack;

static void fc_done(transfer_t t)
{
	jump_fcontext(t.fctx, NULL);
	bench_die("fcontext: a finished context was resumed");
}

static void fc_life(long n)
{
	for (long i = 0; i < n; i++) {
		fcontext_t ctx = make_fcontext(fc_stack + STACK_SIZE, STACK_SIZE, fc_done);

		jump_fcontext(ctx, NULL);
	}
}

/* Everything a variant needs before its steady state: pool, env, one of each. */
static void setup(void)
{
	shared_attr.share_stack = co_alloc_sharestack(4, STACK_SIZE);
	if (!shared_attr.share_stack)
		bench_die("co_alloc_sharestack: %s", strerror(errno));
	fc_stack = bench_stack(STACK_SIZE);
	private_life(2);
	shared_life(8);
}

enum { V_PRIVATE, V_SHARED, V_PRIVATE_RUN, V_SHARED_RUN, V_MALLOC, V_FCONTEXT, NVAR };

static const struct variant {
	const char *name;
	const char *what;
	void (*run)(long n);
} variants[NVAR] = {
	[V_PRIVATE] = { "private", "create + release, private 128 KiB stack (pooled)", private_run },
	[V_SHARED] = { "shared", "create + release, shared stacks (4 x 128 KiB)", shared_run },
	[V_PRIVATE_RUN] = { "private-run", "create + resume to end + release, private", private_life },
	[V_SHARED_RUN] = { "shared-run", "create + resume to end + release, shared", shared_life },
	[V_MALLOC] = { "malloc", "baseline: malloc(120) + free", malloc_run },
	[V_FCONTEXT] = { "fcontext-run", "baseline: make_fcontext + jump in + jump back", fc_life },
};

static int count_mode(const char *name, const char *n_arg)
{
	long n = bench_count(n_arg, "N");

	for (int i = 0; i < NVAR; i++) {
		if (strcmp(variants[i].name, name) == 0) {
			setup();
			variants[i].run(n);
			return 0;
		}
	}
	bench_die("count: unknown variant \"%s\" (private, shared, private-run, shared-run, malloc, fcontext-run)",
		  name);
}

static int time_mode(int runs, long ops)
{
	static double ns[NVAR][BENCH_RUNS_MAX];
	struct bench_stats st[NVAR];

	setup();
	for (int r = -1; r < runs; r++) {
		for (int k = 0; k < NVAR; k++) {
			int i = (k + r + 1) % NVAR;
			double t0 = bench_now_ns();

			variants[i].run(ops);
			if (r >= 0)
				ns[i][r] = (bench_now_ns() - t0) / (double)ops;
		}
	}
	for (int i = 0; i < NVAR; i++)
		st[i] = bench_stats_of(ns[i], runs);

	printf("Create: one coroutine made and freed, steady state (stacks pooled, malloc warm)\n");
	printf("%d runs of %ld operations after a warm-up, variants interleaved in each run\n\n",
	       runs, ops);
	printf("%-52s %9s %9s %9s\n", "operation", "median ns", "min ns", "max ns");
	for (int i = 0; i < NVAR; i++)
		printf("%-52s %9.1f %9.1f %9.1f\n", variants[i].what, st[i].med, st[i].min,
		       st[i].max);
	printf("\n");

	bench_headline("create_release_private_ns", st[V_PRIVATE].med, 1, "ns");
	bench_headline("create_release_shared_ns", st[V_SHARED].med, 1, "ns");
	bench_headline("create_run_release_private_ns", st[V_PRIVATE_RUN].med, 1, "ns");
	bench_headline("create_run_release_shared_ns", st[V_SHARED_RUN].med, 1, "ns");
	bench_headline("malloc_free_120_ns", st[V_MALLOC].med, 1, "ns");
	bench_headline("fcontext_make_run_ns", st[V_FCONTEXT].med, 1, "ns");
	return 0;
}

int main(int argc, char **argv)
{
	int runs = 11;
	long ops = 500000;

	if (argc >= 2 && strcmp(argv[1], "count") == 0) {
		if (argc != 4)
			bench_die("usage: bench-create count VARIANT N");
		return count_mode(argv[2], argv[3]);
	}
	if (argc >= 2 && strcmp(argv[1], "time") != 0)
		bench_die("usage: bench-create [time [RUNS [OPS]]] | count VARIANT N");
	if (argc >= 3)
		runs = (int)bench_count(argv[2], "RUNS");
	if (argc >= 4)
		ops = bench_count(argv[3], "OPS");
	if (runs > BENCH_RUNS_MAX)
		bench_die("RUNS: at most %d", BENCH_RUNS_MAX);
	return time_mode(runs, ops);
}
