/* SPDX-License-Identifier: MIT */
/*
 * arch/aarch64.S: the coroutine context switch for aarch64, AAPCS64.
 *
 *   void co__switch(struct co__ctx *to,    // x0
 *                   struct co__ctx *from,  // x1
 *                   int *errnop);          // x2: &errno of this thread
 *   void co__entry(void);                  // first code of a new context
 *
 * struct co__ctx (arch/ctx.h checks these offsets with _Static_assert):
 *
 *   offset  size  what
 *        0     8  x19
 *        8     8  x20
 *       16     8  x21
 *       24     8  x22
 *       32     8  x23
 *       40     8  x24
 *       48     8  x25
 *       56     8  x26
 *       64     8  x27
 *       72     8  x28
 *       80     8  x29 (fp)
 *       88     8  x30 (lr): where the switch returns to
 *       96     8  sp
 *      104     8  d8  (low 64 bits of v8)
 *      112     8  d9
 *      120     8  d10
 *      128     8  d11
 *      136     8  d12
 *      144     8  d13
 *      152     8  d14
 *      160     8  d15
 *      168     8  FPCR (mrs/msr)
 *      176     4  errno while switched out
 *      180     4  C only, never touched here
 *
 * What is saved, and why nothing else (docs/context-switch.md argues each
 * register): AAPCS64 makes x19-x29, sp and the low 64 bits of v8-v15
 * callee-saved; x30 is saved because it holds the address to continue at;
 * x0-x18, the rest of the vector registers, NZCV and FPSR are not preserved
 * across a call, so the caller of co__switch has already given up on them.
 * FPCR holds the rounding mode and exception enables, which a coroutine may
 * change with fesetround(): each context keeps its own. No system call is
 * made: the signal mask is per thread, not per coroutine.
 *
 * FPCR is read on every switch (cheap) but written only when the two
 * contexts differ. Writing FPCR is not cheap on many cores (it can drain
 * the floating-point pipeline), while nearly every switch is between
 * contexts with the same value, so the compare-and-skip branch is almost
 * always taken and well predicted; glibc's fenv code skips equal FPCR
 * writes for the same reason.
 *
 * x18 is neither saved nor touched: on Linux it is a temporary register
 * (the platform ABI does not reserve it). sp is loaded last, and only with
 * a value some context saved from its own sp or co__ctx_make's stack top,
 * so it never points outside a stack.
 *
 * The switch returns with ret through the restored x30. Like ret on x86, it
 * usually misses in the return-stack predictor (the target is another
 * context's return address, not our caller's); unlike x86, the alternative,
 * br x30, would need a BTI landing pad at its target, and the return sites
 * of C code and co__entry have none. ret is never checked by BTI, so this
 * stays correct if the library is ever built with branch protection.
 */

	.text

	.globl	co__switch
	.hidden	co__switch
	.type	co__switch, %function
	.p2align 4
co__switch:
	.cfi_startproc
	/* Save the running context into *from. */
	mrs	x10, fpcr
	ldr	w11, [x2]
	stp	x19, x20, [x1, #0]
	stp	x21, x22, [x1, #16]
	stp	x23, x24, [x1, #32]
	stp	x25, x26, [x1, #48]
	stp	x27, x28, [x1, #64]
	stp	x29, x30, [x1, #80]
	mov	x9, sp
	str	x9, [x1, #96]
	stp	d8, d9, [x1, #104]
	stp	d10, d11, [x1, #120]
	stp	d12, d13, [x1, #136]
	stp	d14, d15, [x1, #152]
	str	x10, [x1, #168]
	str	w11, [x1, #176]

	/* Load *to. */
	ldr	x12, [x0, #168]
	ldr	w11, [x0, #176]
	str	w11, [x2]
	ldp	x19, x20, [x0, #0]
	ldp	x21, x22, [x0, #16]
	ldp	x23, x24, [x0, #32]
	ldp	x25, x26, [x0, #48]
	ldp	x27, x28, [x0, #64]
	ldp	x29, x30, [x0, #80]
	ldr	x9, [x0, #96]
	ldp	d8, d9, [x0, #104]
	ldp	d10, d11, [x0, #120]
	ldp	d12, d13, [x0, #136]
	ldp	d14, d15, [x0, #152]
	cmp	x10, x12
	b.eq	1f
	msr	fpcr, x12
1:
	mov	sp, x9
	ret
	.cfi_endproc
	.size	co__switch, .-co__switch

/*
 * A new context starts here (by the ret of co__switch) with sp = the stack
 * top, 16-byte aligned as AAPCS64 requires at a call, x19 = the coroutine,
 * x20 = its function, x21 = its argument, x29 = 0 (arch/ctx.h:
 * co__ctx_make). x19-x21 are callee-saved, so they survive fn. It calls
 * fn(arg) and then co__exit(co), which never returns. x29 = 0 ends the
 * frame-record chain for frame-pointer walkers; the return address is
 * marked undefined so that CFI unwinders and debuggers stop here instead
 * of walking into garbage.
 */
	.globl	co__entry
	.hidden	co__entry
	.type	co__entry, %function
	.p2align 4
co__entry:
	.cfi_startproc
	.cfi_undefined x30
#if defined(__SANITIZE_ADDRESS__)
	mov	x0, x19
	bl	co__asan_entered
#endif
	mov	x0, x21
	blr	x20
	mov	x0, x19
	bl	co__exit
	brk	#0x3e8
	.cfi_endproc
	.size	co__entry, .-co__entry

	.section .note.GNU-stack, "", %progbits
