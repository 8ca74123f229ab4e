/* SPDX-License-Identifier: MIT */
/*
 * coro-internal.h: what the files of coro/ share and nobody else sees.
 *
 * Thread state: co__tls (thread-local, three words) is read on every switch;
 * the rest of a thread's environment (struct co__env) lives on the heap and
 * is made on first use by co__env_get().
 */
#ifndef CORO_CORO_INTERNAL_H
#define CORO_CORO_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arch/ctx.h"
#include "coro/coro.h"
#include "coro/wheel.h"

#define CO_HIDDEN __attribute__((visibility("hidden")))

#if defined(__SANITIZE_ADDRESS__)
#define CO_ASAN 1
#endif

/* ctx.flags: the coroutine's state. */
enum {
	CO_RUNNING = 1 << 0, /* on the call stack: running, or inside co_resume */
	CO_DEAD = 1 << 1,    /* its function returned */
	CO_EVICTED = 1 << 2, /* shared stack: its bytes are in save_buf, not on the stack */
	CO_FRESH = 1 << 3,   /* shared stack: not started; entry frame not yet written */
	CO_MAIN = 1 << 4,    /* a thread's main context */
	CO_POISON = 1 << 5,  /* the sentinel that a main context would yield to */
};

/*
 * co_resume takes its fast path only when flags == 0 (suspended, stack in
 * place); co_yield_ct only when its target has none of these.
 */
#define CO_YIELD_SLOW (CO_EVICTED | CO_POISON)

/* ctx.kind */
enum {
	CO_KIND_PRIVATE = 0, /* stack is a struct co__stack */
	CO_KIND_SHARED = 1,  /* stack is a struct co__stackmem of a pool */
	CO_KIND_OTHER = 2,   /* main context, sentinel, switch helper */
};

/* A private stack. The descriptor lives at the top of its own mapping. */
struct co__stack {
	char *lo;               /* lowest usable byte, just above the guard page */
	size_t size;            /* bytes from lo to the mapping's end (descriptor included) */
	char *map;              /* the whole mapping, guard page included */
	size_t map_len;
	struct co__stack *next; /* free list of the thread's pool */
	unsigned vg_id;         /* valgrind's id for the registered stack */
};

/* One stack of a shared-stack pool. */
struct co__stackmem {
	char *lo;           /* lowest usable byte */
	char *top;          /* one past the highest usable byte, 16-byte aligned */
	struct co *occupant; /* whose bytes are on the stack now, or NULL */
	struct co_sharestack *pool; /* the pool it belongs to */
	char *map;
	size_t map_len;
	unsigned vg_id;
};

struct co_sharestack {
	int count;
	unsigned next;           /* round-robin index for the next coroutine */
	unsigned users;          /* coroutines created on the pool, not yet released */
	size_t size;             /* usable bytes of each stack */
	struct co__stackmem *mem; /* count stacks */
	struct co__env *env;     /* the thread that allocated it (for its statistics) */
};

struct co__wait;

/* Rarely used parts of a coroutine, allocated when first needed. */
struct co__ext {
	char *name;
	unsigned nspec;        /* length of spec */
	void **spec;           /* co-local values, indexed by pthread key */
	struct co__wait *wait; /* what it is blocked on in the event loop, or NULL */
	char **env;            /* this coroutine's values of co_set_env_list's names, or NULL */
	int resolve_timeout_ms; /* co_set_resolve_timeout; 0: none of its own */
	struct hostent *host;  /* co_gethostbyname's last answer (co__hostent_dup), or NULL */
};

/*
 * A coroutine: 120 bytes on x86-64 (without AddressSanitizer), which is
 * most of what a parked coroutine on a shared stack costs. The saved length
 * of a swapped-out shared stack is not stored: it is top - ctx.sp.
 */
struct co {
	struct co__ctx ctx;  /* first: the switch takes &co->ctx == co */
	struct co *resumer;  /* who resumed it; where co_yield_ct goes */
	co_fn *fn;
	void *arg;
	union {
		struct co__stack *priv;     /* CO_KIND_PRIVATE */
		struct co__stackmem *share; /* CO_KIND_SHARED */
	} stack;
	char *save_buf;      /* shared stack: saved bytes (capacity: malloc_usable_size) */
	struct co__ext *ext; /* name and co-local storage, or NULL */
#if defined(CO_ASAN)
	void *asan_fake;        /* AddressSanitizer's fake stack while switched out */
	const void *asan_lo;    /* stack bounds for __sanitizer_start_switch_fiber */
	size_t asan_size;
#endif
};

#if defined(__x86_64__) && !defined(CO_ASAN)
_Static_assert(sizeof(struct co) == 120, "struct co grew: parked coroutines cost more");
#endif

/*
 * The per-thread state, read on every switch: the rest of the environment
 * is on the heap.
 */
struct co__tls {
	struct co *current;  /* running coroutine, or the main context */
	int *errnop;         /* &errno of this thread (NULL before setup) */
	unsigned long long resumes; /* co_resume calls (switches = 2 x this) */
	struct co__env *env; /* NULL until co__env_get() */
};

/* Stacks kept for reuse by one thread. */
#define CO__POOL_MAX 256

/* The rest of a thread's environment. */
struct co__env {
	struct co main;          /* the thread's own stack */
	struct co poison;        /* main.resumer: yielding from main lands here and aborts */
	struct co helper;        /* runs the shared-stack copies on a stack of its own */
	struct co__stack *helper_stack;
	struct co *pending;      /* helper's job: the coroutine to put back on its stack */
	struct co *asan_from;    /* the context that switched last (AddressSanitizer) */
	struct co__stack *pool;  /* free private stacks */
	unsigned pool_len;
	void *altstack;          /* signal stack made for this thread, or NULL */
	size_t altstack_len;
	struct co_epoll *loop;   /* this thread's event loop, or NULL */
	/* For co_get_stats. */
	size_t coroutines;       /* created and not yet released */
	unsigned sharestacks;    /* stacks of the pools allocated and not freed */
	size_t saved_bytes;      /* capacity of the shared-stack save buffers */
};

extern __thread struct co__tls co__tls
	__attribute__((tls_model("initial-exec"))) CO_HIDDEN;

/* This thread's environment, set up on first use; NULL if out of memory. */
struct co__env *co__env_get(void) CO_HIDDEN;

/* Writes "coro: <message>" to stderr and aborts. */
__attribute__((noreturn, format(printf, 1, 2)))
void co__die(const char *fmt, ...) CO_HIDDEN;

/* The page size, cached. */
size_t co__page_size(void) CO_HIDDEN;

/* stack.c: private stacks, the pool, the overflow report. */
struct co__stack *co__stack_get(struct co__env *env, size_t size) CO_HIDDEN;
void co__stack_put(struct co__env *env, struct co__stack *st) CO_HIDDEN;
void co__stack_free(struct co__stack *st) CO_HIDDEN;
/* Maps len usable bytes with a guard page below; 0 or -errno. */
int co__map_guarded(size_t len, char **ret_map, size_t *ret_map_len,
		    char **ret_lo) CO_HIDDEN;
void co__unmap_guarded(char *map, size_t map_len) CO_HIDDEN;
/* Sets up the SIGSEGV handler (once) and this thread's signal stack. */
void co__overflow_guard_init(struct co__env *env) CO_HIDDEN;
void co__overflow_guard_fini(struct co__env *env) CO_HIDDEN;
/* Lowest usable byte and size of co's stack (private or shared). */
void co__stack_bounds(const struct co *co, char **ret_lo, size_t *ret_size) CO_HIDDEN;

/* sharestack.c: assign a pool stack; swap stack contents (helper only). */
struct co__stackmem *co__sharestack_pick(struct co_sharestack *pool) CO_HIDDEN;
void co__sharestack_restore(struct co *co) CO_HIDDEN;
void co__sharestack_forget(struct co *co) CO_HIDDEN;

/* Creates co->ext if needed; NULL if out of memory. */
struct co__ext *co__ext_get(struct co *co) CO_HIDDEN;
/* ext->env: one value per co_set_env_list name, then CO__ENV_END. */
#define CO__ENV_UNSET ((char *)1)
#define CO__ENV_END ((char *)2)

/*
 * Frees an ext and what it holds, after handing co-local values to their
 * keys' destructors (co_key_destructor); NULL is ignored.
 */
void co__ext_free(struct co__ext *ext) CO_HIDDEN;

struct hostent;
/*
 * A deep copy of h in one allocation (the struct first), freed with free;
 * NULL if out of memory.
 */
struct hostent *co__hostent_dup(const struct hostent *h) CO_HIDDEN;

/* ctx.spare2 bits */
enum {
	CO_OPT_HOOK = 1 << 0, /* system call hooks on (co_enable_hook_sys) */
};

/* ---- event loop (loop.c) ------------------------------------------------ */

/* Readiness and interest bits. */
enum {
	CO__IN = 1 << 0,
	CO__OUT = 1 << 1,
};

/* struct co__fd.kind: what the hooks found the descriptor to be. */
enum {
	CO__FD_UNKNOWN = 0, /* not looked at yet */
	CO__FD_STREAM,      /* SOCK_STREAM socket: a short read means drained */
	CO__FD_SOCKET,      /* other sockets */
	CO__FD_POLLABLE,    /* pipe, FIFO, terminal, eventfd...: not ours to make non-blocking */
	CO__FD_PLAIN,       /* regular file, directory, or anything epoll refuses */
};

/* One waiting coroutine's link on one descriptor's list. */
struct co__fdlink {
	struct co__fdlink *next;
	struct co__fdlink **pprev; /* NULL: not linked */
	struct co__wait *wait;
	unsigned events;           /* CO__IN | CO__OUT */
};

/*
 * What the hooks know of a descriptor. "owned": the kernel's O_NONBLOCK is
 * set on it by libcoro while the program's view (user_nonblock) may be
 * blocking; fcntl and ioctl(FIONBIO) report and change the program's view.
 */
struct co__fd {
	struct co__fdlink *waiters;
	int rcvtimeo_ms;        /* SO_RCVTIMEO, 0: none */
	int sndtimeo_ms;        /* SO_SNDTIMEO, 0: none */
	uint32_t gen;           /* bumped when the entry is reset: stale epoll events are ignored */
	uint8_t kind;           /* CO__FD_* */
	uint8_t owned;
	uint8_t user_nonblock;
	uint8_t registered;     /* in the loop's epoll set (edge-triggered, in and out) */
	uint8_t ready;          /* CO__IN/CO__OUT: may be ready, try the call */
	uint8_t access;         /* CO__IN/CO__OUT: opened for reading, writing */
	uint8_t hup;            /* the peer hung up or an error came: reads never wait */
	uint8_t gclose;         /* the number's close count when looked at (hook.c) */
};

/* Why a wait ended. */
enum {
	CO__WOKE_NONE = 0, /* resumed by someone other than the loop */
	CO__WOKE_EVENT,
	CO__WOKE_TIMEOUT,
	CO__WOKE_CLOSED,   /* the descriptor was closed by another coroutine */
	CO__WOKE_SIGNAL,   /* condition variable */
};

/*
 * A coroutine blocked in the loop. On the heap, never on the coroutine's
 * stack: a shared stack may be swapped out while the loop reads it.
 */
struct co__wait {
	struct co__timer timer;    /* timeout; first: the callback casts back */
	struct co_epoll *loop;
	struct co *co;             /* NULL once abandoned (coroutine released) */
	struct co__wait *next;     /* ready queue, or free list */
	struct co_cond *cond;      /* the condition variable waited on, or NULL */
	struct co__wait *cond_next; /* its queue */
	struct co__wait **cond_pprev;
	uint8_t queued;            /* on the ready queue */
	uint8_t why;               /* CO__WOKE_* */
	unsigned nlinks;
	struct co__fdlink *links;  /* nlinks entries (link1 when there is one) */
	struct co__fdlink link1;
};

#define CO__EVENTS_MAX 512

struct co_epoll {
	int epfd;
	struct co__wheel wheel;
	struct co__wait *ready_head;   /* woken, to be resumed in order */
	struct co__wait **ready_tail;
	struct co__wait *free_waits;
	struct co__fd **chunks;        /* descriptor table: chunks of CO__FD_CHUNK entries */
	size_t nchunks;
	unsigned long long rounds;     /* epoll_wait calls */
	unsigned fork_gen;             /* made in this process, not copied by fork */
	struct co_epoll *forked_from;  /* the parent's loop, copied by fork and left alone */
	struct epoll_event *events;    /* CO__EVENTS_MAX */
};

#define CO__FD_CHUNK 1024

/* This thread's loop, made on first use; NULL if out of memory. */
struct co_epoll *co__loop(void) CO_HIDDEN;
void co__loop_destroy(struct co_epoll *loop) CO_HIDDEN;

/* Milliseconds of CLOCK_MONOTONIC, rounded down. */
uint64_t co__now_ms(void) CO_HIDDEN;
/* The earliest millisecond that is at least timeout_ms from now (never early). */
uint64_t co__deadline(int64_t timeout_ms) CO_HIDDEN;

/* Makes the descriptor's entry (co__fd_get's slow path). */
struct co__fd *co__fd_make(struct co_epoll *loop, int fd) CO_HIDDEN;

/* The descriptor's entry if there is one. */
static inline struct co__fd *co__fd_find(struct co_epoll *loop, int fd)
{
	size_t c = (size_t)fd / CO__FD_CHUNK;

	if (fd < 0 || c >= loop->nchunks || !loop->chunks[c])
		return NULL;
	return &loop->chunks[c][(size_t)fd % CO__FD_CHUNK];
}

/* The descriptor's entry, made if needed; NULL for fd < 0 or out of memory. */
static inline struct co__fd *co__fd_get(struct co_epoll *loop, int fd)
{
	struct co__fd *f = co__fd_find(loop, fd);

	return f ? f : co__fd_make(loop, fd);
}

/* Bumped in a child after fork (loop.c): a loop made before is not its own. */
extern unsigned co__fork_gen CO_HIDDEN;

/* This thread's loop if it has one of its own process; never makes one. */
static inline struct co_epoll *co__loop_if_any(void)
{
	struct co__env *env = co__tls.env;
	struct co_epoll *loop = env ? env->loop : NULL;

	return loop && loop->fork_gen == __atomic_load_n(&co__fork_gen, __ATOMIC_RELAXED) ? loop : NULL;
}

/* This thread's loop, made on first use (fast path of co__loop). */
static inline struct co_epoll *co__loop_get(void)
{
	struct co_epoll *loop = co__loop_if_any();

	return loop ? loop : co__loop();
}
/* fd is being closed: wake its waiters (CO__WOKE_CLOSED), forget it. */
void co__fd_forget(struct co_epoll *loop, int fd) CO_HIDDEN;

/*
 * Blocks the running coroutine until fd may be ready for events (CO__IN,
 * CO__OUT), the deadline (ms, 0: none) passes, or fd is closed. Returns a
 * CO__WOKE_* value, or -errno if fd cannot be waited on (-EPERM: epoll
 * refuses it, as for regular files; -ENOMEM).
 */
int co__fd_wait(struct co_epoll *loop, int fd, struct co__fd *f,
		unsigned events, uint64_t deadline) CO_HIDDEN;

/* Blocks the running coroutine until the deadline; a CO__WOKE_* value or -ENOMEM. */
int co__sleep_until(struct co_epoll *loop, uint64_t deadline) CO_HIDDEN;

/* poll(2) in a coroutine (co_poll's body); deadline as above. */
int co__poll(struct co_epoll *loop, struct pollfd *fds, nfds_t n, int timeout_ms) CO_HIDDEN;

/* A condition variable: a FIFO of waits. */
struct co_cond {
	struct co__wait *head;
	struct co__wait **tail;
};

/* Arms w's timeout at deadline (ms). */
void co__wait_arm(struct co__wait *w, uint64_t deadline) CO_HIDDEN;

/* Wait records: made and ended by loop.c and cond.c. */
struct co__wait *co__wait_new(struct co_epoll *loop, unsigned nlinks) CO_HIDDEN;
/* Yields until woken; then unlinks w from everything and frees it. */
int co__wait_block(struct co__wait *w) CO_HIDDEN;
/* Queues w's coroutine to be resumed by the loop (once). */
void co__wait_wake(struct co__wait *w, int why) CO_HIDDEN;
/* The coroutine is released or reset while blocked: drop its wait. */
void co__wait_abandon(struct co__wait *w) CO_HIDDEN;

/* Non-zero if the running coroutine has its hooks on. */
static inline int co__hooked(void)
{
	struct co *cur = co__tls.current;

	return (cur->ctx.spare2 & CO_OPT_HOOK) && !(cur->ctx.flags & CO_MAIN);
}

/*
 * libc's own definition of a function this library interposes, found with
 * dlsym(RTLD_NEXT); aborts if there is none (hook.c).
 */
void *co__libc_sym(const char *name) CO_HIDDEN;

/*
 * CO__LIBC(int, close, (int)) defines real_close(), which returns libc's
 * close, looked up once (a benign race: every thread finds the same).
 */
#define CO__LIBC(ret, name, params)                                          \
	typedef ret name##_fn params;                                        \
	static name##_fn *real_##name##_p;                                   \
	static name##_fn *real_##name(void)                                  \
	{                                                                    \
		name##_fn *p = __atomic_load_n(&real_##name##_p, __ATOMIC_RELAXED); \
		if (!p) {                                                    \
			p = (name##_fn *)co__libc_sym(#name);                \
			__atomic_store_n(&real_##name##_p, p, __ATOMIC_RELAXED); \
		}                                                            \
		return p;                                                    \
	}

/* hook.c: libc's own functions, found with dlsym(RTLD_NEXT) on first use. */
int co__real_poll(struct pollfd *fds, nfds_t n, int timeout) CO_HIDDEN;
int co__real_close(int fd) CO_HIDDEN;

/* The coroutine's function returned: called from co__entry, never returns. */
__attribute__((noreturn)) void co__exit(struct co *co) CO_HIDDEN;

#if defined(CO_ASAN)
void co__asan_entered(struct co *co) CO_HIDDEN;
#endif

#endif
