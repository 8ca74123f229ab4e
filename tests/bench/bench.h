/* SPDX-License-Identifier: MIT */
/*
 * bench.h: what the benchmarks in tests/bench share: a clock, statistics
 * over runs, argument parsing, /proc/self/status fields, the output format.
 *
 * Header only (every function static inline) so that each bench-*.c builds
 * on its own into one program, linked with libcoro.a (see the Makefile's
 * bench rule). Include it after defining _GNU_SOURCE.
 *
 * Output contract, relied on by tests/bench/run: a program prints its
 * human-readable table, then one line per headline figure,
 *
 *     BENCH <name> <value> <unit>
 *
 * with names that never change (they are compared between commits).
 * Benchmarks never fail for being slow: a non-zero exit means the program
 * itself could not run (bad arguments, out of memory).
 */
#ifndef CORO_TESTS_BENCH_H
#define CORO_TESTS_BENCH_H

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

/* Most runs a timing mode keeps (the median is taken over them). */
#define BENCH_RUNS_MAX 101

__attribute__((noreturn, format(printf, 1, 2)))
static inline void bench_die(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

/* Monotonic time in nanoseconds. */
static inline double bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/*
 * Keeps the compiler from proving p unused or its memory untouched, so a
 * loop around a call it could see through is not optimised away.
 */
static inline void bench_escape(void *p)
{
	__asm__ volatile("" : : "r"(p) : "memory");
}

/* A positive count: digits with an optional k (x1000) or M (x1000000). */
static inline long bench_count(const char *s, const char *what)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (end != s && *end == 'k' && end[1] == '\0' && v < 1000000000L)
		v *= 1000, end++;
	else if (end != s && *end == 'M' && end[1] == '\0' && v < 1000000L)
		v *= 1000000, end++;
	if (errno || end == s || *end != '\0' || v <= 0)
		bench_die("%s: expected a positive count (e.g. 2000000, 100k, 1M), got \"%s\"",
			  what, s);
	return v;
}

/* Median, minimum and maximum of n > 0 values. */
struct bench_stats {
	double med; /* median; the mean of the middle two when n is even */
	double min;
	double max;
};

static inline struct bench_stats bench_stats_of(const double *v, int n)
{
	double s[BENCH_RUNS_MAX];
	struct bench_stats st;
	int i, j;

	if (n > BENCH_RUNS_MAX)
		n = BENCH_RUNS_MAX;
	/* Insertion sort: n is a few dozen at most. */
	for (i = 0; i < n; i++) {
		double x = v[i];

		for (j = i; j > 0 && s[j - 1] > x; j--)
			s[j] = s[j - 1];
		s[j] = x;
	}
	st.med = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
	st.min = s[0];
	st.max = s[n - 1];
	return st;
}

/*
 * A field of /proc/self/status in kB (VmRSS, VmPTE, ...), or -1 if it is
 * not there. The FILE and its buffer are freed before returning: a reading
 * leaves a few KiB of heap behind at most, nothing next to the megabytes a
 * memory benchmark measures.
 */
static inline long bench_status_kb(const char *field)
{
	char line[256];
	size_t len = strlen(field);
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "re");

	if (!f)
		return -1;
	while (fgets(line, sizeof line, f)) {
		if (strncmp(line, field, len) == 0 && line[len] == ':') {
			kb = strtol(line + len + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return kb;
}

/*
 * A stack for the baselines (Boost.Context, ucontext): an anonymous
 * mapping, as libcoro's private stacks are, without a guard page.
 */
static inline char *bench_stack(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);

	if (p == MAP_FAILED)
		bench_die("mmap of a %zu-byte stack: %s", size, strerror(errno));
	return p;
}

/* One headline line; digits is the number of decimals (-1: 3 significant). */
static inline void bench_headline(const char *name, double value, int digits,
				  const char *unit)
{
	if (digits < 0)
		printf("BENCH %s %.3g %s\n", name, value, unit);
	else
		printf("BENCH %s %.*f %s\n", name, digits, value, unit);
}

#endif
