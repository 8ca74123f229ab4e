/* SPDX-License-Identifier: MIT */
/*
 * test-compat-echo.cpp: an echo server written the way libco programs are
 * (libco's example_echosvr.cpp is the model): libco's header by its own
 * name, global functions, a pool of worker coroutines on a std::stack, and
 * co_accept declared by the program itself, called on a listening socket
 * the program made non-blocking: it gets -1/EAGAIN and waits with co_poll.
 * Half the workers make their connection non-blocking too and co_poll
 * before each read (as libco's example does), half keep it blocking and
 * let the hooked read and write wait. Clients in coroutines of the same
 * thread and in a thread of their own check every byte that comes back.
 *
 * Built by the unit tests and, against the installed headers and
 * library, by tests/bats/libcoro-install.bats.
 */
#include "co_routine.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stack>
#include <vector>

#include "tests/unit/tap.h"

/* As libco programs declare it: C linkage comes from co_routine.h's declaration. */
int co_accept(int fd, struct sockaddr *addr, socklen_t *len);

struct task_t {
	stCoRoutine_t *co;
	int fd;
	bool nonblock; /* sets its connection O_NONBLOCK and co_polls */
};

static std::stack<task_t *> g_readwrite;
static int g_listen_fd = -1;
static int g_accept_eagain;  /* co_accept said EAGAIN */
static int g_accepted;
static int g_clients;        /* clients started */
static int g_clients_done;   /* clients finished (atomic: one is a thread) */
static int g_client_errors;  /* atomic */
static long g_echoed;        /* bytes the workers wrote back */

static int SetNonBlock(int fd)
{
	int flags = fcntl(fd, F_GETFL, 0);

	return fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

/* Writes all of buf; a non-blocking descriptor waits for room with co_poll. */
static int WriteAll(int fd, const char *buf, size_t len, bool nonblock)
{
	size_t done = 0;

	while (done < len) {
		ssize_t ret = write(fd, buf + done, len - done);

		if (ret > 0) {
			done += (size_t)ret;
			continue;
		}
		if (ret < 0 && errno == EAGAIN && nonblock) {
			struct pollfd pf = { fd, POLLOUT | POLLERR | POLLHUP, 0 };

			co_poll(co_get_epoll_ct(), &pf, 1, 1000);
			continue;
		}
		return -1;
	}
	return 0;
}

static void *readwrite_routine(void *arg)
{
	co_enable_hook_sys();

	task_t *task = (task_t *)arg;
	char buf[16 * 1024];

	for (;;) {
		if (task->fd == -1) {
			g_readwrite.push(task);
			co_yield_ct();
			continue;
		}
		int fd = task->fd;
		task->fd = -1;
		if (task->nonblock)
			SetNonBlock(fd);
		for (;;) {
			if (task->nonblock) {
				struct pollfd pf = { fd, POLLIN | POLLERR | POLLHUP, 0 };

				co_poll(co_get_epoll_ct(), &pf, 1, 1000);
			}
			ssize_t ret = read(fd, buf, sizeof buf);

			if (ret > 0) {
				if (WriteAll(fd, buf, (size_t)ret, task->nonblock) < 0)
					ret = -1;
				else
					g_echoed += ret;
			}
			if (ret <= 0) {
				if (ret < 0 && errno == EAGAIN && task->nonblock)
					continue;
				close(fd);
				break;
			}
		}
	}
	return 0;
}

static void *accept_routine(void *)
{
	co_enable_hook_sys();
	for (;;) {
		if (g_readwrite.empty()) {
			struct pollfd pf = { -1, 0, 0 };

			poll(&pf, 1, 10); /* every worker busy: sleep in the loop */
			continue;
		}
		struct sockaddr_in addr;
		socklen_t len = sizeof addr;

		memset(&addr, 0, sizeof addr);
		int fd = co_accept(g_listen_fd, (struct sockaddr *)&addr, &len);

		if (fd < 0) {
			if (errno != EAGAIN)
				tap__fail(__FILE__, __LINE__, "co_accept: %s", strerror(errno));
			g_accept_eagain++;
			struct pollfd pf = { g_listen_fd, POLLIN | POLLERR | POLLHUP, 0 };

			co_poll(co_get_epoll_ct(), &pf, 1, 1000);
			continue;
		}
		if (addr.sin_family != AF_INET || len != sizeof addr ||
		    addr.sin_addr.s_addr != htonl(INADDR_LOOPBACK))
			tap__fail(__FILE__, __LINE__, "co_accept: no peer address");
		g_accepted++;
		task_t *task = g_readwrite.top();

		task->fd = fd;
		g_readwrite.pop();
		co_resume(task->co);
	}
	return 0;
}

static int CreateListener(struct sockaddr_in *addr)
{
	int fd = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
	socklen_t len = sizeof *addr;

	memset(addr, 0, sizeof *addr);
	addr->sin_family = AF_INET;
	addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)addr, sizeof *addr) != 0 || listen(fd, 128) != 0 ||
	    getsockname(fd, (struct sockaddr *)addr, &len) != 0)
		return -1;
	return fd;
}

/* ---- clients -------------------------------------------------------------- */

static struct sockaddr_in g_addr;

enum { ROUNDS = 20 };

static size_t MessageLen(int id, int round)
{
	return 1 + (size_t)((id * 7919 + round * 4099) % (24 * 1024));
}

static char MessageByte(int id, int round, size_t i)
{
	return (char)('a' + (id * 31 + round * 7 + (int)i) % 26);
}

static void ClientError(const char *what, int id, int round)
{
	fprintf(stderr, "# client %d, round %d: %s (%s)\n", id, round, what, strerror(errno));
	__atomic_add_fetch(&g_client_errors, 1, __ATOMIC_SEQ_CST);
}

/* Blocking calls all along: hooked in a coroutine, plain in the thread. */
static void RunClient(int id)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	std::vector<char> out(24 * 1024 + 1), in(24 * 1024 + 1);

	if (fd < 0 || connect(fd, (struct sockaddr *)&g_addr, sizeof g_addr) != 0) {
		ClientError("connect", id, 0);
		goto done;
	}
	for (int round = 0; round < ROUNDS; round++) {
		size_t len = MessageLen(id, round), got = 0;

		for (size_t i = 0; i < len; i++)
			out[i] = MessageByte(id, round, i);
		if (write(fd, &out[0], len) != (ssize_t)len) {
			ClientError("write", id, round);
			goto done;
		}
		while (got < len) {
			ssize_t n = read(fd, &in[got], len - got);

			if (n <= 0) {
				ClientError("read", id, round);
				goto done;
			}
			got += (size_t)n;
		}
		if (memcmp(&in[0], &out[0], len) != 0) {
			ClientError("echo differs", id, round);
			goto done;
		}
	}
done:
	/* Counted before the close, whose EOF then wakes the server's loop to see it. */
	__atomic_add_fetch(&g_clients_done, 1, __ATOMIC_SEQ_CST);
	if (fd >= 0)
		close(fd);
}

static void *client_routine(void *arg)
{
	co_enable_hook_sys();
	RunClient((int)(long)arg);
	return 0;
}

static void *client_thread(void *arg)
{
	RunClient((int)(long)arg);
	return 0;
}

static int AllDone(void *)
{
	return __atomic_load_n(&g_clients_done, __ATOMIC_SEQ_CST) == g_clients ? -1 : 0;
}

static long Expected(int clients)
{
	long sum = 0;

	for (int id = 0; id < clients; id++)
		for (int round = 0; round < ROUNDS; round++)
			sum += (long)MessageLen(id, round);
	return sum;
}

TEST(echo_server_with_co_accept_on_a_nonblocking_listener)
{
	enum { WORKERS = 8, CO_CLIENTS = 6 };
	std::vector<task_t *> tasks;
	std::vector<stCoRoutine_t *> clients;
	stCoRoutine_t *accept_co = NULL;
	pthread_t thread;

	g_listen_fd = CreateListener(&g_addr);
	ASSERT(g_listen_fd >= 0);
	ASSERT_EQ(SetNonBlock(g_listen_fd), 0);

	for (int i = 0; i < WORKERS; i++) {
		task_t *task = (task_t *)calloc(1, sizeof(task_t));

		ASSERT(task);
		task->fd = -1;
		task->nonblock = i % 2 == 0;
		ASSERT_EQ(co_create(&task->co, NULL, readwrite_routine, task), 0);
		co_resume(task->co);
		tasks.push_back(task);
	}
	ASSERT_EQ(co_create(&accept_co, NULL, accept_routine, 0), 0);
	co_resume(accept_co);
	/* Nobody has connected yet: co_accept said EAGAIN and the routine waits in co_poll. */
	ASSERT_EQ(g_accept_eagain, 1);
	ASSERT_EQ(g_accepted, 0);

	g_clients = CO_CLIENTS + 1;
	for (int id = 0; id < CO_CLIENTS; id++) {
		stCoRoutine_t *co;

		ASSERT_EQ(co_create(&co, NULL, client_routine, (void *)(long)id), 0);
		co_resume(co);
		clients.push_back(co);
	}
	ASSERT_EQ(pthread_create(&thread, NULL, client_thread, (void *)(long)CO_CLIENTS), 0);

	co_eventloop(co_get_epoll_ct(), AllDone, 0);
	ASSERT_EQ(pthread_join(thread, NULL), 0);

	ASSERT_EQ(__atomic_load_n(&g_client_errors, __ATOMIC_SEQ_CST), 0);
	ASSERT_EQ(g_accepted, g_clients);
	ASSERT(g_accept_eagain >= 1);
	/* Every byte sent came back; the loop may stop before the last EOFs are read. */
	ASSERT_EQ(g_echoed, Expected(g_clients));
	/* The program still sees its listener as it set it. */
	ASSERT(fcntl(g_listen_fd, F_GETFL, 0) & O_NONBLOCK);

	for (size_t i = 0; i < clients.size(); i++)
		co_release(clients[i]);
	co_release(accept_co);
	for (size_t i = 0; i < tasks.size(); i++) {
		co_release(tasks[i]->co);
		free(tasks[i]);
	}
	close(g_listen_fd);
}

/* ---- a blocking listener ------------------------------------------------- */

static int g_ticks, g_ticks_at_accept = -1, g_accepted_fd = -1, g_accepted_flags = -1;

static void *blocking_accept_routine(void *)
{
	co_enable_hook_sys();
	g_accepted_fd = co_accept(g_listen_fd, NULL, NULL);
	g_ticks_at_accept = g_ticks;
	if (g_accepted_fd >= 0)
		g_accepted_flags = fcntl(g_accepted_fd, F_GETFL, 0);
	return 0;
}

static void *ticker_routine(void *)
{
	co_enable_hook_sys();
	while (g_accepted_fd < 0) {
		g_ticks++;
		usleep(5 * 1000);
	}
	return 0;
}

static void *late_client_routine(void *)
{
	co_enable_hook_sys();
	usleep(50 * 1000);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (connect(fd, (struct sockaddr *)&g_addr, sizeof g_addr) != 0)
		tap__fail(__FILE__, __LINE__, "connect: %s", strerror(errno));
	g_clients_done = 1;
	close(fd);
	return 0;
}

static int AcceptedAndTicked(void *)
{
	return g_accepted_fd >= 0 && g_clients_done && g_ticks_at_accept >= 0 ? -1 : 0;
}

TEST(co_accept_on_a_blocking_listener_waits_in_the_loop)
{
	stCoRoutine_t *acceptor, *ticker, *client;

	g_listen_fd = CreateListener(&g_addr);
	ASSERT(g_listen_fd >= 0);
	ASSERT_EQ(co_create(&acceptor, NULL, blocking_accept_routine, 0), 0);
	ASSERT_EQ(co_create(&ticker, NULL, ticker_routine, 0), 0);
	ASSERT_EQ(co_create(&client, NULL, late_client_routine, 0), 0);
	co_resume(acceptor);
	ASSERT_EQ(g_accepted_fd, -1); /* it waits: the thread goes on */
	co_resume(ticker);
	co_resume(client);
	co_eventloop(co_get_epoll_ct(), AcceptedAndTicked, 0);
	ASSERT(g_accepted_fd >= 0);
	/* The ticker ran while co_accept waited (about 10 times in 50 ms). */
	ASSERT_GE(g_ticks_at_accept, 3);
	/* The new connection is blocking, as accept(2) gives it. */
	ASSERT(!(g_accepted_flags & O_NONBLOCK));
	close(g_accepted_fd);
	co_release(acceptor);
	co_release(ticker);
	co_release(client);
	close(g_listen_fd);
}
