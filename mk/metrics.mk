# SPDX-License-Identifier: MIT
# The metrics server (issue 8): its unit test, its render benchmark, and
# Debian's prometheus package (promtool and a real server for the bats test).

DEB_PACKAGES += prometheus

# The page's coro_runner_build_info carries the version.
$(BUILD)/obj/daemon/http/metrics-render.o: LIB_CFLAGS += -DCORO_VERSION='"$(VERSION)"'

# Both link the daemon's library (the pattern rules link libcoro alone).
$(BUILD)/tests/test-metrics: $(BUILD)/tests/test-metrics.o $(TAP_OBJ) $(DAEMON_LIB) $(CONFIG_LIB) $(STATIC)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(DAEMON_LIBS) $(CONFIG_LIBS) $(LIBS)

$(BUILD)/bench/bench-metrics: tests/bench/bench-metrics.c $(wildcard tests/bench/*.h coro/*.h config/*.h daemon/*/*.h) \
		$(DAEMON_LIB) $(CONFIG_LIB) $(STATIC)
	@mkdir -p $(@D)
	$(CC) $(BENCH_CFLAGS) -DCORO_VERSION='"$(VERSION)"' -o $@ $< $(DAEMON_LIB) $(CONFIG_LIB) $(STATIC) \
		$(DAEMON_LIBS) $(CONFIG_LIBS) $(LIBS)
