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
};

/* Rarely used parts of a coroutine, allocated when first needed. */
struct co__ext {
	char *name;
	unsigned nspec; /* length of spec */
	void **spec;    /* co-local values, indexed by pthread key */
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

/* The coroutine's function returned: called from co__entry, never returns. */
__attribute__((noreturn)) void co__exit(struct co *co) CO_HIDDEN;

#if defined(CO_ASAN)
void co__asan_entered(struct co *co) CO_HIDDEN;
#endif

#endif
