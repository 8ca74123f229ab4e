/* SPDX-License-Identifier: MIT */
/*
 * arch/x86_64.S: the coroutine context switch for x86-64, System V ABI.
 *
 *   void co__switch(struct co__ctx *to,    // %rdi
 *                   struct co__ctx *from,  // %rsi
 *                   int *errnop);          // %rdx: &errno of this thread
 *   void co__entry(void);                  // first code of a new context
 *
 * struct co__ctx (arch/ctx.h checks these offsets with _Static_assert):
 *
 *   offset  size  what
 *        0     8  %rsp: the return address sits at 0(%rsp)
 *        8     8  %rbx
 *       16     8  %rbp
 *       24     8  %r12
 *       32     8  %r13
 *       40     8  %r14
 *       48     8  %r15
 *       56     4  MXCSR (stmxcsr/ldmxcsr)
 *       60     2  x87 control word (fnstcw/fldcw)
 *       62     2  C only, never touched here
 *       64     4  errno while switched out
 *       68     4  C only, never touched here
 *
 * What is saved, and why nothing else (docs/context-switch.md argues each
 * register): the ABI makes %rbx, %rbp, %r12-%r15, %rsp, the MXCSR control
 * bits and the x87 control word callee-saved; every other general, vector,
 * x87 and flags register is caller-saved, so the caller of co__switch has
 * already given up on it. The direction flag is clear at every call by the
 * ABI, so it needs no saving. No system call is made: unlike swapcontext,
 * the signal mask is per thread, not per coroutine.
 *
 * The switch ends with pop + indirect jmp rather than ret: the return
 * address it jumps to belongs to another context, so ret would always miss
 * in the return-stack predictor, while the indirect predictor learns the
 * alternation. %rsp is only ever loaded with a value that some context
 * saved from its own %rsp, so it never points outside a stack.
 */

	.text

	.globl	co__switch
	.hidden	co__switch
	.type	co__switch, @function
	.p2align 4
co__switch:
	.cfi_startproc
	movq	%rsp, 0(%rsi)
	movq	%rbx, 8(%rsi)
	movq	%rbp, 16(%rsi)
	movq	%r12, 24(%rsi)
	movq	%r13, 32(%rsi)
	movq	%r14, 40(%rsi)
	movq	%r15, 48(%rsi)
	stmxcsr	56(%rsi)
	fnstcw	60(%rsi)
	movl	(%rdx), %eax
	movl	%eax, 64(%rsi)

	movl	64(%rdi), %eax
	movl	%eax, (%rdx)
	movq	0(%rdi), %rsp
	movq	8(%rdi), %rbx
	movq	16(%rdi), %rbp
	movq	24(%rdi), %r12
	movq	32(%rdi), %r13
	movq	40(%rdi), %r14
	movq	48(%rdi), %r15
	ldmxcsr	56(%rdi)
	fldcw	60(%rdi)
	popq	%rcx
	jmpq	*%rcx
	.cfi_endproc
	.size	co__switch, .-co__switch

/*
 * A new context starts here with %rsp 16-byte aligned (as just before a
 * call), %rbx = the coroutine, %r12 = its function, %r13 = its argument
 * (arch/ctx.h: co__ctx_make). It calls fn(arg) and then co__exit(co), which
 * never returns. The return address is marked undefined so that debuggers
 * and unwinders stop here instead of walking into garbage.
 */
	.globl	co__entry
	.hidden	co__entry
	.type	co__entry, @function
	.p2align 4
co__entry:
	.cfi_startproc
	.cfi_undefined rip
#if defined(__SANITIZE_ADDRESS__)
	movq	%rbx, %rdi
	call	co__asan_entered
#endif
	movq	%r13, %rdi
	call	*%r12
	movq	%rbx, %rdi
	call	co__exit
	ud2
	.cfi_endproc
	.size	co__entry, .-co__entry

	.section .note.GNU-stack, "", @progbits
