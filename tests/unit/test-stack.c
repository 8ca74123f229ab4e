/* SPDX-License-Identifier: MIT */
/*
 * test-stack.c: private stacks. Tens of thousands alive at once; the
 * per-thread pool reuses stacks and leaks no mapping; co_create fails
 * cleanly with -ENOMEM when the kernel's mapping limit is reached and with
 * -EINVAL on bad arguments; sizes are rounded as documented; an overflow
 * aborts naming the coroutine, and a fault that is not an overflow still
 * reaches whatever handled SIGSEGV before libcoro.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "coro/coro.h"
#include "tests/unit/tap.h"

/* Lines of /proc/self/maps: the mappings this process has. */
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
	ASSERT_EQ(n, 0);
	close(fd);
	return lines;
}

/* Records where its stack is (if arg is not NULL), yields, returns. */
static void *touch_and_yield(void *arg)
{
	uintptr_t *where = arg;

	if (where)
		*where = (uintptr_t)__builtin_frame_address(0);
	co_yield_ct();
	return NULL;
}

/* Keeps a value on its stack across a yield. */
static void *hold_value(void *arg)
{
	volatile uintptr_t mine = (uintptr_t)arg;

	co_yield_ct();
	ASSERT_EQ(mine, (uintptr_t)arg);
	return NULL;
}

#define MANY 20000

static struct co *many[MANY];

/* 40,000 mappings: more than valgrind's segment table holds (VG_N_SEGMENTS). */
TEST_NO_VALGRIND(twenty_thousand_alive)
{
	struct co_attr attr = { 16 * 1024, NULL };

	for (uintptr_t i = 0; i < MANY; i++) {
		ASSERT_EQ(co_create(&many[i], &attr, hold_value, (void *)(i << 4)), 0);
		co_resume(many[i]);
	}
	for (int i = 0; i < MANY; i++) {
		ASSERT(!co_is_dead(many[i]));
		co_resume(many[i]);
		ASSERT(co_is_dead(many[i]));
	}
	for (int i = 0; i < MANY; i++)
		co_release(many[i]);
}

static void create_resume_release(int n, int stack_size)
{
	struct co_attr attr = { stack_size, NULL };

	for (int i = 0; i < n; i++)
		ASSERT_EQ(co_create(&many[i], &attr, touch_and_yield, NULL), 0);
	for (int i = 0; i < n; i++)
		co_resume(many[i]);
	for (int i = 0; i < n; i++)
		co_release(many[i]);
}

/*
 * More coroutines than the pool keeps (so stacks are both reused and
 * unmapped), many times over: the number of mappings must not grow.
 */
TEST(create_release_cycles_leak_no_mapping)
{
	long before, after;

	create_resume_release(300, 16 * 1024);
	create_resume_release(300, 64 * 1024);
	before = count_maps();
	for (int cycle = 0; cycle < 50; cycle++)
		create_resume_release(300, cycle % 2 ? 16 * 1024 : 64 * 1024);
	after = count_maps();
	fprintf(stderr, "# mappings: %ld before, %ld after\n", before, after);
	ASSERT_LE(after, before + 16);
}

/* A released stack is handed to the next coroutine that asks for the same size. */
TEST(pool_reuses_stacks)
{
	struct co_attr small = { 16 * 1024, NULL }, big = { 64 * 1024, NULL };
	uintptr_t first = 0, second = 0, third = 0;
	struct co *co;

	ASSERT_EQ(co_create(&co, &small, touch_and_yield, &first), 0);
	co_resume(co);
	co_release(co);
	ASSERT_EQ(co_create(&co, &small, touch_and_yield, &second), 0);
	co_resume(co);
	ASSERT_UEQ(second, first);
	co_release(co);
	/* A different size gets a stack of its own size, not the pooled one. */
	ASSERT_EQ(co_create(&co, &big, touch_and_yield, &third), 0);
	ASSERT_EQ(co_stack_size(co), 64 * 1024);
	co_resume(co);
	ASSERT(third > first + 32 * 1024 || third < first - 16 * 1024);
	co_release(co);
}

/*
 * Each private stack costs two mappings, so vm.max_map_count stops
 * co_create after some tens of thousands: it must say -ENOMEM, leave *ret
 * alone, and everything made before must still run and release.
 */
#define LIMIT 70000
#define DEFAULT_MAX_MAP_COUNT 65530

static struct co *hoard[LIMIT];

static long read_long(const char *path)
{
	char buf[32] = "";
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	ASSERT(fd >= 0);
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	ASSERT(n > 0);
	return strtol(buf, NULL, 10);
}

/*
 * Where vm.max_map_count is raised (some distributions ship 1048576), uses
 * up the surplus with mappings that cost neither memory nor commit charge:
 * pages of one PROT_NONE mapping, every other one made PROT_READ, are
 * mappings of their own. The test then meets the default limit's headroom.
 */
static void use_up_surplus_mappings(void)
{
	long surplus = read_long("/proc/sys/vm/max_map_count") - DEFAULT_MAX_MAP_COUNT;
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	char *filler;

	if (surplus <= 0)
		return;
	filler = mmap(NULL, (size_t)surplus * page, PROT_NONE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	ASSERT(filler != MAP_FAILED);
	for (long i = 1; i < surplus; i += 2)
		ASSERT_EQ(mprotect(filler + (size_t)i * page, page, PROT_READ), 0);
}

/* valgrind's own segment table (VG_N_SEGMENTS) runs out before the kernel's limit. */
TEST_NO_VALGRIND(enomem_at_mapping_limit)
{
	struct co_attr attr = { 16 * 1024, NULL };
	struct co *const sentinel = (struct co *)&attr;
	struct co *co = sentinel;
	long before;
	int n, rc = 0;

	use_up_surplus_mappings();
	before = count_maps();
	for (n = 0; n < LIMIT; n++) {
		rc = co_create(&co, &attr, touch_and_yield, NULL);
		if (rc != 0)
			break;
		hoard[n] = co;
		co = sentinel;
	}
	fprintf(stderr, "# co_create failed after %d coroutines: %d\n", n, rc);
	ASSERT_LT(n, LIMIT);
	ASSERT_EQ(rc, -ENOMEM);
	ASSERT_PTR_EQ(co, sentinel);
	ASSERT_GT(n, 1000);
	/* Failing again changes nothing. */
	ASSERT_EQ(co_create(&co, &attr, touch_and_yield, NULL), -ENOMEM);
	ASSERT_PTR_EQ(co, sentinel);
	for (int i = 0; i < n; i += 97)
		co_resume(hoard[i]);
	for (int i = 0; i < n; i++)
		co_release(hoard[i]);
	/* The mappings are back (but for the stacks the pool keeps)... */
	ASSERT_LE(count_maps(), before + 2 * 256 + 16);
	/* ... and co_create works again, with pooled and with new stacks. */
	for (int i = 0; i < 300; i++)
		ASSERT_EQ(co_create(&hoard[i], &attr, touch_and_yield, NULL), 0);
	for (int i = 0; i < 300; i++) {
		co_resume(hoard[i]);
		co_resume(hoard[i]);
		ASSERT(co_is_dead(hoard[i]));
		co_release(hoard[i]);
	}
}

static void *nop(void *arg)
{
	return arg;
}

TEST(create_invalid_arguments)
{
	struct co_sharestack *pool = co_alloc_sharestack(1, 16 * 1024);
	struct co_attr negative = { -1, NULL }, negative_shared = { -1, pool };
	struct co *untouched = (struct co *)&negative, *co = untouched;

	ASSERT(pool);
	ASSERT_EQ(co_create(NULL, NULL, nop, NULL), -EINVAL);
	ASSERT_EQ(co_create(&co, NULL, NULL, NULL), -EINVAL);
	ASSERT_PTR_EQ(co, untouched);
	ASSERT_EQ(co_create(&co, &negative, nop, NULL), -EINVAL);
	ASSERT_PTR_EQ(co, untouched);
	/* With a shared stack, stack_size is ignored. */
	ASSERT_EQ(co_create(&co, &negative_shared, nop, NULL), 0);
	co_resume(co);
	ASSERT(co_is_dead(co));
	co_release(co);
	co_release(NULL);
	co_free_sharestack(pool);
}

/* Fills most of its stack: the size it was given is really there. */
static void *use_56k(void *arg)
{
	volatile char big[56 * 1024];

	for (size_t i = 0; i < sizeof big; i += 512)
		big[i] = (char)i;
	for (size_t i = 0; i < sizeof big; i += 512)
		ASSERT_EQ(big[i], (char)i);
	return arg;
}

TEST(stack_sizes)
{
	static const struct {
		int asked;
		size_t got;
	} sizes[] = {
		{ 0, 128 * 1024 },     /* libco's default */
		{ 1, 16 * 1024 },      /* the minimum */
		{ 16 * 1024 - 1, 16 * 1024 },
		{ 20000, 20480 },      /* whole pages */
		{ 64 * 1024, 64 * 1024 },
		{ 1024 * 1024, 1024 * 1024 },
	};
	struct co *co;

	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		struct co_attr attr = { sizes[i].asked, NULL };

		ASSERT_EQ(co_create(&co, &attr, nop, NULL), 0);
		ASSERT_EQ(co_stack_size(co), sizes[i].got);
		co_release(co);
	}
	ASSERT_EQ(co_create(&co, NULL, nop, NULL), 0);
	ASSERT_EQ(co_stack_size(co), 128 * 1024);
	co_release(co);

	/* A 64 KiB stack holds a 56 KiB frame, after a 16 KiB one was pooled. */
	{
		struct co_attr small = { 16 * 1024, NULL }, big = { 64 * 1024, NULL };

		ASSERT_EQ(co_create(&co, &small, nop, NULL), 0);
		co_release(co);
		ASSERT_EQ(co_create(&co, &big, use_56k, NULL), 0);
		co_resume(co);
		ASSERT(co_is_dead(co));
		co_release(co);
	}
}

/* ---- overflow and other faults ------------------------------------------ */

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

TEST_DEATH(overflow_names_the_coroutine, SIGABRT,
	   "\"parser-7\" overflowed its 16384-byte stack")
{
	struct co_attr attr = { 16 * 1024, NULL };
	struct co *bystander, *co;

	/* Another coroutine's stack lies next to it: it is not the one blamed. */
	ASSERT_EQ(co_create(&bystander, &attr, touch_and_yield, NULL), 0);
	ASSERT_EQ(co_set_name(bystander, "bystander"), 0);
	co_resume(bystander);
	ASSERT_EQ(co_create(&co, &attr, overflow_fn, NULL), 0);
	ASSERT_EQ(co_set_name(co, "parser-7"), 0);
	ASSERT_STR_EQ(co_get_name(co), "parser-7");
	co_resume(co);
}

static struct co *inner;

static void *resume_inner(void *arg)
{
	(void)arg;
	co_resume(inner);
	return NULL;
}

/* The innermost coroutine, the one whose stack overflowed, is named. */
TEST_DEATH(nested_overflow_names_the_innermost, SIGABRT,
	   "\"inner\" overflowed its 32768-byte stack")
{
	struct co_attr attr = { 32 * 1024, NULL };
	struct co *outer;

	ASSERT_EQ(co_create(&outer, NULL, resume_inner, NULL), 0);
	ASSERT_EQ(co_set_name(outer, "outer"), 0);
	ASSERT_EQ(co_create(&inner, &attr, overflow_fn, NULL), 0);
	ASSERT_EQ(co_set_name(inner, "inner"), 0);
	co_resume(outer);
}

/* Without a name the report still says whose and how big. */
TEST_DEATH(overflow_without_name, SIGABRT, "overflowed its 20480-byte stack")
{
	struct co_attr attr = { 20000, NULL };
	struct co *co;

	ASSERT_EQ(co_create(&co, &attr, overflow_fn, NULL), 0);
	co_resume(co);
}

static int *volatile null_pointer;

/* UBSan would stop the store itself: this test is about the fault. */
#define REAL_FAULT __attribute__((no_sanitize_undefined))

REAL_FAULT static void *null_deref(void *arg)
{
	*null_pointer = (int)(intptr_t)arg;
	return NULL;
}

/*
 * A NULL dereference in a coroutine is not an overflow: the process dies
 * by SIGSEGV, as it would without libcoro, not by libcoro's abort. The
 * default action is put in place before libcoro installs its handler, as a
 * plain program has it (a sanitizer runtime would have its own there).
 */
TEST_DEATH(null_deref_in_coroutine_is_sigsegv, SIGSEGV, NULL)
{
	struct co *co;

	signal(SIGSEGV, SIG_DFL);
	ASSERT_EQ(co_create(&co, NULL, null_deref, (void *)1), 0);
	co_resume(co);
}

REAL_FAULT static void null_deref_here(void)
{
	*null_pointer = 1;
}

/* The same on main, after libcoro's handler is in place. */
TEST_DEATH(null_deref_on_main_is_sigsegv, SIGSEGV, NULL)
{
	struct co *co;

	signal(SIGSEGV, SIG_DFL);
	ASSERT_EQ(co_create(&co, NULL, touch_and_yield, NULL), 0);
	co_resume(co);
	null_deref_here();
}

static void on_segv(int sig, siginfo_t *si, void *uctx)
{
	static const char msg[] = "previous handler: fault at NULL\n";

	(void)uctx;
	if (si->si_addr == NULL && write(STDERR_FILENO, msg, sizeof msg - 1) < 0) {
		/* dying anyway */
	}
	signal(sig, SIG_DFL);
}

/* A handler installed before libcoro gets the faults that are not overflows. */
TEST_DEATH(null_deref_reaches_previous_handler, SIGSEGV, "previous handler: fault at NULL")
{
	struct sigaction sa;
	struct co *co;

	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	ASSERT_EQ(sigaction(SIGSEGV, &sa, NULL), 0);
	ASSERT_EQ(co_create(&co, NULL, null_deref, (void *)1), 0);
	co_resume(co);
}

/*
 * A program may handle SIGSEGV itself and recover (a memory probe that
 * siglongjmps out of its handler). libcoro passes it such a fault, and must
 * go on reporting overflows afterwards.
 */
static sigjmp_buf probe_env;
static volatile sig_atomic_t probe_armed, probes_caught;

static void probing_handler(int sig, siginfo_t *si, void *uctx)
{
	(void)si;
	(void)uctx;
	if (probe_armed) {
		probe_armed = 0;
		probes_caught++;
		siglongjmp(probe_env, 1);
	}
	signal(sig, SIG_DFL);
}

static void install_probing_handler(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = probing_handler;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	ASSERT_EQ(sigaction(SIGSEGV, &sa, NULL), 0);
}

/* Returns whether *p could be written. */
REAL_FAULT static int probe(int *p)
{
	probe_armed = 1;
	if (sigsetjmp(probe_env, 1))
		return 0;
	*(volatile int *)p = 1; /* volatile: not moved past probe_armed = 0 */
	probe_armed = 0;
	return 1;
}

static void *probe_null(void *arg)
{
	int here = 0;

	ASSERT_EQ(probe(null_pointer), 0);
	ASSERT_EQ(probe(&here), 1);
	ASSERT_EQ(probe(null_pointer), 0);
	return arg;
}

/* memcheck counts the deliberate write to NULL as an error, recovered or not. */
TEST_NO_VALGRIND(recovered_fault_in_coroutine)
{
	struct co *co;

	install_probing_handler();
	ASSERT_EQ(co_create(&co, NULL, probe_null, NULL), 0);
	co_resume(co);
	ASSERT(co_is_dead(co));
	ASSERT_EQ(probes_caught, 2);
	co_release(co);
}

TEST_DEATH(overflow_reported_after_recovered_fault, SIGABRT,
	   "\"after-probe\" overflowed its 16384-byte stack")
{
	struct co_attr attr = { 16 * 1024, NULL };
	struct co *prober, *co;

	install_probing_handler();
	ASSERT_EQ(co_create(&prober, NULL, probe_null, NULL), 0);
	co_resume(prober);
	ASSERT_EQ(probes_caught, 2);
	ASSERT_EQ(co_create(&co, &attr, overflow_fn, NULL), 0);
	ASSERT_EQ(co_set_name(co, "after-probe"), 0);
	co_resume(co);
}
