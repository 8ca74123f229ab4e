/* SPDX-License-Identifier: MIT */
/*
 * resolve.c: getaddrinfo and gethostbyname that do not block the thread.
 *
 * glibc's resolver does its network I/O through internal calls that no
 * hook can reach, so in a hooked coroutine a name is resolved with c-ares
 * instead: it reads the same /etc/resolv.conf and /etc/hosts, its sockets
 * go through the hooks like any other, and the coroutine waits for its
 * answers in the event loop (co_poll). The result is built the way glibc
 * builds it, so the program frees it with glibc's freeaddrinfo.
 *
 * Numeric addresses, a NULL node and AI_NUMERICHOST need no lookup and go
 * to glibc; so does everything outside hooked coroutines.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ares.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "coro/coro-internal.h"

CO__LIBC(int, getaddrinfo, (const char *, const char *, const struct addrinfo *,
			    struct addrinfo **))
CO__LIBC(struct hostent *, gethostbyname, (const char *))

/* ---- servers ------------------------------------------------------------ */

static pthread_mutex_t servers_lock = PTHREAD_MUTEX_INITIALIZER;
static char *servers; /* co_set_dns_servers's list, or NULL */

CO_API int co_set_dns_servers(const char *csv)
{
	char *copy = NULL;

	if (csv && *csv) {
		struct in6_addr a6;
		struct in_addr a4;
		char *s, *tok, *save = NULL;

		/* Check it the way c-ares will read it: addresses, optional ports. */
		copy = strdup(csv);
		if (!copy)
			return -ENOMEM;
		s = strdup(csv);
		if (!s) {
			free(copy);
			return -ENOMEM;
		}
		for (tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			char *host = tok, *end;

			if (*host == '[') {
				end = strchr(host, ']');
				if (!end)
					break;
				*end = '\0';
				host++;
			} else if (strchr(host, ':') == strrchr(host, ':') && (end = strchr(host, ':'))) {
				*end = '\0'; /* IPv4 with a port */
			}
			if (inet_pton(AF_INET, host, &a4) != 1 && inet_pton(AF_INET6, host, &a6) != 1)
				break;
		}
		free(s);
		if (tok) {
			free(copy);
			return -EINVAL;
		}
	}
	pthread_mutex_lock(&servers_lock);
	free(servers);
	servers = copy;
	pthread_mutex_unlock(&servers_lock);
	return 0;
}

static pthread_once_t library_once = PTHREAD_ONCE_INIT;
static int library_status;

static void library_init(void)
{
	library_status = ares_library_init(ARES_LIB_INIT_ALL);
}

/* A channel on the configured servers; an ARES_* status. */
static int channel_open(ares_channel *ret)
{
	struct ares_options opts;
	const char *env;
	int status;

	pthread_once(&library_once, library_init);
	if (library_status != ARES_SUCCESS)
		return library_status;
	memset(&opts, 0, sizeof opts);
	status = ares_init_options(ret, &opts, 0);
	if (status != ARES_SUCCESS)
		return status;
	pthread_mutex_lock(&servers_lock);
	env = servers;
	if (!env)
		env = secure_getenv("CORO_DNS_SERVERS");
	if (env && *env)
		status = ares_set_servers_ports_csv(*ret, env);
	pthread_mutex_unlock(&servers_lock);
	if (status != ARES_SUCCESS)
		ares_destroy(*ret);
	return status;
}

/*
 * Runs the channel's queries until *done, waiting in the loop; gives up
 * (cancelling them) if waiting fails.
 */
static void drive(struct co_epoll *loop, ares_channel ch, const int *done)
{
	struct co *self = co_self();
	int limit = self && self->ext ? self->ext->resolve_timeout_ms : 0;
	uint64_t deadline = limit > 0 ? co__deadline(limit) : 0;

	while (!*done) {
		ares_socket_t socks[ARES_GETSOCK_MAXNUM];
		struct pollfd p[ARES_GETSOCK_MAXNUM];
		struct timeval tv, *tvp;
		int bits = ares_getsock(ch, socks, ARES_GETSOCK_MAXNUM), n = 0, r, timeout;

		for (int i = 0; i < ARES_GETSOCK_MAXNUM; i++) {
			/* (c-ares's own macros shift a signed 1 into the sign bit.) */
			unsigned ubits = (unsigned)bits;
			short ev = (short)(((ubits >> i) & 1 ? POLLIN : 0) |
					   ((ubits >> (i + ARES_GETSOCK_MAXNUM)) & 1 ? POLLOUT : 0));

			if (!ev)
				continue;
			p[n].fd = socks[i];
			p[n].events = ev;
			p[n].revents = 0;
			n++;
		}
		tvp = ares_timeout(ch, NULL, &tv);
		timeout = tvp ? (int)(tv.tv_sec * 1000 + (tv.tv_usec + 999) / 1000) : -1;
		if (deadline) {
			uint64_t now = co__now_ms();

			if (now >= deadline) {
				/* co_set_resolve_timeout's bound: give up (EAI_AGAIN). */
				ares_cancel(ch);
				return;
			}
			if (timeout < 0 || (uint64_t)timeout > deadline - now)
				timeout = (int)(deadline - now);
		}
		if (!n && !tvp) {
			/* Nothing in flight and no answer: let c-ares finish its bookkeeping. */
			ares_process_fd(ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
			if (!*done)
				ares_cancel(ch);
			return;
		}
		r = co__poll(loop, p, (nfds_t)n, timeout);
		if (r < 0) {
			ares_cancel(ch);
			return;
		}
		if (r == 0) {
			ares_process_fd(ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD); /* timeouts */
			continue;
		}
		for (int i = 0; i < n; i++) {
			if (!p[i].revents)
				continue;
			ares_process_fd(ch,
					p[i].revents & (POLLIN | POLLERR | POLLHUP) ? p[i].fd : ARES_SOCKET_BAD,
					p[i].revents & (POLLOUT | POLLERR) ? p[i].fd : ARES_SOCKET_BAD);
		}
	}
}

/* ---- getaddrinfo -------------------------------------------------------- */

struct ai_query {
	int done;
	int status;
	struct ares_addrinfo *result;
};

static void on_addrinfo(void *arg, int status, int timeouts, struct ares_addrinfo *result)
{
	struct ai_query *q = arg;

	(void)timeouts;
	q->done = 1;
	q->status = status;
	q->result = result;
}

static int eai_of(int status)
{
	switch (status) {
	case ARES_SUCCESS:
		return 0;
	case ARES_ENOTFOUND:
	case ARES_ENONAME:
	case ARES_EBADNAME:
		return EAI_NONAME;
	case ARES_ENODATA:
#ifdef EAI_NODATA
		return EAI_NODATA;
#else
		return EAI_NONAME;
#endif
	case ARES_ENOMEM:
		return EAI_MEMORY;
	case ARES_EBADFAMILY:
		return EAI_FAMILY;
	case ARES_ESERVICE:
		return EAI_SERVICE;
	case ARES_EBADFLAGS:
		return EAI_BADFLAGS;
	case ARES_ETIMEOUT:
	case ARES_ECONNREFUSED:
	case ARES_ESERVFAIL:
	case ARES_EREFUSED:
	case ARES_ECANCELLED:
	case ARES_EDESTRUCTION:
		return EAI_AGAIN;
	default:
		return EAI_FAIL;
	}
}

static int protocol_of(int socktype, const struct addrinfo *hints)
{
	if (hints && hints->ai_protocol)
		return hints->ai_protocol;
	return socktype == SOCK_STREAM ? IPPROTO_TCP : socktype == SOCK_DGRAM ? IPPROTO_UDP : 0;
}

/*
 * glibc's layout: each node and its address in one allocation, the
 * canonical name in another, so that glibc's freeaddrinfo frees them.
 */
static int convert(const struct ares_addrinfo *ai, const struct addrinfo *hints,
		   struct addrinfo **ret)
{
	static const int all_types[] = { SOCK_STREAM, SOCK_DGRAM, SOCK_RAW };
	struct addrinfo *head = NULL, **tail = &head;

	for (const struct ares_addrinfo_node *n = ai->nodes; n; n = n->ai_next) {
		int one_type = n->ai_socktype ? n->ai_socktype : hints ? hints->ai_socktype : 0;
		const int *types = one_type ? &one_type : all_types;
		size_t ntypes = one_type ? 1 : sizeof all_types / sizeof *all_types;

		for (size_t t = 0; t < ntypes; t++) {
			struct addrinfo *a = calloc(1, sizeof *a + n->ai_addrlen);

			if (!a) {
				freeaddrinfo(head);
				return EAI_MEMORY;
			}
			a->ai_flags = hints ? hints->ai_flags : 0;
			a->ai_family = n->ai_family;
			a->ai_socktype = types[t];
			a->ai_protocol = protocol_of(types[t], hints);
			a->ai_addrlen = n->ai_addrlen;
			a->ai_addr = (struct sockaddr *)(void *)(a + 1);
			memcpy(a->ai_addr, n->ai_addr, n->ai_addrlen);
			*tail = a;
			tail = &a->ai_next;
		}
	}
	if (!head)
		return EAI_NONAME;
	if (hints && (hints->ai_flags & AI_CANONNAME)) {
		const char *canon = ai->name;

		for (const struct ares_addrinfo_cname *c = ai->cnames; c; c = c->next)
			if (c->name)
				canon = c->name;
		if (canon && !(head->ai_canonname = strdup(canon))) {
			freeaddrinfo(head);
			return EAI_MEMORY;
		}
	}
	*ret = head;
	return 0;
}

/*
 * A name in /etc/hosts is answered from there alone, as glibc's "files"
 * source does (c-ares would go on to ask DNS for the family the file
 * lacks). Each address is turned into results by glibc itself, as a
 * numeric host, so services and socket types come out exactly as glibc
 * gives them. Returns an EAI value, or 1 if the file does not have the name.
 */
static int from_hosts_file(ares_channel ch, const char *node, const char *service,
			   const struct addrinfo *hints, struct addrinfo **res)
{
	static const int families[] = { AF_INET6, AF_INET };
	struct addrinfo h, *head = NULL, **tail = &head;
	int want = hints ? hints->ai_family : AF_UNSPEC, found = 0;

	memset(&h, 0, sizeof h);
	if (hints)
		h = *hints;
	h.ai_flags |= AI_NUMERICHOST;
	h.ai_canonname = NULL;
	h.ai_addr = NULL;
	h.ai_next = NULL;
	for (size_t f = 0; f < sizeof families / sizeof *families; f++) {
		struct hostent *host = NULL;

		if (want != AF_UNSPEC && want != families[f])
			continue;
		if (ares_gethostbyname_file(ch, node, families[f], &host) != ARES_SUCCESS)
			continue;
		found = 1;
		for (char **a = host->h_addr_list; *a; a++) {
			char text[INET6_ADDRSTRLEN];
			struct addrinfo *part;

			if (!inet_ntop(families[f], *a, text, sizeof text))
				continue;
			h.ai_family = families[f];
			if (real_getaddrinfo()(text, service, &h, &part) != 0)
				continue;
			*tail = part;
			while (*tail)
				tail = &(*tail)->ai_next;
		}
		ares_free_hostent(host);
	}
	if (!found)
		return 1;
	if (!head)
		return EAI_NONAME;
	if (hints && (hints->ai_flags & AI_CANONNAME)) {
		free(head->ai_canonname);
		head->ai_canonname = strdup(node);
		if (!head->ai_canonname) {
			freeaddrinfo(head);
			return EAI_MEMORY;
		}
	}
	*res = head;
	return 0;
}

static int is_numeric(const char *node)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, node, buf) == 1 || inet_pton(AF_INET6, node, buf) == 1;
}

CO_API int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
		       struct addrinfo **res)
{
	struct ares_addrinfo_hints ah;
	struct ai_query q = { 0, 0, NULL };
	struct co_epoll *loop;
	ares_channel ch;
	int status, err;

	if (!co__hooked() || !node || is_numeric(node) ||
	    (hints && (hints->ai_flags & AI_NUMERICHOST)) || !(loop = co__loop()))
		return real_getaddrinfo()(node, service, hints, res);
	memset(&ah, 0, sizeof ah);
	if (hints) {
		ah.ai_flags = hints->ai_flags & (ARES_AI_CANONNAME | ARES_AI_NUMERICSERV |
						 ARES_AI_PASSIVE | ARES_AI_ADDRCONFIG);
		ah.ai_family = hints->ai_family;
		ah.ai_socktype = hints->ai_socktype;
		ah.ai_protocol = hints->ai_protocol;
	}
	status = channel_open(&ch);
	if (status != ARES_SUCCESS)
		return status == ARES_ENOMEM ? EAI_MEMORY : EAI_SYSTEM;
	err = from_hosts_file(ch, node, service, hints, res);
	if (err != 1) {
		ares_destroy(ch);
		return err;
	}
	ares_getaddrinfo(ch, node, service, &ah, on_addrinfo, &q);
	drive(loop, ch, &q.done);
	ares_destroy(ch); /* calls the callback if it has not been */
	if (q.status != ARES_SUCCESS || !q.result) {
		if (q.result)
			ares_freeaddrinfo(q.result);
		return eai_of(q.status != ARES_SUCCESS ? q.status : ARES_ENOTFOUND);
	}
	err = convert(q.result, hints, res);
	ares_freeaddrinfo(q.result);
	return err;
}

/* ---- gethostbyname ------------------------------------------------------ */

/* The hostent gethostbyname returns: one per thread, as glibc's (co__hostent_dup). */
static __thread struct hostent *host_result;

struct host_query {
	int done;
	int status;
	struct hostent *h; /* a deep copy of the answer, which only lives in the callback */
};

static void on_host(void *arg, int status, int timeouts, struct hostent *h)
{
	struct host_query *q = arg;

	(void)timeouts;
	q->done = 1;
	q->status = status;
	if (status == ARES_SUCCESS && h) {
		q->h = co__hostent_dup(h);
		if (!q->h)
			q->status = ARES_ENOMEM;
	}
}

CO_API struct hostent *gethostbyname(const char *name)
{
	struct host_query q;
	struct co_epoll *loop;
	ares_channel ch;

	if (!co__hooked() || !name || !(loop = co__loop()))
		return real_gethostbyname()(name);
	memset(&q, 0, sizeof q);
	if (channel_open(&ch) != ARES_SUCCESS) {
		h_errno = NO_RECOVERY;
		return NULL;
	}
	ares_gethostbyname(ch, name, AF_INET, on_host, &q);
	drive(loop, ch, &q.done);
	ares_destroy(ch);
	if (q.status != ARES_SUCCESS) {
		free(q.h);
		h_errno = q.status == ARES_ENOTFOUND || q.status == ARES_EBADNAME ? HOST_NOT_FOUND :
			  q.status == ARES_ENODATA ? NO_DATA :
			  q.status == ARES_ENOMEM ? NO_RECOVERY : TRY_AGAIN;
		return NULL;
	}
	free(host_result);
	host_result = q.h;
	return host_result;
}
