"""Cost that grows with the number of partitions: each broker is started as bench.py does, gets
``--partitions`` partitions (topics of ``--per-topic`` partitions each), one small record in every
partition (none with ``--no-produce``), and is then measured:

- open file descriptors (``ls /proc/<pid>/fd``) and RSS of the broker's process tree,
- the time to create the partitions (CreateTopics until every topic exists),
- the latency of an all-topics Metadata request (median of ``--repeat``),
- Metadata requests per second from ``--clients`` connections looping for ``--loop-seconds``
  (each asks for one topic, as clients refreshing a topic do), bounded in time,
- the time from SIGTERM to exit (our broker makes every partition durable then).

Our broker is run a second time with ``--big`` partitions (fds and RSS at least).

    python benchmarks/scale.py                       # pykafka, tansu, noida at 5,000; pykafka at 50,000
    python benchmarks/scale.py --brokers pykafka --partitions 5000 --big 0
    python benchmarks/scale.py --brokers pykafka --no-produce   # partitions never written

Peers install into benchmarks/.peers-venv on first use (brokers.py). Nothing runs on a fixed port.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from brokers import (  # noqa: E402
    LAUNCHERS,
    BrokerUnavailable,
    free_port,
    memory_kib,
    process_tree,
    wait_for_api_versions,
)


def open_fds(pid: int) -> int:
    total = 0
    for p in process_tree(pid):
        try:
            total += len(os.listdir(f"/proc/{p}/fd"))
        except OSError:
            pass
    return total


def metadata_request(correlation_id: int, topics: list[str] | None) -> bytes:
    """Metadata v1 (all topics when ``topics`` is None), with its size prefix."""
    client = b"scale"
    body = struct.pack(">hhih", 3, 1, correlation_id, len(client)) + client
    if topics is None:
        body += struct.pack(">i", -1)
    else:
        body += struct.pack(">i", len(topics))
        for t in topics:
            raw = t.encode()
            body += struct.pack(">h", len(raw)) + raw
    return struct.pack(">i", len(body)) + body


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("broker closed the connection")
        buf += chunk
    return bytes(buf)


def all_topics_metadata_ms(port: int, repeat: int, timeout: float) -> tuple[float, int]:
    """Median latency of an all-topics Metadata v1 request and the response size."""
    times = []
    size = 0
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        for i in range(repeat):
            started = time.perf_counter()
            s.sendall(metadata_request(i, None))
            (size,) = struct.unpack(">i", _recv_exact(s, 4))
            _recv_exact(s, size)
            times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), size


async def metadata_loop(port: int, clients: int, seconds: float, topics: list[str]) -> float:
    """Requests per second of ``clients`` connections each asking for one topic in a loop."""
    deadline = time.monotonic() + seconds
    done = 0

    async def client(n: int) -> None:
        nonlocal done
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        request = metadata_request(n, [topics[n % len(topics)]])
        try:
            while time.monotonic() < deadline:
                writer.write(request)
                (size,) = struct.unpack(">i", await reader.readexactly(4))
                await reader.readexactly(size)
                done += 1
        finally:
            writer.close()

    started = time.monotonic()
    await asyncio.wait_for(asyncio.gather(*(client(i) for i in range(clients))), seconds + 60)
    return done / (time.monotonic() - started)


def create_partitions(bootstrap: str, topics: list[str], per_topic: int, timeout: float) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    for i in range(0, len(topics), 50):  # CreateTopics requests of 50 topics
        futures = admin.create_topics([NewTopic(t, per_topic, 1) for t in topics[i:i + 50]],
                                      request_timeout=timeout, operation_timeout=timeout)
        for f in futures.values():
            f.result(timeout=timeout)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:  # every topic visible in Metadata
        if set(topics) <= set(admin.list_topics(timeout=timeout).topics):
            return
        time.sleep(0.2)
    raise TimeoutError("topics did not all appear in Metadata")


def produce_one_each(bootstrap: str, topics: list[str], per_topic: int, timeout: float) -> None:
    """One record of 100 bytes to every partition, each 5,000 partitions by a producer of their own
    (librdkafka's per-partition work grows with the partitions one client knows)."""
    from confluent_kafka import Producer

    chunk = max(1, 5000 // per_topic)
    errors: list[Any] = []

    def delivered(err: Any, _msg: Any) -> None:
        if err is not None:
            errors.append(err)

    for i in range(0, len(topics), chunk):
        producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "acks": "1",
                             "queue.buffering.max.messages": 1_000_000})
        for t in topics[i:i + chunk]:
            for p in range(per_topic):
                producer.produce(t, b"x" * 100, partition=p, on_delivery=delivered)
                producer.poll(0)
        if producer.flush(timeout) != 0:
            raise TimeoutError("records were not all acknowledged")
    if errors:
        raise RuntimeError(f"{len(errors)} records failed, first: {errors[0]}")


def run_one(name: str, partitions: int, args: argparse.Namespace) -> dict[str, Any]:
    row: dict[str, Any] = {"broker": name, "partitions": partitions}
    tmp = Path(tempfile.mkdtemp(prefix=f"scale-{name}-"))
    data_dir = tmp / "data"
    data_dir.mkdir()
    proc: subprocess.Popen[bytes] | None = None
    phase = "install"
    try:
        port = free_port()
        spec = LAUNCHERS[name](port, data_dir)
        row["command"] = spec.description
        phase = "start"
        with (tmp / "broker.log").open("wb") as log:
            started = time.monotonic()
            proc = subprocess.Popen(spec.argv, stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, cwd=tmp)
        wait_for_api_versions(proc, port, started, args.timeout)
        bootstrap = f"127.0.0.1:{port}"
        per_topic = min(args.per_topic, partitions)
        topics = [f"scale-{i:05d}" for i in range(max(1, partitions // per_topic))]
        phase = "create"
        t0 = time.monotonic()
        create_partitions(bootstrap, topics, per_topic, args.timeout)
        row["create_s"] = round(time.monotonic() - t0, 2)
        if args.produce:
            phase = "produce"
            t0 = time.monotonic()
            produce_one_each(bootstrap, topics, per_topic, args.timeout)
            row["produce_s"] = round(time.monotonic() - t0, 2)
        time.sleep(1.0)
        row["fds"] = open_fds(proc.pid)
        row["rss_mib"] = round(memory_kib(proc.pid, "VmRSS") / 1024, 1)
        phase = "metadata"
        ms, size = all_topics_metadata_ms(port, args.repeat, args.timeout)
        row["all_topics_metadata_ms"] = round(ms, 1)
        row["all_topics_metadata_bytes"] = size
        if args.clients and partitions <= args.loop_max_partitions:
            phase = "metadata loop"
            rate = asyncio.run(metadata_loop(port, args.clients, args.loop_seconds, topics))
            row["metadata_loop_req_s"] = round(rate)
        row["fds_after"] = open_fds(proc.pid)
        row["peak_rss_mib"] = round(memory_kib(proc.pid, "VmHWM") / 1024, 1)
    except BrokerUnavailable as exc:
        row["error"] = f"unavailable: {exc}"
    except Exception as exc:  # noqa: BLE001 - a failure is this broker's row
        row["error"] = f"{phase}: {type(exc).__name__}: {exc}"
        log_text = (tmp / "broker.log").read_text(errors="replace") if (tmp / "broker.log").exists() else ""
        print(f"[scale] {name} log tail:\n{log_text[-3000:]}", file=sys.stderr)
    finally:
        if proc is not None and proc.poll() is None:
            t0 = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=args.timeout)
                row["stop_s"] = round(time.monotonic() - t0, 2)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    return row


COLUMNS = [("partitions", "partitions"), ("create_s", "create (s)"), ("fds", "fds"),
           ("rss_mib", "RSS (MiB)"), ("all_topics_metadata_ms", "all-topics Metadata (ms)"),
           ("metadata_loop_req_s", "Metadata loop (req/s)"), ("stop_s", "stop (s)")]


def print_table(rows: list[dict[str, Any]]) -> None:
    head = ["broker", *(label for _, label in COLUMNS)]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for row in rows:
        if "error" in row:
            print(f"| {row['broker']} | {row.get('partitions', '')} | {row['error']} |")
            continue
        cells = [str(row.get(key, "-")) for key, _ in COLUMNS]
        print("| " + " | ".join([row["broker"], *cells]) + " |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--brokers", default="pykafka,tansu,noida")
    ap.add_argument("--partitions", type=int, default=5000)
    ap.add_argument("--big", type=int, default=50000, help="partitions for a second run of ours (0: none)")
    ap.add_argument("--per-topic", type=int, default=100)
    ap.add_argument("--clients", type=int, default=200)
    ap.add_argument("--loop-seconds", type=float, default=5.0)
    ap.add_argument("--loop-max-partitions", type=int, default=5000,
                    help="skip the client loop above this many partitions")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--no-produce", dest="produce", action="store_false",
                    help="leave every partition empty (the stop time of never-written partitions)")
    ap.add_argument("--timeout", type=float, default=600.0)
    args = ap.parse_args()
    runs = [(b, args.partitions) for b in args.brokers.split(",") if b]
    if args.big and "pykafka" in args.brokers.split(","):
        runs.append(("pykafka", args.big))
    rows = []
    for name, partitions in runs:
        print(f"[scale] {name} at {partitions} partitions ...", file=sys.stderr, flush=True)
        row = run_one(name, partitions, args)
        print(json.dumps(row), file=sys.stderr, flush=True)
        rows.append(row)
    print_table(rows)


if __name__ == "__main__":
    main()
