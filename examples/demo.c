/* SPDX-License-Identifier: MIT */
/*
 * demo.c: a short tour of libcoro, run by `make run`.
 *
 * 1. A generator: a coroutine that yields the Fibonacci numbers one by one.
 * 2. 100,000 coroutines parked on 4 shared stacks, each resumed three
 *    times in round-robin order: what they cost in memory and in time.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "coro/coro.h"

static unsigned long long fib_value;

static void *fibonacci(void *arg)
{
	unsigned long long a = 0, b = 1;

	(void)arg;
	for (;;) {
		fib_value = a;
		co_yield_ct();
		b += a;
		a = b - a;
	}
	return NULL;
}

struct worker {
	unsigned id;
	unsigned long long sum;
};

static void *work(void *arg)
{
	struct worker *w = arg;

	for (unsigned round = 0; round < 3; round++) {
		w->sum += (unsigned long long)w->id * (round + 1);
		co_yield_ct();
	}
	return NULL;
}

static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kib = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (strncmp(line, "VmRSS:", 6) == 0)
			kib = strtol(line + 6, NULL, 10);
	fclose(f);
	return kib;
}

static double seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(void)
{
	enum { N = 100000 };
	struct co *gen, **cos;
	struct worker *workers;
	struct co_sharestack *pool;
	struct co_attr attr = CO_ATTR_INIT;
	unsigned long long total = 0, expect = 0;
	long rss0, rss1;
	double t0, t1;
	int err;

	err = co_create(&gen, NULL, fibonacci, NULL);
	if (err < 0) {
		fprintf(stderr, "demo: co_create: %s\n", strerror(-err));
		return 1;
	}
	printf("A generator coroutine yields Fibonacci numbers:\n ");
	for (int i = 0; i < 15; i++) {
		co_resume(gen);
		printf(" %llu", fib_value);
	}
	printf("\n\n");
	co_release(gen);

	pool = co_alloc_sharestack(4, 128 * 1024);
	cos = calloc(N, sizeof *cos);
	workers = calloc(N, sizeof *workers);
	if (!pool || !cos || !workers) {
		fprintf(stderr, "demo: out of memory\n");
		return 1;
	}
	attr.share_stack = pool;
	rss0 = rss_kib();
	t0 = seconds();
	for (unsigned i = 0; i < N; i++) {
		workers[i].id = i;
		err = co_create(&cos[i], &attr, work, &workers[i]);
		if (err < 0) {
			fprintf(stderr, "demo: co_create #%u: %s\n", i, strerror(-err));
			return 1;
		}
		co_resume(cos[i]);
	}
	t1 = seconds();
	rss1 = rss_kib();
	printf("%d coroutines on 4 shared stacks of 128 KiB, each parked mid-function:\n", N);
	printf("  created and first run in %.1f ms; memory: %.0f bytes of RSS each\n",
	       (t1 - t0) * 1e3, (double)(rss1 - rss0) * 1024.0 / N);
	t0 = seconds();
	for (int round = 0; round < 3; round++)
		for (unsigned i = 0; i < N; i++)
			co_resume(cos[i]);
	t1 = seconds();
	for (unsigned i = 0; i < N; i++) {
		total += workers[i].sum;
		expect += (unsigned long long)i * 6;
		if (!co_is_dead(cos[i])) {
			fprintf(stderr, "demo: coroutine %u did not finish\n", i);
			return 1;
		}
		co_release(cos[i]);
	}
	printf("  3 more rounds of resumes (stack contents swapped each time): %.1f ms, %.0f ns each\n",
	       (t1 - t0) * 1e3, (t1 - t0) * 1e9 / (3.0 * N));
	printf("  checksum %llu (expected %llu): %s\n", total, expect,
	       total == expect ? "ok" : "WRONG");
	printf("  context switches on this thread: %llu\n", co_switch_count());
	co_free_sharestack(pool);
	free(cos);
	free(workers);
	return total == expect ? 0 : 1;
}
