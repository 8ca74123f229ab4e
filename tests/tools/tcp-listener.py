#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A TCP listener for tests, on loopback.

Usage: tcp-listener.py [--port N] [--reply TEXT [--close]]

Prints the TCP port it listens on (127.0.0.1), then serves until killed.
Every connection is accepted at once. With --reply, each chunk a client
sends is answered with TEXT (backslash escapes such as \\r\\n are decoded),
and with --close the connection is closed after the first answer;
without --reply the listener never sends anything: the connection stays open,
silent, until the client closes it (a black hole for timeouts). Any number
of clients at once; a closed client's socket is released at once. Each
accepted connection is logged on stderr ("accepted 127.0.0.1:PORT").
"""
import argparse
import asyncio
import resource
import sys


async def handle(reader, writer, reply, close):
    peer = writer.get_extra_info("peername")
    sys.stderr.write("accepted %s:%d\n" % (peer[0], peer[1]))
    sys.stderr.flush()
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            if reply is not None:
                writer.write(reply)
                await writer.drain()
                if close:
                    break
    except ConnectionError:
        pass
    finally:
        writer.close()


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--reply", default=None)
    ap.add_argument("--close", action="store_true")
    args = ap.parse_args()
    reply = None
    if args.reply is not None:
        reply = args.reply.encode().decode("unicode_escape").encode("latin-1")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    server = await asyncio.start_server(
        lambda r, w: handle(r, w, reply, args.close), "127.0.0.1", args.port, backlog=4096)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
