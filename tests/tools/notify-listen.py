#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""An sd_notify socket for tests: what systemd's NOTIFY_SOCKET is.

Usage: notify-listen.py SOCKET-PATH OUTPUT-FILE

Binds a Unix datagram socket at SOCKET-PATH (removing a stale file), prints
"ready" once it is bound, then appends one line per datagram received to
OUTPUT-FILE until killed:

    <seconds, CLOCK_MONOTONIC>\tpid=<sender pid>\t<FIELD=value>\t<FIELD=value>...

one tab-separated field per line of the datagram (sd_notify's message is
newline-separated assignments). The sender's pid comes from its
credentials (SO_PASSCRED), as systemd reads them; "pid=?" if none came.
"""
import os
import socket
import struct
import sys
import time


def main():
    if len(sys.argv) != 3:
        sys.stderr.write("usage: notify-listen.py SOCKET-PATH OUTPUT-FILE\n")
        sys.exit(2)
    path, out_path = sys.argv[1], sys.argv[2]
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    sock.bind(path)
    out = open(out_path, "a", buffering=1)
    print("ready", flush=True)
    ucred = struct.calcsize("3i")
    while True:
        data, anc, _, _ = sock.recvmsg(65536, socket.CMSG_SPACE(ucred))
        pid = "?"
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = str(struct.unpack("3i", payload[:ucred])[0])
        fields = [f for f in data.decode("utf-8", "replace").split("\n") if f]
        out.write("%.3f\tpid=%s\t%s\n" % (time.monotonic(), pid, "\t".join(fields)))


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
