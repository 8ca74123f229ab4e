/* SPDX-License-Identifier: MIT */
/*
 * co_routine.h: libco's public interface on libcoro.
 *
 * A program written for libco builds against libcoro by changing only its
 * include path and link flags (pkg-config --cflags --libs coro): the type
 * names below are libco's, mapped onto libcoro's own (coro.h), and the
 * functions have libco's names and signatures. Usable from C and C++.
 *
 * Differences a libco user may notice, all deliberate:
 * - co_self() returns NULL on a thread's main context (libco returns an
 *   internal object there); co_is_main() tells the same.
 * - co_create() returns a negative errno value on failure (libco always
 *   returned 0, even when out of memory).
 * - Misuse (resuming a finished coroutine, yielding outside one, releasing
 *   a running one) aborts with a message instead of corrupting the stack.
 * - The call stack of resumers has no depth limit (libco's stops at 128).
 * - co_eventloop sleeps until something happens (libco's wakes every
 *   millisecond), and asks its fn before each round instead of after.
 * - co_cond_timedwait returns -ETIMEDOUT on timeout.
 * - Hooked calls behave exactly as libc's: no default one-second read
 *   timeout, every blocking call of SPEC §3.3 is hooked (accept, readv,
 *   writev, recvmsg, sendmsg, select, sleep, usleep, nanosleep and
 *   getaddrinfo too), and several coroutines may wait on one descriptor.
 *
 * The functions libco declares here (co_create, co_resume, co_yield_ct,
 * co_yield, co_release, co_reset, co_self, co_poll, co_eventloop,
 * co_setspecific, co_getspecific, co_get_epoll_ct, co_enable_hook_sys,
 * co_disable_hook_sys, co_is_enable_sys_hook, co_cond_alloc, co_cond_free,
 * co_cond_signal, co_cond_broadcast, co_cond_timedwait,
 * co_alloc_sharestack, co_set_env_list) are declared in coro.h, with
 * these types.
 */
#ifndef CORO_CO_ROUTINE_H
#define CORO_CO_ROUTINE_H

#include <pthread.h>
#include <stddef.h>

#include "coro.h"

typedef struct co stCoRoutine_t;
typedef struct co_sharestack stShareStack_t;
typedef void *(*pfn_co_routine_t)(void *);

/* The event loop's types (the loop itself: coro.h, co_eventloop). */
typedef struct co_epoll stCoEpoll_t;
typedef struct co_cond stCoCond_t;
typedef int (*pfn_co_eventloop_t)(void *);

#ifdef __cplusplus
/* As in libco, a C++ attribute object starts with the defaults. */
struct stCoRoutineAttr_t : co_attr {
	stCoRoutineAttr_t()
	{
		stack_size = 128 * 1024;
		share_stack = 0;
	}
};
#else
typedef struct co_attr stCoRoutineAttr_t;
#endif

#endif
