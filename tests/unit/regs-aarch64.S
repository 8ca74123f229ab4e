/* SPDX-License-Identifier: MIT */
/*
 * regs-aarch64.S: helpers for test-regs.c that own every callee-saved
 * register of AAPCS64 (x19-x29 and the low 64 bits of v8-v15), so that a
 * test can see exactly what a context switch leaves in them. The same
 * symbols as regs-x86_64.S:
 *
 *   void regs_call(const uint64_t *in,        // x0: REGS_N values
 *                  void (*fn)(void *),        // x1
 *                  void *arg,                 // x2
 *                  uint64_t *out);            // x3: REGS_N values
 *   void regs_scribble(const uint64_t *vals); // x0
 *
 * regs_call loads in[] into the callee-saved registers, calls fn(arg), then
 * stores what the registers hold afterwards into out[] and gives the caller
 * its own values back. regs_scribble breaks the ABI on purpose (loads
 * vals[] and returns); only regs_call may call it.
 *
 * in[], out[] and vals[] order (REGS_N = 19):
 *
 *   index  0..9      10    11..18
 *   reg    x19..x28  x29   d8..d15
 *
 * regs_call's frame (176 bytes):
 *
 *   offset  what
 *        0  caller's x29, x30
 *       16  caller's x19..x28
 *       96  caller's d8..d15
 *      160  out
 *      168  padding (sp stays 16-byte aligned)
 */

	.text

	.globl	regs_call
	.type	regs_call, %function
	.p2align 4
regs_call:
	.cfi_startproc
	stp	x29, x30, [sp, #-176]!
	.cfi_def_cfa_offset 176
	.cfi_offset x29, -176
	.cfi_offset x30, -168
	stp	x19, x20, [sp, #16]
	stp	x21, x22, [sp, #32]
	stp	x23, x24, [sp, #48]
	stp	x25, x26, [sp, #64]
	stp	x27, x28, [sp, #80]
	stp	d8, d9, [sp, #96]
	stp	d10, d11, [sp, #112]
	stp	d12, d13, [sp, #128]
	stp	d14, d15, [sp, #144]
	str	x3, [sp, #160]

	mov	x16, x1
	mov	x17, x0
	mov	x0, x2
	ldp	x19, x20, [x17, #0]
	ldp	x21, x22, [x17, #16]
	ldp	x23, x24, [x17, #32]
	ldp	x25, x26, [x17, #48]
	ldp	x27, x28, [x17, #64]
	ldr	x29, [x17, #80]
	ldp	d8, d9, [x17, #88]
	ldp	d10, d11, [x17, #104]
	ldp	d12, d13, [x17, #120]
	ldp	d14, d15, [x17, #136]
	blr	x16

	ldr	x16, [sp, #160]
	stp	x19, x20, [x16, #0]
	stp	x21, x22, [x16, #16]
	stp	x23, x24, [x16, #32]
	stp	x25, x26, [x16, #48]
	stp	x27, x28, [x16, #64]
	str	x29, [x16, #80]
	stp	d8, d9, [x16, #88]
	stp	d10, d11, [x16, #104]
	stp	d12, d13, [x16, #120]
	stp	d14, d15, [x16, #136]

	ldp	x19, x20, [sp, #16]
	ldp	x21, x22, [sp, #32]
	ldp	x23, x24, [sp, #48]
	ldp	x25, x26, [sp, #64]
	ldp	x27, x28, [sp, #80]
	ldp	d8, d9, [sp, #96]
	ldp	d10, d11, [sp, #112]
	ldp	d12, d13, [sp, #128]
	ldp	d14, d15, [sp, #144]
	ldp	x29, x30, [sp], #176
	.cfi_def_cfa_offset 0
	ret
	.cfi_endproc
	.size	regs_call, .-regs_call

	.globl	regs_scribble
	.type	regs_scribble, %function
	.p2align 4
regs_scribble:
	.cfi_startproc
	ldp	x19, x20, [x0, #0]
	ldp	x21, x22, [x0, #16]
	ldp	x23, x24, [x0, #32]
	ldp	x25, x26, [x0, #48]
	ldp	x27, x28, [x0, #64]
	ldr	x29, [x0, #80]
	ldp	d8, d9, [x0, #88]
	ldp	d10, d11, [x0, #104]
	ldp	d12, d13, [x0, #120]
	ldp	d14, d15, [x0, #136]
	ret
	.cfi_endproc
	.size	regs_scribble, .-regs_scribble

	.section .note.GNU-stack, "", %progbits
