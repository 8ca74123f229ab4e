/* SPDX-License-Identifier: MIT */
/*
 * hook-internal.h: what the files of the system call hooks share.
 *
 *   hook.c         libc's functions, the process-wide descriptor record,
 *                  the state of a descriptor for a call (co__fd_managed),
 *                  waiting for readiness, co_enable_hook_sys and friends
 *   hook-io.c      read, write, readv, writev, recv*, send* (and the
 *                  fortified __*_chk entry points)
 *   hook-socket.c  socket, connect, accept, accept4
 *   hook-fd.c      close and its kin, dup*, fcntl, ioctl, setsockopt
 *   hook-poll.c    poll, select, nanosleep, usleep, sleep
 *
 * Each file looks up the libc functions it calls itself, with CO__LIBC
 * (coro-internal.h): a pointer cached per file, so that the hot paths load
 * a static variable instead of calling into another file.
 */
#ifndef CORO_HOOK_INTERNAL_H
#define CORO_HOOK_INTERNAL_H

#include <limits.h>
#include <stdint.h>
#include <sys/time.h>

#include "coro/coro-internal.h"

/*
 * Linking libcoro.a: a program gets hook.c for co_enable_hook_sys, but the
 * linker takes another archive member only for a symbol still undefined
 * when it reaches the archive. read, poll and the like are usually called
 * from shared libraries (libcurl), or already defined by an earlier
 * library (libasan intercepts them), so nothing would ask for hook-io.o
 * and the rest, and their calls would block the thread. Each hook file
 * defines one of these, and hook.c names them all.
 */
extern const int co__hook_io_linked CO_HIDDEN;
extern const int co__hook_socket_linked CO_HIDDEN;
extern const int co__hook_fd_linked CO_HIDDEN;
extern const int co__hook_poll_linked CO_HIDDEN;

/*
 * The process-wide record of a descriptor (hook.c): the flags below in the
 * low byte, the number of times the number was closed in the high byte.
 * Per-thread tables say the rest, but an "owned" socket is a property of
 * the open file, and any thread's blocking call on it must still block.
 */
enum {
	CO__G_OWNED = 1,   /* O_NONBLOCK set by us */
	CO__G_USER_NB = 2, /* the program asked for non-blocking */
	CO__G_STREAM = 4,  /* a SOCK_STREAM socket */
	CO__G_FLAGS = 0xff,
	CO__G_GEN = 0x100, /* the high byte counts closes of the number */
};

/* The record covers descriptors below CO__G_CHUNK * CO__G_CHUNKS. */
#define CO__G_CHUNK 4096
#define CO__G_CHUNKS 4096

/* fd's record (0 for a number never seen, or out of range). */
uint16_t co__gfd_get(int fd) CO_HIDDEN;
/* Sets fd's flags, keeping its close count. */
void co__gfd_set(int fd, uint8_t flags) CO_HIDDEN;
/* fd was closed (by any thread): clears its flags, counts the close. */
void co__gfd_closed(int fd) CO_HIDDEN;
/* Publishes what this thread's entry says of fd (NULL: nothing). */
void co__gfd_sync(int fd, struct co__fd *f) CO_HIDDEN;

/* A struct timeval as milliseconds, rounded up, clamped to [0, INT_MAX]. */
static inline int co__timeval_ms(const struct timeval *tv)
{
	long long ms = (long long)tv->tv_sec * 1000 + (tv->tv_usec + 999) / 1000;

	return ms > INT_MAX ? INT_MAX : ms < 0 ? 0 : (int)ms;
}

/*
 * A fresh entry for a descriptor just made by socket() or accept() (the
 * number may be reused); NULL if out of memory.
 */
struct co__fd *co__fd_fresh(struct co_epoll *loop, int fd, int kind,
			    int user_nonblock) CO_HIDDEN;

/*
 * The state of fd for a call about to be made. *ret_hooked says whether the
 * caller is a hooked coroutine, *ret_loop (set when the result is not NULL)
 * the loop to wait in. NULL means: just make the libc call (not managed,
 * or the program asked for non-blocking behaviour). A thread that has no
 * entry for a socket another thread made non-blocking gets one made up in
 * *tmp, so that its blocking call blocks.
 */
struct co__fd *co__fd_managed(int fd, int *ret_hooked, struct co_epoll **ret_loop,
			      struct co__fd *tmp) CO_HIDDEN;

/*
 * Waits for fd to become ready for dir (CO__IN or CO__OUT) until deadline
 * (ms, 0: none): through the loop in a hooked coroutine (it yields), with
 * poll(2) otherwise (a blocking call on a socket we made non-blocking).
 * Returns a CO__WOKE_* value or -errno.
 */
int co__fd_wait_ready(int hooked, struct co_epoll *loop, int fd, struct co__fd *f,
		      unsigned dir, uint64_t deadline) CO_HIDDEN;

/*
 * The errno libc would give for a wait that did not end in an event:
 * timeout_errno on timeout, EBADF when closed, EINTR when resumed early.
 */
int co__wait_errno(int why, int timeout_errno) CO_HIDDEN;

#endif
