# SPDX-License-Identifier: MIT
# Fleet mode (daemon/fleet/): the member key carries the daemon's version.
$(BUILD)/obj/daemon/fleet/fleet.o: private LIB_CFLAGS += -DCORO_VERSION='"$(VERSION)"'
