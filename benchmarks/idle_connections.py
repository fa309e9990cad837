"""Memory per idle connection: RSS of a broker process before and after N idle clients.

    python benchmarks/idle_connections.py [--connections 1000]

Starts ``pykafka-broker serve`` on an ephemeral loopback port, reads its ``VmRSS`` from /proc,
opens N connections that each complete one ApiVersions round trip (so every connection has been
accepted and has served a request) and then stay idle, waits for the broker to settle, and reads
``VmRSS`` again. Prints the difference divided by N.
"""

from __future__ import annotations

import argparse
import re
import socket
import struct
import subprocess
import sys
import tempfile
import time

from brokers import memory_kib

API_VERSIONS_V0 = struct.pack(">ihhih", 10, 18, 0, 1, -1)  # size, key 18, v0, correlation 1, null client


def read_frame(sock: socket.socket) -> bytes:
    buf = b""
    while len(buf) < 4 or len(buf) < 4 + struct.unpack_from(">i", buf)[0]:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    return buf


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--connections", type=int, default=1000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        proc = subprocess.Popen([sys.executable, "-m", "pykafka_broker", "serve", "--host", "127.0.0.1",
                                 "--port", "0", "--data-dir", data_dir], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True)
        socks: list[socket.socket] = []
        try:
            assert proc.stdout is not None
            m = re.search(r"listening on \S+:(\d+) ", proc.stdout.readline())
            assert m, "broker did not start"
            port = int(m.group(1))
            time.sleep(1.0)
            before = memory_kib(proc.pid, "VmRSS")
            for _ in range(args.connections):
                s = socket.create_connection(("127.0.0.1", port), timeout=10)
                s.sendall(API_VERSIONS_V0)
                read_frame(s)
                socks.append(s)
            time.sleep(1.0)
            after = memory_kib(proc.pid, "VmRSS")
            print(f"{args.connections} idle connections: RSS {before} KiB -> {after} KiB, "
                  f"{(after - before) / args.connections:.1f} KiB per connection")
        finally:
            for s in socks:
                s.close()
            proc.terminate()
            proc.wait(30)


if __name__ == "__main__":
    main()
