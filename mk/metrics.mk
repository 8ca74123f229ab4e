# The metrics server (issue 8): its unit test, its render benchmark, and
# Debian's prometheus package (promtool and a real server for the bats test).

DEB_PACKAGES += prometheus

# The page's coro_runner_build_info carries the version.
$(BUILD)/obj/daemon/metrics-render.o: LIB_CFLAGS += -DCORO_VERSION='"$(VERSION)"'

# Both link the daemon's library (the pattern rules link libcoro alone).
ifeq ($(CROSS),)
$(BUILD)/tests/test-metrics: $(BUILD)/tests/test-metrics.o $(TAP_OBJ) $(DAEMON_LIB) $(CONFIG_LIB) $(STATIC)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(DAEMON_LIBS) $(CONFIG_LIBS) $(LIBS)
else
# The cross build has no daemon library (no libsystemd, jansson, curl for
# arm64 here), and the Makefile's NATIVE_ONLY does not name this test yet:
# there it is a program that reports a skip.
$(BUILD)/tests/test-metrics: FORCE
	@mkdir -p $(@D)
	printf '#include <stdio.h>\nint main(void) { puts("1..0 # SKIP the daemon library is built natively only"); return 0; }\n' | \
		$(CC) -x c -o $@ -
endif

$(BUILD)/bench/bench-metrics: tests/bench/bench-metrics.c $(wildcard tests/bench/*.h coro/*.h config/*.h daemon/*.h) \
		$(DAEMON_LIB) $(CONFIG_LIB) $(STATIC)
	@mkdir -p $(@D)
	$(CC) $(BENCH_CFLAGS) -DCORO_VERSION='"$(VERSION)"' -o $@ $< $(DAEMON_LIB) $(CONFIG_LIB) $(STATIC) \
		$(DAEMON_LIBS) $(CONFIG_LIBS) $(LIBS)
