/* SPDX-License-Identifier: MIT */
/*
 * coro.c: coroutine life cycle and the resume/yield paths.
 *
 * The fast paths (co_resume, co_yield_ct) are a handful of loads and stores
 * and a tail call into co__switch: the switch then returns straight to the
 * caller of co_resume or co_yield_ct, with no intermediate frame that would
 * have to return through a mispredicted ret. Everything unusual (misuse, a
 * shared stack whose contents must be swapped, AddressSanitizer) takes the
 * slow paths below them.
 *
 * Shared stacks: a coroutine whose bytes are not on its stack carries
 * CO_EVICTED. Resuming it, or yielding back to it, first switches to the
 * thread's helper context, which runs on a small private stack of its own:
 * there the occupant's used bytes are saved (its stack pointer is exact,
 * since the switch into the helper has just stored it) and the newcomer's
 * are copied back, with no frame of either on the stack being rewritten.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coro/compat-internal.h"
#include "coro/coro-internal.h"

/* libco programs hand co_create a stCoRoutineAttr_t (compat.c checks its side). */
_Static_assert(offsetof(struct co_attr, stack_size) == CO__ATTR_STACK_SIZE_OFFSET,
	       "struct co_attr.stack_size moved: libco's stCoRoutineAttr_t has it at 0");
_Static_assert(offsetof(struct co_attr, share_stack) == CO__ATTR_SHARE_STACK_OFFSET,
	       "struct co_attr.share_stack moved: co_routine.h's stCoRoutineAttr_t differs");
_Static_assert(sizeof(struct co_attr) == CO__ATTR_SIZE,
	       "struct co_attr changed size: co_routine.h's stCoRoutineAttr_t differs");

#if defined(CO_ASAN)
#include <sanitizer/common_interface_defs.h>
#endif

/*
 * Before a thread sets up its environment, current points at this shared
 * main context, whose resumer is the poison sentinel: co_yield_ct outside a
 * coroutine then aborts with a message even on a thread that never created
 * one. Nothing ever switches into or out of these two.
 */
static struct co nothread_poison = { .ctx = { .flags = CO_POISON, .kind = CO_KIND_OTHER } };
static struct co nothread_main = {
	.ctx = { .flags = CO_MAIN | CO_RUNNING, .kind = CO_KIND_OTHER },
	.resumer = &nothread_poison,
};

__thread struct co__tls co__tls __attribute__((tls_model("initial-exec"))) = {
	.current = &nothread_main,
};

static pthread_key_t env_key;
static pthread_once_t env_key_once = PTHREAD_ONCE_INIT;

void co__die(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	memcpy(buf, "coro: ", 6);
	va_start(ap, fmt);
	n = vsnprintf(buf + 6, sizeof buf - 7, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	n = 6 + (n < (int)sizeof buf - 7 ? n : (int)sizeof buf - 8);
	buf[n++] = '\n';
	if (write(STDERR_FILENO, buf, (size_t)n) < 0) {
		/* Nothing better to do: we abort either way. */
	}
	abort();
}

/* ---- switching ---------------------------------------------------------- */

#if defined(CO_ASAN)
/*
 * AddressSanitizer must be told about every stack switch, or it mistakes
 * the coroutine's frames for a stack overflow and its fake stacks for leaks.
 * The context that switched last records itself in env->asan_from, so that
 * the one switched to can store the stack bounds ASan reports for it (this
 * is how the main context's bounds are learnt).
 */
static void switch_to(struct co *to, struct co *from, bool from_dies)
{
	struct co__env *env = co__tls.env;
	struct co *prev;

	env->asan_from = from;
	__sanitizer_start_switch_fiber(from_dies ? NULL : &from->asan_fake,
				       to->asan_lo, to->asan_size);
	co__switch(&to->ctx, &from->ctx, co__tls.errnop);
	prev = co__tls.env->asan_from;
	__sanitizer_finish_switch_fiber(from->asan_fake, &prev->asan_lo,
					&prev->asan_size);
}

void co__asan_entered(struct co *co)
{
	struct co *prev = co__tls.env->asan_from;

	(void)co;
	__sanitizer_finish_switch_fiber(NULL, &prev->asan_lo, &prev->asan_size);
}
#else
static inline __attribute__((always_inline)) void
switch_to(struct co *to, struct co *from, bool from_dies)
{
	(void)from_dies;
	co__switch(&to->ctx, &from->ctx, co__tls.errnop);
}
#endif

/*
 * Switches to a coroutine whose stack contents must first be put back: the
 * helper does the copying on its own stack, then switches to `to`.
 */
static void switch_via_helper(struct co *to, struct co *from, bool from_dies)
{
	struct co__env *env = co__tls.env;

	env->pending = to;
	switch_to(&env->helper, from, from_dies);
}

static void *helper_main(void *arg)
{
	struct co__env *env = arg;

	for (;;) {
		struct co *to = env->pending;

		co__sharestack_restore(to);
		switch_to(to, &env->helper, false);
	}
	return NULL;
}

/* ---- environment -------------------------------------------------------- */

static void env_destroy(void *arg)
{
	struct co__env *env = arg;
	struct co__stack *st;

	while ((st = env->pool) != NULL) {
		env->pool = st->next;
		co__stack_free(st);
	}
	if (env->helper_stack)
		co__stack_free(env->helper_stack);
	co__loop_destroy(env->loop);
	co__overflow_guard_fini(env);
	free(env);
	co__tls.env = NULL;
	co__tls.current = &nothread_main;
	co__tls.errnop = NULL;
}

static void env_key_make(void)
{
	if (pthread_key_create(&env_key, env_destroy) != 0)
		co__die("pthread_key_create failed: too many thread-specific keys in this process");
}

struct co__env *co__env_get(void)
{
	struct co__env *env = co__tls.env;

	if (env)
		return env;
	env = calloc(1, sizeof *env);
	if (!env)
		return NULL;
	env->main.ctx.flags = CO_MAIN | CO_RUNNING;
	env->main.ctx.kind = CO_KIND_OTHER;
	env->main.resumer = &env->poison;
	env->poison.ctx.flags = CO_POISON;
	env->poison.ctx.kind = CO_KIND_OTHER;
	env->helper.ctx.kind = CO_KIND_OTHER;
	pthread_once(&env_key_once, env_key_make);
	if (pthread_setspecific(env_key, env) != 0) {
		free(env);
		return NULL;
	}
	co__overflow_guard_init(env);
	co__tls.env = env;
	co__tls.errnop = &errno;
	co__tls.current = &env->main;
	return env;
}

/* The helper gets a stack the first time a shared-stack coroutine is made. */
static int helper_init(struct co__env *env)
{
	struct co__stack *st;

	if (env->helper_stack)
		return 0;
	st = co__stack_get(env, 64 * 1024);
	if (!st)
		return -ENOMEM;
	env->helper_stack = st;
	memset(&env->helper.ctx, 0, sizeof env->helper.ctx);
	env->helper.ctx.kind = CO_KIND_OTHER;
	env->helper.stack.priv = st;
	co__ctx_make(&env->helper.ctx, (char *)st, &env->helper,
		     (void *)helper_main, env, co__entry);
	co__ctx_save_fp(&env->helper.ctx);
#if defined(CO_ASAN)
	env->helper.asan_lo = st->lo;
	env->helper.asan_size = st->size;
#endif
	return 0;
}

/* ---- life cycle --------------------------------------------------------- */

static size_t stack_size_of(int requested)
{
	size_t page = co__page_size();
	size_t size = requested > 0 ? (size_t)requested : 128 * 1024;

	if (size < 16 * 1024)
		size = 16 * 1024;
	return (size + page - 1) & ~(page - 1);
}

CO_API int co_create(struct co **ret, const struct co_attr *attr, co_fn *fn,
		     void *arg)
{
	struct co_sharestack *pool = attr ? attr->share_stack : NULL;
	struct co__env *env;
	struct co *co;

	if (!ret || !fn || (!pool && attr && attr->stack_size < 0))
		return -EINVAL;
	env = co__env_get();
	if (!env)
		return -ENOMEM;
	co = malloc(sizeof *co);
	if (!co)
		return -ENOMEM;
	memset(&co->ctx, 0, sizeof co->ctx);
	co->resumer = NULL;
	co->fn = fn;
	co->arg = arg;
	co->save_buf = NULL;
	co->ext = NULL;
	if (pool) {
		if (helper_init(env) < 0)
			goto fail_stack;
		co->stack.share = co__sharestack_pick(pool);
		co->ctx.kind = CO_KIND_SHARED;
		co->ctx.flags = CO_EVICTED | CO_FRESH;
	} else {
		struct co__stack *st = co__stack_get(env, stack_size_of(attr ? attr->stack_size : 0));

		if (!st)
			goto fail_stack;
		co->stack.priv = st;
		co->ctx.kind = CO_KIND_PRIVATE;
		co__ctx_make(&co->ctx, (char *)st, co, (void *)fn, arg, co__entry);
	}
	co__ctx_save_fp(&co->ctx);
#if defined(CO_ASAN)
	co->asan_fake = NULL;
	{
		char *lo;
		size_t size;

		co__stack_bounds(co, &lo, &size);
		co->asan_lo = lo;
		co->asan_size = size;
	}
#endif
	env->coroutines++;
	*ret = co;
	return 0;

fail_stack:
	free(co);
	return -ENOMEM;
}

static const char *describe(const struct co *co, char *buf, size_t len)
{
	const char *name = co->ext ? co->ext->name : NULL;

	if (name)
		snprintf(buf, len, "%p (\"%s\")", (const void *)co, name);
	else
		snprintf(buf, len, "%p", (const void *)co);
	return buf;
}

static void check_not_on_call_stack(const struct co *co, const char *what)
{
	char buf[128];

	if (co->ctx.flags & (CO_MAIN | CO_POISON))
		co__die("%s: %p is the thread's main context, not a coroutine", what,
			(const void *)co);
	if (co->ctx.flags & CO_RUNNING)
		co__die("%s: coroutine %s is running (it is on the call stack of resumers)",
			what, describe(co, buf, sizeof buf));
}

CO_API void co_release(struct co *co)
{
	if (!co)
		return;
	check_not_on_call_stack(co, "co_release");
	if (co->ext && co->ext->wait)
		co__wait_abandon(co->ext->wait);
	if (co->ctx.kind == CO_KIND_SHARED)
		co__sharestack_forget(co);
	else
		co__stack_put(co__tls.env, co->stack.priv);
	co__ext_free(co->ext);
	free(co);
	if (co__tls.env)
		co__tls.env->coroutines--;
}

CO_API void co_reset(struct co *co)
{
	check_not_on_call_stack(co, "co_reset");
	if (co->ext && co->ext->wait) {
		co__wait_abandon(co->ext->wait);
		co->ext->wait = NULL;
	}
	if (co->ctx.kind == CO_KIND_SHARED) {
		struct co__stackmem *mem = co->stack.share;

		if (mem->occupant == co)
			mem->occupant = NULL;
		co->ctx.flags = CO_EVICTED | CO_FRESH;
	} else {
		co__ctx_make(&co->ctx, (char *)co->stack.priv, co, (void *)co->fn,
			     co->arg, co__entry);
		co->ctx.flags = 0;
#if defined(CO_ASAN)
		co__stack_bounds(co, (char **)&co->asan_lo, &co->asan_size);
#endif
	}
	co__ctx_save_fp(&co->ctx);
	co->ctx.err = 0;
}

void co__exit(struct co *co)
{
	struct co *to = co->resumer;

	co->ctx.flags = CO_DEAD;
	if (co->ctx.kind == CO_KIND_SHARED && co->stack.share->occupant == co)
		co->stack.share->occupant = NULL;
	co__tls.current = to;
	if (to->ctx.flags & CO_EVICTED)
		switch_via_helper(to, co, true);
	else
		switch_to(to, co, true);
	co__die("finished coroutine %p was switched to", (void *)co);
}

/* ---- resume and yield --------------------------------------------------- */

static __attribute__((noinline, cold)) void resume_slow(struct co *co)
{
	struct co *cur = co__tls.current;
	char buf[128];

	if (co->ctx.flags & CO_DEAD)
		co__die("co_resume: coroutine %s has finished; co_reset it before resuming it again",
			describe(co, buf, sizeof buf));
	check_not_on_call_stack(co, "co_resume");
	co->ctx.flags |= CO_RUNNING;
	co->resumer = cur;
	co__tls.current = co;
	co__tls.resumes++;
	if (co->ctx.flags & CO_EVICTED)
		switch_via_helper(co, cur, false);
	else
		switch_to(co, cur, false);
}

CO_API void co_resume(struct co *co)
{
	struct co *cur = co__tls.current;

	if (__builtin_expect(co->ctx.flags != 0, 0)) {
		resume_slow(co);
		return;
	}
	co->ctx.flags = CO_RUNNING;
	co->resumer = cur;
	co__tls.current = co;
	co__tls.resumes++;
	switch_to(co, cur, false);
}

static __attribute__((noinline, cold)) void yield_slow(struct co *cur, struct co *to)
{
	if (to->ctx.flags & CO_POISON)
		co__die("co_yield_ct: called outside a coroutine (on the thread's main context)");
	cur->ctx.flags = 0;
	co__tls.current = to;
	switch_via_helper(to, cur, false);
}

CO_API void co_yield_ct(void)
{
	struct co *cur = co__tls.current;
	struct co *to = cur->resumer;

	if (__builtin_expect(to->ctx.flags & CO_YIELD_SLOW, 0)) {
		yield_slow(cur, to);
		return;
	}
	cur->ctx.flags = 0;
	co__tls.current = to;
	switch_to(to, cur, false);
}

CO_API void co_yield(struct co *co)
{
	(void)co;
	co_yield_ct();
}

/* ---- queries ------------------------------------------------------------ */

CO_API struct co *co_self(void)
{
	struct co *cur = co__tls.current;

	return (cur->ctx.flags & CO_MAIN) ? NULL : cur;
}

CO_API struct co *co_get_current(void)
{
	return co_self();
}

CO_API int co_is_main(void)
{
	return (co__tls.current->ctx.flags & CO_MAIN) != 0;
}

CO_API int co_is_dead(const struct co *co)
{
	return (co->ctx.flags & CO_DEAD) != 0;
}

CO_API size_t co_stack_size(const struct co *co)
{
	char *lo;
	size_t size;

	co__stack_bounds(co, &lo, &size);
	return size;
}

CO_API void co_get_stats(struct co_stats *ret)
{
	struct co__env *env = co__tls.env;

	memset(ret, 0, sizeof *ret);
	ret->switches = co_switch_count();
	if (!env)
		return;
	ret->coroutines = env->coroutines;
	ret->sharestacks = env->sharestacks;
	ret->saved_stack_bytes = env->saved_bytes;
}

CO_API unsigned long long co_switch_count(void)
{
	return 2 * co__tls.resumes;
}
