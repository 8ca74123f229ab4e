/* SPDX-License-Identifier: MIT */
/*
 * hook-socket.c: the hooked socket calls that make descriptors or
 * connections - socket, connect, accept4, accept.
 *
 * A socket a hooked coroutine creates or accepts is non-blocking in the
 * kernel from the start (SOCK_NONBLOCK), and "owned": the program still
 * sees it as blocking unless it asked otherwise (hook.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "coro/hook-internal.h"

const int co__hook_socket_linked = 1;

CO__LIBC(int, socket, (int, int, int))
CO__LIBC(int, connect, (int, const struct sockaddr *, socklen_t))
CO__LIBC(int, accept4, (int, struct sockaddr *, socklen_t *, int))
CO__LIBC(int, fcntl, (int, int, ...))
CO__LIBC(int, nanosleep, (const struct timespec *, struct timespec *))

CO_API int socket(int domain, int type, int protocol)
{
	struct co_epoll *loop;
	int fd;

	if (!co__hooked() || !(loop = co__loop())) {
		fd = real_socket()(domain, type, protocol);
		if (fd >= 0) {
			/* A reused number: forget the old one. */
			if ((loop = co__loop_if_any()) != NULL)
				co__fd_forget(loop, fd);
			co__gfd_closed(fd);
		}
		return fd;
	}
	fd = real_socket()(domain, type | SOCK_NONBLOCK, protocol);
	if (fd < 0)
		return fd;
	if (!co__fd_fresh(loop, fd, (type & 0xf) == SOCK_STREAM ? CO__FD_STREAM : CO__FD_SOCKET,
		      type & SOCK_NONBLOCK)) {
		/* No memory to track it: give the program what it asked for. */
		if (!(type & SOCK_NONBLOCK))
			real_fcntl()(fd, F_SETFL, real_fcntl()(fd, F_GETFL) & ~O_NONBLOCK);
	}
	return fd;
}

/*
 * A blocking connect on a socket we made non-blocking: start it, wait until
 * the socket is writable, then call connect again for the outcome. (Not
 * SO_ERROR: the second call is what moves the kernel's socket state on, so
 * that a later connect says EISCONN, or fails afresh after a refusal, as it
 * would after a blocking one.) With SO_SNDTIMEO it gives up with
 * EINPROGRESS, as Linux does; the kernel's own timeout gives ETIMEDOUT.
 * A Unix socket whose listener's queue is full says EAGAIN where a blocking
 * one sleeps: retry with a growing pause.
 */
CO_API int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	struct co_epoll *loop = NULL;
	struct co__fd tmp;
	int hooked, why, r;
	struct co__fd *f = co__fd_managed(fd, &hooked, &loop, &tmp);
	uint64_t deadline, pause = 1;

	r = real_connect()(fd, addr, len);
	if (!f || f->kind == CO__FD_POLLABLE || r == 0)
		return r;
	deadline = f->sndtimeo_ms ? co__deadline(f->sndtimeo_ms) : 0;
	while (errno == EAGAIN && addr && addr->sa_family == AF_UNIX) {
		uint64_t now = co__now_ms(), step = pause;

		/* Give up only once SO_SNDTIMEO has passed: never early. */
		if (deadline) {
			if (now >= deadline) {
				errno = EAGAIN;
				return -1;
			}
			if (deadline - now < step)
				step = deadline - now;
		}
		if (hooked) {
			why = co__sleep_until(loop, co__deadline((int64_t)step));
			if (why != CO__WOKE_TIMEOUT) {
				errno = co__wait_errno(why, EAGAIN);
				return -1;
			}
		} else {
			struct timespec ts = { 0, (long)step * 1000000 };

			real_nanosleep()(&ts, NULL);
		}
		pause = pause < 64 ? pause * 2 : 100;
		r = real_connect()(fd, addr, len);
		if (r == 0)
			return 0;
	}
	if (errno != EINPROGRESS)
		return -1;
	f->ready &= (uint8_t)~CO__OUT;
	why = co__fd_wait_ready(hooked, loop, fd, f, CO__OUT, deadline);
	if (why != CO__WOKE_EVENT) {
		errno = co__wait_errno(why, EINPROGRESS);
		return -1;
	}
	r = real_connect()(fd, addr, len);
	if (r < 0 && errno == EISCONN)
		return 0;
	return r;
}

CO_API int accept4(int fd, struct sockaddr *addr, socklen_t *addrlen, int flags)
{
	struct co_epoll *loop = NULL;
	struct co__fd tmp;
	int hooked;
	struct co__fd *f = co__fd_managed(fd, &hooked, &loop, &tmp);
	uint64_t deadline = 0;

	if (!f || f->kind == CO__FD_POLLABLE)
		return real_accept4()(fd, addr, addrlen, flags);
	for (;;) {
		if (f->ready & CO__IN) {
			int kind = f->kind, rcvtimeo = f->rcvtimeo_ms, sndtimeo = f->sndtimeo_ms;
			int r = real_accept4()(fd, addr, addrlen, flags | (hooked ? SOCK_NONBLOCK : 0));
			struct co__fd *nf;

			if (r >= 0) {
				if (!hooked) {
					if (loop)
						co__fd_forget(loop, r); /* a reused number */
					co__gfd_closed(r);
				} else if ((nf = co__fd_fresh(loop, r, kind, flags & SOCK_NONBLOCK)) != NULL) {
					/* The kernel copies the listener's timeouts to it. */
					nf->rcvtimeo_ms = rcvtimeo;
					nf->sndtimeo_ms = sndtimeo;
				} else if (!(flags & SOCK_NONBLOCK)) {
					real_fcntl()(r, F_SETFL, real_fcntl()(r, F_GETFL) & ~O_NONBLOCK);
				}
				return r;
			}
			if (errno != EAGAIN)
				return -1;
			f->ready &= (uint8_t)~CO__IN;
		}
		if (f->rcvtimeo_ms && !deadline)
			deadline = co__deadline(f->rcvtimeo_ms);
		int why = co__fd_wait_ready(hooked, loop, fd, f, CO__IN, deadline);

		if (why != CO__WOKE_EVENT) {
			errno = co__wait_errno(why, EAGAIN);
			return -1;
		}
	}
}

CO_API int accept(int fd, struct sockaddr *addr, socklen_t *addrlen)
{
	return accept4(fd, addr, addrlen, 0);
}
