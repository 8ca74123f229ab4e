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
