/*
 * hook.c: the blocking system calls, interposed.
 *
 * Each function here has libc's name, so the program's calls (and those of
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
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "coro/coro-internal.h"

/* glibc's fortified entry points (_FORTIFY_SOURCE), hooked like the plain ones. */
ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen);
ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags);
ssize_t __recvfrom_chk(int fd, void *buf, size_t len, size_t buflen, int flags,
		       struct sockaddr *addr, socklen_t *addrlen);
int __poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t fdslen);
int fcntl64(int fd, int cmd, ...);

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

CO__LIBC(int, socket, (int, int, int))
CO__LIBC(int, connect, (int, const struct sockaddr *, socklen_t))
CO__LIBC(int, accept4, (int, struct sockaddr *, socklen_t *, int))
CO__LIBC(ssize_t, read, (int, void *, size_t))
CO__LIBC(ssize_t, write, (int, const void *, size_t))
CO__LIBC(ssize_t, readv, (int, const struct iovec *, int))
CO__LIBC(ssize_t, writev, (int, const struct iovec *, int))
CO__LIBC(ssize_t, recvfrom, (int, void *, size_t, int, struct sockaddr *, socklen_t *))
CO__LIBC(ssize_t, sendto, (int, const void *, size_t, int, const struct sockaddr *, socklen_t))
CO__LIBC(ssize_t, recvmsg, (int, struct msghdr *, int))
CO__LIBC(ssize_t, sendmsg, (int, const struct msghdr *, int))
CO__LIBC(int, poll, (struct pollfd *, nfds_t, int))
CO__LIBC(int, close, (int))
CO__LIBC(int, setsockopt, (int, int, int, const void *, socklen_t))
CO__LIBC(int, fcntl, (int, int, ...))
CO__LIBC(int, ioctl, (int, unsigned long, ...))
CO__LIBC(int, nanosleep, (const struct timespec *, struct timespec *))

int co__real_poll(struct pollfd *fds, nfds_t n, int timeout)
{
	return real_poll()(fds, n, timeout);
}

int co__real_close(int fd)
{
	return real_close()(fd);
}

/* ---- descriptor state --------------------------------------------------- */

/* This thread's loop if it has one; never makes one. */
static inline struct co_epoll *loop_if_any(void)
{
	return co__loop_if_any();
}

/*
 * Process-wide record of the descriptors libcoro made non-blocking in the
 * kernel, with the program's own view of O_NONBLOCK: the per-thread tables
 * say the rest, but an "owned" socket is a property of the open file, and
 * any thread's blocking call on it must still block. Lock-free: chunks are
 * made on demand and never freed.
 */
enum {
	G_OWNED = 1,   /* O_NONBLOCK set by us */
	G_USER_NB = 2, /* the program asked for non-blocking */
	G_STREAM = 4,  /* a SOCK_STREAM socket */
	G_FLAGS = 0xff,
	G_GEN = 0x100, /* the high byte counts closes of the number */
};

#define G_CHUNK 4096
#define G_CHUNKS 4096

static uint16_t *g_chunks[G_CHUNKS];

static inline uint16_t g_get(int fd)
{
	size_t c = (size_t)fd / G_CHUNK;
	uint16_t *chunk;

	if (fd < 0 || c >= G_CHUNKS)
		return 0;
	chunk = __atomic_load_n(&g_chunks[c], __ATOMIC_ACQUIRE);
	return chunk ? __atomic_load_n(&chunk[(size_t)fd % G_CHUNK], __ATOMIC_RELAXED) : 0;
}

static uint16_t *g_cell(int fd)
{
	size_t c = (size_t)fd / G_CHUNK;
	uint16_t *chunk, *fresh;

	if (fd < 0 || c >= G_CHUNKS)
		return NULL;
	chunk = __atomic_load_n(&g_chunks[c], __ATOMIC_ACQUIRE);
	if (!chunk) {
		if (!(fresh = calloc(G_CHUNK, sizeof *fresh)))
			return NULL;
		if (__atomic_compare_exchange_n(&g_chunks[c], &chunk, fresh, 0,
						__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			chunk = fresh;
		else
			free(fresh); /* another thread made it: chunk holds theirs */
	}
	return &chunk[(size_t)fd % G_CHUNK];
}

/* Sets fd's flags, keeping its close count. */
static void g_set(int fd, uint8_t flags)
{
	uint16_t *cell = g_cell(fd), old;

	if (!cell)
		return;
	old = __atomic_load_n(cell, __ATOMIC_RELAXED);
	while (!__atomic_compare_exchange_n(cell, &old, (uint16_t)((old & ~G_FLAGS) | flags), 0,
					    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

/* fd was closed (by any thread): clear its flags, count the close. */
static void g_closed(int fd)
{
	uint16_t *cell = g_cell(fd), old;

	if (!cell)
		return;
	old = __atomic_load_n(cell, __ATOMIC_RELAXED);
	while (!__atomic_compare_exchange_n(cell, &old, (uint16_t)((old & ~G_FLAGS) + G_GEN), 0,
					    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

/* Publishes what this thread's entry says of fd (NULL: nothing). */
static void g_sync(int fd, struct co__fd *f)
{
	uint8_t v = 0;

	if (f && f->owned)
		v = (uint8_t)(G_OWNED | (f->user_nonblock ? G_USER_NB : 0) |
			      (f->kind == CO__FD_STREAM ? G_STREAM : 0));
	if (v || (g_get(fd) & G_FLAGS))
		g_set(fd, v);
	if (f)
		f->gclose = (uint8_t)(g_get(fd) >> 8);
}

static int timeval_ms(const struct timeval *tv)
{
	long long ms = (long long)tv->tv_sec * 1000 + (tv->tv_usec + 999) / 1000;

	return ms > INT_MAX ? INT_MAX : ms < 0 ? 0 : (int)ms;
}

/* A fresh entry for a descriptor just made (the number may be reused). */
static struct co__fd *fd_fresh(struct co_epoll *loop, int fd, int kind, int user_nonblock)
{
	struct co__fd *f;

	co__fd_forget(loop, fd);
	g_closed(fd); /* a new descriptor: what other threads knew is stale */
	f = co__fd_get(loop, fd);
	if (!f)
		return NULL;
	f->kind = (uint8_t)kind;
	f->user_nonblock = (uint8_t)!!user_nonblock;
	f->owned = (uint8_t)!user_nonblock;
	f->ready = CO__IN | CO__OUT;
	f->access = CO__IN | CO__OUT;
	g_sync(fd, f);
	return f;
}

/* The socket's SO_RCVTIMEO and SO_SNDTIMEO, set before we knew it. */
static void read_timeouts(int fd, struct co__fd *f)
{
	struct timeval tv;
	socklen_t len = sizeof tv;

	if (getsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, &len) == 0)
		f->rcvtimeo_ms = timeval_ms(&tv);
	len = sizeof tv;
	if (getsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, &len) == 0)
		f->sndtimeo_ms = timeval_ms(&tv);
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
	g = g_get(fd);
	f->gclose = (uint8_t)(g >> 8);
	/* Made non-blocking by us in another thread, or before a fork? */
	f->user_nonblock = (uint8_t)((g & G_OWNED) ? !!(g & G_USER_NB) : !!(fl & O_NONBLOCK));
	f->ready = CO__IN | CO__OUT;
	f->access = (uint8_t)((fl & O_ACCMODE) == O_RDONLY ? CO__IN :
			      (fl & O_ACCMODE) == O_WRONLY ? CO__OUT : CO__IN | CO__OUT);
	if (S_ISSOCK(st.st_mode)) {
		if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
			type = SOCK_STREAM;
		f->kind = type == SOCK_STREAM ? CO__FD_STREAM : CO__FD_SOCKET;
		if (g & G_OWNED) {
			f->owned = 1;
			read_timeouts(fd, f);
		} else if (!f->user_nonblock && real_fcntl()(fd, F_SETFL, fl | O_NONBLOCK) == 0) {
			f->owned = 1;
			read_timeouts(fd, f);
			g_sync(fd, f);
		}
	} else if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode) || S_ISBLK(st.st_mode)) {
		f->kind = CO__FD_PLAIN; /* never "blocks" in the poll sense */
	} else {
		/* Pipes, FIFOs, terminals, eventfd, timerfd, signalfd... */
		f->kind = CO__FD_POLLABLE;
	}
}

/*
 * The state of fd for a call about to be made. *ret_hooked says whether the
 * caller is a hooked coroutine; NULL means: just make the libc call (not
 * managed, or the program asked for non-blocking behaviour). A thread that
 * has no entry for a socket another thread made non-blocking gets one
 * made up in *tmp, so that its blocking call blocks.
 */
static struct co__fd *managed(int fd, int *ret_hooked, struct co_epoll **ret_loop,
			      struct co__fd *tmp)
{
	struct co_epoll *loop;
	struct co__fd *f;

	*ret_hooked = co__hooked();
	if (*ret_hooked) {
		loop = co__loop_get();
		f = loop ? co__fd_get(loop, fd) : NULL;
		/* Closed by another thread since we looked: a new descriptor. */
		if (f && f->kind != CO__FD_UNKNOWN && f->gclose != (uint8_t)(g_get(fd) >> 8)) {
			co__fd_forget(loop, fd);
			f = co__fd_get(loop, fd);
		}
		if (f && f->kind == CO__FD_UNKNOWN)
			inspect(fd, f);
	} else {
		/* Unhooked callers only need help with sockets we made non-blocking. */
		loop = loop_if_any();
		f = loop ? co__fd_find(loop, fd) : NULL;
		if (f && f->kind != CO__FD_UNKNOWN && f->gclose != (uint8_t)(g_get(fd) >> 8))
			f = NULL; /* stale: closed by another thread */
		if (!f || f->kind == CO__FD_UNKNOWN) {
			uint16_t g = g_get(fd);

			if ((g & G_OWNED) && !(g & G_USER_NB)) {
				memset(tmp, 0, sizeof *tmp);
				tmp->kind = g & G_STREAM ? CO__FD_STREAM : CO__FD_SOCKET;
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
static int wait_ready(int hooked, struct co_epoll *loop, int fd, struct co__fd *f,
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
static int wait_errno(int why, int timeout_errno)
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

/* ---- reads and writes --------------------------------------------------- */

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
	why = wait_ready(hooked, loop, fd, f, dir, *deadline);
	if (why == CO__WOKE_EVENT)
		return 1;
	if (done) {
		*ret = (ssize_t)done;
	} else {
		errno = wait_errno(why, EAGAIN);
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
			errno = wait_errno(why, EAGAIN);
			return -1;
		}
	}
}

static ssize_t io_run(struct io *io, unsigned dir)
{
	struct co_epoll *loop = NULL;
	struct co__fd tmp;
	int hooked;
	struct co__fd *f = managed(io->fd, &hooked, &loop, &tmp);

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

/* ---- sockets ------------------------------------------------------------ */

CO_API int socket(int domain, int type, int protocol)
{
	struct co_epoll *loop;
	int fd;

	if (!co__hooked() || !(loop = co__loop())) {
		fd = real_socket()(domain, type, protocol);
		if (fd >= 0) {
			/* A reused number: forget the old one. */
			if ((loop = loop_if_any()) != NULL)
				co__fd_forget(loop, fd);
			g_closed(fd);
		}
		return fd;
	}
	fd = real_socket()(domain, type | SOCK_NONBLOCK, protocol);
	if (fd < 0)
		return fd;
	if (!fd_fresh(loop, fd, (type & 0xf) == SOCK_STREAM ? CO__FD_STREAM : CO__FD_SOCKET,
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
	struct co__fd *f = managed(fd, &hooked, &loop, &tmp);
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
				errno = wait_errno(why, EAGAIN);
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
	why = wait_ready(hooked, loop, fd, f, CO__OUT, deadline);
	if (why != CO__WOKE_EVENT) {
		errno = wait_errno(why, EINPROGRESS);
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
	struct co__fd *f = managed(fd, &hooked, &loop, &tmp);
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
					g_closed(r);
				} else if ((nf = fd_fresh(loop, r, kind, flags & SOCK_NONBLOCK)) != NULL) {
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
		int why = wait_ready(hooked, loop, fd, f, CO__IN, deadline);

		if (why != CO__WOKE_EVENT) {
			errno = wait_errno(why, EAGAIN);
			return -1;
		}
	}
}

CO_API int accept(int fd, struct sockaddr *addr, socklen_t *addrlen)
{
	return accept4(fd, addr, addrlen, 0);
}

/* fd is about to be closed (or was, behind our back): drop what we know. */
static void forget(int fd)
{
	struct co_epoll *loop = loop_if_any();

	if (loop)
		co__fd_forget(loop, fd);
	g_closed(fd);
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
	struct co_epoll *loop = loop_if_any();
	unsigned top = (unsigned)G_CHUNKS * G_CHUNK;

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
	    len >= sizeof(struct timeval) && (loop = co__hooked() ? co__loop() : loop_if_any()) &&
	    (f = co__fd_get(loop, fd)) != NULL) {
		if (name == SO_RCVTIMEO)
			f->rcvtimeo_ms = timeval_ms(val);
		else
			f->sndtimeo_ms = timeval_ms(val);
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
	struct co_epoll *loop = hooked ? co__loop() : loop_if_any();
	struct co__fd *f = loop ? co__fd_find(loop, fd) : NULL;
	uint16_t g;
	int socket_kind;

	if (!f || f->kind == CO__FD_UNKNOWN) {
		/* Maybe another thread's: only the program's view changes. */
		g = g_get(fd);
		if (!(g & G_OWNED))
			return 0;
		*ret = apply_nonblock(fd, 1, via_ioctl, flags);
		if (*ret == 0)
			g_set(fd, (uint8_t)((g & G_FLAGS & ~G_USER_NB) | (nonblock ? G_USER_NB : 0)));
		return 1;
	}
	socket_kind = f->kind == CO__FD_STREAM || f->kind == CO__FD_SOCKET;
	*ret = apply_nonblock(fd, nonblock || f->owned || (hooked && socket_kind), via_ioctl, flags);
	if (*ret == 0) {
		f->user_nonblock = (uint8_t)!!nonblock;
		if (!nonblock && hooked && socket_kind)
			f->owned = 1;
		g_sync(fd, f);
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
	struct co_epoll *loop = loop_if_any();
	struct co__fd *from, *to, copy;

	if (oldfd == newfd)
		return;
	g_closed(newfd); /* whatever the number was is gone */
	g_set(newfd, (uint8_t)(g_get(oldfd) & G_FLAGS));
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
	g_sync(newfd, to);
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
		loop = loop_if_any();
		f = loop ? co__fd_find(loop, fd) : NULL;
		if (r >= 0 && f && f->kind != CO__FD_UNKNOWN) {
			if (f->owned)
				r = f->user_nonblock ? r | O_NONBLOCK : r & ~O_NONBLOCK;
		} else if (r >= 0 && (g_get(fd) & G_OWNED)) {
			r = (g_get(fd) & G_USER_NB) ? r | O_NONBLOCK : r & ~O_NONBLOCK;
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

/* ---- poll, select, sleep ------------------------------------------------ */

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
		timeout = timeval_ms(tv);
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
	errno = wait_errno(why, EINTR);
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

/* ---- switching hooks on and off ----------------------------------------- */

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
