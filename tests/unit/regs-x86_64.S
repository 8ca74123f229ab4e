/* SPDX-License-Identifier: MIT */
/*
 * regs-x86_64.S: helpers for test-regs.c that own every callee-saved
 * register of the System V x86-64 ABI, so that a test can see exactly what
 * a context switch leaves in them (C code cannot: the compiler chooses
 * which of them hold what).
 *
 *   void regs_call(const uint64_t *in,        // %rdi: REGS_N values
 *                  void (*fn)(void *),        // %rsi
 *                  void *arg,                 // %rdx
 *                  uint64_t *out);            // %rcx: REGS_N values
 *   void regs_scribble(const uint64_t *vals); // %rdi
 *
 * regs_call loads in[] into the callee-saved registers, calls fn(arg), then
 * stores what the registers hold afterwards into out[] and gives the caller
 * its own values back. fn must preserve them (every C function does), so
 * out[] == in[] unless something between (a context switch) lost them.
 *
 * regs_scribble breaks the ABI on purpose: it loads vals[] into the
 * callee-saved registers and returns. Only regs_call may call it; the tests
 * use it to prove that regs_call notices a callee that does not preserve.
 *
 * in[], out[] and vals[] order (REGS_N = 6):
 *
 *   index  0    1    2    3    4    5
 *   reg    rbx  rbp  r12  r13  r14  r15
 */

	.text

	.globl	regs_call
	.type	regs_call, @function
	.p2align 4
regs_call:
	.cfi_startproc
	pushq	%rbp
	.cfi_def_cfa_offset 16
	.cfi_offset rbp, -16
	pushq	%rbx
	.cfi_def_cfa_offset 24
	.cfi_offset rbx, -24
	pushq	%r12
	.cfi_def_cfa_offset 32
	.cfi_offset r12, -32
	pushq	%r13
	.cfi_def_cfa_offset 40
	.cfi_offset r13, -40
	pushq	%r14
	.cfi_def_cfa_offset 48
	.cfi_offset r14, -48
	pushq	%r15
	.cfi_def_cfa_offset 56
	.cfi_offset r15, -56
	/* out; also makes %rsp 16-byte aligned for the call. */
	pushq	%rcx
	.cfi_def_cfa_offset 64

	movq	%rsi, %rax
	movq	0(%rdi), %rbx
	movq	8(%rdi), %rbp
	movq	16(%rdi), %r12
	movq	24(%rdi), %r13
	movq	32(%rdi), %r14
	movq	40(%rdi), %r15
	movq	%rdx, %rdi
	call	*%rax

	movq	(%rsp), %rcx
	movq	%rbx, 0(%rcx)
	movq	%rbp, 8(%rcx)
	movq	%r12, 16(%rcx)
	movq	%r13, 24(%rcx)
	movq	%r14, 32(%rcx)
	movq	%r15, 40(%rcx)

	popq	%rcx
	.cfi_def_cfa_offset 56
	popq	%r15
	.cfi_def_cfa_offset 48
	popq	%r14
	.cfi_def_cfa_offset 40
	popq	%r13
	.cfi_def_cfa_offset 32
	popq	%r12
	.cfi_def_cfa_offset 24
	popq	%rbx
	.cfi_def_cfa_offset 16
	popq	%rbp
	.cfi_def_cfa_offset 8
	ret
	.cfi_endproc
	.size	regs_call, .-regs_call

	.globl	regs_scribble
	.type	regs_scribble, @function
	.p2align 4
regs_scribble:
	.cfi_startproc
	movq	0(%rdi), %rbx
	movq	8(%rdi), %rbp
	movq	16(%rdi), %r12
	movq	24(%rdi), %r13
	movq	32(%rdi), %r14
	movq	40(%rdi), %r15
	ret
	.cfi_endproc
	.size	regs_scribble, .-regs_scribble

	.section .note.GNU-stack, "", @progbits
