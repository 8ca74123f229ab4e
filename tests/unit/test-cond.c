/* SPDX-License-Identifier: MIT */
/*
 * test-cond.c: condition variables for the coroutines of one thread:
 * signal wakes the longest waiter (FIFO), broadcast wakes all, a timed wait
 * times out with -ETIMEDOUT and never early, a signal nobody waits for is
 * lost, freeing a condition with waiters is -EBUSY, a wait outside a
 * coroutine is -EPERM, and waiters released before they run leave the
 * condition and the loop sound.
 */
#define _GNU_SOURCE
#include "tests/unit/loop-util.h"

static struct co_cond *cc;
static volatile int woken;
static int wake_order[16];

struct waiter {
	int index;
	int timeout_ms;
	int ret;          /* what co_cond_timedwait returned; 1: not yet */
	long long took_us;
	int hooks;
};

static void *waiter_main(void *arg)
{
	struct waiter *w = arg;
	long long t0;

	if (w->hooks)
		co_enable_hook_sys();
	w->ret = 1;
	t0 = lu_now_us();
	w->ret = co_cond_timedwait(cc, w->timeout_ms);
	w->took_us = lu_now_us() - t0;
	wake_order[woken++] = w->index;
	return NULL;
}

/* Runs a few more rounds (a ticker keeps them coming): whoever is not woken stays asleep. */
static void *ticker(void *arg)
{
	(void)arg;
	co_enable_hook_sys();
	for (;;)
		usleep(2000);
	return NULL;
}

static void settle(void)
{
	for (int i = 0; i < 5; i++)
		lu_one_round();
}

static void setup(void)
{
	lu_watchdog(5, "condition variable waiters");
	cc = co_cond_alloc();
	ASSERT(cc != NULL);
	lu_go(ticker, NULL);
}

static void teardown(void)
{
	lu_release_all();
	ASSERT_EQ(co_cond_free(cc), 0);
}

TEST(signal_wakes_one_waiter_in_fifo_order)
{
	struct waiter w[5];

	setup();
	for (int i = 0; i < 5; i++) {
		w[i] = (struct waiter){ .index = i, .hooks = i % 2 };
		lu_go(waiter_main, &w[i]);
	}
	for (int k = 1; k <= 5; k++) {
		ASSERT_EQ(co_cond_signal(cc), 0); /* from the main context */
		ASSERT_EQ(woken, k - 1);          /* the loop resumes it, not signal itself */
		lu_run(&woken, k);
		settle();
		ASSERT_EQ(woken, k);
		ASSERT_EQ(wake_order[k - 1], k - 1);
		ASSERT_EQ(w[k - 1].ret, 0);
		for (int i = k; i < 5; i++)
			ASSERT_EQ(w[i].ret, 1);
	}
	ASSERT_EQ(co_cond_signal(cc), 0); /* nobody left: harmless */
	teardown();
}

static void *signaller(void *arg)
{
	(void)arg;
	co_enable_hook_sys();
	usleep(20000);
	ASSERT_EQ(co_cond_signal(cc), 0);
	usleep(20000);
	ASSERT_EQ(co_cond_broadcast(cc), 0);
	return NULL;
}

TEST(signal_and_broadcast_from_a_coroutine)
{
	struct waiter w[4];

	setup();
	for (int i = 0; i < 4; i++) {
		w[i] = (struct waiter){ .index = i };
		lu_go(waiter_main, &w[i]);
	}
	lu_go(signaller, NULL);
	lu_run(&woken, 1);
	settle();
	ASSERT_EQ(woken, 1);
	ASSERT_EQ(wake_order[0], 0);
	lu_run(&woken, 4);
	for (int i = 0; i < 4; i++) {
		ASSERT_EQ(wake_order[i], i);
		ASSERT_EQ(w[i].ret, 0);
	}
	teardown();
}

TEST(broadcast_wakes_all_in_fifo_order)
{
	struct waiter w[8];

	setup();
	for (int i = 0; i < 8; i++) {
		w[i] = (struct waiter){ .index = i, .timeout_ms = i % 3 ? 0 : 5000 };
		lu_go(waiter_main, &w[i]);
	}
	settle();
	ASSERT_EQ(woken, 0);
	ASSERT_EQ(co_cond_broadcast(cc), 0);
	lu_run(&woken, 8);
	for (int i = 0; i < 8; i++) {
		ASSERT_EQ(wake_order[i], i);
		ASSERT_EQ(w[i].ret, 0);
	}
	ASSERT_EQ(co_cond_broadcast(cc), 0); /* nobody left */
	teardown();
}

TEST(timedwait_times_out_never_early)
{
	struct waiter w[3];

	setup();
	for (int i = 0; i < 3; i++) {
		w[i] = (struct waiter){ .index = i, .timeout_ms = 150 + 50 * (2 - i) };
		lu_go(waiter_main, &w[i]);
	}
	lu_run(&woken, 3);
	/* Shortest timeout first. */
	for (int k = 0; k < 3; k++) {
		struct waiter *x = &w[wake_order[k]];

		ASSERT_EQ(wake_order[k], 2 - k);
		ASSERT_EQ(x->ret, -ETIMEDOUT);
		ASSERT_GE(x->took_us, x->timeout_ms * 1000LL);
		ASSERT_LT(x->took_us, (x->timeout_ms + lu_slack_ms()) * 1000LL);
	}
	teardown();
}

TEST(signal_before_wait_is_not_remembered)
{
	struct waiter w = { .index = 0, .timeout_ms = 100 };

	setup();
	ASSERT_EQ(co_cond_signal(cc), 0);
	ASSERT_EQ(co_cond_broadcast(cc), 0);
	lu_go(waiter_main, &w);
	lu_run(&woken, 1);
	ASSERT_EQ(w.ret, -ETIMEDOUT);
	ASSERT_GE(w.took_us, 100000);
	teardown();
}

TEST(free_with_waiters_is_ebusy)
{
	struct waiter w = { .index = 0 };

	setup();
	lu_go(waiter_main, &w);
	ASSERT_EQ(co_cond_free(cc), -EBUSY);
	/* Nothing was freed: the condition still works. */
	ASSERT_EQ(co_cond_signal(cc), 0);
	lu_run(&woken, 1);
	ASSERT_EQ(w.ret, 0);
	ASSERT_EQ(co_cond_free(NULL), 0);
	teardown();
}

TEST(timedwait_outside_a_coroutine_is_eperm)
{
	long long t0;

	cc = co_cond_alloc();
	ASSERT(cc != NULL);
	t0 = lu_now_us();
	ASSERT_EQ(co_cond_timedwait(cc, 1000), -EPERM);
	ASSERT_EQ(co_cond_timedwait(cc, 0), -EPERM);
	ASSERT_LT(lu_now_us() - t0, 100000);
	/* And it did not queue the main context. */
	ASSERT_EQ(co_cond_free(cc), 0);
}

/* Signalled before its timeout: 0, and the old timer does not wake a later wait. */
static int twice_first, twice_second = 1;

static void *wait_twice(void *arg)
{
	(void)arg;
	twice_first = co_cond_timedwait(cc, 100);
	woken++;
	twice_second = co_cond_timedwait(cc, 0);
	woken++;
	return NULL;
}

static void *signal_after_20ms(void *arg)
{
	(void)arg;
	co_enable_hook_sys();
	usleep(20000);
	co_cond_signal(cc);
	return NULL;
}

TEST(signalled_waiter_is_not_woken_again_by_its_timer)
{
	long long end;

	setup();
	lu_go(wait_twice, NULL);
	lu_go(signal_after_20ms, NULL);
	lu_run(&woken, 1);
	ASSERT_EQ(twice_first, 0);
	/* Past the first wait's 100 ms: the second wait must still be waiting. */
	end = lu_now_ms() + 250;
	while (lu_now_ms() < end)
		lu_one_round();
	ASSERT_EQ(woken, 1);
	ASSERT_EQ(twice_second, 1);
	ASSERT_EQ(co_cond_signal(cc), 0);
	lu_run(&woken, 2);
	ASSERT_EQ(twice_second, 0);
	teardown();
}

TEST(timed_out_waiter_leaves_the_queue)
{
	struct waiter a = { .index = 0, .timeout_ms = 50 }, b = { .index = 1 };

	setup();
	lu_go(waiter_main, &a);
	lu_go(waiter_main, &b);
	lu_run(&woken, 1);
	ASSERT_EQ(a.ret, -ETIMEDOUT);
	ASSERT_EQ(b.ret, 1);
	/* The one signal goes to b, not to a's stale place in the queue. */
	ASSERT_EQ(co_cond_signal(cc), 0);
	lu_run(&woken, 2);
	ASSERT_EQ(b.ret, 0);
	teardown();
}

TEST(zero_or_negative_timeout_waits_until_signalled)
{
	struct waiter a = { .index = 0, .timeout_ms = 0 }, b = { .index = 1, .timeout_ms = -5 };
	long long end;

	setup();
	lu_go(waiter_main, &a);
	lu_go(waiter_main, &b);
	end = lu_now_ms() + 300;
	while (lu_now_ms() < end)
		lu_one_round();
	ASSERT_EQ(woken, 0);
	ASSERT_EQ(co_cond_broadcast(cc), 0);
	lu_run(&woken, 2);
	ASSERT_EQ(a.ret, 0);
	ASSERT_EQ(b.ret, 0);
	teardown();
}

/* Producers and consumers: every item is consumed exactly once. */
enum { ITEMS = 3000, CONSUMERS = 4 };
static int queue[ITEMS], qhead, qtail, produced_all;
static int consumed[ITEMS], consumers_done;

static void *consumer(void *arg)
{
	(void)arg;
	co_enable_hook_sys();
	for (;;) {
		while (qhead == qtail && !produced_all)
			ASSERT_EQ(co_cond_timedwait(cc, 0), 0);
		if (qhead == qtail)
			break;
		consumed[queue[qhead++]]++;
		if (qhead % 7 == 0)
			usleep(100); /* let the others in */
	}
	consumers_done++;
	return NULL;
}

static void *producer(void *arg)
{
	(void)arg;
	co_enable_hook_sys();
	for (int i = 0; i < ITEMS; i++) {
		queue[qtail++] = i;
		co_cond_signal(cc);
		if (i % 100 == 99)
			usleep(1000);
	}
	produced_all = 1;
	co_cond_broadcast(cc);
	return NULL;
}

TEST(producer_and_consumers)
{
	lu_watchdog(10, "producer and consumers");
	cc = co_cond_alloc();
	ASSERT(cc != NULL);
	for (int i = 0; i < CONSUMERS; i++)
		lu_go(consumer, NULL);
	lu_go(producer, NULL);
	lu_run(&consumers_done, CONSUMERS);
	for (int i = 0; i < ITEMS; i++)
		ASSERT_EQ(consumed[i], 1);
	lu_release_all();
	ASSERT_EQ(co_cond_free(cc), 0);
}

/* A waiter released while it waits leaves the queue; one released after its signal, too. */
TEST(release_waiting_and_signalled_waiters)
{
	struct waiter a = { .index = 0 }, b = { .index = 1, .timeout_ms = 50 }, c = { .index = 2 };
	struct co *ca, *cb, *cx;

	lu_watchdog(5, "releasing condition waiters");
	cc = co_cond_alloc();
	ASSERT(cc != NULL);
	lu_go(ticker, NULL);
	ASSERT_EQ(co_create(&ca, NULL, waiter_main, &a), 0);
	ASSERT_EQ(co_create(&cb, NULL, waiter_main, &b), 0);
	ASSERT_EQ(co_create(&cx, NULL, waiter_main, &c), 0);
	co_resume(ca);
	co_resume(cb);
	co_resume(cx);
	/* b waits with a timer: released, its timer must not fire into freed memory. */
	co_release(cb);
	/* a is signalled (queued for the loop), then released before the loop resumes it. */
	ASSERT_EQ(co_cond_signal(cc), 0);
	co_release(ca);
	settle();
	lu_sleep_ms(60);
	settle();
	ASSERT_EQ(woken, 0);
	/* c is still there, first in line now. */
	ASSERT_EQ(co_cond_free(cc), -EBUSY);
	ASSERT_EQ(co_cond_signal(cc), 0);
	lu_run(&woken, 1);
	ASSERT_EQ(c.ret, 0);
	ASSERT_EQ(co_cond_free(cc), 0);
	co_release(cx);
	lu_release_all();
}
