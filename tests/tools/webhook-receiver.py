#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A webhook receiver for tests: what an Alertmanager webhook receiver is.

Usage: webhook-receiver.py [--port N] [--fail-first N | --hang | --big]
                           [--cert FILE --key FILE] OUTPUT-FILE

Listens on 127.0.0.1 (port 0 unless --port: a free one), prints its port as
its first line of stdout, then serves until killed. Each POST is appended
to OUTPUT-FILE as one JSON line, written before it is answered:

    {"n": 1, "time_ms": <wall clock>, "method": "POST", "path": "/hook",
     "headers": {"Content-Type": "application/json", ...},
     "answer": 200, "body": <the JSON body, or null>, "raw": <body if not JSON>,
     "errors": ["alerts[0].fingerprint: ...", ...]}

"errors" lists what in the body departs from Alertmanager's documented
webhook payload (https://prometheus.io/docs/alerting/latest/configuration/
#webhook_config): version "4", groupKey, truncatedAlerts, status
firing|resolved, receiver, groupLabels, commonLabels, commonAnnotations,
externalURL, and alerts[], each with status, labels, annotations,
startsAt, endsAt (RFC 3339), generatorURL and fingerprint; no other key
(Alertmanager sends none), and the relations between them (the payload's
status is firing if any alert fires, the common labels are in every alert,
a resolved alert ends after it started). Empty: the payload is valid.

Modes (the answer; the POST is recorded in every mode):
  (none)          200 with "ok"
  --fail-first N  500 to the first N POSTs, then 200
  --hang          never answer (the connection stays open)
  --big           200 with a body of 10 MB
With --cert and --key it speaks HTTPS (TLS) with that certificate.
A GET of any path answers 200 "ok" and is not recorded (readiness checks).
"""
import argparse
import http.server
import json
import re
import ssl
import sys
import threading
import time

TOP_KEYS = {
    "version", "groupKey", "truncatedAlerts", "status", "receiver", "groupLabels",
    "commonLabels", "commonAnnotations", "externalURL", "alerts",
}
ALERT_KEYS = {
    "status", "labels", "annotations", "startsAt", "endsAt", "generatorURL", "fingerprint",
}
RFC3339 = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
ZERO_TIME = "0001-01-01T00:00:00Z"
BIG = 10 * 1024 * 1024


def rfc3339_key(s):
    """A sortable form of an RFC 3339 time (UTC), or None if it is not one."""
    m = RFC3339.match(s) if isinstance(s, str) else None
    if not m:
        return None
    y, mo, d, h, mi, sec = (int(g) for g in m.groups()[:6])
    if not (1 <= mo <= 12 and 1 <= d <= 31 and h <= 23 and mi <= 59 and sec <= 60):
        return None
    frac = float(m.group(7) or 0)
    off = 0
    if m.group(8) != "Z":
        sign = 1 if m.group(8)[0] == "+" else -1
        off = sign * (int(m.group(8)[1:3]) * 3600 + int(m.group(8)[4:6]) * 60)
    # Days are counted roughly: enough to order two times of one payload.
    return ((((y * 12 + mo) * 31 + d) * 24 + h) * 60 + mi) * 60 + sec + frac - off


def check_kv(errors, where, v, label_names):
    if not isinstance(v, dict):
        errors.append("%s: expected an object of strings, got %s" % (where, type(v).__name__))
        return
    for k, x in v.items():
        if not isinstance(x, str):
            errors.append("%s.%s: expected a string, got %s" % (where, k, type(x).__name__))
        if label_names and not LABEL_NAME.match(k):
            errors.append("%s: %r is not a valid label name" % (where, k))


def validate(p):
    """What departs from Alertmanager's webhook payload in p (a list of strings)."""
    errors = []
    if not isinstance(p, dict):
        return ["the body is not a JSON object"]
    for k in sorted(TOP_KEYS - set(p)):
        errors.append("missing key %s" % k)
    for k in sorted(set(p) - TOP_KEYS):
        errors.append("unknown key %s" % k)
    if "version" in p and p["version"] != "4":
        errors.append("version: expected the string \"4\", got %r" % (p["version"],))
    for k in ("groupKey", "receiver", "externalURL"):
        if k in p and not isinstance(p[k], str):
            errors.append("%s: expected a string" % k)
    if isinstance(p.get("receiver"), str) and not p["receiver"]:
        errors.append("receiver: empty")
    if isinstance(p.get("groupKey"), str) and not p["groupKey"]:
        errors.append("groupKey: empty")
    if "truncatedAlerts" in p:
        t = p["truncatedAlerts"]
        if not isinstance(t, int) or isinstance(t, bool) or t < 0:
            errors.append("truncatedAlerts: expected a whole number >= 0, got %r" % (t,))
    if "status" in p and p["status"] not in ("firing", "resolved"):
        errors.append("status: expected firing or resolved, got %r" % (p["status"],))
    check_kv(errors, "groupLabels", p.get("groupLabels", {}), True)
    check_kv(errors, "commonLabels", p.get("commonLabels", {}), True)
    check_kv(errors, "commonAnnotations", p.get("commonAnnotations", {}), False)
    alerts = p.get("alerts")
    if not isinstance(alerts, list) or not alerts:
        errors.append("alerts: expected a non-empty array")
        return errors
    firing = False
    for i, a in enumerate(alerts):
        w = "alerts[%d]" % i
        if not isinstance(a, dict):
            errors.append("%s: expected an object" % w)
            continue
        for k in sorted(ALERT_KEYS - set(a)):
            errors.append("%s: missing key %s" % (w, k))
        for k in sorted(set(a) - ALERT_KEYS):
            errors.append("%s: unknown key %s" % (w, k))
        st = a.get("status")
        if st not in ("firing", "resolved"):
            errors.append("%s.status: expected firing or resolved, got %r" % (w, st))
        firing = firing or st == "firing"
        labels = a.get("labels", {})
        check_kv(errors, w + ".labels", labels, True)
        if isinstance(labels, dict) and not labels:
            errors.append("%s.labels: empty (an alert is its labels)" % w)
        check_kv(errors, w + ".annotations", a.get("annotations", {}), False)
        for sub, common in (("labels", "commonLabels"), ("annotations", "commonAnnotations"),
                            ("labels", "groupLabels")):
            c, mine = p.get(common), a.get(sub)
            if isinstance(c, dict) and isinstance(mine, dict):
                for k, x in c.items():
                    if mine.get(k) != x:
                        errors.append("%s: %s.%s=%r is not the alert's %s" % (w, common, k, x, sub))
        starts, ends = a.get("startsAt"), a.get("endsAt")
        ks, ke = rfc3339_key(starts), rfc3339_key(ends)
        if "startsAt" in a and (ks is None or starts == ZERO_TIME):
            errors.append("%s.startsAt: not an RFC 3339 time: %r" % (w, starts))
        if "endsAt" in a and ke is None:
            errors.append("%s.endsAt: not an RFC 3339 time: %r" % (w, ends))
        if st == "resolved" and ke is not None and ks is not None and (ends == ZERO_TIME or ke < ks):
            errors.append("%s: resolved, but endsAt %r is not after startsAt %r" % (w, ends, starts))
        if "generatorURL" in a and not isinstance(a["generatorURL"], str):
            errors.append("%s.generatorURL: expected a string" % w)
        fp = a.get("fingerprint")
        if "fingerprint" in a and not (isinstance(fp, str) and re.match(r"^[0-9a-f]{1,16}$", fp)):
            errors.append("%s.fingerprint: expected hex digits, got %r" % (w, fp))
    if p.get("status") in ("firing", "resolved") and (p["status"] == "firing") != firing:
        errors.append("status: %s, but %s of the alerts fires" % (p["status"], "one" if firing else "none"))
    return errors


class State:
    lock = threading.Lock()
    count = 0
    out = None
    mode = None
    fail_first = 0


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self.reply(200, b"ok\n")

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(length) if length > 0 else b""
        with State.lock:
            State.count += 1
            n = State.count
            if State.mode == "hang":
                answer = None
            elif State.mode == "fail" and n <= State.fail_first:
                answer = 500
            else:
                answer = 200
            rec = {
                "n": n,
                "time_ms": int(time.time() * 1000),
                "method": "POST",
                "path": self.path,
                "headers": {k: v for k, v in self.headers.items()},
                "answer": answer,
                "body": None,
                "errors": [],
            }
            try:
                rec["body"] = json.loads(data.decode("utf-8"))
                rec["errors"] = validate(rec["body"])
            except (UnicodeDecodeError, ValueError) as e:
                rec["raw"] = data.decode("utf-8", "replace")
                rec["errors"] = ["the body is not JSON: %s" % e]
            State.out.write(json.dumps(rec, sort_keys=True) + "\n")
            State.out.flush()
        if answer is None:
            while True:
                time.sleep(3600)
        if State.mode == "big":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(BIG))
            self.end_headers()
            chunk = b"x" * 65536
            try:
                for _ in range(BIG // len(chunk)):
                    self.wfile.write(chunk)
            except OSError:
                pass  # the client stopped reading: that is what a client should do
            return
        self.reply(answer, b"ok\n" if answer == 200 else b"injected failure\n")

    def reply(self, code, body):
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        sys.stderr.write("webhook-receiver: " + (fmt % args) + "\n")


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    ssl_context = None

    def get_request(self):
        sock, addr = super().get_request()
        if self.ssl_context:
            sock = self.ssl_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def process_request_thread(self, request, client_address):
        # The TLS handshake in the request's thread: a client that refuses the
        # certificate must not stall the others.
        if self.ssl_context:
            try:
                request.settimeout(10)
                request.do_handshake()
                request.settimeout(None)
            except (OSError, ssl.SSLError) as e:
                sys.stderr.write("webhook-receiver: TLS handshake failed: %s\n" % e)
                self.shutdown_request(request)
                return
        super().process_request_thread(request, client_address)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--fail-first", type=int, default=0, metavar="N")
    g.add_argument("--hang", action="store_true")
    g.add_argument("--big", action="store_true")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--validate", metavar="FILE",
                    help="only print the errors of the payload in FILE (JSON), then exit")
    ap.add_argument("output", nargs="?")
    args = ap.parse_args()
    if args.validate:
        with open(args.validate) as f:
            errors = validate(json.load(f))
        for e in errors:
            print(e)
        sys.exit(1 if errors else 0)
    if not args.output:
        ap.error("OUTPUT-FILE is required")
    State.out = open(args.output, "a", buffering=1)
    State.mode = "hang" if args.hang else "big" if args.big else "fail" if args.fail_first else None
    State.fail_first = args.fail_first
    server = Server(("127.0.0.1", args.port), Handler)
    if args.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.cert, args.key)
        server.ssl_context = ctx
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
