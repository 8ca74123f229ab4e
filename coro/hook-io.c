/* SPDX-License-Identifier: MIT */
/*
 * hook-io.c: the hooked reads and writes - read, write, readv, writev,
 * recv, recvfrom, recvmsg, send, sendto, sendmsg, and glibc's fortified
 * entry points for them.
 *
 * Every call is described by a struct io and goes through io_run: on a
 * socket the program sees as blocking it is made, and on EAGAIN waited for
 * and made again (hook.c, co__fd_wait_ready); on a pipe or terminal in a
 * hooked coroutine it waits until poll says the call will not block.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "coro/hook-internal.h"

const int co__hook_io_linked = 1;

/* glibc's fortified entry points (_FORTIFY_SOURCE), hooked like the plain ones. */
ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen);
ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags);
ssize_t __recvfrom_chk(int fd, void *buf, size_t len, size_t buflen, int flags,
		       struct sockaddr *addr, socklen_t *addrlen);

CO__LIBC(ssize_t, read, (int, void *, size_t))
CO__LIBC(ssize_t, write, (int, const void *, size_t))
CO__LIBC(ssize_t, readv, (int, const struct iovec *, int))
CO__LIBC(ssize_t, writev, (int, const struct iovec *, int))
CO__LIBC(ssize_t, recvfrom, (int, void *, size_t, int, struct sockaddr *, socklen_t *))
CO__LIBC(ssize_t, sendto, (int, const void *, size_t, int, const struct sockaddr *, socklen_t))
CO__LIBC(ssize_t, recvmsg, (int, struct msghdr *, int))
CO__LIBC(ssize_t, sendmsg, (int, const struct msghdr *, int))
CO__LIBC(int, poll, (struct pollfd *, nfds_t, int))

enum op {
	OP_READ, OP_READV, OP_RECVFROM, OP_RECVMSG,
	OP_WRITE, OP_WRITEV, OP_SENDTO, OP_SENDMSG,
};

struct io {
	enum op op;
	int fd;
	void *buf;                 /* READ, RECVFROM, WRITE, SENDTO */
	size_t len;
	struct iovec *iov;         /* READV, WRITEV */
	int iovcnt;
	struct msghdr *msg;        /* RECVMSG, SENDMSG */
	int flags;                 /* socket calls */
	struct sockaddr *addr;     /* RECVFROM: out; SENDTO: in */
	socklen_t *addrlen;        /* RECVFROM */
	socklen_t addrlen_in;      /* SENDTO */
};

static ssize_t io_call(const struct io *io)
{
	switch (io->op) {
	case OP_READ:
		return real_read()(io->fd, io->buf, io->len);
	case OP_READV:
		return real_readv()(io->fd, io->iov, io->iovcnt);
	case OP_RECVFROM:
		return real_recvfrom()(io->fd, io->buf, io->len, io->flags, io->addr, io->addrlen);
	case OP_RECVMSG:
		return real_recvmsg()(io->fd, io->msg, io->flags);
	case OP_WRITE:
		return real_write()(io->fd, io->buf, io->len);
	case OP_WRITEV:
		return real_writev()(io->fd, io->iov, io->iovcnt);
	case OP_SENDTO:
		return real_sendto()(io->fd, io->buf, io->len, io->flags, io->addr, io->addrlen_in);
	case OP_SENDMSG:
		return real_sendmsg()(io->fd, io->msg, io->flags);
	}
	return -1;
}

static size_t iov_total(const struct iovec *iov, int n)
{
	size_t sum = 0;

	for (int i = 0; i < n; i++)
		sum += iov[i].iov_len;
	return sum;
}

/* Bytes the call asks for (to tell a short transfer). */
static size_t io_len(const struct io *io)
{
	switch (io->op) {
	case OP_READV:
	case OP_WRITEV:
		return iov_total(io->iov, io->iovcnt);
	case OP_RECVMSG:
	case OP_SENDMSG:
		return iov_total(io->msg->msg_iov, (int)io->msg->msg_iovlen);
	default:
		return io->len;
	}
}

/* Drops the first n bytes of an iovec array in place. */
static void iov_advance(struct iovec **iov, int *cnt, size_t n)
{
	while (*cnt > 0 && n >= (*iov)->iov_len) {
		n -= (*iov)->iov_len;
		(*iov)++;
		(*cnt)--;
	}
	if (*cnt > 0) {
		(*iov)->iov_base = (char *)(*iov)->iov_base + n;
		(*iov)->iov_len -= n;
	}
}

/* Moves a partly done transfer past the n bytes already done. */
static void io_advance(struct io *io, size_t n)
{
	int cnt;

	switch (io->op) {
	case OP_READV:
	case OP_WRITEV:
		iov_advance(&io->iov, &io->iovcnt, n);
		break;
	case OP_RECVMSG:
	case OP_SENDMSG:
		cnt = (int)io->msg->msg_iovlen;
		iov_advance(&io->msg->msg_iov, &cnt, n);
		io->msg->msg_iovlen = (size_t)cnt;
		break;
	default:
		io->buf = (char *)io->buf + n;
		io->len -= n;
		break;
	}
}

/* Makes the call for at most max bytes of what io asks (writes only). */
static ssize_t io_piece(const struct io *io, size_t max)
{
	struct io piece = *io;
	struct iovec iov[16];
	int n = 0;
	size_t left = max;

	switch (io->op) {
	case OP_WRITE:
	case OP_SENDTO:
		piece.len = io->len < max ? io->len : max;
		return io_call(&piece);
	case OP_WRITEV:
		for (int i = 0; i < io->iovcnt && left && n < 16; i++) {
			iov[n] = io->iov[i];
			if (iov[n].iov_len > left)
				iov[n].iov_len = left;
			left -= iov[n].iov_len;
			n++;
		}
		piece.iov = iov;
		piece.iovcnt = n;
		return io_call(&piece);
	default:
		return io_call(io);
	}
}

/*
 * After an EAGAIN on a socket the program sees as blocking: wait for dir,
 * within the socket's timeout for that direction (counted from the first
 * wait). Returns 1 to try the call again, or 0 when it must end, with
 * *ret what it returns: the bytes done so far, or -1 with errno.
 */
static int wait_again(int hooked, struct co_epoll *loop, int fd, struct co__fd *f,
		      unsigned dir, uint64_t *deadline, size_t done, ssize_t *ret)
{
	int timeout = dir == CO__IN ? f->rcvtimeo_ms : f->sndtimeo_ms;
	int why;

	if (timeout && !*deadline)
		*deadline = co__deadline(timeout);
	why = co__fd_wait_ready(hooked, loop, fd, f, dir, *deadline);
	if (why == CO__WOKE_EVENT)
		return 1;
	if (done) {
		*ret = (ssize_t)done;
	} else {
		errno = co__wait_errno(why, EAGAIN);
		*ret = -1;
	}
	return 0;
}

/* Reads (dir CO__IN) on a socket the program sees as blocking. */
static ssize_t io_socket_in(struct io *io, int hooked, struct co_epoll *loop, struct co__fd *f,
			    size_t want)
{
	/* A short read of a plain stream read means the socket is drained. */
	int drain = f->kind == CO__FD_STREAM && !(io->flags & (MSG_PEEK | MSG_OOB | MSG_WAITALL));
	uint64_t deadline = 0;
	size_t got = 0;
	ssize_t ret;

	for (;;) {
		if (f->ready & CO__IN) {
			ssize_t r = io_call(io);

			if (r >= 0) {
				if ((io->flags & MSG_WAITALL) && r > 0 && got + (size_t)r < want &&
				    f->kind == CO__FD_STREAM) {
					/* Blocking MSG_WAITALL waits for all of it, or EOF. */
					got += (size_t)r;
					io_advance(io, (size_t)r);
					f->ready &= (uint8_t)~CO__IN;
					continue;
				}
				/*
				 * Not on EOF, nor once the peer has hung up: the
				 * FIN behind the data makes no new edge.
				 */
				if (drain && r > 0 && (size_t)r < want && !f->hup)
					f->ready &= (uint8_t)~CO__IN;
				return (ssize_t)got + r;
			}
			if (errno != EAGAIN)
				return got ? (ssize_t)got : -1;
			f->ready &= (uint8_t)~CO__IN;
		}
		if (!wait_again(hooked, loop, io->fd, f, CO__IN, &deadline, got, &ret))
			return ret;
	}
}

/*
 * Writes on a socket the program sees as blocking: like the kernel's
 * blocking send, a stream socket's write returns once everything is
 * queued (or with the part done when SO_SNDTIMEO expires or an error
 * comes after some progress).
 */
static ssize_t io_socket_out(struct io *io, int hooked, struct co_epoll *loop, struct co__fd *f)
{
	int stream = f->kind == CO__FD_STREAM;
	uint64_t deadline = 0;
	size_t done = 0;
	ssize_t ret;

	for (;;) {
		if (f->ready & CO__OUT) {
			size_t want = io_len(io);
			ssize_t r = io_call(io);

			if (r >= 0) {
				done += (size_t)r;
				if (!stream || (size_t)r >= want)
					return (ssize_t)done;
				io_advance(io, (size_t)r);
				f->ready &= (uint8_t)~CO__OUT;
				continue;
			}
			if (errno != EAGAIN)
				return done ? (ssize_t)done : -1;
			f->ready &= (uint8_t)~CO__OUT;
		}
		if (!wait_again(hooked, loop, io->fd, f, CO__OUT, &deadline, done, &ret))
			return ret;
	}
}

/*
 * A pipe, FIFO or terminal the program sees as blocking, in a hooked
 * coroutine: wait until poll says the call will not block, then make it.
 * Writes are made PIPE_BUF bytes at a time (a writable pipe has room for
 * at least that much), so that a large write never blocks the thread;
 * PIPE_BUF or less stays one atomic write.
 */
static ssize_t io_pollable(struct io *io, struct co_epoll *loop, struct co__fd *f, unsigned dir)
{
	size_t done = 0, total = io_len(io);

	for (;;) {
		struct pollfd p = { .fd = io->fd, .events = dir == CO__IN ? POLLIN : POLLOUT };
		int r = real_poll()(&p, 1, 0), why;

		if (r > 0 && dir == CO__IN)
			return io_call(io);
		if (r > 0) {
			ssize_t n = io_piece(io, PIPE_BUF);

			if (n < 0)
				return done ? (ssize_t)done : -1;
			done += (size_t)n;
			if (done >= total)
				return (ssize_t)done;
			io_advance(io, (size_t)n);
			continue;
		}
		if (r < 0 && errno != EINTR)
			return -1;
		why = co__fd_wait(loop, io->fd, f, dir, 0);
		if (why == -EPERM) /* epoll will not watch it: it cannot block for long */
			return io_call(io);
		if (why != CO__WOKE_EVENT) {
			if (done)
				return (ssize_t)done;
			errno = co__wait_errno(why, EAGAIN);
			return -1;
		}
	}
}

static ssize_t io_run(struct io *io, unsigned dir)
{
	struct co_epoll *loop = NULL;
	struct co__fd tmp;
	int hooked;
	struct co__fd *f = co__fd_managed(io->fd, &hooked, &loop, &tmp);

	/*
	 * No waiting for: non-blocking calls, nothing to transfer (a blocking
	 * read of 0 bytes returns at once), a direction the descriptor was not
	 * opened for (EBADF at once).
	 */
	size_t len;

	if (!f || (io->flags & MSG_DONTWAIT) || (len = io_len(io)) == 0 || !(f->access & dir))
		return io_call(io);
	if (f->kind == CO__FD_POLLABLE) {
		/* recv, send and the like on a pipe: ENOTSOCK at once. */
		if (io->op != OP_READ && io->op != OP_READV && io->op != OP_WRITE && io->op != OP_WRITEV)
			return io_call(io);
		return hooked ? io_pollable(io, loop, f, dir) : io_call(io);
	}
	return dir == CO__IN ? io_socket_in(io, hooked, loop, f, len) : io_socket_out(io, hooked, loop, f);
}

CO_API ssize_t read(int fd, void *buf, size_t len)
{
	struct io io = { .op = OP_READ, .fd = fd, .buf = buf, .len = len };

	return io_run(&io, CO__IN);
}

CO_API ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen)
{
	if (len > buflen)
		co__die("buffer overflow detected: read of %zu bytes into %zu", len, buflen);
	return read(fd, buf, len);
}

CO_API ssize_t write(int fd, const void *buf, size_t len)
{
	struct io io = { .op = OP_WRITE, .fd = fd, .buf = (void *)buf, .len = len };

	return io_run(&io, CO__OUT);
}

CO_API ssize_t readv(int fd, const struct iovec *iov, int iovcnt)
{
	struct io io = { .op = OP_READV, .fd = fd, .iov = (struct iovec *)iov, .iovcnt = iovcnt };

	return io_run(&io, CO__IN);
}

/* writev and sendmsg may resume part-way: they work on a copy of the iovecs. */
static ssize_t run_iov_out(struct io *io, const struct iovec *iov, int iovcnt)
{
	struct iovec local[16], *copy = local;
	ssize_t r;

	if (iovcnt < 0 || iovcnt > IOV_MAX) {
		errno = EINVAL;
		return -1;
	}
	if (iovcnt > (int)(sizeof local / sizeof *local) &&
	    !(copy = malloc((size_t)iovcnt * sizeof *copy))) {
		errno = ENOMEM;
		return -1;
	}
	if (iovcnt)
		memcpy(copy, iov, (size_t)iovcnt * sizeof *copy);
	if (io->op == OP_WRITEV) {
		io->iov = copy;
		io->iovcnt = iovcnt;
	} else {
		io->msg->msg_iov = copy;
	}
	r = io_run(io, CO__OUT);
	if (copy != local)
		free(copy);
	return r;
}

CO_API ssize_t writev(int fd, const struct iovec *iov, int iovcnt)
{
	struct io io = { .op = OP_WRITEV, .fd = fd };

	return run_iov_out(&io, iov, iovcnt);
}

CO_API ssize_t recv(int fd, void *buf, size_t len, int flags)
{
	struct io io = { .op = OP_RECVFROM, .fd = fd, .buf = buf, .len = len, .flags = flags };

	return io_run(&io, CO__IN);
}

CO_API ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags)
{
	if (len > buflen)
		co__die("buffer overflow detected: recv of %zu bytes into %zu", len, buflen);
	return recv(fd, buf, len, flags);
}

CO_API ssize_t recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *addr,
			socklen_t *addrlen)
{
	struct io io = { .op = OP_RECVFROM, .fd = fd, .buf = buf, .len = len, .flags = flags,
			 .addr = addr, .addrlen = addrlen };

	return io_run(&io, CO__IN);
}

CO_API ssize_t __recvfrom_chk(int fd, void *buf, size_t len, size_t buflen, int flags,
			      struct sockaddr *addr, socklen_t *addrlen)
{
	if (len > buflen)
		co__die("buffer overflow detected: recvfrom of %zu bytes into %zu", len, buflen);
	return recvfrom(fd, buf, len, flags, addr, addrlen);
}

CO_API ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
	struct io io = { .op = OP_RECVMSG, .fd = fd, .msg = msg, .flags = flags };
	struct iovec local[16], *copy = local;
	struct msghdr m;
	ssize_t r;
	int n = (int)msg->msg_iovlen;

	if (!(flags & MSG_WAITALL) || n <= 0)
		return io_run(&io, CO__IN);
	/* MSG_WAITALL may resume part-way: advance a copy of the iovecs. */
	if (n > IOV_MAX) {
		errno = EMSGSIZE;
		return -1;
	}
	if (n > (int)(sizeof local / sizeof *local) && !(copy = malloc((size_t)n * sizeof *copy))) {
		errno = ENOMEM;
		return -1;
	}
	memcpy(copy, msg->msg_iov, (size_t)n * sizeof *copy);
	m = *msg;
	m.msg_iov = copy;
	io.msg = &m;
	r = io_run(&io, CO__IN);
	msg->msg_flags = m.msg_flags;
	msg->msg_controllen = m.msg_controllen;
	msg->msg_namelen = m.msg_namelen;
	if (copy != local)
		free(copy);
	return r;
}

CO_API ssize_t send(int fd, const void *buf, size_t len, int flags)
{
	struct io io = { .op = OP_SENDTO, .fd = fd, .buf = (void *)buf, .len = len, .flags = flags };

	return io_run(&io, CO__OUT);
}

CO_API ssize_t sendto(int fd, const void *buf, size_t len, int flags,
		      const struct sockaddr *addr, socklen_t addrlen)
{
	struct io io = { .op = OP_SENDTO, .fd = fd, .buf = (void *)buf, .len = len, .flags = flags,
			 .addr = (struct sockaddr *)addr, .addrlen_in = addrlen };

	return io_run(&io, CO__OUT);
}

CO_API ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	struct msghdr copy = *msg;
	struct io io = { .op = OP_SENDMSG, .fd = fd, .msg = &copy, .flags = flags };

	return run_iov_out(&io, msg->msg_iov, (int)msg->msg_iovlen);
}
