/* SPDX-License-Identifier: MIT */
/*
 * control-internal.h: what the control server (control.c: socket, clients,
 * framing, credentials) and its commands (control-cmd.c) share.
 */
#ifndef CORO_DAEMON_CONTROL_INTERNAL_H
#define CORO_DAEMON_CONTROL_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/types.h>

#define CONTROL_PROTOCOL 1              /* the "version" of docs/protocol.md */
#define CONTROL_MAX_REQUEST (1u << 20)  /* bytes of one request line */
#define CONTROL_MAX_CLIENTS 1024        /* simultaneous clients */
#define CONTROL_IDLE_MS 30000           /* a request must arrive whole within this */
#define CONTROL_MAX_DEPTH 32            /* nesting of a request's JSON */

struct daemon;

/* One connected client, served by its own coroutine. */
struct client {
	struct control *ctl;
	int fd;
	struct co *co;
	struct ucred cred;            /* the peer, from SO_PEERCRED */
	struct client *prev, *next;   /* the live clients */
	char *buf;                    /* bytes read, not yet a whole request */
	size_t len, cap;
	/*
	 * A reply member already written as JSON text ("\"jobs\":[...]"),
	 * added to the reply object as is, then freed: a big list built as a
	 * jansson tree costs ten times more.
	 */
	char *raw;
	size_t raw_len;
};

/* The server: one per daemon. */
struct control {
	struct daemon *d;
	int listen_fd;
	bool from_systemd;            /* the socket came from sd_listen_fds: never unlink it */
	bool made_file;               /* we bound socket_path: unlink it at stop */
	int stop_fd;                  /* eventfd: wakes the acceptor at stop */
	bool stopping;
	int idle_ms;
	struct co *acceptor;
	struct co *reaper;
	struct co_cond *reap_cond;    /* a client ended: release its coroutine */
	struct co_cond *drained;      /* signalled as coroutines end during a stop */
	struct client *clients;
	size_t nclients;
	struct client *dead;          /* ended clients waiting for the reaper (by next) */
	unsigned long long served;    /* requests answered */
	unsigned long long refused;   /* connections refused at the cap */
};

/*
 * Executes one request (an object, version checked) for client c and fills
 * reply (an object with "version" and "id" already set) with "ok" and the
 * command's fields, or with "ok": false, "code" and "error". May yield.
 * Returns false if the connection should be closed after the reply.
 */
bool control__execute(struct client *c, json_t *req, json_t *reply);

/* Sets "ok": false, "code" and "error" (printf-style) in reply. Returns false. */
bool control__fail(json_t *reply, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ---- control-history.c: result history (daemon/history/) ---- */

/* `history` {"name", "since_ms", "until_ms", "failed", "limit"}: results. May yield. */
bool control__cmd_history(struct client *c, json_t *req, json_t *reply);

/* `events` {"name" (optional), "since_ms", "limit"}: transitions. May yield. */
bool control__cmd_events(struct client *c, json_t *req, json_t *reply);

/* A job's uptime and last outage, as members of its status object. */
struct job_state;
void control__put_history(FILE *f, const struct control *ctl, const struct job_state *js);

/* The history block of `stats`. */
void control__history_stats(struct client *c, json_t *reply);

/* ---- control-notify.c: notifications (daemon/notify/) ---- */

struct config;
struct job_state;

/* `notifiers`: each notifier's figures. */
bool control__cmd_notifiers(struct client *c, json_t *req, json_t *reply);

/* `notify-test` {"name"}: a test event through one notifier, answered after it. May yield. */
bool control__cmd_notify_test(struct client *c, json_t *req, json_t *reply);

/* true if every notify name of cfg's jobs is a notifier here; else fails reply, false. */
bool control__check_notify(struct client *c, const struct config *cfg, json_t *reply);

/* A job's notify list and last notification, as members of its status object. */
void control__put_notify(FILE *f, const struct control *ctl, const struct job_state *js);

/* ---- control-fleet.c: the fleet side (daemon/fleet/) ---- */

struct config;

/* add with "fleet": true, of validated definitions: writes them to etcd. May yield. */
bool control__fleet_add(struct client *c, const struct config *cfg, json_t *reply);

/* kill with "fleet": true: deletes the named fleet jobs (names: checked strings). May yield. */
bool control__fleet_kill(struct client *c, json_t *names, json_t *reply);

/* The fleet command: members, list, where. May yield (members asks etcd for TTLs). */
bool control__cmd_fleet(struct client *c, json_t *req, json_t *reply);

/* Adds stats' "fleet" object, when the daemon is in a fleet. */
void control__fleet_stats(struct client *c, json_t *reply);

/* Whether the peer may change things: root, the daemon's user, the socket's group. */
bool control__privileged(const struct client *c);

#endif
