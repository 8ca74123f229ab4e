#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""An SMTP server for tests, on loopback, that keeps every message.

Usage: smtp-sink.py [--port N] [--cert FILE --key FILE] DIRECTORY

aiosmtpd (Debian's python3-aiosmtpd, hence /usr/bin/python3) on 127.0.0.1,
port 0 unless --port (a free one: the listening socket is bound before the
server starts, so there is no race for it). Prints the port as its first
line of stdout, then serves until killed. Each message accepted is written
to DIRECTORY as NNN.eml (the message's bytes as received, CRLF lines) with
NNN.json beside it, written after the .eml:

    {"n": 1, "time_ms": ..., "mail_from": "a@b", "rcpt_tos": ["c@d"],
     "peer": "127.0.0.1", "helo": "host", "tls": false}

With --cert and --key the server offers STARTTLS with that certificate
(not required; "tls" says whether the message came over it). No AUTH.
"""
import argparse
import asyncio
import json
import os
import socket
import ssl
import sys
import time

from aiosmtpd.smtp import SMTP


class Sink:
    def __init__(self, directory):
        self.dir = directory
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        base = os.path.join(self.dir, "%03d" % self.count)
        data = envelope.original_content or envelope.content
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogateescape")
        with open(base + ".eml.tmp", "wb") as f:
            f.write(data)
        os.rename(base + ".eml.tmp", base + ".eml")
        meta = {
            "n": self.count,
            "time_ms": int(time.time() * 1000),
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "peer": session.peer[0] if session.peer else None,
            "helo": session.host_name,
            "tls": bool(session.ssl),
        }
        with open(base + ".json.tmp", "w") as f:
            json.dump(meta, f, sort_keys=True)
        os.rename(base + ".json.tmp", base + ".json")
        return "250 Message accepted for delivery"


async def serve(sock, directory, tls):
    handler = Sink(directory)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="smtp-sink.test", decode_data=False, tls_context=tls,
                     require_starttls=False), sock=sock)
    print(sock.getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("directory")
    args = ap.parse_args()
    tls = None
    if args.cert:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(args.cert, args.key)
    os.makedirs(args.directory, exist_ok=True)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    sock.listen(16)
    asyncio.run(serve(sock, args.directory, tls))


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
