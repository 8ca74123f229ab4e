#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""An HTTP/1.1 server for tests, on loopback, that answers every request
after a delay, to any number of clients at once.

Usage: slow-http.py [--port N] [--delay SECONDS]

Prints the TCP port it listens on (127.0.0.1), then serves until killed.
Each request gets "200 OK" with the body "ok <path>" after the delay, and
the connection is closed.
"""
import argparse
import asyncio
import sys


async def handle(reader, writer, delay):
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        path = head.split(b" ", 2)[1].decode("ascii", "replace")
        await asyncio.sleep(delay)
        body = ("ok " + path).encode()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                     b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
        await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, IndexError):
        pass
    finally:
        writer.close()


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--delay", type=float, default=1.0)
    args = ap.parse_args()
    server = await asyncio.start_server(
        lambda r, w: handle(r, w, args.delay), "127.0.0.1", args.port, backlog=4096)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
