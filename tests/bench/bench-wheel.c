/* SPDX-License-Identifier: MIT */
/*
 * bench-wheel: the cost of a timer insert, cancel and expiry on libcoro's
 * hierarchical timing wheel (coro/wheel.h, the internal co__wheel_* API,
 * linked from libcoro.a) with 1k, 100k and 1M timers pending, next to a
 * binary heap with an index for cancel (the usual alternative, written
 * here) in the same run.
 *
 *   bench-wheel [time [RUNS]]
 *       Timing mode (11 runs). Prints median ns per operation for each
 *       structure, size and operation, the flatness from 1k to 1M, then
 *       BENCH lines.
 *   bench-wheel count IMPL OP SIZE N
 *       Sets up SIZE pending timers, then does exactly N operations OP
 *       (insert, cancel, expire) on IMPL (wheel, heap) and exits: for
 *       callgrind, instructions(2N) - instructions(N) over N (tests/bench/run).
 *       When built with valgrind's headers, only the operations are
 *       instrumented (callgrind --instr-atstart=no), so that a million
 *       timers of setup cost nothing.
 *   bench-wheel has-client-requests
 *       Exits 0 if built with valgrind's client requests, 1 if not.
 *
 * The workload, identical for both structures (same random sequences):
 * SIZE timers, each in a 64-byte object of its own, armed with a delay
 * drawn uniformly from 1 ms to 60 s. Then batches of K operations
 * (K = SIZE/10, at most 1000), each batch:
 *   cancel   K pending timers chosen at random (a shuffled order);
 *   insert   the same K timers again, with new random delays;
 *   expire   the clock moves on by as much as makes about K timers due,
 *            and the structure fires them (wheel: co__wheel_advance; heap:
 *            pop the minimum while it is due), each callback recording its
 *            timer; the wheel's cascades from higher levels are part of
 *            this cost;
 *   then, not timed, the fired timers are armed again, so that SIZE stay
 *   pending.
 * 100,000 operations of each kind per measurement; ns per operation is the
 * phase's time over its operation count.
 *
 * Memory: at 1M, the timers take 64 MB, far more than the caches, and a
 * random cancel is a cache miss on the timer and on its neighbours (the
 * wheel's list, the heap's array and the moved timers' index fields) for
 * either structure: ns per operation then grows with the size for reasons
 * that are not the algorithm's. The instruction counts (callgrind) show
 * the algorithmic cost alone.
 */
#define _GNU_SOURCE
#include <stdint.h>

#include "coro/wheel.h"
#include "tests/bench/bench.h"

#if defined(__has_include)
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define HAVE_CLIENT_REQUESTS 1
#endif
#endif
#if !defined(HAVE_CLIENT_REQUESTS)
#define CALLGRIND_START_INSTRUMENTATION
#define CALLGRIND_STOP_INSTRUMENTATION
#endif

#define RANGE_MS 60000 /* delays: 1 ms .. 60 s */
#define NDELAYS 65536  /* precomputed random delays, used in turn */
#define OPS 100000     /* operations of each kind per measurement */
#define T0 1000000     /* the clock's start, in ms */

/* ---- random numbers ------------------------------------------------------ */

static uint64_t rng_state;

static uint64_t rng(void)
{
	/* xorshift64*: good enough, and the same sequence for both structures. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1Dull;
}

static uint32_t delays[NDELAYS];

static void make_delays(void)
{
	rng_state = 0x2545F4914F6CDD1Dull; /* xorshift must not start from 0 */
	for (int i = 0; i < NDELAYS; i++)
		delays[i] = 1 + (uint32_t)(rng() % RANGE_MS);
}

/* ---- the binary heap ------------------------------------------------------ */

struct htimer {
	uint64_t expires;
	uint32_t idx;                  /* position in the heap + 1; 0: not pending */
	void (*fn)(struct htimer *t);
	char pad[40];                  /* 64 bytes, as the wheel's objects */
};

/* The heap keeps each key beside its pointer: comparisons stay in the array. */
struct hent {
	uint64_t expires;
	struct htimer *t;
};

struct heap {
	struct hent *a;
	uint32_t n;
};

static void heap_sift_up(struct heap *h, uint32_t i, struct hent e)
{
	while (i > 0) {
		uint32_t p = (i - 1) / 2;

		if (h->a[p].expires <= e.expires)
			break;
		h->a[i] = h->a[p];
		h->a[i].t->idx = i + 1;
		i = p;
	}
	h->a[i] = e;
	e.t->idx = i + 1;
}

static void heap_sift_down(struct heap *h, uint32_t i, struct hent e)
{
	uint32_t n = h->n;

	for (;;) {
		uint32_t c = 2 * i + 1;

		if (c >= n)
			break;
		if (c + 1 < n && h->a[c + 1].expires < h->a[c].expires)
			c++;
		if (e.expires <= h->a[c].expires)
			break;
		h->a[i] = h->a[c];
		h->a[i].t->idx = i + 1;
		i = c;
	}
	h->a[i] = e;
	e.t->idx = i + 1;
}

static void heap_cancel(struct heap *h, struct htimer *t)
{
	uint32_t i;
	struct hent last;

	if (!t->idx)
		return;
	i = t->idx - 1;
	t->idx = 0;
	last = h->a[--h->n];
	if (i == h->n)
		return;
	if (i > 0 && h->a[(i - 1) / 2].expires > last.expires)
		heap_sift_up(h, i, last);
	else
		heap_sift_down(h, i, last);
}

static void heap_add(struct heap *h, struct htimer *t, uint64_t expires)
{
	struct hent e = { expires, t };

	if (t->idx)
		heap_cancel(h, t);
	t->expires = expires;
	heap_sift_up(h, h->n++, e);
}

static size_t heap_expire(struct heap *h, uint64_t now)
{
	size_t n = 0;

	while (h->n && h->a[0].expires <= now) {
		struct htimer *t = h->a[0].t;

		t->idx = 0;
		if (--h->n)
			heap_sift_down(h, 0, h->a[h->n]);
		n++;
		t->fn(t);
	}
	return n;
}

/* ---- the two structures behind one interface ----------------------------- */

struct wtimer {
	struct co__timer t;
	char pad[64 - sizeof(struct co__timer)];
};

enum { IMPL_WHEEL, IMPL_HEAP, NIMPL };
static const char *const impl_name[NIMPL] = { "wheel", "heap" };

/* One structure with its timers and its own clock. */
struct bed {
	int impl;
	size_t size;              /* timers kept pending */
	size_t k;                 /* operations per batch */
	uint64_t step;            /* ms the clock moves per expiry batch */
	uint64_t now;
	struct co__wheel wheel;
	struct heap heap;
	struct wtimer *wt;        /* size + extra timers */
	struct htimer *ht;
	uint32_t *order;          /* a shuffled permutation of 0..size-1 */
	size_t pos;               /* next index into order */
	uint32_t di;              /* next delay */
	void **fired;             /* what the callbacks recorded */
	size_t nfired;
};

/* The callbacks' target: one bed fires at a time. */
static struct bed *firing;

static void wheel_fired(struct co__timer *t)
{
	firing->fired[firing->nfired++] = t;
}

static void heap_fired(struct htimer *t)
{
	firing->fired[firing->nfired++] = t;
}

static inline uint64_t next_deadline(struct bed *b)
{
	return b->now + delays[b->di++ % NDELAYS];
}

static inline void bed_add(struct bed *b, size_t i)
{
	if (b->impl == IMPL_WHEEL)
		co__wheel_add(&b->wheel, &b->wt[i].t, next_deadline(b), wheel_fired);
	else
		heap_add(&b->heap, &b->ht[i], next_deadline(b));
}

static inline void bed_cancel(struct bed *b, size_t i)
{
	if (b->impl == IMPL_WHEEL)
		co__wheel_cancel(&b->wheel, &b->wt[i].t);
	else
		heap_cancel(&b->heap, &b->ht[i]);
}

static inline size_t bed_advance(struct bed *b, uint64_t now)
{
	b->now = now;
	firing = b;
	if (b->impl == IMPL_WHEEL)
		return co__wheel_advance(&b->wheel, now);
	return heap_expire(&b->heap, now);
}

/* Index of a recorded timer. */
static size_t fired_index(const struct bed *b, const void *p)
{
	if (b->impl == IMPL_WHEEL)
		return (size_t)((const struct wtimer *)p - b->wt);
	return (size_t)((const struct htimer *)p - b->ht);
}

static void *alloc_lines(size_t n, size_t size)
{
	void *p = aligned_alloc(64, n * size);

	if (!p)
		bench_die("out of memory for %zu timers", n);
	memset(p, 0, n * size);
	return p;
}

/* Arms size timers (extra more are allocated, not armed). The same draws for either impl. */
static void bed_init(struct bed *b, int impl, size_t size, size_t extra)
{
	memset(b, 0, sizeof *b);
	b->impl = impl;
	b->size = size;
	b->k = size / 10 < 1000 ? size / 10 : 1000;
	/* In steady state timers fire at 2 * size / RANGE_MS per ms (mean delay RANGE_MS / 2). */
	b->step = (uint64_t)b->k * RANGE_MS / (2 * size);
	if (b->step < 1)
		b->step = 1;
	b->now = T0;
	rng_state = 0x9E3779B97F4A7C15ull;
	b->order = malloc(size * sizeof *b->order);
	b->fired = malloc((size + extra) * sizeof *b->fired);
	if (!b->order || !b->fired)
		bench_die("out of memory for %zu timers", size);
	for (size_t i = 0; i < size; i++)
		b->order[i] = (uint32_t)i;
	for (size_t i = size - 1; i > 0; i--) {
		size_t j = rng() % (i + 1);
		uint32_t x = b->order[i];

		b->order[i] = b->order[j];
		b->order[j] = x;
	}
	if (impl == IMPL_WHEEL) {
		co__wheel_init(&b->wheel, T0);
		b->wt = alloc_lines(size + extra, sizeof *b->wt);
	} else {
		b->ht = alloc_lines(size + extra, sizeof *b->ht);
		b->heap.a = malloc((size + extra) * sizeof *b->heap.a);
		if (!b->heap.a)
			bench_die("out of memory for %zu timers", size);
		for (size_t i = 0; i < size + extra; i++)
			b->ht[i].fn = heap_fired;
	}
	/*
	 * The first timers get the steady state's spread of remaining time
	 * (density falling linearly to 0 at RANGE_MS: the minimum of two
	 * uniform draws), so that measurements need not wait for it.
	 */
	for (size_t i = 0; i < size; i++) {
		uint64_t a = rng() % RANGE_MS, c = rng() % RANGE_MS;

		if (impl == IMPL_WHEEL)
			co__wheel_add(&b->wheel, &b->wt[i].t, T0 + 1 + (a < c ? a : c), wheel_fired);
		else
			heap_add(&b->heap, &b->ht[i], T0 + 1 + (a < c ? a : c));
	}
}

static void bed_free(struct bed *b)
{
	free(b->wt);
	free(b->ht);
	free(b->heap.a);
	free(b->order);
	free(b->fired);
}

enum { OP_INSERT, OP_CANCEL, OP_EXPIRE, NOP };
static const char *const op_name[NOP] = { "insert", "cancel", "expire" };

/* One measurement: ns per operation of each kind over about OPS of each. */
static void bed_measure(struct bed *b, double ns[NOP])
{
	double t[NOP] = { 0, 0, 0 };
	size_t n[NOP] = { 0, 0, 0 };

	while (n[OP_CANCEL] < OPS || n[OP_EXPIRE] < OPS) {
		size_t k = b->k, pos = b->pos;
		double t0, t1, t2, t3;

		if (pos + k > b->size)
			pos = 0;
		t0 = bench_now_ns();
		for (size_t j = 0; j < k; j++)
			bed_cancel(b, b->order[pos + j]);
		t1 = bench_now_ns();
		for (size_t j = 0; j < k; j++)
			bed_add(b, b->order[pos + j]);
		t2 = bench_now_ns();
		b->nfired = 0;
		bed_advance(b, b->now + b->step);
		t3 = bench_now_ns();
		for (size_t j = 0; j < b->nfired; j++)
			bed_add(b, fired_index(b, b->fired[j]));
		b->pos = pos + k;
		t[OP_CANCEL] += t1 - t0;
		t[OP_INSERT] += t2 - t1;
		t[OP_EXPIRE] += t3 - t2;
		n[OP_CANCEL] += k;
		n[OP_INSERT] += k;
		n[OP_EXPIRE] += b->nfired;
	}
	for (int o = 0; o < NOP; o++)
		ns[o] = t[o] / (double)n[o];
}

/* ---- timing mode --------------------------------------------------------- */

#define NSIZE 3
static const size_t sizes[NSIZE] = { 1000, 100000, 1000000 };
static const char *const size_name[NSIZE] = { "1k", "100k", "1m" };

static struct bench_stats stats(const double *v, int n)
{
	if (n < 1 || n > BENCH_RUNS_MAX)
		bench_die("stats: %d values", n);
	return bench_stats_of(v, n);
}

static int time_mode(int runs)
{
	static double ns[NIMPL][NSIZE][NOP][BENCH_RUNS_MAX];
	static struct bed beds[NIMPL][NSIZE];
	struct bench_stats st[NIMPL][NSIZE][NOP];
	double flat[NIMPL][NOP], worst[NIMPL] = { 0, 0 };
	char name[64];

	make_delays();
	for (int s = 0; s < NSIZE; s++)
		for (int i = 0; i < NIMPL; i++)
			bed_init(&beds[i][s], i, sizes[s], 0);
	/* Run -1 warms up (and brings each structure to its steady state); not kept. */
	for (int r = -1; r < runs; r++) {
		for (int s = 0; s < NSIZE; s++) {
			for (int k = 0; k < NIMPL; k++) {
				int i = (k + r + 1 + s) % NIMPL;
				double v[NOP];

				bed_measure(&beds[i][s], v);
				if (r >= 0)
					for (int o = 0; o < NOP; o++)
						ns[i][s][o][r] = v[o];
			}
		}
	}
	for (int i = 0; i < NIMPL; i++)
		for (int s = 0; s < NSIZE; s++)
			for (int o = 0; o < NOP; o++)
				st[i][s][o] = stats(ns[i][s][o], runs);

	printf("Timers: insert, cancel, expire with SIZE pending; delays uniform in 1 ms..%d s;\n"
	       "batches of SIZE/10 (at most 1000) random cancels, re-inserts, and an expiry\n"
	       "step firing about as many (re-armed untimed). %d runs after a warm-up,\n"
	       "wheel and heap interleaved; ns per operation, median (min-max).\n\n",
	       RANGE_MS / 1000, runs);
	printf("%-6s %-7s %22s %22s %8s\n", "size", "op", "wheel ns", "heap ns", "wheel/heap");
	for (int s = 0; s < NSIZE; s++) {
		for (int o = 0; o < NOP; o++) {
			char a[32], b[32];

			snprintf(a, sizeof a, "%.1f (%.1f-%.1f)", st[IMPL_WHEEL][s][o].med,
				 st[IMPL_WHEEL][s][o].min, st[IMPL_WHEEL][s][o].max);
			snprintf(b, sizeof b, "%.1f (%.1f-%.1f)", st[IMPL_HEAP][s][o].med,
				 st[IMPL_HEAP][s][o].min, st[IMPL_HEAP][s][o].max);
			printf("%-6s %-7s %22s %22s %8.2f\n", size_name[s], op_name[o], a, b,
			       st[IMPL_WHEEL][s][o].med / st[IMPL_HEAP][s][o].med);
		}
	}
	for (int i = 0; i < NIMPL; i++) {
		for (int o = 0; o < NOP; o++) {
			double lo = st[i][0][o].med, hi = lo;

			for (int s = 1; s < NSIZE; s++) {
				if (st[i][s][o].med < lo)
					lo = st[i][s][o].med;
				if (st[i][s][o].med > hi)
					hi = st[i][s][o].med;
			}
			flat[i][o] = hi / lo;
			if (flat[i][o] > worst[i])
				worst[i] = flat[i][o];
		}
	}
	printf("\nFlatness, slowest size / fastest size (ns; 1.0 is flat):\n");
	for (int i = 0; i < NIMPL; i++)
		printf("  %-6s insert %.2f  cancel %.2f  expire %.2f  worst %.2f%s\n", impl_name[i],
		       flat[i][OP_INSERT], flat[i][OP_CANCEL], flat[i][OP_EXPIRE], worst[i],
		       i == IMPL_WHEEL ? "  goal <= 1.2" : "");
	printf("(ns include cache misses, which grow with the memory the timers take for\n"
	       "either structure; the callgrind instruction counts show the algorithm alone)\n\n");

	for (int i = 0; i < NIMPL; i++)
		for (int o = 0; o < NOP; o++)
			for (int s = 0; s < NSIZE; s++) {
				snprintf(name, sizeof name, "%s_%s_ns_%s", impl_name[i], op_name[o],
					 size_name[s]);
				bench_headline(name, st[i][s][o].med, 1, "ns");
			}
	bench_headline("wheel_flatness_ratio", worst[IMPL_WHEEL], 2, "ratio");
	bench_headline("heap_flatness_ratio", worst[IMPL_HEAP], 2, "ratio");
	for (int s = 0; s < NSIZE; s++)
		for (int i = 0; i < NIMPL; i++)
			bed_free(&beds[i][s]);
	return 0;
}

/* ---- count mode (callgrind) ------------------------------------------------ */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The deadline of the n-th earliest pending timer (setup work: not counted). */
static uint64_t nth_deadline(const struct bed *b, size_t n)
{
	uint64_t *d = malloc(b->size * sizeof *d), v;

	if (!d)
		bench_die("out of memory");
	for (size_t i = 0; i < b->size; i++)
		d[i] = b->impl == IMPL_WHEEL ? b->wt[i].t.expires : b->ht[i].expires;
	qsort(d, b->size, sizeof *d, cmp_u64);
	v = d[n - 1];
	free(d);
	return v;
}

static int count_mode(const char *impl_s, const char *op_s, const char *size_s, const char *n_s)
{
	long size = bench_count(size_s, "SIZE"), n = bench_count(n_s, "N");
	int impl = -1, op = -1;
	struct bed b;

	for (int i = 0; i < NIMPL; i++)
		if (strcmp(impl_s, impl_name[i]) == 0)
			impl = i;
	for (int o = 0; o < NOP; o++)
		if (strcmp(op_s, op_name[o]) == 0)
			op = o;
	if (impl < 0 || op < 0)
		bench_die("count: IMPL is wheel or heap, OP is insert, cancel or expire");
	if (size < 10 || n > size)
		bench_die("count: SIZE at least 10, N at most SIZE");
	make_delays();
	bed_init(&b, impl, (size_t)size, op == OP_INSERT ? (size_t)n : 0);
	if (op == OP_INSERT) {
		CALLGRIND_START_INSTRUMENTATION;
		for (size_t i = 0; i < (size_t)n; i++)
			bed_add(&b, (size_t)size + i);
		CALLGRIND_STOP_INSTRUMENTATION;
	} else if (op == OP_CANCEL) {
		CALLGRIND_START_INSTRUMENTATION;
		for (size_t i = 0; i < (size_t)n; i++)
			bed_cancel(&b, b.order[i]);
		CALLGRIND_STOP_INSTRUMENTATION;
	} else {
		/* The clock moves in the timing mode's steps up to the n-th deadline. */
		uint64_t until = nth_deadline(&b, (size_t)n), now = b.now;

		CALLGRIND_START_INSTRUMENTATION;
		while (now < until) {
			now = now + b.step < until ? now + b.step : until;
			b.nfired = 0;
			bed_advance(&b, now);
		}
		CALLGRIND_STOP_INSTRUMENTATION;
	}
	bench_escape(&b);
	return 0;
}

int main(int argc, char **argv)
{
	int runs = 11;

	if (argc >= 2 && strcmp(argv[1], "count") == 0) {
		if (argc != 6)
			bench_die("usage: bench-wheel count IMPL OP SIZE N");
		return count_mode(argv[2], argv[3], argv[4], argv[5]);
	}
	if (argc == 2 && strcmp(argv[1], "has-client-requests") == 0) {
#if defined(HAVE_CLIENT_REQUESTS)
		return 0;
#else
		return 1;
#endif
	}
	if (argc >= 2 && strcmp(argv[1], "time") != 0)
		bench_die("usage: bench-wheel [time [RUNS]] | count IMPL OP SIZE N | has-client-requests");
	if (argc >= 3)
		runs = (int)bench_count(argv[2], "RUNS");
	if (runs > BENCH_RUNS_MAX)
		bench_die("RUNS: at most %d", BENCH_RUNS_MAX);
	return time_mode(runs);
}
