#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A TCP proxy for tests, on loopback, that can cut its clients off silently.

Usage: blackhole-proxy.py [--blackholed] TARGET...

Each TARGET is HOST:PORT, or LISTEN=HOST:PORT to listen on a given port:
the proxy listens on 127.0.0.1 (a free port, or LISTEN) and forwards every
connection to TARGET, byte for byte in both directions. It prints the ports
it listens on, space-separated, in the order of the targets, on one line,
then serves until killed.

  SIGUSR1  blackhole: from now on nothing is forwarded either way and
           nothing is answered; connections stay open and silent, new ones
           are accepted and held the same way (a partition: the peer's
           requests time out, they are not refused).
  SIGUSR2  restore: the connections that lived through the blackhole are
           reset (as after a partition long enough for either end's TCP to
           give up), new ones are forwarded again.

With --blackholed it starts blackholed. Every change is logged on stderr
("blackholed: N connections held", "restored: N connections reset"), after
it has taken effect, so that a test can wait for it.
"""
import argparse
import asyncio
import signal
import sys


class Conn:
    """One client's connection and its upstream one (None until connected)."""

    def __init__(self, client, tainted):
        self.client = client
        self.upstream = None
        self.tainted = tainted   # it lived through a blackhole: reset on restore

    def abort(self):
        for w in (self.client, self.upstream):
            if w is not None and w.transport is not None:
                w.transport.abort()


class Proxy:
    def __init__(self, blackholed):
        self.open = asyncio.Event()
        if not blackholed:
            self.open.set()
        self.conns = set()

    def log(self, text):
        sys.stderr.write(text + "\n")
        sys.stderr.flush()

    def blackhole(self):
        self.open.clear()
        for c in self.conns:
            c.tainted = True
        self.log("blackholed: %d connections held" % len(self.conns))

    def restore(self):
        reset = [c for c in self.conns if c.tainted]
        for c in reset:
            c.abort()
        self.open.set()
        self.log("restored: %d connections reset" % len(reset))

    async def pump(self, conn, reader, writer):
        """Copies reader to writer while the proxy is open; holds data while it is not."""
        try:
            while True:
                await self.open.wait()
                if conn.tainted:
                    return
                data = await reader.read(65536)
                if not data:
                    break
                # Read just before a blackhole: held, never delivered.
                await self.open.wait()
                if conn.tainted:
                    return
                writer.write(data)
                await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()
        except (ConnectionError, OSError):
            pass

    async def handle(self, client_r, client_w, host, port):
        conn = Conn(client_w, not self.open.is_set())
        self.conns.add(conn)
        try:
            # A connection that arrives while blackholed is held, unanswered.
            await self.open.wait()
            if conn.tainted:
                return
            try:
                up_r, conn.upstream = await asyncio.open_connection(host, port)
            except OSError:
                return
            await asyncio.gather(self.pump(conn, client_r, conn.upstream),
                                 self.pump(conn, up_r, client_w))
        finally:
            self.conns.discard(conn)
            for w in (conn.client, conn.upstream):
                if w is not None:
                    w.close()


def parse_target(text):
    listen = 0
    if "=" in text:
        port, text = text.split("=", 1)
        listen = int(port)
    host, port = text.rsplit(":", 1)
    return listen, host, int(port)


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--blackholed", action="store_true")
    ap.add_argument("targets", nargs="+")
    args = ap.parse_args()
    proxy = Proxy(args.blackholed)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR1, proxy.blackhole)
    loop.add_signal_handler(signal.SIGUSR2, proxy.restore)
    servers = []
    for t in args.targets:
        listen, host, port = parse_target(t)
        servers.append(await asyncio.start_server(
            lambda r, w, h=host, p=port: proxy.handle(r, w, h, p), "127.0.0.1", listen,
            backlog=256))
    print(" ".join(str(s.sockets[0].getsockname()[1]) for s in servers), flush=True)
    await asyncio.gather(*(s.serve_forever() for s in servers))


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
