#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""An HTTP/1.1 server for tests, on loopback, that answers with the status
the path asks for.

Usage: http-status.py [--port N]

Prints the TCP port it listens on (127.0.0.1), then serves until killed.
GET or HEAD /NNN (NNN from 100 to 599) gets status NNN with the body
"status NNN"; any other path gets 404.
"""
import argparse
import http.server
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def answer(self, with_body):
        path = self.path.strip("/")
        code = int(path) if path.isdigit() and 100 <= int(path) <= 599 else 404
        body = ("status %d\n" % code).encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if with_body:
            self.wfile.write(body)

    def do_GET(self):
        self.answer(True)

    def do_HEAD(self):
        self.answer(False)

    def log_message(self, fmt, *args):
        sys.stderr.write("http-status: " + (fmt % args) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
