/* SPDX-License-Identifier: MIT */
/*
 * bench-mem: resident memory per parked coroutine.
 *
 *   bench-mem                      all the standard configurations below
 *   bench-mem shared COUNT         COUNT coroutines on 4 shared 128 KiB stacks
 *   bench-mem private COUNT        COUNT coroutines on private 64 KiB stacks
 *
 * Each configuration is measured in a child process of its own, so that
 * one's heap does not serve the next. Method (BENCH.md, 4): read VmRSS from
 * /proc/self/status, make COUNT coroutines and resume each once, so that it
 * parks in co_yield_ct() inside its function with a small frame, read VmRSS
 * again once all are parked, and divide the growth by COUNT.
 *
 * Everything that is paid once rather than per coroutine is set up before
 * the first reading: the thread's environment and signal stack, the
 * shared-stack helper, the pool, and the array of COUNT pointers the
 * benchmark itself keeps (touched, so its pages are already resident).
 *
 * Shared stacks: four extra "evictor" coroutines, one per stack, park
 * before the first reading; after the COUNT coroutines have run, the
 * evictors are resumed again, so that the last coroutine of each stack is
 * swapped out to the heap too: every one of the COUNT is then parked in
 * the heap (its struct plus a save buffer of its used stack bytes).
 *
 * Private stacks: each coroutine's stack is touched by its first resume
 * (the top page, which also holds the stack's descriptor), so the figure
 * is that page plus the struct. The kernel's page tables for the stacks
 * are not part of VmRSS: they are shown beside it (VmPTE) for information.
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <sys/wait.h>
#include <unistd.h>

#include "coro/coro.h"
#include "tests/bench/bench.h"

#define SHARED_STACKS 4
#define SHARED_SIZE (128 * 1024)
#define PRIVATE_SIZE (64 * 1024)

/* Parks with a small frame: the one call to co_yield_ct. */
static void *park(void *arg)
{
	co_yield_ct();
	return arg;
}

static struct co *make(const struct co_attr *attr)
{
	struct co *co;
	int err = co_create(&co, attr, park, NULL);

	if (err < 0)
		bench_die("co_create: %s", strerror(-err));
	return co;
}

struct reading {
	long rss_kb;     /* VmRSS */
	long pte_kb;     /* VmPTE: page tables, not in VmRSS */
	size_t heap;     /* bytes malloc has handed out (mallinfo2 uordblks) */
};

static struct reading read_now(void)
{
	struct reading r;

	r.rss_kb = bench_status_kb("VmRSS");
	r.pte_kb = bench_status_kb("VmPTE");
	r.heap = mallinfo2().uordblks;
	if (r.rss_kb < 0)
		bench_die("no VmRSS in /proc/self/status");
	return r;
}

/*
 * One measurement, in this process: prints its row and returns the VmRSS
 * growth per coroutine in bytes.
 */
static double measure(int shared, long count)
{
	struct co_attr attr = CO_ATTR_INIT;
	struct co *evictor[SHARED_STACKS];
	struct co **cos;
	struct reading before, after;
	double t0, secs, per;

	/* Paid once: the benchmark's array, the environment, helper and pool. */
	cos = malloc((size_t)count * sizeof *cos);
	if (!cos)
		bench_die("out of memory for %ld pointers", count);
	memset(cos, 0xff, (size_t)count * sizeof *cos);
	if (shared) {
		attr.share_stack = co_alloc_sharestack(SHARED_STACKS, SHARED_SIZE);
		if (!attr.share_stack)
			bench_die("co_alloc_sharestack: %s", strerror(errno));
		for (int i = 0; i < SHARED_STACKS; i++) {
			evictor[i] = make(&attr); /* round-robin: stack i */
			co_resume(evictor[i]);
		}
	} else {
		/* A stack of another size: the pool keeps it, and never hands it out below. */
		struct co_attr warm = { .stack_size = 16 * 1024 };

		co_release(make(&warm));
		attr.stack_size = PRIVATE_SIZE;
	}

	before = read_now();
	t0 = bench_now_ns();
	for (long i = 0; i < count; i++) {
		int err = co_create(&cos[i], &attr, park, NULL);

		if (err < 0)
			bench_die("co_create of coroutine %ld: %s", i, strerror(-err));
	}
	for (long i = 0; i < count; i++)
		co_resume(cos[i]);
	if (shared) {
		for (int i = 0; i < SHARED_STACKS; i++)
			co_resume(evictor[i]); /* evicts the last coroutine of stack i */
	}
	secs = (bench_now_ns() - t0) / 1e9;
	after = read_now();

	for (long i = 0; i < count; i++) {
		if (co_is_dead(cos[i]))
			bench_die("coroutine %ld finished instead of parking", i);
	}
	per = (double)(after.rss_kb - before.rss_kb) * 1024.0 / (double)count;
	printf("%-34s %8ld %11.1f %10.1f %10.1f %10.1f %8.2f\n",
	       shared ? "shared, 4 x 128 KiB stacks" : "private 64 KiB stacks", count,
	       (double)(after.rss_kb - before.rss_kb) / 1024.0, per,
	       (double)(after.heap - before.heap) / (double)count,
	       (double)(after.pte_kb - before.pte_kb) * 1024.0 / (double)count, secs);
	fflush(stdout);
	/* The coroutines are not released: the process ends after this. */
	return per;
}

struct config {
	int shared;
	long count;
	const char *headline;
};

static const struct config configs[] = {
	{ 1, 100000, "rss_per_parked_shared_100k_bytes" },
	{ 1, 1000000, "rss_per_parked_shared_1m_bytes" },
	{ 0, 10000, "rss_per_parked_private_64k_10k_bytes" },
};

/*
 * Runs one measurement in a child process: it prints its row to our stdout
 * and sends the per-coroutine figure back through a pipe.
 */
static double run_child(const struct config *c)
{
	double per;
	int fds[2], status;
	ssize_t got;
	pid_t pid;

	if (pipe(fds) < 0)
		bench_die("pipe: %s", strerror(errno));
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		bench_die("fork: %s", strerror(errno));
	if (pid == 0) {
		close(fds[0]);
		per = measure(c->shared, c->count);
		fflush(stdout);
		_exit(write(fds[1], &per, sizeof per) == (ssize_t)sizeof per ? 0 : 2);
	}
	close(fds[1]);
	got = read(fds[0], &per, sizeof per);
	close(fds[0]);
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
	    got != (ssize_t)sizeof per)
		bench_die("the measurement of %ld coroutines on %s stacks failed", c->count,
			  c->shared ? "shared" : "private");
	return per;
}

static void header(void)
{
	printf("Memory: resident bytes per parked coroutine (VmRSS growth / count)\n\n");
	printf("%-34s %8s %11s %10s %10s %10s %8s\n", "configuration", "count", "VmRSS MiB",
	       "bytes/co", "heap B/co", "PTE B/co", "setup s");
}

static void reference(void)
{
	printf("\nheap B/co: malloc's own count (mallinfo2) of what it handed out, for comparison.\n");
	printf("PTE B/co: kernel page tables (VmPTE), not included in VmRSS.\n\n");
	printf("Reference, from BENCH.md (NOT measured in this run):\n");
	printf("  libaco, shared stacks:             264 bytes per parked coroutine\n");
	printf("  libco, shared stacks:              8.8 KiB (its struct alone is 8.2 KiB)\n");
	printf("  libco, private 128 KiB stacks:     17.7 KiB once touched\n");
	printf("  private 64 KiB stacks:             about 4.1-5.2 KiB once touched\n\n");
}

int main(int argc, char **argv)
{
	double per[sizeof configs / sizeof configs[0]];
	size_t i;

	if (argc == 3) {
		int shared = strcmp(argv[1], "shared") == 0;

		if (!shared && strcmp(argv[1], "private") != 0)
			bench_die("usage: bench-mem [shared|private COUNT]");
		header();
		(void)measure(shared, bench_count(argv[2], "COUNT"));
		return 0;
	}
	if (argc != 1)
		bench_die("usage: bench-mem [shared|private COUNT]");
	header();
	for (i = 0; i < sizeof configs / sizeof configs[0]; i++)
		per[i] = run_child(&configs[i]);
	reference();
	for (i = 0; i < sizeof configs / sizeof configs[0]; i++)
		bench_headline(configs[i].headline, per[i], 0, "bytes");
	return 0;
}
