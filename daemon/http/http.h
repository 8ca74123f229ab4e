/* SPDX-License-Identifier: MIT */
/*
 * http.h: the daemon's HTTP servers, the one header of daemon/http/ that
 * the rest of the daemon (main.c) includes. Today: GET /metrics in the
 * Prometheus text format (SPEC §7), served by coroutines on the daemon's
 * event loop; the metric list is in docs/metrics.md. The request layer
 * below it (server.c, http-internal.h) is shared by every page.
 */
#ifndef CORO_DAEMON_HTTP_H
#define CORO_DAEMON_HTTP_H

struct daemon;

/*
 * Serves the metrics on listen ("HOST:PORT", "[::1]:PORT"), or stops
 * serving them when listen is NULL. Called at start and after each
 * reload with the address in force (the --metrics override, else the
 * configuration's); a call with the address already served does nothing.
 * Returns 0 or a negative errno, having logged why.
 */
int metrics_configure(struct daemon *d, const char *listen);

/* Stops serving and ends every client's coroutine. May yield. */
void metrics_stop(struct daemon *d);

struct cfg_web;

/*
 * The status page (issue 15): / , /job/NAME, /badge/NAME.svg and
 * /api/v1/jobs[/NAME/history], read-only, on cfg's own listener or, when
 * cfg has none, on the metrics listener (metrics_listen, which may be
 * NULL: then nowhere, and it says so). NULL cfg: no page. Called at
 * start and after each reload. Returns 0 or a negative errno, logged.
 */
int web_configure(struct daemon *d, const struct cfg_web *cfg, const char *metrics_listen);

/* Stops serving the page. May yield. */
void web_stop(struct daemon *d);

#endif
