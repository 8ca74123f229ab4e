#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A DNS server for tests, on loopback, that answers slowly.

Usage: slow-dns.py [--port N] [--delay SECONDS]

Prints the UDP port it listens on (on 127.0.0.1), then serves until killed:
  - A queries for any name answer 127.0.0.N, N = 1 + (sum of the name's
    bytes % 250), after the delay; names starting with "nx" get NXDOMAIN;
  - AAAA and every other type answer NOERROR with no records, at once.
Every query is answered on its own timer, so many wait concurrently.
"""
import argparse
import asyncio
import struct
import sys


def parse_question(data):
    pos, labels = 12, []
    while True:
        n = data[pos]
        pos += 1
        if n == 0:
            break
        labels.append(data[pos:pos + n].decode("ascii", "replace"))
        pos += n
    qtype, qclass = struct.unpack("!HH", data[pos:pos + 4])
    return ".".join(labels), qtype, qclass, data[12:pos + 4]


def answer(data):
    qid, flags = struct.unpack("!HH", data[:4])
    name, qtype, _, question = parse_question(data)
    rd = flags & 0x0100
    if name.lower().startswith("nx"):
        return struct.pack("!HHHHHH", qid, 0x8083 | rd, 1, 0, 0, 0) + question, 0
    if qtype != 1:
        return struct.pack("!HHHHHH", qid, 0x8080 | rd, 1, 0, 0, 0) + question, 0
    last = 1 + sum(name.lower().encode()) % 250
    rr = struct.pack("!HHHIH", 0xC00C, 1, 1, 60, 4) + bytes([127, 0, 0, last])
    return struct.pack("!HHHHHH", qid, 0x8080 | rd, 1, 1, 0, 0) + question + rr, 1


class Server(asyncio.DatagramProtocol):
    def __init__(self, delay):
        self.delay = delay
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        try:
            reply, slow = answer(data)
        except (IndexError, struct.error):
            return
        loop = asyncio.get_running_loop()
        loop.call_later(self.delay if slow else 0, self.transport.sendto, reply, addr)


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--delay", type=float, default=1.0)
    args = ap.parse_args()
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: Server(args.delay), local_addr=("127.0.0.1", args.port))
    print(transport.get_extra_info("sockname")[1], flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
