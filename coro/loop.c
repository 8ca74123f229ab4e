/* SPDX-License-Identifier: MIT */
/*
 * loop.c: the per-thread event loop: epoll, the timing wheel, the
 * descriptor table, and the waits of blocked coroutines.
 *
 * A descriptor is added to epoll the first time a coroutine waits on it,
 * edge-triggered for both directions, and stays there until it is closed:
 * waiting on it again costs no epoll_ctl (libco adds and removes it on
 * every wait). Each entry keeps "may be ready" bits: an event sets them, an
 * EAGAIN clears them, and the hooks skip a system call that is bound to
 * fail, so an echo costs read + write + a share of epoll_wait.
 *
 * Waits live on the heap (a per-loop free list), never on the waiting
 * coroutine's stack, which may be a swapped-out shared stack.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "coro/coro-internal.h"

/* ---- time --------------------------------------------------------------- */

uint64_t co__now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t co__deadline(int64_t timeout_ms)
{
	struct timespec ts;
	uint64_t ns;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ns = (uint64_t)ts.tv_sec * 1000000000 + (uint64_t)ts.tv_nsec;
	if (timeout_ms < 0)
		timeout_ms = 0;
	/* Round up: the timer must not fire before timeout_ms have passed. */
	return (ns + 999999) / 1000000 + (uint64_t)timeout_ms;
}

/* ---- the loop ----------------------------------------------------------- */

/*
 * fork(2) copies the epoll descriptor, not the epoll set: a child that
 * deleted or added descriptors through it would change its parent's loop.
 * A loop remembers the fork generation it was made in; in a child it is
 * left alone (never touched through epoll) and the child gets a new one.
 */
unsigned co__fork_gen;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void on_fork_child(void)
{
	__atomic_add_fetch(&co__fork_gen, 1, __ATOMIC_RELAXED);
}

static void atfork_register(void)
{
	pthread_atfork(NULL, NULL, on_fork_child);
}

static int loop_is_ours(const struct co_epoll *loop)
{
	return loop->fork_gen == __atomic_load_n(&co__fork_gen, __ATOMIC_RELAXED);
}

struct co_epoll *co__loop(void)
{
	struct co__env *env = co__env_get();
	struct co_epoll *loop;
	struct rlimit rl;

	if (!env)
		return NULL;
	if (env->loop && loop_is_ours(env->loop))
		return env->loop;
	/* A parent's loop, copied by fork, is abandoned (its waits stay valid). */
	pthread_once(&atfork_once, atfork_register);
	loop = calloc(1, sizeof *loop);
	if (!loop)
		goto fail_loop;
	loop->events = calloc(CO__EVENTS_MAX, sizeof *loop->events);
	if (!loop->events)
		goto fail_events;
	/* The table's first level covers the descriptor limit; it grows past it. */
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (1u << 24))
		rl.rlim_cur = 1024;
	loop->nchunks = ((size_t)rl.rlim_cur + CO__FD_CHUNK - 1) / CO__FD_CHUNK;
	loop->chunks = calloc(loop->nchunks, sizeof *loop->chunks);
	if (!loop->chunks)
		goto fail_chunks;
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0)
		goto fail_epoll;
	co__wheel_init(&loop->wheel, co__now_ms());
	loop->ready_tail = &loop->ready_head;
	loop->fork_gen = __atomic_load_n(&co__fork_gen, __ATOMIC_RELAXED);
	loop->forked_from = env->loop;
	env->loop = loop;
	return loop;

fail_epoll:
	free(loop->chunks);
fail_chunks:
	free(loop->events);
fail_events:
	free(loop);
fail_loop:
	return NULL;
}

void co__loop_destroy(struct co_epoll *loop)
{
	struct co__wait *w;

	if (!loop)
		return;
	while ((w = loop->free_waits) != NULL) {
		loop->free_waits = w->next;
		free(w);
	}
	for (size_t i = 0; i < loop->nchunks; i++)
		free(loop->chunks[i]);
	free(loop->chunks);
	free(loop->events);
	co__real_close(loop->epfd);
	co__loop_destroy(loop->forked_from);
	free(loop);
}

CO_API struct co_epoll *co_get_epoll_ct(void)
{
	return co__loop();
}

/* ---- descriptor table --------------------------------------------------- */

struct co__fd *co__fd_make(struct co_epoll *loop, int fd)
{
	size_t c = (size_t)fd / CO__FD_CHUNK;

	if (fd < 0)
		return NULL;
	if (c >= loop->nchunks) {
		size_t n = c + 1 > 2 * loop->nchunks ? c + 1 : 2 * loop->nchunks;
		struct co__fd **chunks = realloc(loop->chunks, n * sizeof *chunks);

		if (!chunks)
			return NULL;
		memset(chunks + loop->nchunks, 0, (n - loop->nchunks) * sizeof *chunks);
		loop->chunks = chunks;
		loop->nchunks = n;
	}
	if (!loop->chunks[c]) {
		loop->chunks[c] = calloc(CO__FD_CHUNK, sizeof **loop->chunks);
		if (!loop->chunks[c])
			return NULL;
	}
	return &loop->chunks[c][(size_t)fd % CO__FD_CHUNK];
}

static int fd_register(struct co_epoll *loop, int fd, struct co__fd *f)
{
	struct epoll_event ev;

	if (f->registered)
		return 0;
	if (!loop_is_ours(loop))
		return -EPERM;
	memset(&ev, 0, sizeof ev);
	ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLPRI | EPOLLET;
	ev.data.u64 = (uint64_t)(uint32_t)fd | (uint64_t)f->gen << 32;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		/* Left over from a number closed behind our back: take it over. */
		if (errno != EEXIST || epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
			return -errno;
	}
	f->registered = 1;
	return 0;
}

void co__fd_forget(struct co_epoll *loop, int fd)
{
	struct co__fd *f = co__fd_find(loop, fd);
	struct co__fdlink *l;
	uint32_t gen;

	if (!f)
		return;
	if (f->registered && loop_is_ours(loop))
		epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
	for (l = f->waiters; l; l = l->next)
		co__wait_wake(l->wait, CO__WOKE_CLOSED);
	/* The woken unlink themselves from f->waiters when they run. */
	gen = f->gen + 1;
	l = f->waiters;
	memset(f, 0, sizeof *f);
	f->waiters = l;
	if (l)
		l->pprev = &f->waiters;
	f->gen = gen;
}

/* ---- waits -------------------------------------------------------------- */

struct co__wait *co__wait_new(struct co_epoll *loop, unsigned nlinks)
{
	struct co__wait *w = loop->free_waits;

	if (w)
		loop->free_waits = w->next;
	else if (!(w = malloc(sizeof *w)))
		return NULL;
	/* Only what a wait reads before it is armed (no full memset: hot path). */
	w->timer.pprev = NULL;
	w->timer.next = NULL;
	w->loop = loop;
	w->co = NULL;
	w->next = NULL;
	w->cond = NULL;
	w->queued = 0;
	w->why = CO__WOKE_NONE;
	w->nlinks = nlinks;
	w->link1.pprev = NULL;
	if (nlinks <= 1) {
		w->links = &w->link1;
	} else {
		w->links = calloc(nlinks, sizeof *w->links); /* pprev NULL: not linked */
		if (!w->links) {
			w->next = loop->free_waits;
			loop->free_waits = w;
			return NULL;
		}
	}
	return w;
}

static void wait_free(struct co__wait *w)
{
	struct co_epoll *loop = w->loop;

	if (w->links != &w->link1)
		free(w->links);
	w->next = loop->free_waits;
	loop->free_waits = w;
}

/* Takes w off every list that can wake it. */
static void wait_unlink(struct co__wait *w)
{
	for (unsigned i = 0; i < w->nlinks; i++) {
		struct co__fdlink *l = &w->links[i];

		if (!l->pprev)
			continue;
		*l->pprev = l->next;
		if (l->next)
			l->next->pprev = l->pprev;
		l->pprev = NULL;
	}
	if (w->timer.pprev)
		co__wheel_cancel(&w->loop->wheel, &w->timer);
	if (w->cond) {
		*w->cond_pprev = w->cond_next;
		if (w->cond_next)
			w->cond_next->cond_pprev = w->cond_pprev;
		else
			w->cond->tail = w->cond_pprev;
		w->cond = NULL;
	}
}

void co__wait_wake(struct co__wait *w, int why)
{
	struct co_epoll *loop = w->loop;

	if (w->queued || !w->co)
		return;
	w->queued = 1;
	w->why = (uint8_t)why;
	w->next = NULL;
	*loop->ready_tail = w;
	loop->ready_tail = &w->next;
}

static void wait_timeout(struct co__timer *t)
{
	co__wait_wake((struct co__wait *)t, CO__WOKE_TIMEOUT);
}

void co__wait_arm(struct co__wait *w, uint64_t deadline)
{
	co__wheel_add(&w->loop->wheel, &w->timer, deadline, wait_timeout);
}

int co__wait_block(struct co__wait *w)
{
	struct co *co = co_self();
	struct co__ext *ext = co ? co__ext_get(co) : NULL;
	int why;

	if (!ext) {
		wait_unlink(w);
		wait_free(w);
		return co ? -ENOMEM : -EPERM;
	}
	w->co = co;
	ext->wait = w;
	co_yield_ct();
	ext->wait = NULL;
	why = w->why;
	wait_unlink(w);
	if (w->queued)
		w->co = NULL; /* resumed by someone else: the loop frees it when it gets there */
	else
		wait_free(w);
	return why;
}

void co__wait_abandon(struct co__wait *w)
{
	wait_unlink(w);
	if (w->queued)
		w->co = NULL;
	else
		wait_free(w);
}

static void link_fd(struct co__wait *w, unsigned i, struct co__fd *f, unsigned events)
{
	struct co__fdlink *l = &w->links[i];

	l->wait = w;
	l->events = events;
	l->next = f->waiters;
	if (l->next)
		l->next->pprev = &l->next;
	f->waiters = l;
	l->pprev = &f->waiters;
}

int co__fd_wait(struct co_epoll *loop, int fd, struct co__fd *f, unsigned events,
		uint64_t deadline)
{
	struct co__wait *w;
	int err = fd_register(loop, fd, f);

	if (err < 0)
		return err;
	w = co__wait_new(loop, 1);
	if (!w)
		return -ENOMEM;
	link_fd(w, 0, f, events);
	if (deadline)
		co__wheel_add(&loop->wheel, &w->timer, deadline, wait_timeout);
	return co__wait_block(w);
}

int co__sleep_until(struct co_epoll *loop, uint64_t deadline)
{
	struct co__wait *w = co__wait_new(loop, 0);

	if (!w)
		return -ENOMEM;
	co__wheel_add(&loop->wheel, &w->timer, deadline, wait_timeout);
	return co__wait_block(w);
}

static unsigned poll_interest(short events)
{
	unsigned in = 0;

	if (events & (POLLIN | POLLPRI | POLLRDHUP | POLLRDNORM | POLLRDBAND))
		in |= CO__IN;
	if (events & (POLLOUT | POLLWRNORM | POLLWRBAND))
		in |= CO__OUT;
	/* Errors and hang-ups are reported whatever was asked. */
	return in ? in : CO__IN | CO__OUT;
}

int co__poll(struct co_epoll *loop, struct pollfd *fds, nfds_t n, int timeout_ms)
{
	uint64_t deadline = timeout_ms > 0 ? co__deadline(timeout_ms) : 0;
	int r;

	r = co__real_poll(fds, n, 0);
	if (r != 0 || timeout_ms == 0)
		return r;
	for (;;) {
		struct co__wait *w = co__wait_new(loop, (unsigned)n);
		int why;

		if (!w) {
			errno = ENOMEM;
			return -1;
		}
		for (nfds_t i = 0; i < n; i++) {
			struct co__fd *f = co__fd_get(loop, fds[i].fd);

			/* poll ignores negative descriptors; one epoll refuses is always ready. */
			if (!f || fd_register(loop, fds[i].fd, f) < 0)
				continue;
			link_fd(w, (unsigned)i, f, poll_interest(fds[i].events));
		}
		if (deadline)
			co__wheel_add(&loop->wheel, &w->timer, deadline, wait_timeout);
		why = co__wait_block(w);
		if (why < 0) {
			errno = -why;
			return -1;
		}
		if (why == CO__WOKE_NONE) {
			errno = EINTR;
			return -1;
		}
		r = co__real_poll(fds, n, 0);
		if (r != 0 || why == CO__WOKE_TIMEOUT)
			return r;
		/* The event was for something not asked for, or already consumed. */
	}
}

CO_API int co_poll(struct co_epoll *ctx, struct pollfd fds[], nfds_t nfds, int timeout_ms)
{
	if (!co_self())
		return co__real_poll(fds, nfds, timeout_ms);
	if (!ctx && !(ctx = co__loop())) {
		errno = ENOMEM;
		return -1;
	}
	return co__poll(ctx, fds, nfds, timeout_ms);
}

/* ---- running ------------------------------------------------------------ */

static int next_timeout(struct co_epoll *loop)
{
	uint64_t next, now;

	if (loop->ready_head)
		return 0;
	next = co__wheel_next(&loop->wheel);
	if (next == UINT64_MAX)
		return -1;
	now = co__now_ms();
	if (next <= now)
		return 0;
	return next - now > INT_MAX ? INT_MAX : (int)(next - now);
}

static void dispatch(struct co_epoll *loop, const struct epoll_event *ev)
{
	int fd = (int)(uint32_t)ev->data.u64;
	uint32_t gen = (uint32_t)(ev->data.u64 >> 32);
	struct co__fd *f = co__fd_find(loop, fd);
	unsigned bits = 0;

	if (!f || f->gen != gen || !f->registered)
		return;
	if (ev->events & (EPOLLIN | EPOLLPRI | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		bits |= CO__IN;
	if (ev->events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
		bits |= CO__OUT;
	f->ready |= (uint8_t)bits;
	if (ev->events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		f->hup = 1;
	for (struct co__fdlink *l = f->waiters; l; l = l->next)
		if (l->events & bits)
			co__wait_wake(l->wait, CO__WOKE_EVENT);
}

/* Resumes what was woken before this call; what they wake waits a round. */
static void run_ready(struct co_epoll *loop)
{
	struct co__wait *w = loop->ready_head;

	loop->ready_head = NULL;
	loop->ready_tail = &loop->ready_head;
	while (w) {
		struct co__wait *next = w->next;
		struct co *co = w->co;

		w->queued = 0;
		if (co)
			co_resume(co); /* it frees w */
		else
			wait_free(w);
		w = next;
	}
}

CO_API void co_eventloop(struct co_epoll *ctx, co_eventloop_fn *fn, void *arg)
{
	if (!ctx && !(ctx = co__loop()))
		co__die("co_eventloop: out of memory making the thread's event loop");
	/*
	 * fn is asked before each wait, so a loop whose work is already done
	 * ends instead of sleeping with nothing left to wake it.
	 */
	while (!fn || fn(arg) != -1) {
		int n = epoll_wait(ctx->epfd, ctx->events, CO__EVENTS_MAX, next_timeout(ctx));

		ctx->rounds++;
		if (n < 0 && errno != EINTR)
			co__die("co_eventloop: epoll_wait: %s", strerror(errno));
		for (int i = 0; i < n; i++)
			dispatch(ctx, &ctx->events[i]);
		co__wheel_advance(&ctx->wheel, co__now_ms());
		run_ready(ctx);
	}
}
