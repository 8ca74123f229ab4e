/* SPDX-License-Identifier: MIT */
/*
 * arch/ctx.h: the saved context of a suspended coroutine, one layout per CPU,
 * and the context switch written in assembly beside it (arch/x86_64.S,
 * arch/aarch64.S).
 *
 * The layouts below are the C view of the tables at the top of each .S file;
 * the _Static_assert lines keep the two in step. A field the switch does not
 * touch is marked "C only": coro.c keeps the coroutine's state flags there so
 * that struct co stays small (it is the whole cost of a parked coroutine).
 */
#ifndef CORO_ARCH_CTX_H
#define CORO_ARCH_CTX_H

#include <stddef.h>
#include <stdint.h>

#if defined(__x86_64__)

struct co__ctx {
	uint64_t sp;     /* 0: stack pointer; the return address is at sp[0] */
	uint64_t rbx;    /* 8 */
	uint64_t rbp;    /* 16 */
	uint64_t r12;    /* 24 */
	uint64_t r13;    /* 32 */
	uint64_t r14;    /* 40 */
	uint64_t r15;    /* 48 */
	uint32_t mxcsr;  /* 56: SSE control and status (control bits are callee-saved) */
	uint16_t fpucw;  /* 60: x87 control word */
	uint16_t spare;  /* 62: C only */
	int32_t err;     /* 64: errno of this context while it is switched out */
	uint8_t flags;   /* 68: C only: CO_RUNNING, CO_DEAD, ... (coro-internal.h) */
	uint8_t kind;    /* 69: C only: CO_KIND_PRIVATE, CO_KIND_SHARED, ... */
	uint16_t spare2; /* 70: C only */
};

_Static_assert(offsetof(struct co__ctx, sp) == 0, "x86_64.S: sp");
_Static_assert(offsetof(struct co__ctx, rbx) == 8, "x86_64.S: rbx");
_Static_assert(offsetof(struct co__ctx, rbp) == 16, "x86_64.S: rbp");
_Static_assert(offsetof(struct co__ctx, r12) == 24, "x86_64.S: r12");
_Static_assert(offsetof(struct co__ctx, r13) == 32, "x86_64.S: r13");
_Static_assert(offsetof(struct co__ctx, r14) == 40, "x86_64.S: r14");
_Static_assert(offsetof(struct co__ctx, r15) == 48, "x86_64.S: r15");
_Static_assert(offsetof(struct co__ctx, mxcsr) == 56, "x86_64.S: mxcsr");
_Static_assert(offsetof(struct co__ctx, fpucw) == 60, "x86_64.S: fpucw");
_Static_assert(offsetof(struct co__ctx, err) == 64, "x86_64.S: errno");
_Static_assert(sizeof(struct co__ctx) == 72, "x86_64.S: size");

/* Reads the calling thread's floating-point control state into ctx. */
static inline void co__ctx_save_fp(struct co__ctx *ctx)
{
	__asm__ volatile("stmxcsr %0\n\tfnstcw %1"
			 : "=m"(ctx->mxcsr), "=m"(ctx->fpucw));
}

/*
 * Prepares ctx so that switching to it calls co__entry with the stack top at
 * top (16-byte aligned): co__entry calls fn(arg), then co__exit(co). The
 * first switch pops the entry address from the stack, so one word below top
 * is written here. The floating-point control state and errno are left to
 * the caller.
 */
static inline void co__ctx_make(struct co__ctx *ctx, char *top, void *co,
				void *fn, void *arg, void (*entry)(void))
{
	void **sp = (void **)(void *)top - 1;

	*sp = (void *)entry;
	ctx->sp = (uint64_t)(uintptr_t)sp;
	ctx->rbx = (uint64_t)(uintptr_t)co;
	ctx->r12 = (uint64_t)(uintptr_t)fn;
	ctx->r13 = (uint64_t)(uintptr_t)arg;
	ctx->rbp = 0;
}

#elif defined(__aarch64__)

struct co__ctx {
	uint64_t x19_x28[10]; /* 0..72: x19 at 0, x20 at 8, ... x28 at 72 */
	uint64_t fp;          /* 80: x29 */
	uint64_t lr;          /* 88: x30, where the switch returns to */
	uint64_t sp;          /* 96 */
	uint64_t d8_d15[8];   /* 104..160: low 64 bits of v8..v15 */
	uint64_t fpcr;        /* 168: floating-point control register */
	int32_t err;          /* 176: errno of this context while it is switched out */
	uint8_t flags;        /* 180: C only: CO_RUNNING, CO_DEAD, ... (coro-internal.h) */
	uint8_t kind;         /* 181: C only: CO_KIND_PRIVATE, CO_KIND_SHARED, ... */
	uint16_t spare2;      /* 182: C only */
};

_Static_assert(offsetof(struct co__ctx, x19_x28) == 0, "aarch64.S: x19");
_Static_assert(offsetof(struct co__ctx, fp) == 80, "aarch64.S: x29");
_Static_assert(offsetof(struct co__ctx, lr) == 88, "aarch64.S: x30");
_Static_assert(offsetof(struct co__ctx, sp) == 96, "aarch64.S: sp");
_Static_assert(offsetof(struct co__ctx, d8_d15) == 104, "aarch64.S: d8");
_Static_assert(offsetof(struct co__ctx, fpcr) == 168, "aarch64.S: fpcr");
_Static_assert(offsetof(struct co__ctx, err) == 176, "aarch64.S: errno");
_Static_assert(sizeof(struct co__ctx) == 184, "aarch64.S: size");

/* Reads the calling thread's floating-point control state into ctx. */
static inline void co__ctx_save_fp(struct co__ctx *ctx)
{
	uint64_t fpcr;

	__asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
	ctx->fpcr = fpcr;
}

/*
 * Prepares ctx so that switching to it enters co__entry (the switch's ret
 * goes to lr) with sp = top (16-byte aligned), x19 = co, x20 = fn,
 * x21 = arg (callee-saved, so they survive fn) and x29 = 0, which ends the
 * frame-record chain. Nothing is written to the stack. The floating-point
 * control state and errno are left to the caller.
 */
static inline void co__ctx_make(struct co__ctx *ctx, char *top, void *co,
				void *fn, void *arg, void (*entry)(void))
{
	ctx->x19_x28[0] = (uint64_t)(uintptr_t)co;
	ctx->x19_x28[1] = (uint64_t)(uintptr_t)fn;
	ctx->x19_x28[2] = (uint64_t)(uintptr_t)arg;
	ctx->fp = 0;
	ctx->lr = (uint64_t)(uintptr_t)entry;
	ctx->sp = (uint64_t)(uintptr_t)top;
}

#else
#error "libcoro: no context switch for this CPU (arch/ has x86_64 and aarch64)"
#endif

/* The stack pointer a switched-out context will resume with. */
static inline char *co__ctx_sp(const struct co__ctx *ctx)
{
	return (char *)(uintptr_t)ctx->sp;
}

/*
 * Switches from the running context to another: saves the callee-saved
 * registers, stack pointer, return address and floating-point control state
 * into *from, stores *errnop into from->err, loads *to and its errno, and
 * continues where *to was switched out (or at its entry). Returns when some
 * later switch names *from as its target. Defined in assembly.
 */
void co__switch(struct co__ctx *to, struct co__ctx *from, int *errnop);

/*
 * The first instruction a new context runs (see co__ctx_make). Not callable
 * from C.
 */
void co__entry(void);

#endif
