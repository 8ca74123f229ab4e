/* SPDX-License-Identifier: MIT */
/*
 * coro.h: libcoro, asymmetric coroutines for C on Linux (x86-64, aarch64).
 *
 * The API keeps libco's names and semantics (co_routine.h is libco's header:
 * included after this one, it maps libco's type names onto these): a thread resumes a coroutine with co_resume(), which
 * runs it until it calls co_yield_ct() or returns; control then comes back to
 * the co_resume() call. A coroutine may resume others: the resumers form a
 * chain of any depth (no fixed limit), and co_yield_ct() always returns to
 * the one that resumed the current coroutine.
 *
 * Threads: every thread has its own environment (current coroutine, stack
 * pool); a coroutine belongs to the thread that created it and must only be
 * resumed, yielded, reset and released there.
 *
 * Errors: functions that can fail return 0 on success and a negative errno
 * value on failure; misuse (resuming a finished coroutine, yielding outside a
 * coroutine, releasing a running one) writes a message to stderr and aborts,
 * because carrying on would corrupt the thread's stack.
 *
 * errno belongs to each coroutine: whatever other coroutines do while one is
 * suspended, it finds errno as it left it.
 */
#ifndef CORO_CORO_H
#define CORO_CORO_H

/*
 * co_routine.h on its own declares libco's functions with libco's types,
 * which conflict with the declarations here; after this header it uses
 * these types instead.
 */
#ifdef CORO_CO_ROUTINE_H
#error "include coro/coro.h before co_routine.h, or co_routine.h alone"
#endif

#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(CORO_BUILDING)
#define CO_API __attribute__((visibility("default")))
#else
#define CO_API
#endif

/* A coroutine. Opaque; created by co_create, freed by co_release. */
struct co;

/* A pool of shared (copy) stacks, from co_alloc_sharestack. Opaque. */
struct co_sharestack;

/* The function a coroutine runs; its return value is ignored (libco's type). */
typedef void *co_fn(void *arg);

/*
 * Creation attributes. Zero-initialise, or use CO_ATTR_INIT.
 *
 * stack_size: bytes of private stack; 0 means 128 KiB (libco's default).
 *   Rounded up to the page size, at least 16 KiB. A PROT_NONE guard page
 *   lies below it: overflowing it aborts with a message naming the
 *   coroutine. Each private stack costs two kernel memory mappings, so
 *   vm.max_map_count (65530 by default) allows about 32,000 private stacks
 *   per process; past that co_create fails with -ENOMEM. Use shared stacks
 *   for more coroutines than that.
 * share_stack: if not NULL, the coroutine runs on one of the pool's stacks
 *   (chosen round-robin) and stack_size is ignored.
 */
struct co_attr {
	int stack_size;
	struct co_sharestack *share_stack;
};
#define CO_ATTR_INIT { 0, NULL }

/*
 * Creates a suspended coroutine that will run fn(arg) on its first resume,
 * and stores it in *ret. attr may be NULL for the defaults. Does not yield.
 * Returns 0, -EINVAL (fn or ret NULL, negative stack_size), or -ENOMEM
 * (no memory, or no stack mapping: see stack_size above).
 */
CO_API int co_create(struct co **ret, const struct co_attr *attr, co_fn *fn,
		     void *arg);

/*
 * Runs co until it yields or its function returns, then returns. co must be
 * suspended (created, reset, or yielded) and belong to this thread; anything
 * else (finished, already on the call stack, the main context) aborts.
 */
CO_API void co_resume(struct co *co);

/*
 * Suspends the running coroutine and returns to its resumer. Returns when
 * the coroutine is resumed again. Aborts if called outside a coroutine.
 */
CO_API void co_yield_ct(void);

/*
 * libco's co_yield(co): yields the running coroutine of this thread, as
 * co_yield_ct() does (co only names the environment, as in libco).
 */
CO_API void co_yield(struct co *co);

/*
 * Frees co and returns its private stack to the thread's pool. A suspended
 * coroutine may be released: its stack is discarded without unwinding, so
 * whatever it holds (memory, descriptors) leaks. Releasing a coroutine that
 * is on the call stack aborts. NULL is ignored.
 */
CO_API void co_release(struct co *co);

/*
 * Makes co start over from its function on the next resume, as if just
 * created (its co-local values are kept). co must not be on the call stack.
 */
CO_API void co_reset(struct co *co);

/* The running coroutine, or NULL on a thread's main context. */
CO_API struct co *co_self(void);

/* Same as co_self (libco's GetCurrThreadCo spelt as the spec names it). */
CO_API struct co *co_get_current(void);

/* Non-zero when called outside any coroutine (on a thread's main context). */
CO_API int co_is_main(void);

/* Non-zero once co's function has returned (until co_reset). */
CO_API int co_is_dead(const struct co *co);

/*
 * Gives co a name, used in stack overflow reports (and by the daemon for the
 * job it runs). The string is copied. Returns 0 or -ENOMEM.
 */
CO_API int co_set_name(struct co *co, const char *name);

/* co's name, or NULL. */
CO_API const char *co_get_name(const struct co *co);

/* The usable bytes of co's stack (the private stack, or its shared stack). */
CO_API size_t co_stack_size(const struct co *co);

/*
 * Allocates count shared stacks of stack_size bytes each (rounded up to the
 * page size, each with a guard page). Coroutines created with the pool run
 * on them in turn: when a coroutine is resumed on a stack another one
 * occupies, the occupant's used bytes (and only those) are copied to the
 * heap and the newcomer's are copied back. A pointer into a suspended
 * coroutine's stack is therefore invalid while it is swapped out: do not
 * hand addresses of locals to other coroutines. Returns NULL on bad
 * arguments (errno EINVAL) or no memory (errno ENOMEM).
 */
CO_API struct co_sharestack *co_alloc_sharestack(int count, int stack_size);

/*
 * Frees a pool. Every coroutine created with it must have been released
 * first; otherwise this aborts. NULL is ignored. (libco has no such call.)
 */
CO_API void co_free_sharestack(struct co_sharestack *pool);

/*
 * Co-local storage, keyed by pthread keys: in a coroutine, the value belongs
 * to the running coroutine; on a thread's main context these are
 * pthread_setspecific/pthread_getspecific. co_setspecific returns 0 or an
 * errno value (positive, as pthread_setspecific does): EINVAL for a key
 * that cannot be a pthread key (>= PTHREAD_KEYS_MAX), ENOMEM.
 */
CO_API int co_setspecific(pthread_key_t key, const void *value);
CO_API void *co_getspecific(pthread_key_t key);

/*
 * Gives key a destructor for co-local values: co_release calls
 * dtor(value) for the released coroutine's value of key, if not NULL, on
 * the context that releases it (so co_getspecific in dtor reads that
 * context's values). NULL removes the destructor. The main context's
 * values are pthread's: the destructor given to pthread_key_create frees
 * those at thread exit. Returns 0, or EINVAL for a key that cannot be a
 * pthread key. (Not in libco, where co-local values of released
 * coroutines leak; co_routine_specific.h relies on it.)
 */
CO_API int co_key_destructor(pthread_key_t key, void (*dtor)(void *value));

/* ---- event loop ---------------------------------------------------------
 *
 * Each thread has one event loop (epoll and a timing wheel). Coroutines
 * that enable hooks (co_enable_hook_sys) may call ordinary blocking
 * functions - read, write, connect, poll, sleep, getaddrinfo, ... (the list
 * is in libcoro(3)) - and, instead of blocking the thread, they yield to
 * the loop and are resumed when the descriptor is ready or the time is up.
 * The thread runs the loop with co_eventloop, usually from its main
 * context after resuming its first coroutines.
 */

/* A thread's event loop (libco's stCoEpoll_t). */
struct co_epoll;

/* Called after each round of the loop; returning -1 ends co_eventloop. */
typedef int co_eventloop_fn(void *arg);

/* This thread's event loop, made on first use; NULL if out of memory. */
CO_API struct co_epoll *co_get_epoll_ct(void);

/*
 * Runs ctx (this thread's loop, or NULL for it): waits for ready
 * descriptors and due timers and resumes the coroutines waiting on them,
 * round after round. Before each round it calls fn(arg), if fn is not
 * NULL, and returns when that returns -1. While nothing is ready and no
 * timer is due the thread sleeps in epoll_wait: an idle loop does not wake
 * (libco's wakes every millisecond), so fn is only asked again when
 * something happened.
 */
CO_API void co_eventloop(struct co_epoll *ctx, co_eventloop_fn *fn, void *arg);

/*
 * poll(2) for a coroutine: waits, yielding to the loop, until one of fds is
 * ready or timeout_ms passes (negative: no timeout; 0: do not wait).
 * Returns as poll does: the number of entries with revents set, 0 on
 * timeout, -1 with errno. Outside a coroutine it is poll(2).
 */
CO_API int co_poll(struct co_epoll *ctx, struct pollfd fds[], nfds_t nfds,
		   int timeout_ms);

/*
 * Turns the system call hooks on or off for the running coroutine (they
 * are off by default, and always off on a thread's main context).
 */
CO_API void co_enable_hook_sys(void);
CO_API void co_disable_hook_sys(void);
CO_API bool co_is_enable_sys_hook(void);

/*
 * The names for which getenv, setenv and unsetenv, called from a hooked
 * coroutine, read and write a copy private to that coroutine (initially
 * the process's value). Call once, before coroutines use them; the names
 * are copied. Other names are the process environment, as usual.
 */
CO_API void co_set_env_list(const char *name[], size_t cnt);

/*
 * Name resolution in hooked coroutines (getaddrinfo, gethostbyname) asks
 * the servers of /etc/resolv.conf, like glibc, unless this (or the
 * environment variable CORO_DNS_SERVERS) names others: a comma-separated
 * list of addresses with optional ports ("127.0.0.1:5353,[::1]:53").
 * NULL or "" goes back to resolv.conf. Returns 0, -EINVAL for a list that
 * is not addresses, or -ENOMEM. (Not in libco; absent from builds without
 * c-ares, where resolution in coroutines is glibc's and blocks.)
 */
CO_API int co_set_dns_servers(const char *servers);

/* ---- condition variables ------------------------------------------------
 *
 * For coroutines of one thread: a waiter yields to the loop until
 * signalled.
 */
/*
 * Bounds name resolution (getaddrinfo and gethostbyname through the hooks)
 * in the calling coroutine: each call gives up after timeout_ms with
 * EAI_AGAIN (gethostbyname: TRY_AGAIN), whatever c-ares's own timeouts and
 * retries would allow. 0 removes the bound. Returns 0, -EPERM outside a
 * coroutine, -EINVAL for a negative value, -ENOMEM.
 */
CO_API int co_set_resolve_timeout(int timeout_ms);

struct co_cond;

/* A new condition variable, or NULL if out of memory. */
CO_API struct co_cond *co_cond_alloc(void);

/* Frees cc; returns 0, or -EBUSY (and frees nothing) if coroutines wait on it. */
CO_API int co_cond_free(struct co_cond *cc);

/* Wakes the longest-waiting coroutine, if any. Returns 0. May be called
 * from any context of the thread, including the main one. */
CO_API int co_cond_signal(struct co_cond *cc);

/* Wakes every waiting coroutine. Returns 0. */
CO_API int co_cond_broadcast(struct co_cond *cc);

/*
 * Waits (in a coroutine, yielding) until cc is signalled or timeout_ms
 * passes (timeout_ms <= 0: no timeout). Returns 0 when signalled,
 * -ETIMEDOUT on timeout, -EPERM outside a coroutine.
 */
CO_API int co_cond_timedwait(struct co_cond *cc, int timeout_ms);

/*
 * Context switches made by this thread so far, counted two per co_resume
 * (the switch in, and the yield or return that comes back), at the time
 * of the resume. For statistics.
 */
CO_API unsigned long long co_switch_count(void);

/* This thread's figures, for statistics (coctl stats, the metrics). */
struct co_stats {
	size_t coroutines;          /* created by this thread and not yet released */
	unsigned sharestacks;       /* stacks in the shared-stack pools this thread allocated */
	size_t saved_stack_bytes;   /* heap held by saved shared-stack bytes (buffer capacity) */
	unsigned long long switches; /* as co_switch_count() */
};

CO_API void co_get_stats(struct co_stats *ret);

#ifdef __cplusplus
}
#endif

#endif
