/* SPDX-License-Identifier: MIT */
/*
 * co_routine.h: libco's public interface on libcoro.
 *
 * A program written for libco builds against libcoro by changing only its
 * include path and link flags (pkg-config --cflags --libs coro). Usable
 * from C and C++ (C++98 on).
 *
 * Included on its own, as a libco program includes it, this header
 * declares what libco's co_routine.h declares and nothing of libcoro's
 * own (no struct co, co_fn, co_attr, CO_API, ...), so the program is free
 * to use those names:
 * - incomplete struct types stCoRoutine_t, stShareStack_t, stCoEpoll_t,
 *   stCoCond_t (in C also as typedef names, as C++ has them);
 * - stCoRoutineAttr_t with stack_size and share_stack; in C++ its
 *   constructor gives libco's defaults (128 KiB, no shared stack), in C it
 *   is a plain struct the program fills in. Its layout is struct co_attr's
 *   (checked when the library is built), without libco's packed
 *   attribute, which put the pointer at an unaligned offset;
 * - pfn_co_routine_t, pfn_co_eventloop_t;
 * - libco's functions with libco's signatures, with C linkage: these are
 *   libcoro's exported functions, whose types are pointer-compatible;
 * - the libco functions that libco programs declare themselves
 *   (co_accept, co_gethostbyname), so that such a redeclaration in C++,
 *   written without extern "C", inherits C linkage and links.
 *
 * A file that wants libcoro's names as well includes coro.h first: this
 * header then makes libco's type names typedefs of libcoro's (stCoRoutine_t
 * is struct co, and so on), so both spellings work in one file. coro.h
 * after this header is an error (coro.h says so).
 *
 * libco's co_routine_specific.h (CO_ROUTINE_SPECIFIC, C++) is
 * co_routine_specific.h here too.
 *
 * Differences a libco user may notice, all deliberate:
 * - co_self() returns NULL on a thread's main context (libco returns an
 *   internal object there).
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
 * - co_log_err writes its message to stderr (libco's discards it).
 * - libco's internals (co_routine_inner.h: stCoRoutineEnv_t,
 *   co_get_curr_thread_env, the fields of stCoRoutine_t) do not exist.
 */
#ifndef CORO_CO_ROUTINE_H
#define CORO_CO_ROUTINE_H

#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <sys/socket.h>
#ifndef __cplusplus
#include <stdbool.h>
#endif

#ifdef __cplusplus
extern "C" {
#endif

#ifdef CORO_CORO_H

/* coro.h came first: libco's names for libcoro's types. */
typedef struct co stCoRoutine_t;
typedef struct co_sharestack stShareStack_t;
typedef struct co_epoll stCoEpoll_t;
typedef struct co_cond stCoCond_t;
typedef void *(*pfn_co_routine_t)(void *);
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

#else /* !CORO_CORO_H: libco's declarations, and only those */

/* A coroutine (libcoro's struct co). */
struct stCoRoutine_t;
/* A pool of shared stacks, from co_alloc_sharestack. */
struct stShareStack_t;
/* A thread's event loop. */
struct stCoEpoll_t;
/* A condition variable for the coroutines of one thread. */
struct stCoCond_t;

/*
 * Creation attributes. stack_size: bytes of private stack (0: 128 KiB);
 * share_stack: if not NULL, the coroutine runs on the pool's stacks and
 * stack_size is ignored.
 */
struct stCoRoutineAttr_t {
	int stack_size;
	struct stShareStack_t *share_stack;
#ifdef __cplusplus
	stCoRoutineAttr_t() : stack_size(128 * 1024), share_stack(0) {}
#endif
};

#ifndef __cplusplus
typedef struct stCoRoutine_t stCoRoutine_t;
typedef struct stShareStack_t stShareStack_t;
typedef struct stCoEpoll_t stCoEpoll_t;
typedef struct stCoCond_t stCoCond_t;
typedef struct stCoRoutineAttr_t stCoRoutineAttr_t;
#endif

typedef void *(*pfn_co_routine_t)(void *);
typedef int (*pfn_co_eventloop_t)(void *);

/*
 * The coroutine API; coro.h documents each function under the same name.
 * co_create returns 0, -EINVAL or -ENOMEM.
 */
int co_create(stCoRoutine_t **co, const stCoRoutineAttr_t *attr,
	      pfn_co_routine_t routine, void *arg);
void co_resume(stCoRoutine_t *co);
void co_yield(stCoRoutine_t *co);
void co_yield_ct(void);
void co_release(stCoRoutine_t *co);
void co_reset(stCoRoutine_t *co);
stCoRoutine_t *co_self(void);
stCoRoutine_t *co_get_current(void);

int co_poll(stCoEpoll_t *ctx, struct pollfd fds[], nfds_t nfds, int timeout_ms);
void co_eventloop(stCoEpoll_t *ctx, pfn_co_eventloop_t pfn, void *arg);

int co_setspecific(pthread_key_t key, const void *value);
void *co_getspecific(pthread_key_t key);

stCoEpoll_t *co_get_epoll_ct(void);

void co_enable_hook_sys(void);
void co_disable_hook_sys(void);
bool co_is_enable_sys_hook(void);

stCoCond_t *co_cond_alloc(void);
int co_cond_free(stCoCond_t *cc);
int co_cond_signal(stCoCond_t *cc);
int co_cond_broadcast(stCoCond_t *cc);
int co_cond_timedwait(stCoCond_t *cc, int timeout_ms);

stShareStack_t *co_alloc_sharestack(int count, int stack_size);

void co_set_env_list(const char *name[], size_t cnt);

#endif /* CORO_CORO_H */

/*
 * libco's entry points outside its coroutine API, in both modes.
 */

/*
 * accept(2) through the hooks, as libco's co_accept: in a hooked coroutine
 * a listening socket the program sees as blocking yields until a
 * connection comes; one it made non-blocking (O_NONBLOCK, as libco's
 * example_echosvr does) returns -1 with EAGAIN at once, and the program
 * waits with co_poll. Elsewhere it is accept(2). The new descriptor is
 * blocking from the program's point of view.
 */
int co_accept(int fd, struct sockaddr *addr, socklen_t *len);

/*
 * gethostbyname(3) through the hooks: in a hooked coroutine the lookup
 * does not block the thread (where libcoro is built with c-ares), and the
 * result lives in storage of the calling coroutine.
 */
struct hostent;
struct hostent *co_gethostbyname(const char *name);

/* Writes the message, printf-style, and a newline to stderr. */
void co_log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#ifdef __cplusplus
}
#endif

#endif
