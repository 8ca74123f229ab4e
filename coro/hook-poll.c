/* SPDX-License-Identifier: MIT */
/*
 * hook-poll.c: the hooked waits - poll (co_poll in a hooked coroutine),
 * select (turned into a poll), nanosleep, usleep and sleep (timers of the
 * loop).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/select.h>
#include <time.h>
#include <unistd.h>

#include "coro/hook-internal.h"

const int co__hook_poll_linked = 1;

int __poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t fdslen);

CO__LIBC(int, poll, (struct pollfd *, nfds_t, int))
CO__LIBC(int, nanosleep, (const struct timespec *, struct timespec *))

CO_API int poll(struct pollfd *fds, nfds_t n, int timeout)
{
	struct co_epoll *loop;

	if (!co__hooked() || !(loop = co__loop()))
		return real_poll()(fds, n, timeout);
	return co__poll(loop, fds, n, timeout);
}

CO_API int __poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t fdslen)
{
	if (n > fdslen / sizeof *fds)
		co__die("buffer overflow detected: poll of %lu descriptors", (unsigned long)n);
	return poll(fds, n, timeout);
}

CO__LIBC(int, select, (int, fd_set *, fd_set *, fd_set *, struct timeval *))

CO_API int select(int nfds, fd_set *rd, fd_set *wr, fd_set *ex, struct timeval *tv)
{
	struct co_epoll *loop;
	struct pollfd local[64], *p = local;
	int n = 0, r, timeout = -1, count = 0;
	uint64_t start;

	if (!co__hooked() || !(loop = co__loop()) || nfds < 0 || nfds > FD_SETSIZE)
		return real_select()(nfds, rd, wr, ex, tv);
	if (tv) {
		if (tv->tv_sec < 0 || tv->tv_usec < 0 || tv->tv_usec >= 1000000) {
			errno = EINVAL;
			return -1;
		}
		timeout = co__timeval_ms(tv);
	}
	for (int fd = 0; fd < nfds; fd++)
		n += (rd && FD_ISSET(fd, rd)) || (wr && FD_ISSET(fd, wr)) || (ex && FD_ISSET(fd, ex));
	if (n > (int)(sizeof local / sizeof *local) && !(p = calloc((size_t)n, sizeof *p))) {
		errno = ENOMEM;
		return -1;
	}
	n = 0;
	for (int fd = 0; fd < nfds; fd++) {
		short ev = (short)((rd && FD_ISSET(fd, rd) ? POLLIN : 0) |
				   (wr && FD_ISSET(fd, wr) ? POLLOUT : 0) |
				   (ex && FD_ISSET(fd, ex) ? POLLPRI : 0));

		if (ev) {
			p[n].fd = fd;
			p[n].events = ev;
			p[n].revents = 0;
			n++;
		}
	}
	start = co__now_ms();
	r = co__poll(loop, p, (nfds_t)n, timeout);
	if (r >= 0) {
		for (int i = 0; i < n; i++) {
			if (p[i].revents & POLLNVAL) {
				r = -1;
				errno = EBADF;
				break;
			}
		}
	}
	if (r >= 0) {
		if (rd)
			FD_ZERO(rd);
		if (wr)
			FD_ZERO(wr);
		if (ex)
			FD_ZERO(ex);
		for (int i = 0; i < n; i++) {
			short re = p[i].revents;

			if (rd && (re & (POLLIN | POLLHUP | POLLERR)) && (p[i].events & POLLIN)) {
				FD_SET(p[i].fd, rd);
				count++;
			}
			if (wr && (re & (POLLOUT | POLLERR)) && (p[i].events & POLLOUT)) {
				FD_SET(p[i].fd, wr);
				count++;
			}
			if (ex && (re & POLLPRI) && (p[i].events & POLLPRI)) {
				FD_SET(p[i].fd, ex);
				count++;
			}
		}
		r = count;
	}
	if (tv) {
		/* Linux writes back the time not slept. */
		long long left = r == 0 ? 0 : (long long)timeout - (long long)(co__now_ms() - start);

		if (left < 0)
			left = 0;
		tv->tv_sec = left / 1000;
		tv->tv_usec = (left % 1000) * 1000;
	}
	if (p != local)
		free(p);
	return r;
}

/* Sleeps in the loop; returns 0, or -1 with errno (EINTR if resumed early). */
static int sleep_ms(uint64_t ms)
{
	struct co_epoll *loop = co__loop();
	int why;

	if (!loop) {
		errno = ENOMEM;
		return -1;
	}
	why = co__sleep_until(loop, co__deadline((int64_t)(ms > INT64_MAX / 2 ? INT64_MAX / 2 : ms)));
	if (why == CO__WOKE_TIMEOUT)
		return 0;
	errno = co__wait_errno(why, EINTR);
	return -1;
}

CO_API int nanosleep(const struct timespec *req, struct timespec *rem)
{
	if (!co__hooked())
		return real_nanosleep()(req, rem);
	if (req->tv_nsec < 0 || req->tv_nsec >= 1000000000 || req->tv_sec < 0) {
		errno = EINVAL;
		return -1;
	}
	/* Whole milliseconds, rounded up: never shorter than asked (nor wrapped). */
	if ((uint64_t)req->tv_sec > UINT64_MAX / 4000)
		return sleep_ms(UINT64_MAX / 4);
	return sleep_ms((uint64_t)req->tv_sec * 1000 + ((uint64_t)req->tv_nsec + 999999) / 1000000);
}

CO_API int usleep(useconds_t usec)
{
	struct timespec ts = { .tv_sec = usec / 1000000, .tv_nsec = (long)(usec % 1000000) * 1000 };

	return nanosleep(&ts, NULL);
}

CO_API unsigned int sleep(unsigned int seconds)
{
	struct timespec ts = { .tv_sec = seconds, .tv_nsec = 0 };

	if (!co__hooked()) {
		struct timespec rem = { 0, 0 };

		if (real_nanosleep()(&ts, &rem) < 0)
			return (unsigned)rem.tv_sec + (rem.tv_nsec > 0);
		return 0;
	}
	return nanosleep(&ts, NULL) < 0 ? seconds : 0;
}
