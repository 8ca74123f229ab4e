/* SPDX-License-Identifier: MIT */
/*
 * hook-fd.c: the hooked calls that close, copy or change descriptors -
 * close, fclose, close_range, closefrom, dup, dup2, dup3, fcntl (and
 * fcntl64), ioctl(FIONBIO), setsockopt(SO_RCVTIMEO, SO_SNDTIMEO).
 *
 * They keep what the hooks know of a descriptor true: a closed number is
 * forgotten (its waiters woken), a copy shares its original's state, and
 * the program sees and sets its own view of O_NONBLOCK while the kernel's
 * stays set on a socket libcoro owns.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "coro/hook-internal.h"

const int co__hook_fd_linked = 1;

int fcntl64(int fd, int cmd, ...);

CO__LIBC(int, close, (int))
CO__LIBC(int, setsockopt, (int, int, int, const void *, socklen_t))
CO__LIBC(int, fcntl, (int, int, ...))
CO__LIBC(int, ioctl, (int, unsigned long, ...))

/* fd is about to be closed (or was, behind our back): drop what we know. */
static void forget(int fd)
{
	struct co_epoll *loop = co__loop_if_any();

	if (loop)
		co__fd_forget(loop, fd);
	co__gfd_closed(fd);
}

CO_API int close(int fd)
{
	forget(fd);
	return real_close()(fd);
}

CO__LIBC(int, fclose, (FILE *))
CO__LIBC(int, close_range, (unsigned, unsigned, int))
CO__LIBC(void, closefrom, (int))

/* stdio closes its descriptor with libc's internal close: catch it here. */
CO_API int fclose(FILE *stream)
{
	int fd = stream ? fileno(stream) : -1;

	if (fd >= 0)
		forget(fd);
	return real_fclose()(stream);
}

/* The descriptors in [lo, hi] that we know of (bounded by the tables). */
static void forget_range(unsigned lo, unsigned hi)
{
	struct co_epoll *loop = co__loop_if_any();
	unsigned top = (unsigned)CO__G_CHUNKS * CO__G_CHUNK;

	if (loop && loop->nchunks * CO__FD_CHUNK < top)
		top = (unsigned)(loop->nchunks * CO__FD_CHUNK);
	for (unsigned fd = lo; fd <= hi && fd < top; fd++)
		forget((int)fd);
}

CO_API int close_range(unsigned lo, unsigned hi, int flags)
{
	int r = real_close_range()(lo, hi, flags);

	if (r == 0 && !(flags & CLOSE_RANGE_CLOEXEC))
		forget_range(lo, hi);
	return r;
}

CO_API void closefrom(int lo)
{
	if (lo >= 0)
		forget_range((unsigned)lo, ~0u);
	real_closefrom()(lo);
}

CO_API int setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	int r = real_setsockopt()(fd, level, name, val, len);
	struct co_epoll *loop;
	struct co__fd *f;

	if (r == 0 && level == SOL_SOCKET && (name == SO_RCVTIMEO || name == SO_SNDTIMEO) &&
	    len >= sizeof(struct timeval) && (loop = co__hooked() ? co__loop() : co__loop_if_any()) &&
	    (f = co__fd_get(loop, fd)) != NULL) {
		if (name == SO_RCVTIMEO)
			f->rcvtimeo_ms = co__timeval_ms(val);
		else
			f->sndtimeo_ms = co__timeval_ms(val);
	}
	return r;
}

/* ---- descriptor flags --------------------------------------------------- */

/* Sets the kernel's O_NONBLOCK: by F_SETFL with the other flags given, or FIONBIO. */
static int apply_nonblock(int fd, int nb, int via_ioctl, int flags)
{
	if (via_ioctl)
		return real_ioctl()(fd, FIONBIO, &nb);
	return real_fcntl()(fd, F_SETFL, nb ? flags | O_NONBLOCK : flags & ~O_NONBLOCK);
}

/*
 * The program changes its view of O_NONBLOCK. On a socket we own the
 * kernel's flag stays set. A hooked coroutine that makes a socket blocking
 * hands it to us. Returns 1 if handled (*ret set), 0 to call libc.
 */
static int set_nonblock_view(int fd, int nonblock, int via_ioctl, int flags, int *ret)
{
	int hooked = co__hooked();
	struct co_epoll *loop = hooked ? co__loop() : co__loop_if_any();
	struct co__fd *f = loop ? co__fd_find(loop, fd) : NULL;
	uint16_t g;
	int socket_kind;

	if (!f || f->kind == CO__FD_UNKNOWN) {
		/* Maybe another thread's: only the program's view changes. */
		g = co__gfd_get(fd);
		if (!(g & CO__G_OWNED))
			return 0;
		*ret = apply_nonblock(fd, 1, via_ioctl, flags);
		if (*ret == 0)
			co__gfd_set(fd, (uint8_t)((g & CO__G_FLAGS & ~CO__G_USER_NB) | (nonblock ? CO__G_USER_NB : 0)));
		return 1;
	}
	socket_kind = f->kind == CO__FD_STREAM || f->kind == CO__FD_SOCKET;
	*ret = apply_nonblock(fd, nonblock || f->owned || (hooked && socket_kind), via_ioctl, flags);
	if (*ret == 0) {
		f->user_nonblock = (uint8_t)!!nonblock;
		if (!nonblock && hooked && socket_kind)
			f->owned = 1;
		co__gfd_sync(fd, f);
	}
	return 1;
}

/*
 * newfd is now a copy of oldfd: the same open file description, so the
 * same flags and the same view of O_NONBLOCK, under a new number (whatever
 * was known of the number before is dropped, waiters woken as by close).
 */
static void fd_copy(int oldfd, int newfd)
{
	struct co_epoll *loop = co__loop_if_any();
	struct co__fd *from, *to, copy;

	if (oldfd == newfd)
		return;
	co__gfd_closed(newfd); /* whatever the number was is gone */
	co__gfd_set(newfd, (uint8_t)(co__gfd_get(oldfd) & CO__G_FLAGS));
	if (!loop)
		return;
	co__fd_forget(loop, newfd);
	from = co__fd_find(loop, oldfd);
	if (!from || from->kind == CO__FD_UNKNOWN || !(to = co__fd_get(loop, newfd)))
		return;
	copy = *from;
	copy.waiters = NULL;
	copy.registered = 0;
	copy.gen = to->gen;
	*to = copy;
	co__gfd_sync(newfd, to);
}

CO__LIBC(int, dup, (int))
CO__LIBC(int, dup2, (int, int))
CO__LIBC(int, dup3, (int, int, int))

CO_API int dup(int fd)
{
	int r = real_dup()(fd);

	if (r >= 0)
		fd_copy(fd, r);
	return r;
}

CO_API int dup2(int oldfd, int newfd)
{
	int r = real_dup2()(oldfd, newfd);

	if (r >= 0)
		fd_copy(oldfd, r);
	return r;
}

CO_API int dup3(int oldfd, int newfd, int flags)
{
	int r = real_dup3()(oldfd, newfd, flags);

	if (r >= 0)
		fd_copy(oldfd, r);
	return r;
}

static int fcntl_common(int fd, int cmd, void *arg)
{
	struct co_epoll *loop;
	struct co__fd *f;
	int r;

	switch (cmd) {
	case F_GETFL:
		r = real_fcntl()(fd, F_GETFL);
		loop = co__loop_if_any();
		f = loop ? co__fd_find(loop, fd) : NULL;
		if (r >= 0 && f && f->kind != CO__FD_UNKNOWN) {
			if (f->owned)
				r = f->user_nonblock ? r | O_NONBLOCK : r & ~O_NONBLOCK;
		} else if (r >= 0 && (co__gfd_get(fd) & CO__G_OWNED)) {
			r = (co__gfd_get(fd) & CO__G_USER_NB) ? r | O_NONBLOCK : r & ~O_NONBLOCK;
		}
		return r;
	case F_SETFL: {
		int flags = (int)(intptr_t)arg;

		if (set_nonblock_view(fd, flags & O_NONBLOCK, 0, flags, &r))
			return r;
		return real_fcntl()(fd, F_SETFL, flags);
	}
	case F_DUPFD:
	case F_DUPFD_CLOEXEC:
		r = real_fcntl()(fd, cmd, (int)(intptr_t)arg);
		if (r >= 0)
			fd_copy(fd, r);
		return r;
	default:
		return real_fcntl()(fd, cmd, arg);
	}
}

CO_API int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	return fcntl_common(fd, cmd, arg);
}

/* What <fcntl.h> calls when a program is built with _FILE_OFFSET_BITS=64. */
CO_API int fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	return fcntl_common(fd, cmd, arg);
}

CO_API int ioctl(int fd, unsigned long request, ...)
{
	va_list ap;
	void *arg;
	int r;

	va_start(ap, request);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (request == FIONBIO && arg && set_nonblock_view(fd, *(int *)arg, 1, 0, &r))
		return r;
	return real_ioctl()(fd, request, arg);
}
