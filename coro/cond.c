/* SPDX-License-Identifier: MIT */
/*
 * cond.c: condition variables for the coroutines of one thread.
 *
 * A waiter queues a wait record (loop.c) and yields; signal takes the
 * oldest off the queue and has the loop resume it. A timeout is the wait's
 * timer on the wheel, so a timed wait costs nothing while it sleeps.
 */
#include <errno.h>
#include <stdlib.h>

#include "coro/coro-internal.h"

CO_API struct co_cond *co_cond_alloc(void)
{
	struct co_cond *cc = calloc(1, sizeof *cc);

	if (cc)
		cc->tail = &cc->head;
	return cc;
}

CO_API int co_cond_free(struct co_cond *cc)
{
	if (!cc)
		return 0;
	if (cc->head)
		return -EBUSY;
	free(cc);
	return 0;
}

/* Takes the oldest waiter off the queue and wakes it; 0 if there was none. */
static int wake_one(struct co_cond *cc)
{
	struct co__wait *w = cc->head;

	if (!w)
		return 0;
	cc->head = w->cond_next;
	if (cc->head)
		cc->head->cond_pprev = &cc->head;
	else
		cc->tail = &cc->head;
	w->cond = NULL;
	w->cond_next = NULL;
	w->cond_pprev = NULL;
	co__wait_wake(w, CO__WOKE_SIGNAL);
	return 1;
}

CO_API int co_cond_signal(struct co_cond *cc)
{
	wake_one(cc);
	return 0;
}

CO_API int co_cond_broadcast(struct co_cond *cc)
{
	while (wake_one(cc))
		;
	return 0;
}

CO_API int co_cond_timedwait(struct co_cond *cc, int timeout_ms)
{
	struct co_epoll *loop;
	struct co__wait *w;
	int why;

	if (!co_self())
		return -EPERM;
	loop = co__loop();
	w = loop ? co__wait_new(loop, 0) : NULL;
	if (!w)
		return -ENOMEM;
	w->cond = cc;
	w->cond_next = NULL;
	w->cond_pprev = cc->tail;
	*cc->tail = w;
	cc->tail = &w->cond_next;
	if (timeout_ms > 0)
		co__wait_arm(w, co__deadline(timeout_ms));
	why = co__wait_block(w);
	switch (why) {
	case CO__WOKE_SIGNAL:
		return 0;
	case CO__WOKE_TIMEOUT:
		return -ETIMEDOUT;
	default:
		return why < 0 ? why : -EINTR;
	}
}
