/* SPDX-License-Identifier: MIT */
/*
 * wheel.c: the hierarchical timing wheel (see wheel.h).
 *
 * Invariant: a timer on level L shares every byte above L with w->now and
 * has a larger byte L; so on every level the slots at or before the current
 * position are empty, and every timer on level L is later than every timer
 * on the levels below. The next event is therefore the first occupied slot
 * after the current position on the lowest level that has one.
 */
#include <string.h>

#include "coro/wheel.h"

enum {
	WHERE_DUE = 0xfffe,    /* on w->due */
	WHERE_FIRING = 0xffff, /* on w->firing */
};

static void list_push(struct co__timer **head, struct co__timer *t)
{
	t->next = *head;
	if (t->next)
		t->next->pprev = &t->next;
	*head = t;
	t->pprev = head;
}

static void list_unlink(struct co__timer *t)
{
	*t->pprev = t->next;
	if (t->next)
		t->next->pprev = t->pprev;
	t->next = NULL;
	t->pprev = NULL;
}

void co__wheel_init(struct co__wheel *w, uint64_t now)
{
	memset(w, 0, sizeof *w);
	w->now = now;
}

/* Files a detached timer according to its deadline and w->now. */
static void place(struct co__wheel *w, struct co__timer *t)
{
	uint64_t diff;
	unsigned level, slot;

	if (t->expires <= w->now) {
		t->where = WHERE_DUE;
		list_push(&w->due, t);
		return;
	}
	diff = t->expires ^ w->now;
	level = (unsigned)(63 - __builtin_clzll(diff)) / 8;
	slot = (unsigned)(t->expires >> (8 * level)) & (CO__WHEEL_SLOTS - 1);
	t->where = (uint16_t)(level * CO__WHEEL_SLOTS + slot);
	/* (Level 0: a slot is one millisecond, its start is its deadline.) */
	if (level && (!w->slot[level][slot] || t->expires < w->earliest[level][slot]))
		w->earliest[level][slot] = t->expires;
	list_push(&w->slot[level][slot], t);
	w->bitmap[level][slot / 64] |= 1ull << (slot % 64);
	w->levels |= 1u << level;
}

/* Slot became empty: clear its bit, and its level's if that was the last. */
static void slot_emptied(struct co__wheel *w, unsigned level, unsigned slot)
{
	uint64_t *map = w->bitmap[level];

	map[slot / 64] &= ~(1ull << (slot % 64));
	if (!(map[0] | map[1] | map[2] | map[3]))
		w->levels &= ~(1u << level);
}

/* Unlinks a pending timer from wherever it is, keeping the bitmap exact. */
static void detach(struct co__wheel *w, struct co__timer *t)
{
	unsigned where = t->where;

	list_unlink(t);
	if (where < CO__WHEEL_LEVELS * CO__WHEEL_SLOTS) {
		unsigned level = where / CO__WHEEL_SLOTS, slot = where % CO__WHEEL_SLOTS;

		if (!w->slot[level][slot])
			slot_emptied(w, level, slot);
	}
}

void co__wheel_add(struct co__wheel *w, struct co__timer *t, uint64_t expires,
		   co__timer_fn *fn)
{
	if (t->pprev)
		detach(w, t);
	else
		w->pending++;
	t->expires = expires;
	t->fn = fn;
	place(w, t);
}

void co__wheel_cancel(struct co__wheel *w, struct co__timer *t)
{
	if (!t->pprev)
		return;
	detach(w, t);
	w->pending--;
}

/* The first set bit at or after from in a 256-bit map, or -1. */
static int bitmap_next(const uint64_t *map, unsigned from)
{
	for (unsigned word = from / 64; word < CO__WHEEL_SLOTS / 64; word++) {
		uint64_t bits = map[word];

		if (word == from / 64)
			bits &= ~0ull << (from % 64);
		if (bits)
			return (int)(word * 64 + (unsigned)__builtin_ctzll(bits));
	}
	return -1;
}

/* The start of the next occupied slot, with its level and slot number. */
static uint64_t next_slot(const struct co__wheel *w, unsigned *ret_level,
			  unsigned *ret_slot)
{
	for (unsigned levels = w->levels; levels; levels &= levels - 1) {
		unsigned level = (unsigned)__builtin_ctz(levels), shift = 8 * level;
		unsigned cur = (unsigned)(w->now >> shift) & (CO__WHEEL_SLOTS - 1);
		int slot;
		uint64_t high;

		if (cur == CO__WHEEL_SLOTS - 1)
			continue;
		slot = bitmap_next(w->bitmap[level], cur + 1);
		if (slot < 0)
			continue;
		high = level == CO__WHEEL_LEVELS - 1 ? 0 : w->now >> (shift + 8) << (shift + 8);
		*ret_level = level;
		*ret_slot = (unsigned)slot;
		return high | (uint64_t)slot << shift;
	}
	return UINT64_MAX;
}

uint64_t co__wheel_next(const struct co__wheel *w)
{
	unsigned level, slot;
	uint64_t at;

	if (w->due)
		return w->now;
	if (!w->levels)
		return UINT64_MAX;
	at = next_slot(w, &level, &slot);
	/* A higher level's slot: its earliest deadline, not its start. */
	return level && at != UINT64_MAX ? w->earliest[level][slot] : at;
}

/* Calls every timer on the firing list; callbacks may change the wheel. */
static size_t fire(struct co__wheel *w)
{
	size_t n = 0;
	struct co__timer *t;

	while ((t = w->firing) != NULL) {
		list_unlink(t);
		w->pending--;
		n++;
		t->fn(t);
	}
	return n;
}

size_t co__wheel_advance(struct co__wheel *w, uint64_t now)
{
	size_t fired = 0;
	struct co__timer *t, *list;
	unsigned level, slot;
	uint64_t at;

	/* Timers already due when armed: fire first, they are the earliest. */
	while ((t = w->due) != NULL) {
		list_unlink(t);
		t->where = WHERE_FIRING;
		list_push(&w->firing, t);
	}
	if (w->firing)
		fired += fire(w);

	while (w->levels && (at = next_slot(w, &level, &slot)) <= now) {
		w->now = at;
		list = w->slot[level][slot];
		w->slot[level][slot] = NULL;
		if (list)
			list->pprev = &list;
		slot_emptied(w, level, slot);
		while ((t = list) != NULL) {
			list_unlink(t);
			if (t->expires <= at) {
				t->where = WHERE_FIRING;
				list_push(&w->firing, t);
			} else {
				place(w, t);
			}
		}
		if (w->firing)
			fired += fire(w);
	}
	if (now > w->now)
		w->now = now;
	return fired;
}
