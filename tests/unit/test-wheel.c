/* SPDX-License-Identifier: MIT */
/*
 * test-wheel.c: the timing wheel, on a clock driven by the test: deadline
 * order, never early, long delays, wrap-around, cancel and re-arm from
 * callbacks.
 */
#include <stdint.h>
#include <stdlib.h>

#include "coro/wheel.h"
#include "tests/unit/tap.h"

struct probe {
	struct co__timer timer; /* first: the callback casts back */
	uint64_t fired_at;      /* wheel time when it fired, or 0 */
	int fired;
	struct probe *victim;   /* cancelled by this probe's callback */
};

static struct co__wheel wheel;
static uint64_t last_expires;
static int out_of_order;

static void on_fire(struct co__timer *t)
{
	struct probe *p = (struct probe *)t;

	p->fired++;
	p->fired_at = wheel.now;
	if (t->expires < last_expires)
		out_of_order++;
	last_expires = t->expires;
	if (p->victim)
		co__wheel_cancel(&wheel, &p->victim->timer);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void random_run(uint64_t start, uint64_t span, unsigned n)
{
	struct probe *p = calloc(n, sizeof *p);
	uint64_t now = start;

	ASSERT(p);
	co__wheel_init(&wheel, start);
	last_expires = 0;
	out_of_order = 0;
	for (unsigned i = 0; i < n; i++)
		co__wheel_add(&wheel, &p[i].timer, start + 1 + rng() % span, on_fire);
	ASSERT_EQ(wheel.pending, n);
	while (wheel.pending) {
		uint64_t before = now;

		now += 1 + rng() % (span / 50 + 1);
		co__wheel_advance(&wheel, now);
		ASSERT_UEQ(wheel.now, now);
		for (unsigned i = 0; i < n; i++) {
			if (p[i].timer.expires <= now) {
				ASSERT_EQ(p[i].fired, 1);
				/* Fired at the first advance that reached it. */
				ASSERT(p[i].timer.expires > before || p[i].fired_at <= before);
			} else {
				ASSERT_EQ(p[i].fired, 0); /* never early */
			}
		}
	}
	ASSERT_EQ(out_of_order, 0);
	free(p);
}

TEST(deadline_order_and_never_early_short)
{
	random_run(1000, 5000, 2000);
}

TEST(deadline_order_and_never_early_wide)
{
	/* Deadlines spread over ~35 years in ms: every level is used. */
	random_run(123456789, 1ull << 40, 2000);
}

TEST(wrap_around_32bit_and_level_boundaries)
{
	random_run((1ull << 32) - 3000, 1ull << 20, 3000);
}

TEST(near_end_of_time)
{
	random_run(UINT64_MAX - (1ull << 30), 1ull << 29, 500);
}

TEST(thirty_days_with_driven_clock)
{
	struct probe p = { 0 };
	const uint64_t day = 24ull * 3600 * 1000;
	uint64_t start = 5555, deadline = start + 30 * day;

	co__wheel_init(&wheel, start);
	last_expires = 0;
	co__wheel_add(&wheel, &p.timer, deadline, on_fire);
	/* The next event is never after the deadline, and never in the past. */
	for (uint64_t now = start; now < deadline - 3600 * 1000; now += 3600 * 1000) {
		co__wheel_advance(&wheel, now);
		ASSERT_EQ(p.fired, 0);
		ASSERT(co__wheel_next(&wheel) <= deadline);
		ASSERT(co__wheel_next(&wheel) > now);
	}
	co__wheel_advance(&wheel, deadline - 1);
	ASSERT_EQ(p.fired, 0);
	ASSERT_UEQ(co__wheel_next(&wheel), deadline);
	co__wheel_advance(&wheel, deadline);
	ASSERT_EQ(p.fired, 1);
	ASSERT_UEQ(p.fired_at, deadline);
	ASSERT_UEQ(co__wheel_next(&wheel), UINT64_MAX);
}

TEST(one_big_jump_fires_everything_in_order)
{
	static struct probe p[100];

	co__wheel_init(&wheel, 0);
	last_expires = 0;
	out_of_order = 0;
	for (int i = 0; i < 100; i++)
		co__wheel_add(&wheel, &p[i].timer, (uint64_t)(100 - i) * 99991, on_fire);
	ASSERT_EQ(co__wheel_advance(&wheel, 1ull << 40), 100);
	ASSERT_EQ(out_of_order, 0);
	ASSERT_EQ(wheel.pending, 0);
}

TEST(cancel_during_expiry)
{
	struct probe a = { 0 }, b = { 0 }, c = { 0 };

	co__wheel_init(&wheel, 0);
	last_expires = 0;
	/* Same deadline: whichever fires first cancels the other. */
	a.victim = &b;
	b.victim = &a;
	co__wheel_add(&wheel, &a.timer, 300, on_fire);
	co__wheel_add(&wheel, &b.timer, 300, on_fire);
	/* A later one cancelled by neither. */
	co__wheel_add(&wheel, &c.timer, 70000, on_fire);
	co__wheel_advance(&wheel, 100000);
	ASSERT_EQ(a.fired + b.fired, 1);
	ASSERT_EQ(c.fired, 1);
	ASSERT_EQ(wheel.pending, 0);
}

TEST(cancel_and_rearm)
{
	struct probe p = { 0 };

	co__wheel_init(&wheel, 0);
	last_expires = 0;
	co__wheel_add(&wheel, &p.timer, 1000, on_fire);
	ASSERT(co__timer_pending(&p.timer));
	co__wheel_cancel(&wheel, &p.timer);
	ASSERT(!co__timer_pending(&p.timer));
	co__wheel_cancel(&wheel, &p.timer); /* twice is harmless */
	ASSERT_EQ(wheel.pending, 0);
	ASSERT_UEQ(co__wheel_next(&wheel), UINT64_MAX);
	co__wheel_advance(&wheel, 2000);
	ASSERT_EQ(p.fired, 0);
	/* Re-arming a pending timer moves it. */
	co__wheel_add(&wheel, &p.timer, 5000, on_fire);
	co__wheel_add(&wheel, &p.timer, 3000, on_fire);
	ASSERT_EQ(wheel.pending, 1);
	co__wheel_advance(&wheel, 3000);
	ASSERT_EQ(p.fired, 1);
	co__wheel_advance(&wheel, 6000);
	ASSERT_EQ(p.fired, 1);
}

static int rearms;

static void rearm_self(struct co__timer *t)
{
	if (++rearms < 5)
		co__wheel_add(&wheel, t, wheel.now, rearm_self); /* due: next advance */
}

TEST(past_deadline_fires_on_next_advance_without_looping)
{
	struct co__timer t = { 0 };

	co__wheel_init(&wheel, 100);
	rearms = 0;
	co__wheel_add(&wheel, &t, 50, rearm_self);
	ASSERT_UEQ(co__wheel_next(&wheel), 100);
	ASSERT_EQ(co__wheel_advance(&wheel, 100), 1);
	ASSERT_EQ(rearms, 1);
	ASSERT_EQ(co__wheel_advance(&wheel, 100), 1);
	ASSERT_EQ(rearms, 2);
}

TEST(time_never_goes_backwards)
{
	struct probe p = { 0 };

	co__wheel_init(&wheel, 1000);
	co__wheel_add(&wheel, &p.timer, 1500, on_fire);
	co__wheel_advance(&wheel, 10);
	ASSERT_UEQ(wheel.now, 1000);
	ASSERT_EQ(p.fired, 0);
}
