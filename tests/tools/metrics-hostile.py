#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Hostile HTTP clients for the metrics server's tests, in a process of
their own, against HOST:PORT on loopback.

Usage: metrics-hostile.py HOST PORT MODE [COUNT]
       metrics-hostile.py listen

Modes (each prints one summary line "MODE: ..." and exits 0 when the
server behaved, 1 when it did not):

  garbage   COUNT connections (default 50) each send random bytes and a
            blank line; the server must answer 400 (or close) on each.
  longline  one request line of 4 MiB ("GET /aaaa...") sent as fast as the
            server takes it; the server must refuse it (431) or close,
            having taken far less than all of it.
  slow      COUNT connections (default 20) send "GET /metrics ..." one
            byte a second; the server must close every one of them within
            15 s (its request timeout is 10 s) without answering 200.
  crowd     COUNT connections (default 300) opened at once and left idle
            for 3 s, then closed; reports how many the server took.
  listen    a TCP server that accepts and closes connections, for a job
            that must be up; prints its port, serves until killed.
"""
import os
import random
import select
import socket
import sys
import time


def connect(host, port, timeout=5.0):
    s = socket.create_connection((host, port), timeout=timeout)
    s.settimeout(timeout)
    return s


def read_reply(s, limit=65536, timeout=5.0):
    """Everything the server sends until it closes (or the timeout)."""
    data = b""
    end = time.monotonic() + timeout
    s.settimeout(0.5)
    while len(data) < limit and time.monotonic() < end:
        try:
            chunk = s.recv(4096)
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            break
        if not chunk:
            break
        data += chunk
    return data


def garbage(host, port, count):
    rng = random.Random(8)
    bad = 0
    for i in range(count):
        s = connect(host, port)
        junk = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 2000)))
        try:
            s.sendall(junk + b"\r\n\r\n")
        except (ConnectionResetError, BrokenPipeError):
            pass
        reply = read_reply(s)
        s.close()
        if reply.startswith(b"HTTP/1.1 200"):
            bad += 1
    print("garbage: %d connections, %d answered 200" % (count, bad))
    return bad == 0


def longline(host, port):
    total = 4 << 20
    s = connect(host, port)
    s.sendall(b"GET /")
    sent = 5
    block = b"a" * 65536
    refused = False
    try:
        while sent < total:
            n = s.send(block[: min(len(block), total - sent)])
            sent += n
    except (ConnectionResetError, BrokenPipeError, socket.timeout):
        refused = True
    reply = read_reply(s, timeout=3.0)
    s.close()
    status = reply.split(b"\r\n", 1)[0].decode("latin-1") if reply else "(closed)"
    ok = not reply.startswith(b"HTTP/1.1 200") and (refused or sent < total or reply)
    print("longline: sent %d of %d bytes, reply %s" % (sent, total, status))
    return bool(ok)


def slow(host, port, count):
    request = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
    socks = [connect(host, port) for _ in range(count)]
    for s in socks:
        s.setblocking(False)
    start = time.monotonic()
    closed = {}
    got200 = 0
    i = 0
    while len(closed) < count and time.monotonic() - start < 20:
        for k, s in enumerate(socks):
            if k in closed:
                continue
            try:
                if i < len(request) - 1:  # never the last byte: the request never ends
                    s.send(request[i:i + 1])
            except (ConnectionResetError, BrokenPipeError):
                closed[k] = time.monotonic() - start
                continue
            r, _, _ = select.select([s], [], [], 0)
            if r:
                try:
                    data = s.recv(4096)
                except ConnectionResetError:
                    data = b""
                if data.startswith(b"HTTP/1.1 200"):
                    got200 += 1
                closed[k] = time.monotonic() - start  # a reply (408) or the close
        i += 1
        time.sleep(1.0)
    for s in socks:
        s.close()
    latest = max(closed.values()) if closed else -1
    print("slow: %d of %d closed by the server, the last after %.1f s, %d answered 200"
          % (len(closed), count, latest, got200))
    return len(closed) == count and latest <= 15 and got200 == 0


def crowd(host, port, count):
    socks = []
    for _ in range(count):
        try:
            socks.append(connect(host, port))
        except OSError:
            break
    time.sleep(3)
    for s in socks:
        s.close()
    print("crowd: %d of %d connections opened" % (len(socks), count))
    return True


def listen():
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(128)
    print(srv.getsockname()[1], flush=True)
    while True:
        c, _ = srv.accept()
        c.close()


def main():
    if len(sys.argv) == 2 and sys.argv[1] == "listen":
        listen()
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    host, port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    count = int(sys.argv[4]) if len(sys.argv) > 4 else None
    if mode == "garbage":
        ok = garbage(host, port, count or 50)
    elif mode == "longline":
        ok = longline(host, port)
    elif mode == "slow":
        ok = slow(host, port, count or 20)
    elif mode == "crowd":
        ok = crowd(host, port, count or 300)
    else:
        sys.exit("unknown mode " + mode)
    sys.stdout.flush()
    os._exit(0 if ok else 1)


if __name__ == "__main__":
    main()
