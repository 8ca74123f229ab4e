/* SPDX-License-Identifier: MIT */
/*
 * server.c: the daemon's HTTP/1.1 request layer, for every page it serves
 * (the metrics today; the status page later): coroutines on the daemon's
 * event loop, one listener and one per client, handing each well-formed
 * GET or HEAD request to the server's handler.
 *
 * What a client can cost is bounded, whatever it does:
 * - at most CLIENTS_MAX at once; past that the client that has waited
 *   longest without sending a whole request is dropped for the newcomer
 *   (so a crowd of slow clients cannot lock a scraper out), and if every
 *   client is being answered the newcomer gets 503;
 * - a request is its headers only, at most REQUEST_MAX bytes (431), all of
 *   it within REQUEST_TIMEOUT_MS of the connection (one byte a second
 *   gets nowhere);
 * - the handler has RESPONSE_TIMEOUT_MS for the whole response, which it
 *   writes with http__write: a response that makes no progress for
 *   WRITE_IDLE_MS is cut off, and a slow reader blocks only its own
 *   coroutine;
 * - a long response gives the loop back every SLICE_US of work
 *   (http__pause).
 *
 * The coroutines do their I/O on non-blocking sockets with co_poll and
 * explicit deadlines (no system call hooks needed).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "coro/coro.h"
#include "daemon/core/core.h"
#include "daemon/http/http-internal.h"

#define CLIENTS_MAX 64                 /* served at once */
#define CLIENTS_HARD (CLIENTS_MAX + CLIENTS_MAX / 4) /* plus those being dropped */
#define REQUEST_MAX 8192               /* request line and headers */
#define REQUEST_TIMEOUT_MS 10000       /* to send them, from the connection */
#define RESPONSE_TIMEOUT_MS 60000      /* to take the whole response */
#define WRITE_IDLE_MS 10000            /* without taking a byte */
#define DRAIN_MS 1000                  /* reading what follows an error reply */
#define SLICE_US 5000                  /* of work before the loop gets a turn */
#define STACK_BYTES (128 << 10)        /* each coroutine's (the handlers are shallow) */

struct http_conn {
	struct http_server *srv;
	struct co *co;
	int fd;
	bool answering;                /* the request is in: not to be dropped for a newcomer */
	bool dropped;                  /* shut down to make room */
	struct co_cond *waiting;       /* http__wait's condition, woken at stop */
	uint64_t resumed_us;           /* when it last came back from the loop */
	struct http_conn *prev, *next; /* srv->head, oldest first */
	size_t req_len;
	char req[REQUEST_MAX];
};

struct http_server {
	struct http_server_def def;
	char *listen;                  /* the address served, or NULL */
	int fd;                        /* the listening socket, or -1 */
	struct co *co;                 /* the listener */
	bool started;                  /* the listener has been resumed once */
	bool stopping;
	bool listener_done;
	struct co_cond *wake;          /* the listener: a socket to listen on, or stop */
	struct co_cond *ended;         /* http__server_stop: a coroutine ended */
	struct http_conn *head, *tail;
	unsigned nclients;             /* in the list, the dropping included */
	unsigned ndropping;            /* dropped, their coroutine not yet ended */
	struct co *dead[CLIENTS_HARD + 1]; /* ended client coroutines, to release */
	unsigned ndead;
};

uint64_t http__now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* ---- the listening socket ----------------------------------------------- */

/* "HOST:PORT" or "[V6]:PORT" into an address; a name is resolved (passive). */
static int resolve_listen(const char *addr, struct sockaddr_storage *ret, socklen_t *ret_len)
{
	char host[256];
	const char *port, *end;
	struct addrinfo hints, *ai = NULL;
	size_t hlen;
	int r;

	if (addr[0] == '[') {
		end = strchr(addr, ']');
		if (!end || end[1] != ':')
			return -EINVAL;
		hlen = (size_t)(end - addr - 1);
		addr++;
		port = end + 2;
	} else {
		end = strrchr(addr, ':');
		if (!end)
			return -EINVAL;
		hlen = (size_t)(end - addr);
		port = end + 1;
	}
	if (hlen == 0 || hlen >= sizeof host || !*port)
		return -EINVAL;
	memcpy(host, addr, hlen);
	host[hlen] = '\0';
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	r = getaddrinfo(host, port, &hints, &ai);
	if (r != 0)
		return r == EAI_MEMORY ? -ENOMEM : r == EAI_SYSTEM ? -errno : -ENOENT;
	memcpy(ret, ai->ai_addr, ai->ai_addrlen);
	*ret_len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

static int open_listener(const char *addr)
{
	struct sockaddr_storage sa;
	socklen_t len = 0;
	int fd, one = 1, r;

	r = resolve_listen(addr, &sa, &len);
	if (r < 0)
		return r;
	fd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (sa.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)&sa, len) < 0 || listen(fd, 128) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

/* ---- one client --------------------------------------------------------- */

/*
 * Waits until fd is ready for events or the deadline (monotonic us)
 * passes. False on timeout, on error, or when the server stops.
 */
static bool wait_fd(struct http_conn *c, short events, uint64_t deadline)
{
	struct pollfd p = { .fd = c->fd, .events = events };
	uint64_t now = http__now_us();
	int r;

	if (now >= deadline)
		return false;
	r = co_poll(NULL, &p, 1, (int)((deadline - now + 999) / 1000));
	c->resumed_us = http__now_us();
	if (c->srv->stopping || c->dropped)
		return false;
	return r > 0 || (r < 0 && errno == EINTR);
}

bool http__write(struct http_conn *c, const char *p, size_t len, uint64_t deadline)
{
	while (len > 0) {
		ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
			return false;
		uint64_t idle = http__now_us() + (uint64_t)WRITE_IDLE_MS * 1000;

		if (!wait_fd(c, POLLOUT, idle < deadline ? idle : deadline))
			return false;
	}
	return true;
}

void http__reply_error(struct http_conn *c, int status, const char *reason, bool head)
{
	char text[512], sink[4096];
	uint64_t deadline = http__now_us() + (uint64_t)DRAIN_MS * 1000;
	size_t drained = 0;
	int n;

	n = snprintf(text, sizeof text,
		     "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
		     "Content-Length: %zu\r\nConnection: close\r\n%s\r\n%s%s",
		     status, reason, strlen(reason) + 1,
		     status == 405 ? "Allow: GET, HEAD\r\n" : "", head ? "" : reason,
		     head ? "" : "\n");
	if (!http__write(c, text, (size_t)n, deadline))
		return;
	/* Closing with unread input would reset the connection before the reply is read. */
	shutdown(c->fd, SHUT_WR);
	while (drained < (1u << 20) && wait_fd(c, POLLIN, deadline)) {
		ssize_t r = recv(c->fd, sink, sizeof sink, MSG_DONTWAIT);

		if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
			break;
		if (r > 0)
			drained += (size_t)r;
	}
}

/* The end of the headers (after the blank line), looking from byte from on; 0 if not yet. */
static size_t headers_end(const char *p, size_t len, size_t from)
{
	for (size_t i = from; i < len; i++) {
		if (p[i] != '\n')
			continue;
		if (i >= 1 && p[i - 1] == '\n')
			return i + 1;
		if (i >= 2 && p[i - 1] == '\r' && p[i - 2] == '\n')
			return i + 1;
	}
	return 0;
}

/* Reads the request's headers; false if they did not come (whatever the reason). */
static bool read_request(struct http_conn *c, uint64_t deadline)
{
	for (;;) {
		size_t from = c->req_len > 3 ? c->req_len - 3 : 0;
		ssize_t n;

		if (c->req_len == REQUEST_MAX) {
			http__reply_error(c, 431, "Request Header Fields Too Large", false);
			return false;
		}
		if (!wait_fd(c, POLLIN, deadline)) {
			if (!c->srv->stopping && !c->dropped && c->req_len)
				http__reply_error(c, 408, "Request Timeout", false);
			return false;
		}
		n = recv(c->fd, c->req + c->req_len, REQUEST_MAX - c->req_len, MSG_DONTWAIT);
		if (n == 0)
			return false;
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				continue;
			return false;
		}
		c->req_len += (size_t)n;
		if (headers_end(c->req, c->req_len, from))
			return true;
	}
}

/* The method's and target's lengths in "METHOD SP TARGET SP HTTP/1.x"; false if it is not that. */
static bool parse_request_line(const char *p, size_t len, size_t *method_len,
			       const char **target, size_t *target_len)
{
	const char *sp1, *sp2, *eol = memchr(p, '\n', len);
	size_t line;

	if (!eol)
		return false;
	line = (size_t)(eol - p);
	if (line && p[line - 1] == '\r')
		line--;
	sp1 = memchr(p, ' ', line);
	if (!sp1 || sp1 == p)
		return false;
	for (const char *m = p; m < sp1; m++)
		if (*m < 'A' || *m > 'Z')
			return false;
	sp2 = memchr(sp1 + 1, ' ', line - (size_t)(sp1 + 1 - p));
	if (!sp2 || sp2 == sp1 + 1)
		return false;
	if ((size_t)(p + line - (sp2 + 1)) != 8 || memcmp(sp2 + 1, "HTTP/1.", 7) != 0 ||
	    sp2[8] < '0' || sp2[8] > '9')
		return false;
	*method_len = (size_t)(sp1 - p);
	*target = sp1 + 1;
	*target_len = (size_t)(sp2 - sp1 - 1);
	return true;
}

/*
 * The path of a request target: origin form ("/metrics?x"), or absolute
 * form ("http://host/metrics"); the query after '?' apart.
 */
static void split_target(const char *t, size_t len, struct http_request *req)
{
	const char *q;

	if (len > 7 && (!strncmp(t, "http://", 7) || (len > 8 && !strncmp(t, "https://", 8)))) {
		const char *slash = memchr(t + 8, '/', len - 8);

		if (!slash) {
			t += len;
			len = 0;
		} else {
			len -= (size_t)(slash - t);
			t = slash;
		}
	}
	q = memchr(t, '?', len);
	req->path = t;
	req->path_len = q ? (size_t)(q - t) : len;
	req->query = q ? q + 1 : NULL;
	req->query_len = q ? len - req->path_len - 1 : 0;
}

bool http__path_is(const struct http_request *req, const char *path)
{
	size_t n = strlen(path);

	return req->path_len == n && !memcmp(req->path, path, n);
}

bool http__pause(struct http_conn *c)
{
	if (http__now_us() - c->resumed_us >= SLICE_US) {
		co_poll(NULL, NULL, 0, 1);
		c->resumed_us = http__now_us();
	}
	return !c->srv->stopping && !c->dropped;
}

bool http__wait(struct http_conn *c, struct co_cond *cond, uint64_t deadline)
{
	uint64_t now = http__now_us();

	if (now >= deadline || c->srv->stopping || c->dropped)
		return false;
	c->waiting = cond;
	co_cond_timedwait(cond, (int)((deadline - now) / 1000) + 1);
	c->waiting = NULL;
	c->resumed_us = http__now_us();
	return !c->srv->stopping && !c->dropped;
}

static void serve(struct http_conn *c)
{
	uint64_t start = http__now_us();
	struct http_request req = { 0 };
	const char *target;
	size_t method_len, target_len;

	if (!read_request(c, start + (uint64_t)REQUEST_TIMEOUT_MS * 1000))
		return;
	c->answering = true;
	if (!parse_request_line(c->req, c->req_len, &method_len, &target, &target_len)) {
		http__reply_error(c, 400, "Bad Request", false);
		return;
	}
	req.method = c->req;
	req.method_len = method_len;
	req.head = method_len == 4 && !memcmp(c->req, "HEAD", 4);
	if (!req.head && !(method_len == 3 && !memcmp(c->req, "GET", 3))) {
		http__reply_error(c, 405, "Method Not Allowed", false);
		return;
	}
	split_target(target, target_len, &req);
	req.deadline_us = http__now_us() + (uint64_t)RESPONSE_TIMEOUT_MS * 1000;
	c->srv->def.handler(c->srv->def.arg, c, &req);
}

static void unlink_client(struct http_server *s, struct http_conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		s->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		s->tail = c->prev;
	s->nclients--;
}

static void *client_main(void *arg)
{
	struct http_conn *c = arg;
	struct http_server *s = c->srv;

	c->resumed_us = http__now_us();
	serve(c);
	close(c->fd);
	unlink_client(s, c);
	if (c->dropped)
		s->ndropping--;
	s->dead[s->ndead++] = c->co;
	free(c);
	co_cond_signal(s->ended);
	return NULL;
}

/* ---- the listener ------------------------------------------------------- */

/* Releases the coroutines of clients that ended (a coroutine cannot release itself). */
static void reap(struct http_server *s)
{
	unsigned kept = 0;

	for (unsigned i = 0; i < s->ndead; i++) {
		if (co_is_dead(s->dead[i]))
			co_release(s->dead[i]);
		else
			s->dead[kept++] = s->dead[i];
	}
	s->ndead = kept;
}

/*
 * Makes room for a newcomer: past CLIENTS_MAX, drops the oldest client
 * still sending its request. False if every client is being answered.
 */
static bool make_room(struct http_server *s)
{
	if (s->nclients - s->ndropping < CLIENTS_MAX)
		return true;
	for (struct http_conn *c = s->head; c; c = c->next) {
		if (!c->answering && !c->dropped) {
			c->dropped = true;
			s->ndropping++;
			shutdown(c->fd, SHUT_RDWR);
			return true;
		}
	}
	return false;
}

static void admit(struct http_server *s, int fd)
{
	static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\n"
				   "Content-Type: text/plain; charset=utf-8\r\n"
				   "Content-Length: 17\r\nConnection: close\r\n\r\ntoo many clients\n";
	struct co_attr attr = { .stack_size = STACK_BYTES };
	struct http_conn *c;

	if (!make_room(s)) {
		if (send(fd, busy, sizeof busy - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
			/* Nothing to do: the client goes either way. */
		}
		close(fd);
		return;
	}
	c = calloc(1, sizeof *c);
	if (!c || co_create(&c->co, &attr, client_main, c) < 0) {
		free(c);
		close(fd);
		return;
	}
	c->srv = s;
	c->fd = fd;
	c->prev = s->tail;
	if (s->tail)
		s->tail->next = c;
	else
		s->head = c;
	s->tail = c;
	s->nclients++;
	co_resume(c->co);
}

static void *listener_main(void *arg)
{
	struct http_server *s = arg;
	uint64_t quiet_until = 0;

	while (!s->stopping) {
		struct pollfd p = { .fd = s->fd, .events = POLLIN };
		int fd = s->fd;

		reap(s);
		if (fd < 0) {
			co_cond_timedwait(s->wake, 0);
			continue;
		}
		co_poll(NULL, &p, 1, -1);
		/* Accept what has come (a burst of clients in one turn). */
		for (int i = 0; i < 64 && !s->stopping && fd == s->fd; i++) {
			int cfd;

			/* Those dropped end when they next run: until then, newcomers wait. */
			if (s->nclients >= CLIENTS_HARD) {
				co_poll(NULL, NULL, 0, 1);
				break;
			}
			cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

			if (cfd >= 0) {
				reap(s);
				admit(s, cfd);
				continue;
			}
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			/* Out of descriptors or memory: say so once a minute, and pause. */
			if (http__now_us() >= quiet_until) {
				log_msg(LOG_WARNING, "%s: accept: %s", s->def.name, strerror(errno));
				quiet_until = http__now_us() + 60 * 1000000ull;
			}
			co_poll(NULL, NULL, 0, 100);
			break;
		}
	}
	s->listener_done = true;
	co_cond_signal(s->ended);
	return NULL;
}

/* ---- the server's life ------------------------------------------------- */

static void server_free(struct http_server *s)
{
	if (!s)
		return;
	reap(s);
	if (s->co)
		co_release(s->co);
	co_cond_free(s->wake);
	co_cond_free(s->ended);
	free(s->listen);
	free(s);
}

struct http_server *http__server_new(const struct http_server_def *def)
{
	struct co_attr attr = { .stack_size = STACK_BYTES };
	struct http_server *s = calloc(1, sizeof *s);

	if (!s)
		return NULL;
	s->def = *def;
	s->fd = -1;
	s->wake = co_cond_alloc();
	s->ended = co_cond_alloc();
	if (!s->wake || !s->ended || co_create(&s->co, &attr, listener_main, s) < 0) {
		server_free(s);
		return NULL;
	}
	return s;
}

/* The address actually bound (the port may have been 0), for the log. */
static void bound_name(int fd, char *buf, size_t size)
{
	struct sockaddr_storage sa;
	socklen_t len = sizeof sa;
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	if (getsockname(fd, (struct sockaddr *)&sa, &len) == 0) {
		if (sa.ss_family == AF_INET6) {
			const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&sa;

			inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
			port = ntohs(a->sin6_port);
		} else {
			const struct sockaddr_in *a = (const struct sockaddr_in *)&sa;

			inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
			port = ntohs(a->sin_port);
		}
	}
	snprintf(buf, size, sa.ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u", host, port);
}

int http__server_listen(struct http_server *s, const char *listen)
{
	const char *name = s->def.name;
	char *copy, bound[INET6_ADDRSTRLEN + 16];
	int fd, old;

	if (listen && s->listen && !strcmp(listen, s->listen))
		return 0;
	if (!listen) {
		if (s->fd >= 0) {
			close(s->fd); /* wakes the listener, which then waits for a new socket */
			s->fd = -1;
			log_msg(LOG_INFO, "%s: no longer served on %s", name, s->listen);
		}
		free(s->listen);
		s->listen = NULL;
		return 0;
	}
	copy = strdup(listen);
	if (!copy) {
		log_msg(LOG_ERR, "%s: out of memory", name);
		return -ENOMEM;
	}
	fd = open_listener(listen);
	if (fd < 0) {
		log_msg(LOG_ERR, "%s: cannot listen on %s: %s%s", name, listen,
			fd == -EADDRNOTAVAIL ? "not an address of this host" :
			fd == -ENOENT ? "no such host" : fd == -EINVAL ? "expected HOST:PORT or [V6]:PORT" :
			strerror(-fd),
			s->listen ? " (still serving the previous address)" : "");
		free(copy);
		return fd;
	}
	old = s->fd;
	s->fd = fd;
	free(s->listen);
	s->listen = copy;
	if (old >= 0)
		close(old); /* wakes the listener, which takes the new socket */
	else
		co_cond_signal(s->wake);
	bound_name(fd, bound, sizeof bound);
	log_msg(LOG_INFO, "%s: serving http://%s%s", name, bound, s->def.path);
	if (!s->started) {
		s->started = true;
		co_resume(s->co);
	}
	return 0;
}

bool http__server_stop(struct http_server *s)
{
	uint64_t deadline = http__now_us() + 2000000;

	if (!s)
		return true;
	s->stopping = true;
	if (s->fd >= 0) {
		close(s->fd);
		s->fd = -1;
	}
	co_cond_signal(s->wake);
	for (struct http_conn *c = s->head; c; c = c->next) {
		shutdown(c->fd, SHUT_RDWR);
		if (c->waiting)
			co_cond_broadcast(c->waiting);
	}
	if (!s->started)
		s->listener_done = true;
	/* The coroutines see the stop when they next run: wait for them to end. */
	while ((!s->listener_done || s->nclients) && co_self()) {
		uint64_t now = http__now_us();

		if (now >= deadline)
			break;
		co_cond_timedwait(s->ended, (int)((deadline - now) / 1000) + 1);
	}
	/* The last to end signalled before returning: let it return, then release them. */
	for (int i = 0; i < 10 && co_self() && s->listener_done && !s->nclients; i++) {
		reap(s);
		if (!s->ndead && (!s->started || co_is_dead(s->co)))
			break;
		co_poll(NULL, NULL, 0, 1);
	}
	if (s->listener_done && !s->nclients && (!s->started || co_is_dead(s->co)) && !s->ndead) {
		server_free(s);
		return true;
	}
	/* Called outside a coroutine, or a coroutine would not end: leave it be. */
	log_msg(LOG_WARNING, "%s: stopped with %u clients still ending", s->def.name, s->nclients);
	return false;
}
