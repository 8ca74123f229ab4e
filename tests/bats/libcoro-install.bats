#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# make install puts a usable libcoro where pkg-config finds it: a libco-style
# program builds against the installed headers and runs, linked statically
# and dynamically.

setup_file() {
	export DEST="$BATS_FILE_TMPDIR/dest"
	make -s -C "$BATS_TEST_DIRNAME/../.." install PREFIX=/opt/coro DESTDIR="$DEST" >/dev/null
	export PKG_CONFIG_SYSROOT_DIR="$DEST"
	export PKG_CONFIG_PATH="$DEST/opt/coro/lib/pkgconfig"
	cat > "$BATS_FILE_TMPDIR/prog.c" <<'C'
#include "co_routine.h"
#include <stdio.h>

static void *routine(void *arg)
{
	int *n = arg;

	for (;;) {
		++*n;
		co_yield_ct();
	}
	return NULL;
}

int main(void)
{
	stCoRoutine_t *co;
	stCoRoutineAttr_t attr = { 0, NULL };
	int n = 0;

	if (co_create(&co, &attr, routine, &n) != 0)
		return 1;
	for (int i = 0; i < 5; i++)
		co_resume(co);
	co_release(co);
	printf("n=%d\n", n);
	return 0;
}
C
}

@test "install lays out library, headers and pkg-config file" {
	[ -f "$DEST/opt/coro/lib/libcoro.a" ]
	[ -L "$DEST/opt/coro/lib/libcoro.so" ]
	[ -f "$DEST/opt/coro/lib/libcoro.so.0.1.0" ]
	[ -f "$DEST/opt/coro/include/coro/coro.h" ]
	[ -f "$DEST/opt/coro/include/coro/co_routine.h" ]
	run grep -x 'prefix=/opt/coro' "$DEST/opt/coro/lib/pkgconfig/coro.pc"
	[ "$status" -eq 0 ]
	[ -f "$DEST/opt/coro/share/man/man3/libcoro.3" ]
	run man -l "$DEST/opt/coro/share/man/man3/libcoro.3"
	[ "$status" -eq 0 ]
	[[ "$output" == *"co_create"* ]]
}

@test "a libco program builds with pkg-config and runs (shared library)" {
	run cc -o "$BATS_FILE_TMPDIR/prog" "$BATS_FILE_TMPDIR/prog.c" $(pkg-config --cflags --libs coro)
	[ "$status" -eq 0 ]
	LD_LIBRARY_PATH="$DEST/opt/coro/lib" run "$BATS_FILE_TMPDIR/prog"
	[ "$status" -eq 0 ]
	[ "$output" = "n=5" ]
}

@test "a libco program builds with pkg-config --static and runs" {
	run cc -o "$BATS_FILE_TMPDIR/prog-static" "$BATS_FILE_TMPDIR/prog.c" \
		$(pkg-config --cflags coro) "$DEST/opt/coro/lib/libcoro.a" $(pkg-config --static --libs-only-l coro | sed 's/-lcoro//')
	[ "$status" -eq 0 ]
	run "$BATS_FILE_TMPDIR/prog-static"
	[ "$status" -eq 0 ]
	[ "$output" = "n=5" ]
}

# A C++ program written as libco programs are: it declares co_accept
# itself (without extern "C"), uses CO_ROUTINE_SPECIFIC, and has its own
# struct co and co_fn, names libcoro uses but libco does not declare.
write_cxx_prog() {
	cat > "$BATS_FILE_TMPDIR/prog.cpp" <<'CXX'
#include "co_routine.h"
#include "co_routine_specific.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int co_accept(int fd, struct sockaddr *addr, socklen_t *len);

struct co { int count; };              /* the program's own names */
typedef int co_fn(int);
static int twice(int x) { return 2 * x; }

struct stPerCo_t { int hits; };
CO_ROUTINE_SPECIFIC(stPerCo_t, g_per);

static int g_listen = -1, g_accepted = -1, g_eagain, g_hits[2];
static struct sockaddr_in g_addr;

static void *acceptor(void *)
{
	co_enable_hook_sys();
	for (;;) {
		int fd = co_accept(g_listen, NULL, NULL);
		if (fd >= 0) {
			g_accepted = fd;
			break;
		}
		if (errno != EAGAIN)
			break;
		g_eagain++;
		struct pollfd pf = { g_listen, POLLIN, 0 };
		co_poll(co_get_epoll_ct(), &pf, 1, 1000);
	}
	return 0;
}

static void *client(void *)
{
	co_enable_hook_sys();
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	connect(fd, (struct sockaddr *)&g_addr, sizeof g_addr);
	close(fd);
	return 0;
}

static void *counter(void *arg)
{
	int id = (int)(long)arg;
	for (int i = 0; i <= id; i++) {
		g_per->hits++;
		co_yield_ct();
	}
	g_hits[id] = g_per->hits;
	return 0;
}

static int done(void *) { return g_accepted >= 0 ? -1 : 0; }

int main()
{
	struct co mine = { 0 };
	co_fn *fn = twice;
	stCoRoutine_t *a, *c, *k[2];
	socklen_t len = sizeof g_addr;

	mine.count = fn(21);
	g_addr.sin_family = AF_INET;
	g_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	g_listen = socket(AF_INET, SOCK_STREAM, 0);
	if (bind(g_listen, (struct sockaddr *)&g_addr, sizeof g_addr) || listen(g_listen, 8) ||
	    getsockname(g_listen, (struct sockaddr *)&g_addr, &len))
		return 2;
	fcntl(g_listen, F_SETFL, fcntl(g_listen, F_GETFL) | O_NONBLOCK);
	co_create(&a, NULL, acceptor, 0);
	co_resume(a);
	co_create(&c, NULL, client, 0);
	co_resume(c);
	co_eventloop(co_get_epoll_ct(), done, 0);
	for (long i = 0; i < 2; i++) {
		co_create(&k[i], NULL, counter, (void *)i);
		co_resume(k[i]);
	}
	for (int r = 0; r < 3; r++)
		for (int i = 0; i < 2; i++)
			if (g_hits[i] == 0)
				co_resume(k[i]);
	printf("own=%d accepted=%d eagain=%d hits=%d,%d\n", mine.count, g_accepted >= 0,
	       g_eagain > 0, g_hits[0], g_hits[1]);
	co_log_err("logged %d", 7);
	return 0;
}
CXX
}

@test "the libco headers are installed: co_routine.h and co_routine_specific.h" {
	[ -f "$DEST/opt/coro/include/coro/co_routine_specific.h" ]
	# co_routine.h alone, preprocessed, brings none of libcoro's own names...
	echo '#include "co_routine.h"' > "$BATS_FILE_TMPDIR/names.c"
	run cc -E -P "$BATS_FILE_TMPDIR/names.c" $(pkg-config --cflags coro)
	[ "$status" -eq 0 ]
	[[ "$output" == *"co_accept"* ]]
	! grep -qE '\bco_fn\b|\bstruct co\b|\bco_attr\b|\bco_sharestack\b' <<<"$output" || false
	# ...and coro.h after it is refused with a message.
	printf '#include "co_routine.h"\n#include "coro.h"\n' > "$BATS_FILE_TMPDIR/order.c"
	run cc -fsyntax-only "$BATS_FILE_TMPDIR/order.c" $(pkg-config --cflags coro)
	[ "$status" -ne 0 ]
	[[ "$output" == *"include coro/coro.h before co_routine.h"* ]]
}

@test "a C++ libco program with its own co_accept declaration, CO_ROUTINE_SPECIFIC and its own struct co builds and runs" {
	write_cxx_prog
	run g++ -std=c++11 -Wall -Wextra -Werror -o "$BATS_FILE_TMPDIR/prog-cxx" "$BATS_FILE_TMPDIR/prog.cpp" \
		$(pkg-config --cflags --libs coro)
	echo "$output"
	[ "$status" -eq 0 ]
	LD_LIBRARY_PATH="$DEST/opt/coro/lib" run "$BATS_FILE_TMPDIR/prog-cxx"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"own=42 accepted=1 eagain=1 hits=1,2"* ]]
	[[ "$output" == *"logged 7"* ]]
}

@test "the same program builds as C++98" {
	write_cxx_prog
	run g++ -std=c++98 -Wall -Werror -fsyntax-only "$BATS_FILE_TMPDIR/prog.cpp" $(pkg-config --cflags coro)
	echo "$output"
	[ "$status" -eq 0 ]
}
