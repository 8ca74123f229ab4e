/* SPDX-License-Identifier: MIT */
/*
 * hook.c: the blocking system calls, interposed: what the hooks share.
 *
 * Each hooked function has libc's name, so the program's calls (and those of
 * the libraries it uses) arrive here first. Outside a coroutine that turned
 * hooks on they go straight to libc's function, found once with
 * dlsym(RTLD_NEXT); in such a coroutine a call that would block yields to
 * the event loop instead, and the caller sees what libc would have
 * returned: the same values, the same errno.
 *
 * Sockets the program sees as blocking are made non-blocking in the kernel
 * ("owned": created here by socket()/accept(), or taken over on first use);
 * fcntl and ioctl(FIONBIO) keep showing the program its own view. Pipes,
 * terminals and other descriptors that may be shared with other processes
 * are never switched: a coroutine waits until poll says they are ready and
 * then makes the call. Regular files never block in the poll sense and are
 * passed through.
 *
 * This file holds the lookup of libc's functions, what is known of each
 * descriptor (the process-wide record and the per-thread entries), the
 * waits, and the switch that turns hooks on; the hooked calls themselves
 * are in hook-io.c, hook-socket.c, hook-fd.c and hook-poll.c (the list is
 * in hook-internal.h).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coro/hook-internal.h"

/* ---- libc's functions --------------------------------------------------- */

void *co__libc_sym(const char *name)
{
	void *p = dlsym(RTLD_NEXT, name);

	/*
	 * Not a tail call: a dlsym(RTLD_NEXT) reached by a jump resolves from
	 * the caller's caller and can find this library's own symbol again.
	 */
	__asm__ volatile("" : : "r"(p) : "memory");
	if (!p)
		co__die("cannot find libc's %s: %s", name, dlerror());
	return p;
}

CO__LIBC(int, poll, (struct pollfd *, nfds_t, int))
CO__LIBC(int, close, (int))
CO__LIBC(int, fcntl, (int, int, ...))

int co__real_poll(struct pollfd *fds, nfds_t n, int timeout)
{
	return real_poll()(fds, n, timeout);
}

int co__real_close(int fd)
{
	return real_close()(fd);
}

/* ---- descriptor state --------------------------------------------------- */

/*
 * Process-wide record of the descriptors libcoro made non-blocking in the
 * kernel, with the program's own view of O_NONBLOCK (hook-internal.h).
 * Lock-free: chunks are made on demand and never freed.
 */
static uint16_t *g_chunks[CO__G_CHUNKS];

uint16_t co__gfd_get(int fd)
{
	size_t c = (size_t)fd / CO__G_CHUNK;
	uint16_t *chunk;

	if (fd < 0 || c >= CO__G_CHUNKS)
		return 0;
	chunk = __atomic_load_n(&g_chunks[c], __ATOMIC_ACQUIRE);
	return chunk ? __atomic_load_n(&chunk[(size_t)fd % CO__G_CHUNK], __ATOMIC_RELAXED) : 0;
}

static uint16_t *g_cell(int fd)
{
	size_t c = (size_t)fd / CO__G_CHUNK;
	uint16_t *chunk, *fresh;

	if (fd < 0 || c >= CO__G_CHUNKS)
		return NULL;
	chunk = __atomic_load_n(&g_chunks[c], __ATOMIC_ACQUIRE);
	if (!chunk) {
		if (!(fresh = calloc(CO__G_CHUNK, sizeof *fresh)))
			return NULL;
		if (__atomic_compare_exchange_n(&g_chunks[c], &chunk, fresh, 0,
						__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			chunk = fresh;
		else
			free(fresh); /* another thread made it: chunk holds theirs */
	}
	return &chunk[(size_t)fd % CO__G_CHUNK];
}

void co__gfd_set(int fd, uint8_t flags)
{
	uint16_t *cell = g_cell(fd), old;

	if (!cell)
		return;
	old = __atomic_load_n(cell, __ATOMIC_RELAXED);
	while (!__atomic_compare_exchange_n(cell, &old, (uint16_t)((old & ~CO__G_FLAGS) | flags), 0,
					    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

void co__gfd_closed(int fd)
{
	uint16_t *cell = g_cell(fd), old;

	if (!cell)
		return;
	old = __atomic_load_n(cell, __ATOMIC_RELAXED);
	while (!__atomic_compare_exchange_n(cell, &old, (uint16_t)((old & ~CO__G_FLAGS) + CO__G_GEN), 0,
					    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

void co__gfd_sync(int fd, struct co__fd *f)
{
	uint8_t v = 0;

	if (f && f->owned)
		v = (uint8_t)(CO__G_OWNED | (f->user_nonblock ? CO__G_USER_NB : 0) |
			      (f->kind == CO__FD_STREAM ? CO__G_STREAM : 0));
	if (v || (co__gfd_get(fd) & CO__G_FLAGS))
		co__gfd_set(fd, v);
	if (f)
		f->gclose = (uint8_t)(co__gfd_get(fd) >> 8);
}

/* A fresh entry for a descriptor just made (the number may be reused). */
struct co__fd *co__fd_fresh(struct co_epoll *loop, int fd, int kind, int user_nonblock)
{
	struct co__fd *f;

	co__fd_forget(loop, fd);
	co__gfd_closed(fd); /* a new descriptor: what other threads knew is stale */
	f = co__fd_get(loop, fd);
	if (!f)
		return NULL;
	f->kind = (uint8_t)kind;
	f->user_nonblock = (uint8_t)!!user_nonblock;
	f->owned = (uint8_t)!user_nonblock;
	f->ready = CO__IN | CO__OUT;
	f->access = CO__IN | CO__OUT;
	co__gfd_sync(fd, f);
	return f;
}

/* The socket's SO_RCVTIMEO and SO_SNDTIMEO, set before we knew it. */
static void read_timeouts(int fd, struct co__fd *f)
{
	struct timeval tv;
	socklen_t len = sizeof tv;

	if (getsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, &len) == 0)
		f->rcvtimeo_ms = co__timeval_ms(&tv);
	len = sizeof tv;
	if (getsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, &len) == 0)
		f->sndtimeo_ms = co__timeval_ms(&tv);
}

/*
 * Looks at a descriptor met for the first time in a hooked coroutine, and
 * takes over a blocking socket (non-blocking in the kernel from now on).
 */
static void inspect(int fd, struct co__fd *f)
{
	struct stat st;
	int fl, type;
	uint16_t g;
	socklen_t len = sizeof type;

	if (fstat(fd, &st) < 0)
		return; /* stays unknown: EBADF comes from the call itself */
	fl = real_fcntl()(fd, F_GETFL);
	if (fl < 0)
		return;
	g = co__gfd_get(fd);
	f->gclose = (uint8_t)(g >> 8);
	/* Made non-blocking by us in another thread, or before a fork? */
	f->user_nonblock = (uint8_t)((g & CO__G_OWNED) ? !!(g & CO__G_USER_NB) : !!(fl & O_NONBLOCK));
	f->ready = CO__IN | CO__OUT;
	f->access = (uint8_t)((fl & O_ACCMODE) == O_RDONLY ? CO__IN :
			      (fl & O_ACCMODE) == O_WRONLY ? CO__OUT : CO__IN | CO__OUT);
	if (S_ISSOCK(st.st_mode)) {
		if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
			type = SOCK_STREAM;
		f->kind = type == SOCK_STREAM ? CO__FD_STREAM : CO__FD_SOCKET;
		if (g & CO__G_OWNED) {
			f->owned = 1;
			read_timeouts(fd, f);
		} else if (!f->user_nonblock && real_fcntl()(fd, F_SETFL, fl | O_NONBLOCK) == 0) {
			f->owned = 1;
			read_timeouts(fd, f);
			co__gfd_sync(fd, f);
		}
	} else if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode) || S_ISBLK(st.st_mode)) {
		f->kind = CO__FD_PLAIN; /* never "blocks" in the poll sense */
	} else {
		/* Pipes, FIFOs, terminals, eventfd, timerfd, signalfd... */
		f->kind = CO__FD_POLLABLE;
	}
}

/* The state of fd for a call about to be made (hook-internal.h). */
struct co__fd *co__fd_managed(int fd, int *ret_hooked, struct co_epoll **ret_loop,
			      struct co__fd *tmp)
{
	struct co_epoll *loop;
	struct co__fd *f;

	*ret_hooked = co__hooked();
	if (*ret_hooked) {
		loop = co__loop_get();
		f = loop ? co__fd_get(loop, fd) : NULL;
		/* Closed by another thread since we looked: a new descriptor. */
		if (f && f->kind != CO__FD_UNKNOWN && f->gclose != (uint8_t)(co__gfd_get(fd) >> 8)) {
			co__fd_forget(loop, fd);
			f = co__fd_get(loop, fd);
		}
		if (f && f->kind == CO__FD_UNKNOWN)
			inspect(fd, f);
	} else {
		/* Unhooked callers only need help with sockets we made non-blocking. */
		loop = co__loop_if_any();
		f = loop ? co__fd_find(loop, fd) : NULL;
		if (f && f->kind != CO__FD_UNKNOWN && f->gclose != (uint8_t)(co__gfd_get(fd) >> 8))
			f = NULL; /* stale: closed by another thread */
		if (!f || f->kind == CO__FD_UNKNOWN) {
			uint16_t g = co__gfd_get(fd);

			if ((g & CO__G_OWNED) && !(g & CO__G_USER_NB)) {
				memset(tmp, 0, sizeof *tmp);
				tmp->kind = g & CO__G_STREAM ? CO__FD_STREAM : CO__FD_SOCKET;
				tmp->owned = 1;
				tmp->ready = CO__IN | CO__OUT;
				tmp->access = CO__IN | CO__OUT;
				read_timeouts(fd, tmp);
				f = tmp;
			}
		}
		if (f && !f->owned)
			return NULL;
	}
	if (!f || f->kind == CO__FD_UNKNOWN || f->kind == CO__FD_PLAIN || f->user_nonblock)
		return NULL;
	*ret_loop = loop;
	return f;
}

/*
 * Waits for fd to become ready: through the loop in a hooked coroutine,
 * with poll(2) otherwise (a blocking call on a socket we made
 * non-blocking). Returns a CO__WOKE_* value or -errno.
 */
int co__fd_wait_ready(int hooked, struct co_epoll *loop, int fd, struct co__fd *f,
		      unsigned dir, uint64_t deadline)
{
	struct pollfd p = { .fd = fd, .events = dir == CO__IN ? POLLIN : POLLOUT };
	int timeout = -1, r;

	if (hooked)
		return co__fd_wait(loop, fd, f, dir, deadline);
	if (deadline) {
		uint64_t now = co__now_ms();

		timeout = deadline <= now ? 0 : deadline - now > INT_MAX ? INT_MAX : (int)(deadline - now);
	}
	r = real_poll()(&p, 1, timeout);
	if (r < 0)
		return errno == EINTR ? CO__WOKE_NONE : -errno;
	if (!r)
		return CO__WOKE_TIMEOUT;
	f->ready |= (uint8_t)dir; /* the loop is not there to say so */
	return CO__WOKE_EVENT;
}

/* Turns a wait that did not end in an event into the errno libc would give. */
int co__wait_errno(int why, int timeout_errno)
{
	switch (why) {
	case CO__WOKE_TIMEOUT:
		return timeout_errno;
	case CO__WOKE_CLOSED:
		return EBADF;
	case CO__WOKE_NONE:
		return EINTR;
	default:
		return why < 0 ? -why : EIO;
	}
}

/* ---- switching hooks on and off ----------------------------------------- */

/* Named so that linking libcoro.a takes every hook file along (hook-internal.h). */
static const int *const hook_files[] __attribute__((used)) = {
	&co__hook_io_linked, &co__hook_socket_linked, &co__hook_fd_linked, &co__hook_poll_linked,
};

CO_API void co_enable_hook_sys(void)
{
	struct co *co = co_self();

	if (co)
		co->ctx.spare2 |= CO_OPT_HOOK;
}

CO_API void co_disable_hook_sys(void)
{
	struct co *co = co_self();

	if (co)
		co->ctx.spare2 &= (uint16_t)~CO_OPT_HOOK;
}

CO_API bool co_is_enable_sys_hook(void)
{
	return co__hooked() != 0;
}
