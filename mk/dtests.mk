# SPDX-License-Identifier: MIT
# The daemon's integration tests (tests/bats/daemon-*.bats): they run as
# part of check-bats; `make check-daemon` runs only them. They need dnsmasq
# (a DNS server on a loopback port), pgrep/ps (procps) and prlimit
# (util-linux, essential).
DEB_PACKAGES += dnsmasq-base procps

.PHONY: check-daemon
check-daemon: $(COROD)
	env -u MAKEFLAGS -u MAKELEVEL -u SANITIZE -u BUILD -u CROSS CORO_RUNNERD=$(abspath $(COROD)) \
		$(SANITIZE_ENV) $(PROVE) 'bats --tap' $(wildcard tests/bats/daemon-*.bats)
