/* SPDX-License-Identifier: MIT */
/*
 * sharestack.c: shared (copy) stacks.
 *
 * Each stack of a pool has one occupant whose bytes are on it. When another
 * coroutine of the same stack is resumed, the thread's helper context (see
 * coro.c) saves the occupant's used part, from its saved stack pointer to
 * the top, into the occupant's save buffer and copies the newcomer's saved
 * bytes back to the same addresses. Only bytes in use are copied; a parked
 * coroutine costs its struct plus a heap buffer of exactly its used stack.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "coro/coro-internal.h"

#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#else
#define VALGRIND_STACK_REGISTER(lo, hi) 0u
#define VALGRIND_STACK_DEREGISTER(id) ((void)(id))
#define VALGRIND_MAKE_MEM_UNDEFINED(p, n) ((void)(p), (void)(n))
#endif

#if defined(CO_ASAN)
#include <sanitizer/asan_interface.h>
#endif

CO_API struct co_sharestack *co_alloc_sharestack(int count, int stack_size)
{
	size_t page = co__page_size();
	struct co_sharestack *pool;
	size_t size;
	int i, err;

	if (count <= 0 || stack_size <= 0) {
		errno = EINVAL;
		return NULL;
	}
	size = ((size_t)stack_size + page - 1) & ~(page - 1);
	pool = calloc(1, sizeof *pool);
	if (!pool)
		goto fail_pool;
	pool->mem = calloc((size_t)count, sizeof *pool->mem);
	if (!pool->mem)
		goto fail_mem;
	pool->count = count;
	pool->size = size;
	pool->env = co__env_get();
	for (i = 0; i < count; i++) {
		struct co__stackmem *mem = &pool->mem[i];

		err = co__map_guarded(size, &mem->map, &mem->map_len, &mem->lo);
		if (err < 0)
			goto fail_map;
		mem->top = mem->lo + size;
		mem->pool = pool;
		mem->vg_id = VALGRIND_STACK_REGISTER(mem->lo, mem->top);
	}
	if (pool->env)
		pool->env->sharestacks += (unsigned)count;
	return pool;

fail_map:
	while (i-- > 0) {
		VALGRIND_STACK_DEREGISTER(pool->mem[i].vg_id);
		co__unmap_guarded(pool->mem[i].map, pool->mem[i].map_len);
	}
	free(pool->mem);
fail_mem:
	free(pool);
fail_pool:
	errno = ENOMEM;
	return NULL;
}

CO_API void co_free_sharestack(struct co_sharestack *pool)
{
	int i;

	if (!pool)
		return;
	if (pool->users)
		co__die("co_free_sharestack: %u coroutines still use the pool; co_release them first",
			pool->users);
	for (i = 0; i < pool->count; i++) {
		VALGRIND_STACK_DEREGISTER(pool->mem[i].vg_id);
		co__unmap_guarded(pool->mem[i].map, pool->mem[i].map_len);
	}
	if (pool->env)
		pool->env->sharestacks -= (unsigned)pool->count;
	free(pool->mem);
	free(pool);
}

struct co__stackmem *co__sharestack_pick(struct co_sharestack *pool)
{
	struct co__stackmem *mem = &pool->mem[pool->next % (unsigned)pool->count];

	pool->next++;
	pool->users++;
	return mem;
}

void co__sharestack_forget(struct co *co)
{
	struct co__stackmem *mem = co->stack.share;

	if (mem->occupant == co)
		mem->occupant = NULL;
	if (co->save_buf && mem->pool->env)
		mem->pool->env->saved_bytes -= malloc_usable_size(co->save_buf);
	free(co->save_buf);
	co->save_buf = NULL;
	mem->pool->users--;
}

#if defined(CO_ASAN)
/*
 * The occupant's frames carry poisoned redzones in ASan's shadow: reading
 * them is legitimate here, so copy without instrumentation (byte by byte,
 * so that the compiler does not turn the loop back into memcpy).
 */
__attribute__((no_sanitize_address, noinline))
static void copy_out(char *dst, const char *src, size_t len)
{
	volatile char *d = dst;

	for (size_t i = 0; i < len; i++)
		d[i] = src[i];
}
#else
#define copy_out memcpy
#endif

/*
 * Copies co's saved bytes back to the top of its stack. Under valgrind the
 * destination may lie below where the last occupant's stack pointer was,
 * which memcheck marked inaccessible when that occupant's frames returned:
 * tell it the bytes are addressable before writing them.
 */
static void restore_bytes(struct co *co, char *top)
{
	char *sp = co__ctx_sp(&co->ctx);
	size_t len = (size_t)(top - sp);

	VALGRIND_MAKE_MEM_UNDEFINED(sp, len);
	memcpy(sp, co->save_buf, len);
}

void co__sharestack_restore(struct co *co)
{
	struct co__stackmem *mem = co->stack.share;
	struct co *occ = mem->occupant;
	char *top = mem->top;

	if (occ && occ != co) {
		char *sp = co__ctx_sp(&occ->ctx);
		size_t len = (size_t)(top - sp);

		size_t had = malloc_usable_size(occ->save_buf);

		if (had < len) {
			free(occ->save_buf);
			occ->save_buf = malloc(len);
			if (!occ->save_buf)
				co__die("out of memory saving the %zu-byte stack of coroutine %p",
					len, (void *)occ);
			if (mem->pool->env)
				mem->pool->env->saved_bytes +=
					malloc_usable_size(occ->save_buf) - had;
		}
		copy_out(occ->save_buf, sp, len);
		occ->ctx.flags |= CO_EVICTED;
	}
#if defined(CO_ASAN)
	__asan_unpoison_memory_region(mem->lo, (size_t)(top - mem->lo));
#endif
	if (co->ctx.flags & CO_FRESH) {
		VALGRIND_MAKE_MEM_UNDEFINED(top - 16, 16);
		co__ctx_make(&co->ctx, top, co, (void *)co->fn, co->arg, co__entry);
	} else
		restore_bytes(co, top);
	co->ctx.flags &= (uint8_t)~(CO_EVICTED | CO_FRESH);
	mem->occupant = co;
}
