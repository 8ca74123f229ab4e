/* SPDX-License-Identifier: MIT */
/*
 * stack.c: private stacks with guard pages, the per-thread pool that keeps
 * create/release from calling mmap each time, and the stack overflow report.
 *
 * A private stack is one anonymous mapping: a PROT_NONE guard page at the
 * bottom, the usable stack above it, and its descriptor (struct co__stack)
 * in the top 64 bytes, so a stack needs no other allocation. The mprotect
 * splits the mapping in two, so each stack costs two of the process's
 * vm.max_map_count mappings (65530 by default): about 32,000 stacks. Past
 * that mmap or mprotect fail with ENOMEM, and co_create reports it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include "coro/coro-internal.h"

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#else
#define VALGRIND_STACK_REGISTER(lo, hi) 0u
#define VALGRIND_STACK_DEREGISTER(id) ((void)(id))
#endif

#if defined(CO_ASAN)
#include <sanitizer/asan_interface.h>
#endif

#define DESC_SIZE 64
_Static_assert(sizeof(struct co__stack) <= DESC_SIZE, "stack descriptor too big");

size_t co__page_size(void)
{
	static size_t page;
	size_t p = __atomic_load_n(&page, __ATOMIC_RELAXED);

	if (!p) {
		long v = sysconf(_SC_PAGESIZE);

		p = v > 0 ? (size_t)v : 4096;
		__atomic_store_n(&page, p, __ATOMIC_RELAXED);
	}
	return p;
}

int co__map_guarded(size_t len, char **ret_map, size_t *ret_map_len, char **ret_lo)
{
	size_t page = co__page_size();
	size_t map_len = len + page;
	char *map;

	map = mmap(NULL, map_len, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
	if (map == MAP_FAILED)
		return -errno;
	if (mprotect(map, page, PROT_NONE) < 0) {
		int err = errno;

		munmap(map, map_len);
		return -err;
	}
	*ret_map = map;
	*ret_map_len = map_len;
	*ret_lo = map + page;
	return 0;
}

void co__unmap_guarded(char *map, size_t map_len)
{
	munmap(map, map_len);
}

struct co__stack *co__stack_get(struct co__env *env, size_t size)
{
	size_t map_len = size + co__page_size();
	struct co__stack **prev, *st;
	char *map, *lo;

	for (prev = &env->pool; (st = *prev) != NULL; prev = &st->next) {
		if (st->map_len == map_len) {
			*prev = st->next;
			env->pool_len--;
#if defined(CO_ASAN)
			/* Frames abandoned on it may have left poisoned shadow. */
			__asan_unpoison_memory_region(st->lo, st->size);
#endif
			return st;
		}
	}
	if (co__map_guarded(size, &map, &map_len, &lo) < 0)
		return NULL;
	st = (struct co__stack *)(void *)(map + map_len - DESC_SIZE);
	st->lo = lo;
	st->size = size; /* as asked: the descriptor's 64 bytes come out of it */
	st->map = map;
	st->map_len = map_len;
	st->next = NULL;
	st->vg_id = VALGRIND_STACK_REGISTER(lo, (char *)st);
	return st;
}

void co__stack_free(struct co__stack *st)
{
	VALGRIND_STACK_DEREGISTER(st->vg_id);
	co__unmap_guarded(st->map, st->map_len);
}

void co__stack_put(struct co__env *env, struct co__stack *st)
{
	if (!env || env->pool_len >= CO__POOL_MAX) {
		co__stack_free(st);
		return;
	}
	st->next = env->pool;
	env->pool = st;
	env->pool_len++;
}

void co__stack_bounds(const struct co *co, char **ret_lo, size_t *ret_size)
{
	if (co->ctx.kind == CO_KIND_SHARED) {
		*ret_lo = co->stack.share->lo;
		*ret_size = (size_t)(co->stack.share->top - co->stack.share->lo);
	} else if (co->ctx.kind == CO_KIND_PRIVATE || co->stack.priv) {
		*ret_lo = co->stack.priv->lo;
		*ret_size = co->stack.priv->size;
	} else {
		*ret_lo = NULL;
		*ret_size = 0;
	}
}

/* ---- overflow report ---------------------------------------------------- */

static struct sigaction old_segv;
static pthread_once_t segv_once = PTHREAD_ONCE_INIT;

/* Async-signal-safe formatting for the report: append to a fixed buffer. */
struct msg {
	char buf[400];
	size_t len;
};

static void msg_str(struct msg *m, const char *s)
{
	while (*s && m->len < sizeof m->buf - 1)
		m->buf[m->len++] = *s++;
}

static void msg_num(struct msg *m, uintptr_t v, unsigned base)
{
	char tmp[24];
	int n = 0;

	if (base == 16)
		msg_str(m, "0x");
	do {
		tmp[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v && n < (int)sizeof tmp);
	while (n > 0 && m->len < sizeof m->buf - 1)
		m->buf[m->len++] = tmp[--n];
}

static uintptr_t fault_sp(void *uctx)
{
	ucontext_t *uc = uctx;

#if defined(__x86_64__)
	return (uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
#elif defined(__aarch64__)
	return (uintptr_t)uc->uc_mcontext.sp;
#endif
}

/*
 * A fault just below the running coroutine's stack (in its guard page, or a
 * little further when one frame jumped over it) with the stack pointer
 * there too is an overflow: say whose, and abort. Anything else is not
 * ours: hand it to the handler that was there before (which may recover
 * and come back: ours stays installed for the next fault), or, if that was
 * the default action, restore it and return so that the faulting
 * instruction runs again and dies the ordinary way (a core dump).
 */
static void on_segv(int sig, siginfo_t *si, void *uctx)
{
	struct co *co = co__tls.current;
	uintptr_t addr = (uintptr_t)si->si_addr, sp = fault_sp(uctx);
	const uintptr_t reach = 256 * 1024;
	char *lo;
	size_t size;

	if (co && !(co->ctx.flags & (CO_MAIN | CO_POISON)) && co->ctx.kind != CO_KIND_OTHER) {
		co__stack_bounds(co, &lo, &size);
		uintptr_t bottom = (uintptr_t)lo;

		if (addr < bottom && addr + reach >= bottom &&
		    (addr + co__page_size() >= bottom || (sp < bottom && sp + reach >= bottom))) {
			struct msg m = { .len = 0 };
			const char *name = co->ext ? co->ext->name : NULL;

			msg_str(&m, "coro: stack overflow: coroutine ");
			msg_num(&m, (uintptr_t)co, 16);
			if (name) {
				msg_str(&m, " \"");
				msg_str(&m, name);
				msg_str(&m, "\"");
			}
			msg_str(&m, " overflowed its ");
			msg_num(&m, size, 10);
			msg_str(&m, co->ctx.kind == CO_KIND_SHARED ? "-byte shared stack" : "-byte stack");
			msg_str(&m, " (fault at ");
			msg_num(&m, addr, 16);
			msg_str(&m, "); give it a larger stack_size\n");
			if (write(STDERR_FILENO, m.buf, m.len) < 0) {
				/* aborting anyway */
			}
			abort();
		}
	}
	if ((old_segv.sa_flags & SA_SIGINFO) && old_segv.sa_sigaction) {
		old_segv.sa_sigaction(sig, si, uctx);
	} else if (old_segv.sa_handler != SIG_DFL && old_segv.sa_handler != SIG_IGN) {
		old_segv.sa_handler(sig);
	} else {
		struct sigaction dfl;

		memset(&dfl, 0, sizeof dfl);
		dfl.sa_handler = SIG_DFL;
		sigaction(SIGSEGV, &dfl, NULL);
	}
}

static void segv_install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, &old_segv);
}

void co__overflow_guard_init(struct co__env *env)
{
	stack_t ss;
	size_t len = 64 * 1024;
	long min = sysconf(_SC_MINSIGSTKSZ);
	void *mem;

	pthread_once(&segv_once, segv_install);
	/* A thread that already has a signal stack keeps it. */
	if (sigaltstack(NULL, &ss) == 0 && !(ss.ss_flags & SS_DISABLE))
		return;
	if (min > 0 && (size_t)min * 4 > len)
		len = (size_t)min * 4;
	mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (mem == MAP_FAILED)
		return; /* no report on overflow, only the plain SIGSEGV */
	memset(&ss, 0, sizeof ss);
	ss.ss_sp = mem;
	ss.ss_size = len;
	if (sigaltstack(&ss, NULL) < 0) {
		munmap(mem, len);
		return;
	}
	env->altstack = mem;
	env->altstack_len = len;
}

void co__overflow_guard_fini(struct co__env *env)
{
	stack_t ss;

	if (!env->altstack)
		return;
	memset(&ss, 0, sizeof ss);
	ss.ss_flags = SS_DISABLE;
	sigaltstack(&ss, NULL);
	munmap(env->altstack, env->altstack_len);
	env->altstack = NULL;
}
