# SPDX-License-Identifier: MIT
# The control socket's server (daemon/control/, daemon/core/persist.c) and coctl
# (cli/): coctl speaks JSON with jansson; the server reports the version.

$(COCTL): private CONFIG_LIBS += -ljansson
$(BUILD)/obj/daemon/control/control-cmd.o: private LIB_CFLAGS += -DCORO_VERSION='"$(VERSION)"'

# bash completion for coctl.
BASH_COMPLETION_DIR ?= $(PREFIX)/share/bash-completion/completions

.PHONY: install-completion
install: install-completion
install-completion:
	install -d $(DESTDIR)$(BASH_COMPLETION_DIR)
	install -m 644 packaging/bash-completion/coctl $(DESTDIR)$(BASH_COMPLETION_DIR)/coctl

# bench-control drives the real daemon and coctl.
$(BUILD)/bench/bench-control: | $(COROD) $(COCTL)
