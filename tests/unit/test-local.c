/* SPDX-License-Identifier: MIT */
/*
 * test-local.c: co-local storage. co_setspecific/co_getspecific keep one
 * value per (coroutine, key); on a thread's main context they are
 * pthread_setspecific/pthread_getspecific. Values survive yields, shared
 * stack swaps and co_reset; keys may be large; a coroutine that never set a
 * key reads NULL whatever main or the others set. Names (co_set_name, the
 * other thing local.c keeps per coroutine) are copied.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "coro/coro.h"
#include "tests/unit/tap.h"

static pthread_key_t key;

static void make_key(void)
{
	ASSERT_EQ(pthread_key_create(&key, NULL), 0);
}

static void *set_yield_check(void *arg)
{
	ASSERT_PTR_EQ(co_getspecific(key), NULL);
	ASSERT_EQ(co_setspecific(key, arg), 0);
	for (int i = 0; i < 20; i++) {
		co_yield_ct();
		ASSERT_PTR_EQ(co_getspecific(key), arg);
	}
	return NULL;
}

static void per_coroutine(struct co_sharestack *pool)
{
	struct co_attr attr = { 0, pool };
	int values[4] = { 0 }, on_main = 0;
	struct co *cos[4];

	make_key();
	ASSERT_EQ(co_setspecific(key, &on_main), 0);
	for (int i = 0; i < 4; i++)
		ASSERT_EQ(co_create(&cos[i], &attr, set_yield_check, &values[i]), 0);
	for (int round = 0; round <= 20; round++)
		for (int i = 0; i < 4; i++) {
			co_resume(cos[i]);
			/* Main's value is the thread's, untouched by the coroutines. */
			ASSERT_PTR_EQ(co_getspecific(key), &on_main);
			ASSERT_PTR_EQ(pthread_getspecific(key), &on_main);
		}
	for (int i = 0; i < 4; i++) {
		ASSERT(co_is_dead(cos[i]));
		co_release(cos[i]);
	}
}

TEST(value_per_coroutine)
{
	per_coroutine(NULL);
}

TEST(value_per_coroutine_shared_stacks)
{
	struct co_sharestack *pool = co_alloc_sharestack(2, 32 * 1024);

	ASSERT(pool);
	per_coroutine(pool);
	co_free_sharestack(pool);
}

TEST(main_is_pthread_specific)
{
	int a = 0, b = 0;

	make_key();
	ASSERT_PTR_EQ(co_getspecific(key), NULL);
	ASSERT_EQ(co_setspecific(key, &a), 0);
	ASSERT_PTR_EQ(pthread_getspecific(key), &a);
	ASSERT_EQ(pthread_setspecific(key, &b), 0);
	ASSERT_PTR_EQ(co_getspecific(key), &b);
	ASSERT_EQ(co_setspecific(key, NULL), 0);
	ASSERT_PTR_EQ(pthread_getspecific(key), NULL);
}

static void *check_main_value_invisible(void *arg)
{
	/* Main set a value, and so did pthread_setspecific here: neither is this coroutine's. */
	ASSERT_PTR_EQ(co_getspecific(key), NULL);
	ASSERT_EQ(pthread_setspecific(key, arg), 0);
	ASSERT_PTR_EQ(co_getspecific(key), NULL);
	ASSERT_EQ(co_setspecific(key, &key), 0);
	ASSERT_PTR_EQ(co_getspecific(key), &key);
	ASSERT_PTR_EQ(pthread_getspecific(key), arg);
	return NULL;
}

TEST(coroutine_does_not_see_thread_value)
{
	int on_main = 0, from_co = 0;
	struct co *co;

	make_key();
	ASSERT_EQ(pthread_setspecific(key, &on_main), 0);
	ASSERT_EQ(co_create(&co, NULL, check_main_value_invisible, &from_co), 0);
	co_resume(co);
	ASSERT(co_is_dead(co));
	/* The coroutine's pthread_setspecific went to the thread, as it says. */
	ASSERT_PTR_EQ(pthread_getspecific(key), &from_co);
	co_release(co);
}

/* ---- many and large keys ------------------------------------------------ */

#define NKEYS 900

static pthread_key_t keys[NKEYS];
static int nkeys;

static void make_many_keys(void)
{
	for (nkeys = 0; nkeys < NKEYS; nkeys++)
		if (pthread_key_create(&keys[nkeys], NULL) != 0)
			break;
	/* PTHREAD_KEYS_MAX is 1024; the C library and libcoro take a few. */
	ASSERT_GE(nkeys, 500);
}

/* Sets every third key, the largest first, then checks them all; arg tags the values. */
static void *many_keys(void *arg)
{
	uintptr_t tag = (uintptr_t)arg;

	/* The largest key first: the array is sized for it at once. */
	for (int i = nkeys - 1; i >= 0; i -= 3)
		ASSERT_EQ(co_setspecific(keys[i], (void *)(tag + (uintptr_t)i)), 0);
	co_yield_ct();
	for (int i = 0; i < nkeys; i++) {
		void *want = (nkeys - 1 - i) % 3 == 0 ? (void *)(tag + (uintptr_t)i) : NULL;

		ASSERT_PTR_EQ(co_getspecific(keys[i]), want);
	}
	/* Growing one small key at a time keeps what was set. */
	for (int i = 0; i < nkeys; i++)
		ASSERT_EQ(co_setspecific(keys[i], (void *)(tag * 2 + (uintptr_t)i)), 0);
	co_yield_ct();
	for (int i = 0; i < nkeys; i++)
		ASSERT_PTR_EQ(co_getspecific(keys[i]), (void *)(tag * 2 + (uintptr_t)i));
	return NULL;
}

static void *small_keys_first(void *arg)
{
	uintptr_t tag = (uintptr_t)arg;

	for (int i = 0; i < nkeys; i++) {
		ASSERT_EQ(co_setspecific(keys[i], (void *)(tag + (uintptr_t)i)), 0);
		if (i % 100 == 0)
			co_yield_ct();
	}
	for (int i = 0; i < nkeys; i++)
		ASSERT_PTR_EQ(co_getspecific(keys[i]), (void *)(tag + (uintptr_t)i));
	return NULL;
}

TEST(large_keys)
{
	struct co *a, *b, *c;

	make_many_keys();
	ASSERT_GT(keys[nkeys - 1], 500);
	ASSERT_EQ(co_create(&a, NULL, many_keys, (void *)(uintptr_t)0x10000), 0);
	ASSERT_EQ(co_create(&b, NULL, many_keys, (void *)(uintptr_t)0x20000), 0);
	ASSERT_EQ(co_create(&c, NULL, small_keys_first, (void *)(uintptr_t)0x30000), 0);
	while (!co_is_dead(a) || !co_is_dead(b) || !co_is_dead(c)) {
		if (!co_is_dead(a))
			co_resume(a);
		if (!co_is_dead(b))
			co_resume(b);
		if (!co_is_dead(c))
			co_resume(c);
		for (int i = 0; i < nkeys; i++)
			ASSERT_PTR_EQ(co_getspecific(keys[i]), NULL);
	}
	co_release(a);
	co_release(b);
	co_release(c);
}

/* ---- co_reset keeps the values ------------------------------------------ */

static int runs;

static void *set_on_first_run(void *arg)
{
	if (runs++ == 0) {
		ASSERT_PTR_EQ(co_getspecific(key), NULL);
		ASSERT_EQ(co_setspecific(key, arg), 0);
	} else {
		ASSERT_PTR_EQ(co_getspecific(key), arg);
	}
	co_yield_ct();
	ASSERT_PTR_EQ(co_getspecific(key), arg);
	return NULL;
}

static void reset_keeps(struct co_sharestack *pool)
{
	struct co_attr attr = { 0, pool };
	struct co *co, *other;
	int value = 0;

	make_key();
	runs = 0;
	ASSERT_EQ(co_create(&co, &attr, set_on_first_run, &value), 0);
	ASSERT_EQ(co_create(&other, &attr, set_yield_check, &runs), 0);
	co_resume(co);
	co_resume(other);
	co_reset(co);          /* suspended */
	co_resume(co);
	co_resume(other);
	co_resume(co);
	ASSERT(co_is_dead(co));
	co_reset(co);          /* finished */
	co_resume(co);
	co_resume(co);
	ASSERT(co_is_dead(co));
	ASSERT_EQ(runs, 3);
	co_release(co);
	co_release(other);
}

TEST(values_survive_reset)
{
	reset_keeps(NULL);
}

TEST(values_survive_reset_shared_stack)
{
	struct co_sharestack *pool = co_alloc_sharestack(1, 32 * 1024);

	ASSERT(pool);
	reset_keeps(pool);
	co_free_sharestack(pool);
}

/* ---- keys that are not keys --------------------------------------------- */

static void *invalid_key(void *arg)
{
	int rc = co_setspecific((pthread_key_t)UINT_MAX, arg);

	/* Refused, as pthread_setspecific refuses it, not stored somewhere. */
	ASSERT_NE(rc, 0);
	ASSERT_PTR_EQ(co_getspecific((pthread_key_t)UINT_MAX), NULL);
	return NULL;
}

/*
 * UINT_MAX is no pthread key (they are below PTHREAD_KEYS_MAX): main's
 * pthread_setspecific says EINVAL, and a coroutine must not do worse than
 * refuse it too.
 */
TEST(setspecific_rejects_invalid_key)
{
	struct co *co;
	int value = 0;

	ASSERT_EQ(co_setspecific((pthread_key_t)UINT_MAX, &value), EINVAL);
	ASSERT_EQ(co_create(&co, NULL, invalid_key, &value), 0);
	co_resume(co);
	ASSERT(co_is_dead(co));
	co_release(co);
}

/* ---- names -------------------------------------------------------------- */

TEST(names_are_copied)
{
	char name[16];
	struct co *co;

	ASSERT_EQ(co_create(&co, NULL, invalid_key, NULL), 0);
	ASSERT_PTR_EQ(co_get_name(co), NULL);
	strcpy(name, "first");
	ASSERT_EQ(co_set_name(co, name), 0);
	strcpy(name, "changed");
	ASSERT_STR_EQ(co_get_name(co), "first");
	ASSERT(co_get_name(co) != name);
	/* Renaming frees the old copy (valgrind and LeakSanitizer check). */
	ASSERT_EQ(co_set_name(co, "second"), 0);
	ASSERT_STR_EQ(co_get_name(co), "second");
	ASSERT_EQ(co_set_name(co, NULL), 0);
	ASSERT_PTR_EQ(co_get_name(co), NULL);
	ASSERT_EQ(co_set_name(co, "last"), 0);
	co_release(co);
}
