# SPDX-License-Identifier: MIT
# coro-runner: one Makefile for the library, its tests and benchmarks.
#
#   make                       libcoro.a, libcoro.so, coro.pc in $(BUILD)
#   make check                 unit tests (native, then aarch64 under qemu-user)
#   make check SANITIZE=address,undefined
#   make check-valgrind        unit tests under valgrind memcheck
#   make bench                 benchmarks, with baselines, as tables + BENCH lines
#   make install PREFIX=/usr/local DESTDIR=
#   make deb                   Debian packages in build/deb (mk/packaging.mk)
#   make check-systemd         the packages under systemd in systemd-nspawn (root)
#   make deps                  the Debian packages everything here needs (root)
#   make run                   build and run the daemon on the example configuration
#   make demo                  build and run the libcoro demo
#
# User CFLAGS/LDFLAGS are respected; the warning set and the flags the code
# needs are added to them.

VERSION    := 0.1.0
SOVERSION  := 0

PREFIX     ?= /usr/local
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
MANDIR     ?= $(PREFIX)/share/man
DESTDIR    ?=

CROSS      ?=
CC         := $(if $(CROSS),$(CROSS)gcc,$(CC))
CXX        := $(if $(CROSS),$(CROSS)g++,$(CXX))
AR         := $(if $(CROSS),$(CROSS)ar,$(AR))
CFLAGS     ?= -O2 -g
CXXFLAGS   ?= -O2 -g
LDFLAGS    ?=

ARCH       := $(firstword $(subst -, ,$(shell $(CC) -dumpmachine)))
comma      := ,
BUILD      ?= build/$(ARCH)$(if $(SANITIZE),-$(subst $(comma),-,$(SANITIZE)))

WARN := -Wall -Wextra -Werror -Wstrict-prototypes -Wmissing-prototypes -Wvla \
        -Wshadow -Wpointer-arith -Wformat=2 -Wundef -Wno-unused-parameter
SAN  := $(if $(SANITIZE),-fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all)
ALL_CFLAGS   := -std=gnu11 $(WARN) $(SAN) -I. $(CFLAGS)
LIB_CFLAGS   := $(ALL_CFLAGS) -DCORO_BUILDING -fvisibility=hidden
ALL_LDFLAGS  := $(SAN) $(LDFLAGS)
LIBS         = -lpthread $(LIB_DEPS)

LIB_SRC := coro/coro.c coro/stack.c coro/sharestack.c coro/local.c coro/wheel.c \
           coro/loop.c coro/hook.c coro/hook-io.c coro/hook-socket.c coro/hook-fd.c \
           coro/hook-poll.c coro/cond.c coro/env.c coro/compat.c
# Non-blocking name resolution needs c-ares, which the aarch64 cross build
# does not have: there, getaddrinfo in a coroutine is glibc's (blocking).
ifeq ($(CROSS),)
LIB_SRC += coro/resolve.c
LIB_DEPS := -lcares
endif
LIB_ASM := arch/$(ARCH).S
HEADERS := coro/coro.h coro/co_routine.h coro/co_routine_specific.h

LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o) $(LIB_ASM:%.S=$(BUILD)/obj/%.o)
PIC_OBJ := $(LIB_SRC:%.c=$(BUILD)/pic/%.o) $(LIB_ASM:%.S=$(BUILD)/pic/%.o)

STATIC := $(BUILD)/libcoro.a

# The job configuration (config/): an internal static library, with libyaml
# and libcurl's URL parser. Native builds only (no arm64 libyaml here).
CONFIG_SRC  := $(wildcard config/*.c)
CONFIG_OBJ  := $(CONFIG_SRC:%.c=$(BUILD)/obj/%.o)
CONFIG_LIB  := $(BUILD)/libcoroconfig.a
CONFIG_LIBS := -lyaml -lcurl
COCTL       := $(BUILD)/coctl

# The daemon's parts (daemon/, but main.c): an internal static library for
# the daemon and its tests. Native builds only.
DAEMON_SRC  := $(filter-out daemon/main.c,$(wildcard daemon/*.c daemon/*/*.c))
DAEMON_OBJ  := $(DAEMON_SRC:%.c=$(BUILD)/obj/%.o)
DAEMON_LIB  := $(BUILD)/libcororunnerd.a
DAEMON_LIBS := -lsystemd -ljansson -lcurl -lcares -lsqlite3
COROD       := $(BUILD)/coro-runnerd
SHARED := $(BUILD)/libcoro.so.$(VERSION)
PC     := $(BUILD)/coro.pc

# Unit tests: tests/unit/test-NAME.c, each with the TAP runner; a few need
# an extra object (assembly helpers, the C++ compatibility test).
# Tests of c-ares, libcurl and the configuration run natively only (the
# cross build has none of them).
NATIVE_ONLY := tests/unit/test-resolve.c tests/unit/test-curl.c $(wildcard tests/unit/test-config*.c) \
               $(wildcard tests/unit/test-probe*.c) tests/unit/test-supervisor.c tests/unit/test-metrics.c \
               $(wildcard tests/unit/test-etcd*.c tests/unit/test-fleet*.c tests/unit/test-notify*.c) \
               $(wildcard tests/unit/test-history*.c)
UNIT_SRC   := $(filter-out $(if $(CROSS),$(NATIVE_ONLY)),$(wildcard tests/unit/test-*.c))
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
UNIT_CXX   := $(if $(CROSS),,$(patsubst tests/unit/%.cpp,$(BUILD)/tests/%,$(wildcard tests/unit/test-compat*.cpp)))
TAP_OBJ    := $(BUILD)/tests/tap.o
UNIT_ALL   := $(UNIT_BIN) $(UNIT_CXX)

BENCH_SRC  := $(wildcard tests/bench/bench-*.c)
BENCH_BIN  := $(BENCH_SRC:tests/bench/%.c=$(BUILD)/bench/%)

.PHONY: FORCE fuzz all check check-native check-bats check-aarch64 check-valgrind bench install \
        uninstall deps run demo clean tests
.DELETE_ON_ERROR:
.SECONDARY:

all: $(STATIC) $(BUILD)/libcoro.so $(PC) $(if $(CROSS),,$(COCTL) $(COROD))

# coro-runnerd: daemon/main.c and the daemon's library.
$(COROD): daemon/main.c $(wildcard daemon/*/*.h config/*.h coro/*.h) $(DAEMON_LIB) $(CONFIG_LIB) $(STATIC)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -DCORO_VERSION='"$(VERSION)"' $(ALL_LDFLAGS) -o $@ daemon/main.c \
		$(DAEMON_LIB) $(CONFIG_LIB) $(STATIC) $(DAEMON_LIBS) $(CONFIG_LIBS) $(LIBS)

$(DAEMON_LIB): $(DAEMON_OBJ) Makefile
	@rm -f $@
	$(AR) rcs $@ $(DAEMON_OBJ)

$(CONFIG_LIB): $(CONFIG_OBJ) Makefile
	@rm -f $@
	$(AR) rcs $@ $(CONFIG_OBJ)

# coctl: the control CLI (cli/), one binary.
COCTL_SRC := $(wildcard cli/*.c)
$(COCTL): $(COCTL_SRC) $(wildcard cli/*.h config/*.h coro/*.h) $(CONFIG_LIB) $(STATIC)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -DCORO_VERSION='"$(VERSION)"' $(ALL_LDFLAGS) -o $@ $(COCTL_SRC) \
		$(CONFIG_LIB) $(STATIC) $(CONFIG_LIBS) $(LIBS)

$(BUILD)/obj/%.o: %.c $(wildcard */*.h */*/*.h)
	@mkdir -p $(@D)
	$(CC) $(LIB_CFLAGS) -c -o $@ $<

$(BUILD)/obj/%.o: %.S arch/ctx.h
	@mkdir -p $(@D)
	$(CC) $(LIB_CFLAGS) -c -o $@ $<

$(BUILD)/pic/%.o: %.c $(wildcard */*.h */*/*.h)
	@mkdir -p $(@D)
	$(CC) $(LIB_CFLAGS) -fPIC -c -o $@ $<

$(BUILD)/pic/%.o: %.S arch/ctx.h
	@mkdir -p $(@D)
	$(CC) $(LIB_CFLAGS) -fPIC -c -o $@ $<

$(STATIC): $(LIB_OBJ) Makefile
	@rm -f $@
	$(AR) rcs $@ $(LIB_OBJ)

$(SHARED): $(PIC_OBJ) Makefile
	$(CC) -shared -Wl,-soname,libcoro.so.$(SOVERSION) -Wl,-z,noexecstack \
		$(ALL_LDFLAGS) -o $@ $(PIC_OBJ) $(LIBS)

$(BUILD)/libcoro.so: $(SHARED)
	ln -sf libcoro.so.$(VERSION) $(BUILD)/libcoro.so.$(SOVERSION)
	ln -sf libcoro.so.$(VERSION) $@

# coro.pc names the install directories, so it is rebuilt when they change.
PC_TEXT := prefix=$(PREFIX)\nlibdir=$(LIBDIR)\nincludedir=$(INCLUDEDIR)\n\n$\
Name: coro\nDescription: libcoro: coroutines with a libco-compatible API\n$\
Version: $(VERSION)\nLibs: -L$${libdir} -lcoro\nLibs.private: -lpthread $(LIB_DEPS)\n$\
Cflags: -I$${includedir} -I$${includedir}/coro\n

$(PC): FORCE
	@mkdir -p $(@D)
	@printf '$(PC_TEXT)' > $@.tmp
	@if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; echo "  GEN  $@"; fi

FORCE:

# ---- tests ---------------------------------------------------------------

$(TAP_OBJ): tests/unit/tap.c tests/unit/tap.h
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/tests/%.o: tests/unit/%.c $(wildcard tests/unit/*.h) $(wildcard coro/*.h arch/*.h config/*.h daemon/*/*.h)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/tests/%-asm.o: tests/unit/%-$(ARCH).S
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/tests/test-regs: $(BUILD)/tests/test-regs.o $(BUILD)/tests/regs-asm.o $(TAP_OBJ) $(STATIC)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/tests/test-curl: $(BUILD)/tests/test-curl.o $(TAP_OBJ) $(STATIC)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS) -lcurl

# The configuration's tests (test-config, test-config-history, ...) on its library.
CONFIG_TESTS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(wildcard tests/unit/test-config*.c))
$(CONFIG_TESTS): $(BUILD)/tests/%: $(BUILD)/tests/%.o $(TAP_OBJ) $(CONFIG_LIB) $(STATIC)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(CONFIG_LIBS) $(LIBS)

$(BUILD)/tests/test-supervisor: $(BUILD)/tests/test-supervisor.o $(TAP_OBJ) $(DAEMON_LIB) $(CONFIG_LIB) $(STATIC)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(DAEMON_LIBS) $(CONFIG_LIBS) $(LIBS)

$(BUILD)/tests/test-probe%: $(BUILD)/tests/test-probe%.o $(TAP_OBJ) $(DAEMON_LIB) $(CONFIG_LIB) $(STATIC)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(DAEMON_LIBS) $(CONFIG_LIBS) $(LIBS)

# The fleet's, the notifications' and the history's tests (a pattern's stem
# cannot be empty: test-etcd is named), on the daemon's library.
FLEET_TESTS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(wildcard tests/unit/test-etcd*.c tests/unit/test-fleet*.c \
               tests/unit/test-notify*.c tests/unit/test-history*.c))
$(FLEET_TESTS): $(BUILD)/tests/%: $(BUILD)/tests/%.o $(TAP_OBJ) $(DAEMON_LIB) $(CONFIG_LIB) $(STATIC)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(DAEMON_LIBS) $(CONFIG_LIBS) $(LIBS)

$(BUILD)/tests/test-%: $(BUILD)/tests/test-%.o $(TAP_OBJ) $(STATIC)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

# C++ libco programs: "co_routine.h" is found as pkg-config's Cflags find it.
$(UNIT_CXX): $(BUILD)/tests/%: tests/unit/%.cpp $(TAP_OBJ) $(STATIC) $(HEADERS)
	$(CXX) -std=c++11 -Wall -Wextra -Werror $(SAN) -I. -Icoro $(CXXFLAGS) $(ALL_LDFLAGS) \
		-o $@ $< $(TAP_OBJ) $(STATIC) $(LIBS)

tests: all $(UNIT_ALL)

# Each binary runs each of its cases in a child process with a timeout.
PROVE := prove --timer --exec

check: check-native
ifeq ($(CROSS),)
check: check-bats
endif
ifeq ($(SANITIZE)$(CROSS),)
check: check-aarch64
endif

check-native: tests
	$(SANITIZE_ENV) $(PROVE) '' $(UNIT_ALL)

# Integration tests (bats): they drive make, the installed library, later
# the daemon and the CLI.
check-bats: all
	env -u MAKEFLAGS -u MAKELEVEL -u SANITIZE -u BUILD -u CROSS COCTL=$(abspath $(COCTL)) CORO_RUNNERD=$(abspath $(COROD)) $(SANITIZE_ENV) \
		$(PROVE) 'bats --tap' $(wildcard tests/bats/*.bats)

SANITIZE_ENV := $(if $(SANITIZE),ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
                UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1)

AARCH64_CROSS := aarch64-linux-gnu-
QEMU_AARCH64  := qemu-aarch64 -L /usr/aarch64-linux-gnu
AARCH64_BUILD := build/aarch64

# BUILD is passed explicitly: a BUILD= given on the command line would
# otherwise reach the sub-make and point it at the native objects.
check-aarch64:
	@command -v $(AARCH64_CROSS)gcc >/dev/null && command -v qemu-aarch64 >/dev/null || \
		{ echo "check-aarch64: needs $(AARCH64_CROSS)gcc and qemu-aarch64: run 'make deps'" >&2; exit 1; }
	$(MAKE) --no-print-directory CROSS=$(AARCH64_CROSS) SANITIZE= BUILD=$(AARCH64_BUILD) \
		CFLAGS='$(CFLAGS)' tests
	TAP_TIMEOUT=120 CORO_TEST_QEMU=1 $(PROVE) '$(QEMU_AARCH64)' \
		$(patsubst tests/unit/%.c,$(AARCH64_BUILD)/tests/%,$(filter-out $(NATIVE_ONLY),$(UNIT_SRC)))

check-valgrind: tests
	TAP_TIMEOUT=300 CORO_TEST_VALGRIND=1 $(PROVE) 'tests/valgrind-run' $(UNIT_ALL)

# ---- benchmarks ----------------------------------------------------------

BENCH_CFLAGS := -std=gnu11 $(WARN) -I. -O2 -g

$(BUILD)/bench/%: tests/bench/%.c $(wildcard tests/bench/*.h coro/*.h config/*.h) $(STATIC) $(CONFIG_LIB)
	@mkdir -p $(@D)
	$(CC) $(BENCH_CFLAGS) -o $@ $< $(CONFIG_LIB) $(STATIC) $(CONFIG_LIBS) $(LIBS) -lboost_context

# Benchmarks measure the plain optimised build, with fixed flags (-O2) so
# that figures compare across commits whatever CFLAGS a user sets.
bench: $(BENCH_BIN)
	@if [ -n "$(SANITIZE)" ]; then echo "make bench: measures the plain build; drop SANITIZE" >&2; exit 2; fi
	BUILD=$(BUILD) tests/bench/run

# ---- fuzzing -------------------------------------------------------------

# libFuzzer (clang) on the configuration loader, under ASan and UBSan, for a
# bounded time from the seed corpus in tests/fuzz/corpus/config.
FUZZ_SECONDS ?= 60
FUZZ_CC      ?= clang
FUZZ_DIR     := build/fuzz
FUZZ_FLAGS   := -std=gnu11 -g -O1 -I. -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all

$(FUZZ_DIR)/fuzz-config: tests/fuzz/fuzz-config.c $(CONFIG_SRC) $(wildcard config/*.h)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ tests/fuzz/fuzz-config.c $(CONFIG_SRC) $(CONFIG_LIBS)

fuzz: $(FUZZ_DIR)/fuzz-config
	@mkdir -p $(FUZZ_DIR)/corpus-config
	ASAN_OPTIONS=detect_leaks=1 $(FUZZ_DIR)/fuzz-config -max_total_time=$(FUZZ_SECONDS) \
		-timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
		$(FUZZ_DIR)/corpus-config tests/fuzz/corpus/config

# ---- install, deps, demo -------------------------------------------------

install: all
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR)/coro $(DESTDIR)$(PKGCONFIGDIR)
	install -m 644 $(STATIC) $(DESTDIR)$(LIBDIR)/
	install -m 755 $(SHARED) $(DESTDIR)$(LIBDIR)/
	ln -sf libcoro.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libcoro.so.$(SOVERSION)
	ln -sf libcoro.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libcoro.so
	install -m 644 $(HEADERS) $(DESTDIR)$(INCLUDEDIR)/coro/
	install -m 644 $(PC) $(DESTDIR)$(PKGCONFIGDIR)/
	install -d $(DESTDIR)$(PREFIX)/bin
	$(if $(wildcard $(COCTL)),install -m 755 $(COCTL) $(DESTDIR)$(PREFIX)/bin/)
	install -d $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man3 $(DESTDIR)$(MANDIR)/man5
	install -m 644 packaging/man/libcoro.3 $(DESTDIR)$(MANDIR)/man3/
	$(if $(wildcard packaging/man/coctl.1),install -m 644 packaging/man/coctl.1 $(DESTDIR)$(MANDIR)/man1/)
	$(if $(wildcard packaging/man/coro-runner.yaml.5),install -m 644 packaging/man/coro-runner.yaml.5 $(DESTDIR)$(MANDIR)/man5/)

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libcoro.a $(DESTDIR)$(LIBDIR)/libcoro.so* \
		$(DESTDIR)$(PKGCONFIGDIR)/coro.pc
	rm -rf $(DESTDIR)$(INCLUDEDIR)/coro
	rm -f $(DESTDIR)$(MANDIR)/man3/libcoro.3 $(DESTDIR)$(PREFIX)/bin/coctl \
		$(DESTDIR)$(MANDIR)/man1/coctl.1 $(DESTDIR)$(MANDIR)/man5/coro-runner.yaml.5

# Every Debian package the build, tests, benchmarks and CI use.
DEB_PACKAGES := build-essential pkg-config valgrind bats perl python3 man-db \
        gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user \
        libboost-context-dev libyaml-dev libsystemd-dev libcurl4-openssl-dev \
        libc-ares-dev libjansson-dev clang libclang-rt-14-dev
# Fleet mode's tests and benchmarks run a real etcd cluster on loopback.
DEB_PACKAGES += etcd-server etcd-client
# Result history (SQLite; sqlite3 for its tests), and its page's test in a real browser.
DEB_PACKAGES += libsqlite3-dev sqlite3 chromium
# Notifications' tests: a real Alertmanager (and amtool), an SMTP server.
DEB_PACKAGES += prometheus-alertmanager python3-aiosmtpd

# Packages installed for the tests and benchmarks only whose Debian
# packages enable and start a system service (nginx on port 80, prometheus
# on 9090): when `make deps` is what installed them, their services are
# disabled and stopped again. PACKAGE:SERVICE pairs.
DEB_TEST_SERVICES := nginx-light:nginx prometheus:prometheus etcd-server:etcd \
        prometheus-alertmanager:prometheus-alertmanager

deps:
	@if dpkg-query -W -f='$${Status}\n' $(DEB_PACKAGES) 2>/dev/null | grep -qv '^install ok installed$$' || \
	    [ $$(dpkg-query -W -f='$${Status}\n' $(DEB_PACKAGES) 2>/dev/null | wc -l) -ne $(words $(DEB_PACKAGES)) ]; then \
		[ "$$(id -u)" = 0 ] || { echo "make deps: run as root (apt-get install)" >&2; exit 1; }; \
		export DEBIAN_FRONTEND=noninteractive; \
		new_services=; \
		for ps in $(DEB_TEST_SERVICES); do \
			dpkg-query -W -f='$${Status}' "$${ps%%:*}" 2>/dev/null | grep -q '^install ok installed$$' || \
				new_services="$$new_services $${ps#*:}"; \
		done; \
		apt-get update -q && apt-get install -y -q --no-install-recommends $(DEB_PACKAGES) || exit 1; \
		if [ -n "$$new_services" ] && [ -d /run/systemd/system ]; then \
			echo "make deps: disabling the services the test packages started:$$new_services"; \
			systemctl disable --now $$new_services || true; \
		fi; \
	else \
		echo "make deps: all $(words $(DEB_PACKAGES)) packages already installed"; \
	fi

$(BUILD)/demo: examples/demo.c $(STATIC)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(STATIC) $(LIBS)

# The libcoro demo (examples/demo.c).
demo: $(BUILD)/demo
	$(BUILD)/demo

# The daemon in the foreground on the example configuration of packaging/,
# with its control socket and state in build/run (Ctrl-C stops it). Talk
# to it with: build/<arch>/coctl -s build/run/control.sock list
RUN_DIR := build/run
run: all
	@mkdir -p $(RUN_DIR)/state
	$(COROD) -c packaging/jobs.yaml -d packaging/jobs.d -s $(RUN_DIR)/control.sock \
		--state-dir $(RUN_DIR)/state

clean:
	rm -rf build

# Pieces kept in files of their own (packaging, daemon tests, ...).
include $(sort $(wildcard mk/*.mk))
