# SPDX-License-Identifier: MIT
# Packaging (issue 7): what `make install` adds for the daemon under systemd
# (the daemon in sbin, its units, sysusers.d and tmpfiles.d entries, the
# example configuration, coro-runnerd(8)); `make deb`, the Debian packages
# built with debhelper; `make check-systemd`, the packages tested under a
# real systemd as PID 1 in systemd-nspawn. docs/packaging.md tells more.

SBINDIR    ?= $(PREFIX)/sbin
# /etc for a system install, else under the prefix (the daemon's default
# configuration is /etc/coro-runner whatever the prefix: see coro-runnerd(8)).
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
ifeq ($(PREFIX),/usr)
SYSTEMD_UNITDIR ?= /lib/systemd/system
SYSUSERSDIR     ?= /usr/lib/sysusers.d
TMPFILESDIR     ?= /usr/lib/tmpfiles.d
else
SYSTEMD_UNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR     ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR     ?= $(PREFIX)/lib/tmpfiles.d
endif

PKG_UNITS  := packaging/coro-runnerd.service packaging/coro-runnerd.socket
PKG_CONFIG_FILES := jobs.yaml jobs.d/example.yaml

.PHONY: install-systemd uninstall-systemd deb check-systemd

install: install-systemd
uninstall: uninstall-systemd

# The units name /usr/sbin/coro-runnerd: rewritten for another SBINDIR, and
# given -c and -d for a SYSCONFDIR other than /etc (the daemon's defaults
# are under /etc). An existing configuration is never overwritten by the
# example.
PKG_UNIT_SED := s|/usr/sbin/coro-runnerd|$(SBINDIR)/coro-runnerd|g
ifneq ($(SYSCONFDIR),/etc)
PKG_UNIT_SED += ; s|^\(ExecStart=.*\)$$|\1 -c $(SYSCONFDIR)/coro-runner/jobs.yaml -d $(SYSCONFDIR)/coro-runner/jobs.d|
endif

install-systemd: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(SYSTEMD_UNITDIR) $(DESTDIR)$(SYSUSERSDIR) \
		$(DESTDIR)$(TMPFILESDIR) $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(SYSCONFDIR)/coro-runner/jobs.d
	install -m 755 $(COROD) $(DESTDIR)$(SBINDIR)/coro-runnerd
	for u in $(PKG_UNITS); do \
		sed '$(PKG_UNIT_SED)' $$u > $(DESTDIR)$(SYSTEMD_UNITDIR)/$${u##*/} && \
		chmod 644 $(DESTDIR)$(SYSTEMD_UNITDIR)/$${u##*/} || exit 1; \
	done
	install -m 644 packaging/sysusers.d/coro-runner.conf $(DESTDIR)$(SYSUSERSDIR)/coro-runner.conf
	install -m 644 packaging/tmpfiles.d/coro-runner.conf $(DESTDIR)$(TMPFILESDIR)/coro-runner.conf
	install -m 644 packaging/man/coro-runnerd.8 $(DESTDIR)$(MANDIR)/man8/
	for f in $(PKG_CONFIG_FILES); do \
		[ -e $(DESTDIR)$(SYSCONFDIR)/coro-runner/$$f ] || \
		install -m 644 packaging/$$f $(DESTDIR)$(SYSCONFDIR)/coro-runner/$$f || exit 1; \
	done

# The configuration stays: it may be the operator's.
uninstall-systemd:
	rm -f $(DESTDIR)$(SBINDIR)/coro-runnerd $(DESTDIR)$(MANDIR)/man8/coro-runnerd.8 \
		$(DESTDIR)$(SYSTEMD_UNITDIR)/coro-runnerd.service $(DESTDIR)$(SYSTEMD_UNITDIR)/coro-runnerd.socket \
		$(DESTDIR)$(SYSUSERSDIR)/coro-runner.conf $(DESTDIR)$(TMPFILESDIR)/coro-runner.conf

# ---- make deb ------------------------------------------------------------

# The packages are built from a copy of the working tree (tracked and
# untracked files, not the ignored ones; outside git, all but build/) in
# build/deb, never in place:
# dpkg-buildpackage cleans its tree (make clean), and this one is shared.
# DEB_BUILD_OPTIONS=nocheck by default (the suite is make check's job);
# DEB_CHECK=1 runs the unit tests during the build too. lintian fails the
# build on errors; its warnings and the rest are printed, and explained in
# docs/packaging.md.
DEB_DIR     := build/deb
DEB_SRC     := $(DEB_DIR)/coro-runner-$(VERSION)
DEB_ARCH    := $(shell dpkg --print-architecture 2>/dev/null)
DEB_CHANGES := $(DEB_DIR)/coro-runner_$(VERSION)_$(DEB_ARCH).changes
DEB_OPTIONS := $(strip $(if $(DEB_CHECK),,nocheck) parallel=$(or $(DEB_JOBS),2))

deb:
	@command -v dpkg-buildpackage >/dev/null && command -v dh >/dev/null && command -v lintian >/dev/null || \
		{ echo "make deb: needs dpkg-dev, debhelper and lintian: run 'make deps'" >&2; exit 1; }
	rm -rf $(DEB_SRC) $(DEB_DIR)/*.deb $(DEB_DIR)/*.changes $(DEB_DIR)/*.buildinfo
	mkdir -p $(DEB_SRC)
	if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then \
		git ls-files -z --cached --others --exclude-standard | \
			xargs -0 sh -c 'for f; do [ -e "$$f" ] && printf "%s\0" "$$f"; done' sh; \
	else \
		find . -path ./build -prune -o -path ./.git -prune -o ! -type d -print0; \
	fi | tar -c --null -T - -f - | tar -x -C $(DEB_SRC) -f -
	cd $(DEB_SRC) && env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS -u SANITIZE -u BUILD -u CROSS \
		DEB_BUILD_OPTIONS='$(DEB_OPTIONS)' dpkg-buildpackage -us -uc -b
	lintian --fail-on error --display-info --tag-display-limit 0 $(DEB_CHANGES)
	@ls -l $(DEB_DIR)/*.deb

# ---- make check-systemd --------------------------------------------------

# Boots Debian bookworm with systemd as PID 1 in systemd-nspawn (root file
# system cached in build/systemd/), installs the packages and drives the
# service: tests/systemd/run, which prints TAP. Needs root.
check-systemd: deb
	CORO_DEB_DIR=$(abspath $(DEB_DIR)) $(PROVE) '' tests/systemd/run

DEB_PACKAGES += dpkg-dev debhelper lintian fakeroot systemd-container debootstrap
