/* SPDX-License-Identifier: MIT */
/*
 * compat-internal.h: the layout that libco's stCoRoutineAttr_t, as
 * co_routine.h declares it on its own, and struct co_attr (coro.h) share.
 * A libco program hands co_create a stCoRoutineAttr_t, which the library
 * reads as a struct co_attr: compat.c, which includes co_routine.h alone,
 * checks the first against these figures, coro.c the second. Includes
 * nothing, so that either kind of file may include it.
 */
#ifndef CORO_COMPAT_INTERNAL_H
#define CORO_COMPAT_INTERNAL_H

#define CO__ATTR_STACK_SIZE_OFFSET 0               /* int stack_size */
#define CO__ATTR_SHARE_STACK_OFFSET sizeof(void *) /* the pool pointer, aligned */
#define CO__ATTR_SIZE (2 * sizeof(void *))

#endif
