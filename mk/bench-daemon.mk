# SPDX-License-Identifier: MIT
# The daemon's benchmarks (issue 5): bench-probes (probe throughput: the
# daemon's probe code in coroutines against a plain epoll loop and one
# thread per job) links the daemon's library; bench-daemon.py drives the
# real coro-runnerd (1k, 10k, 100k jobs) and needs it built. nginx serves
# the HTTP probes (started by the benchmark on a loopback port of its own;
# the system's nginx service is not used).

DEB_PACKAGES += nginx-light

$(BUILD)/bench/bench-probes: tests/bench/bench-probes.c \
		$(wildcard tests/bench/*.h coro/*.h config/*.h daemon/*/*.h) \
		$(DAEMON_LIB) $(CONFIG_LIB) $(STATIC)
	@mkdir -p $(@D)
	$(CC) $(BENCH_CFLAGS) -o $@ $< $(DAEMON_LIB) $(CONFIG_LIB) $(STATIC) \
		$(DAEMON_LIBS) $(CONFIG_LIBS) $(LIBS)

# tests/bench/run starts the daemon: make bench builds it too, and coctl
# (bench-fleet.py adds fleet jobs and asks the members through it).
bench: $(COROD) $(COCTL)

# bench-history: the history's writer on a driven clock (issue 15).
$(BUILD)/bench/bench-history: tests/bench/bench-history.c \
		$(wildcard tests/bench/*.h coro/*.h config/*.h daemon/*/*.h) \
		$(DAEMON_LIB) $(CONFIG_LIB) $(STATIC)
	@mkdir -p $(@D)
	$(CC) $(BENCH_CFLAGS) -o $@ $< $(DAEMON_LIB) $(CONFIG_LIB) $(STATIC) \
		$(DAEMON_LIBS) $(CONFIG_LIBS) $(LIBS)
