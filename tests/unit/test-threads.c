/* SPDX-License-Identifier: MIT */
/*
 * test-threads.c: one environment per thread. Four threads run their own
 * coroutines (private and shared stacks) at the same time and get the
 * right answers; each thread's current coroutine, switch count, errno and
 * co-local values are its own; a thread's exit frees its environment and
 * its pooled stacks (valgrind and LeakSanitizer check the memory, the
 * count of mappings checks the stacks); an overflow in a thread is
 * reported like one on main.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include "coro/coro.h"
#include "tests/unit/tap.h"

#define THREADS 4
#define PRIVATE_COS 20
#define SHARED_COS 20
#define COS (PRIVATE_COS + SHARED_COS)
#define STEPS 200

static pthread_key_t key;
static pthread_barrier_t start;

struct job {
	unsigned thread;
	uint64_t sum[COS];     /* what each coroutine computed */
	unsigned long long switches;
	int failed_line;       /* where a check in the thread failed, or 0 */
};

/* In a thread, a failed ASSERT would exit the whole case from there: record instead. */
#define CHECK(job, cond)                                                     \
	do {                                                                 \
		if (!(cond) && !(job)->failed_line)                          \
			(job)->failed_line = __LINE__;                       \
	} while (0)

struct task {
	struct job *job;
	unsigned index;
	struct co *co;
};

static uint64_t step_value(unsigned thread, unsigned index, unsigned step)
{
	return (uint64_t)thread * 1000003u + (uint64_t)index * 7919u + step;
}

/* Sums a sequence one step per resume, keeping state on its stack, in errno and in co-local storage. */
static void *summer(void *arg)
{
	struct task *t = arg;
	struct job *job = t->job;
	volatile uint64_t sum = 0;
	int mine = (int)(job->thread * 100 + t->index + 1);

	CHECK(job, co_self() == t->co);
	CHECK(job, co_setspecific(key, t) == 0);
	for (unsigned step = 0; step < STEPS; step++) {
		sum += step_value(job->thread, t->index, step);
		errno = mine;
		co_yield_ct();
		CHECK(job, errno == mine);
		CHECK(job, co_getspecific(key) == t);
		CHECK(job, co_self() == t->co);
	}
	job->sum[t->index] = sum;
	return NULL;
}

static void *thread_main(void *arg)
{
	struct job *job = arg;
	struct co_sharestack *pool = co_alloc_sharestack(2, 32 * 1024);
	struct co_attr priv = { 16 * 1024, NULL }, shared = { 0, pool };
	struct task tasks[COS];
	unsigned long long before;
	unsigned live = COS;

	CHECK(job, pool != NULL);
	CHECK(job, co_self() == NULL && co_is_main());
	for (unsigned i = 0; i < COS; i++) {
		tasks[i].job = job;
		tasks[i].index = i;
		CHECK(job, co_create(&tasks[i].co, i < PRIVATE_COS ? &priv : &shared,
				     summer, &tasks[i]) == 0);
	}
	pthread_barrier_wait(&start);
	before = co_switch_count();
	for (unsigned round = 0; live > 0; round++) {
		live = 0;
		/* A different order each round, and per thread. */
		for (unsigned k = 0; k < COS; k++) {
			struct task *t = &tasks[(k * 7 + round + job->thread) % COS];

			if (co_is_dead(t->co))
				continue;
			errno = -1;
			co_resume(t->co);
			CHECK(job, errno == -1);
			CHECK(job, co_self() == NULL);
			live += !co_is_dead(t->co);
		}
	}
	job->switches = co_switch_count() - before;
	for (unsigned i = 0; i < COS; i++)
		co_release(tasks[i].co);
	co_free_sharestack(pool);
	return NULL;
}

static void run_threads(struct job *jobs)
{
	pthread_t tids[THREADS];

	ASSERT_EQ(pthread_barrier_init(&start, NULL, THREADS), 0);
	for (unsigned i = 0; i < THREADS; i++) {
		jobs[i].thread = i;
		ASSERT_EQ(pthread_create(&tids[i], NULL, thread_main, &jobs[i]), 0);
	}
	for (unsigned i = 0; i < THREADS; i++)
		ASSERT_EQ(pthread_join(tids[i], NULL), 0);
	pthread_barrier_destroy(&start);
}

static void check_jobs(const struct job *jobs)
{
	for (unsigned i = 0; i < THREADS; i++) {
		if (jobs[i].failed_line)
			fprintf(stderr, "# thread %u: check at line %d failed\n", i,
				jobs[i].failed_line);
		ASSERT_EQ(jobs[i].failed_line, 0);
		for (unsigned c = 0; c < COS; c++) {
			uint64_t want = 0;

			for (unsigned s = 0; s < STEPS; s++)
				want += step_value(i, c, s);
			ASSERT_UEQ(jobs[i].sum[c], want);
		}
		/* Each thread counts its own switches: a resume and a yield per step, and the return. */
		ASSERT_EQ(jobs[i].switches, 2ull * COS * (STEPS + 1));
	}
}

static void *hold(void *arg)
{
	co_yield_ct();
	return arg;
}

TEST(four_threads_concurrently)
{
	static struct job jobs[THREADS];
	unsigned long long before;
	struct co *mine;

	ASSERT_EQ(pthread_key_create(&key, NULL), 0);
	/* Main has a coroutine of its own, suspended while the threads run. */
	ASSERT_EQ(co_create(&mine, NULL, hold, NULL), 0);
	co_resume(mine);
	before = co_switch_count();
	run_threads(jobs);
	check_jobs(jobs);
	ASSERT_EQ(co_switch_count(), before);
	co_resume(mine);
	ASSERT(co_is_dead(mine));
	co_release(mine);
}

static long count_maps(void)
{
	char buf[65536];
	long lines = 0;
	ssize_t n;
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);

	ASSERT(fd >= 0);
	while ((n = read(fd, buf, sizeof buf)) > 0)
		for (ssize_t i = 0; i < n; i++)
			lines += buf[i] == '\n';
	close(fd);
	return lines;
}

/*
 * Each thread leaves 20 private stacks in its pool, its copy helper's
 * stack and its signal stack: its exit must unmap them (and free the
 * environment, which valgrind and LeakSanitizer check at exit). The first
 * run lets the C library set up what it keeps across threads (thread
 * stacks, malloc arenas).
 */
TEST(thread_exit_frees_environment)
{
	static struct job jobs[THREADS];
	long before, after;

	ASSERT_EQ(pthread_key_create(&key, NULL), 0);
	run_threads(jobs);
	check_jobs(jobs);
	before = count_maps();
	for (int i = 0; i < 3; i++) {
		run_threads(jobs);
		check_jobs(jobs);
	}
	after = count_maps();
	fprintf(stderr, "# mappings: %ld before, %ld after\n", before, after);
	ASSERT_LE(after, before + 4);
}

static void *queries_only(void *arg)
{
	(void)arg;
	if (co_self() != NULL || !co_is_main() || co_get_current() != NULL)
		return (void *)1;
	return NULL;
}

/* A thread that never makes a coroutine can ask about them. */
TEST(thread_without_coroutines)
{
	pthread_t tid;
	void *ret = (void *)2;

	ASSERT_EQ(pthread_create(&tid, NULL, queries_only, NULL), 0);
	ASSERT_EQ(pthread_join(tid, &ret), 0);
	ASSERT_PTR_EQ(ret, NULL);
}

static volatile int keep_going = 1;

static int recurse(int n)
{
	volatile char pad[256];

	pad[0] = (char)n;
	if (keep_going)
		return recurse(n + 1) + pad[0];
	return pad[0];
}

static void *overflow_fn(void *arg)
{
	return (void *)(intptr_t)recurse((int)(intptr_t)arg);
}

static void *overflow_thread(void *arg)
{
	struct co_attr attr = { 16 * 1024, NULL };
	struct co *co;

	(void)arg;
	if (co_create(&co, &attr, overflow_fn, NULL) != 0 ||
	    co_set_name(co, "worker-thread-co") != 0)
		return NULL;
	co_resume(co);
	return NULL;
}

/* The thread has a signal stack of its own for the report. */
TEST_DEATH(overflow_in_thread_reported, SIGABRT,
	   "\"worker-thread-co\" overflowed its 16384-byte stack")
{
	static struct co *on_main;
	pthread_t tid;

	/* Main has set up its environment too: the handler is the same for all. */
	ASSERT_EQ(co_create(&on_main, NULL, hold, NULL), 0);
	ASSERT_EQ(pthread_create(&tid, NULL, overflow_thread, NULL), 0);
	pthread_join(tid, NULL);
}

static void *yield_in_thread(void *arg)
{
	co_yield_ct();
	return arg;
}

TEST_DEATH(yield_outside_in_thread_aborts, SIGABRT, "outside a coroutine")
{
	pthread_t tid;

	ASSERT_EQ(pthread_create(&tid, NULL, yield_in_thread, NULL), 0);
	pthread_join(tid, NULL);
}
