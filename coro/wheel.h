/* SPDX-License-Identifier: MIT */
/*
 * wheel.h (internal to coro/): a hierarchical timing wheel.
 *
 * Eight levels of 256 slots cover the whole 64-bit millisecond range, so a
 * delay has no upper bound. A timer sits at the level of the highest byte in
 * which its deadline differs from the wheel's current time, in the slot that
 * byte names; as time reaches the start of a slot on level L > 0, its timers
 * move down (each moves at most seven times in its life). Insert and cancel
 * are O(1); finding the next slot to process scans at most 32 words of
 * occupancy bitmaps, whatever the number of pending timers.
 *
 * The wheel never reads a clock: the caller says what time it is (the event
 * loop passes CLOCK_MONOTONIC in ms; tests drive it by hand).
 */
#ifndef CORO_WHEEL_H
#define CORO_WHEEL_H

#include <stddef.h>
#include <stdint.h>

#define CO__WHEEL_LEVELS 8
#define CO__WHEEL_SLOTS 256

struct co__timer;
typedef void co__timer_fn(struct co__timer *timer);

/*
 * A timer: embed it in the object it belongs to. Zero-initialised, or
 * co__timer_init, before first use.
 */
struct co__timer {
	struct co__timer *next;   /* list of its slot (NULL-terminated) */
	struct co__timer **pprev; /* the pointer that points to it; NULL: not pending */
	uint64_t expires;         /* deadline, in the wheel's milliseconds */
	co__timer_fn *fn;         /* called once when the deadline is reached */
	uint16_t where;           /* level * 256 + slot, or one of CO__WHEEL_DUE... */
};

struct co__wheel {
	uint64_t now;            /* the time last advanced to */
	size_t pending;          /* timers inserted and neither fired nor cancelled */
	struct co__timer *due;   /* deadline <= now: fire at the next advance */
	struct co__timer *firing; /* being fired by the current advance */
	unsigned levels;         /* bit L: level L has a non-empty slot */
	uint64_t bitmap[CO__WHEEL_LEVELS][CO__WHEEL_SLOTS / 64]; /* non-empty slots */
	struct co__timer *slot[CO__WHEEL_LEVELS][CO__WHEEL_SLOTS];
	/*
	 * Levels >= 1: no timer in the slot is due before this (kept on
	 * insert, not raised on cancel: a lower bound), so that the loop can
	 * sleep until a deadline instead of waking at the slot's start.
	 */
	uint64_t earliest[CO__WHEEL_LEVELS][CO__WHEEL_SLOTS];
};

/* Starts an empty wheel at time now. */
void co__wheel_init(struct co__wheel *w, uint64_t now);

/*
 * Arms timer to call fn once the wheel is advanced to expires or later. An
 * armed timer is re-armed (moved). A deadline at or before the wheel's time
 * fires at the next advance. O(1).
 */
void co__wheel_add(struct co__wheel *w, struct co__timer *timer,
		   uint64_t expires, co__timer_fn *fn);

/* Disarms timer if it is pending; safe from a timer callback. O(1). */
void co__wheel_cancel(struct co__wheel *w, struct co__timer *timer);

/* Non-zero if timer is armed and has not fired. */
static inline int co__timer_pending(const struct co__timer *timer)
{
	return timer->pprev != NULL;
}

/*
 * Moves the wheel's time to now (never backwards) and calls the callback
 * of every timer whose deadline is at or before it, in deadline order.
 * Callbacks may add and cancel timers, including their own; one added with
 * a deadline at or before now fires at the next advance, not this one.
 * Returns the number of timers fired.
 */
size_t co__wheel_advance(struct co__wheel *w, uint64_t now);

/*
 * When the earliest pending timer may be due: never later than its
 * deadline, and normally exactly it (after a cancel it may be earlier, a
 * deadline that is no longer there). Advancing to the time returned does
 * all the work up to it. Returns w->now if timers are due, UINT64_MAX if
 * none are pending. O(1) in the number of timers.
 */
uint64_t co__wheel_next(const struct co__wheel *w);

#endif
