/* SPDX-License-Identifier: MIT */
/*
 * control.h (internal to daemon/): the control socket of SPEC §5, served
 * by coroutines on the daemon's event loop. The protocol is in
 * docs/protocol.md.
 */
#ifndef CORO_DAEMON_CONTROL_H
#define CORO_DAEMON_CONTROL_H

struct daemon;

/*
 * Opens the listening socket: the one systemd passed (sd_listen_fds), or
 * d->socket_path, created with mode 0666: credentials, not the mode, decide
 * who may change things (a stale socket file left by a
 * dead daemon is replaced; a live daemon on it is an error). Then starts
 * the accepting coroutine. Returns 0 or a negative errno, having logged
 * why.
 */
int control_start(struct daemon *d);

/*
 * Stops accepting, ends every client's coroutine and removes the socket
 * file if it made it. May yield.
 */
void control_stop(struct daemon *d);

#endif
