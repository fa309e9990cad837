"""The "default consumer" workload: what an application gets without tuning its client.

Records are produced into a 3-partition topic by a batching producer (``linger.ms=5``,
``batch.size=1 MiB``), then read back by a confluent-kafka consumer with librdkafka's defaults
(``fetch.max.bytes`` 50 MiB, ``max.partition.fetch.bytes`` 1 MiB, ``fetch.wait.max.ms`` 500,
``queued.min.messages`` 100000, ``fetch.queue.backoff.ms`` 1000). Only what a consumer must have is
set: the bootstrap address, a group.id string (manual ``assign()``, so no group is joined) and no
auto-commit, plus ``receive.message.max.bytes`` raised to 1 GB: it changes nothing the client asks
for, but one peer answers this workload's first Fetch with ~110 MB (every record, far over the
50 MiB ``fetch.max.bytes`` requested), which the default 100 MB ceiling refuses again and again.
``bytes_per_fetch`` shows such answers.

Note on the numbers: librdkafka stops fetching for ``fetch.queue.backoff.ms`` (1 s) whenever its
prefetch queue holds ``queued.min.messages`` (all partitions forwarded to one consumer queue share
the count), so with Kafka's fetch limits the rate is bounded by how fast the application drains
that queue, and a broker that answers faster reaches the threshold sooner. ``fetch_responses``
counts the Fetch round trips (librdkafka statistics) so the report shows how each broker answered.
"""

from __future__ import annotations

import json
import socket
import struct
import time
from typing import Any

import workload
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

BATCH_SIZE = 1 << 20


def produce_batched(bootstrap: str, topic: str, records: int, record_bytes: int,
                    timeout: float) -> dict[str, float]:
    """The producer of the workload: acks=1 (librdkafka's default is all; the phase measures the
    consumer), linger.ms=5, batch.size=1 MiB."""
    return workload.produce(bootstrap, topic, records, record_bytes, "1", timeout,
                            {"batch.size": BATCH_SIZE}).as_dict()


def consume_default(bootstrap: str, topic: str, partitions: int, records: int, record_bytes: int,
                    timeout: float) -> dict[str, float]:
    """Read ``records`` back from the beginning of every partition with a default consumer."""
    stats: list[dict[str, Any]] = []
    client_errors: list[str] = []
    consumer = Consumer({
        "bootstrap.servers": bootstrap, "group.id": "bench-default-consumer",
        "enable.auto.commit": False, "receive.message.max.bytes": 1_000_000_000,
        # Statistics only observe (Fetch request count, bytes received); they change no fetch setting.
        "statistics.interval.ms": 200, "stats_cb": lambda s: stats.append(json.loads(s)),
        "error_cb": lambda err: client_errors.append(str(err)),
    })
    try:
        consumer.list_topics(topic, timeout=timeout)  # leader known before the clock starts
        deadline = time.monotonic() + timeout
        start = time.perf_counter()
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
        count = 0
        while count < records:
            if time.monotonic() > deadline:
                last = f"; last client error: {client_errors[-1]}" if client_errors else ""
                raise TimeoutError(f"consumed {count} of {records} records in {timeout:.0f} s{last}")
            for msg in consumer.consume(min(10000, records - count), 0.5):
                err = msg.error()
                if err is not None:
                    # Errors of our partitions fail the phase; others (one peer answers FindCoordinator,
                    # which a consumer with a group.id asks even when it only assigns, with a frame
                    # librdkafka cannot parse) are what the application would log and ignore.
                    if err.fatal() or (msg.topic() == topic and msg.partition() is not None
                                       and msg.partition() >= 0):
                        raise KafkaException(err)
                    client_errors.append(str(err))
                    continue
                count += 1
        elapsed = time.perf_counter() - start
        consumer.poll(0.3)  # one more statistics callback covering the whole phase
    finally:
        consumer.close()
    out: dict[str, float] = {
        "records": count, "seconds": round(elapsed, 3), "records_per_s": round(count / elapsed, 1),
        "mb_per_s": round(count * record_bytes / elapsed / 1e6, 2),
    }
    fetches, rx_bytes = _fetch_stats(stats)
    if fetches:
        out["fetch_responses"] = fetches
        out["bytes_per_fetch"] = round(rx_bytes / fetches)
    return out


def _fetch_stats(stats: list[dict[str, Any]]) -> tuple[int, int]:
    """(Fetch requests sent, bytes received) by the consumer's broker connections, from the last
    librdkafka statistics report (STATISTICS.md: brokers.*.req.Fetch, brokers.*.rxbytes)."""
    if not stats:
        return 0, 0
    fetches = rx = 0
    for broker in stats[-1].get("brokers", {}).values():
        if broker.get("nodeid", -1) < 0:
            continue  # the bootstrap connection
        fetches += int(broker.get("req", {}).get("Fetch", 0))
        rx += int(broker.get("rxbytes", 0))
    return fetches, rx


# --- a probe of the limits: one raw Fetch v4 as a default consumer would send it -----------------

PROBE_PARTITION_MAX_BYTES = 1 << 20  # librdkafka's max.partition.fetch.bytes default
PROBE_MAX_BYTES = 50 << 20  # librdkafka's fetch.max.bytes default


def probe_fetch_limits(bootstrap: str, topic: str, partitions: int, timeout: float) -> dict[str, float]:
    """Send one Fetch v11 for every partition from offset 0 with librdkafka's default limits and
    report the largest partition answer and the whole response's size, so the report shows whether
    a broker keeps to max.partition.fetch.bytes / fetch.max.bytes (KIP-74 allows one oversized first
    batch). Encoded by hand from FetchRequest.json v11 (the last version before flexible encoding)
    so the benchmark needs no second client library."""
    host, port = bootstrap.rsplit(":", 1)
    name = topic.encode()
    # replica_id, max_wait_ms, min_bytes, max_bytes, isolation_level, session_id, session_epoch;
    # max_wait_ms 100, not 0: one peer answers a max_wait_ms=0 Fetch with no topics at all.
    body = struct.pack(">iiiibii", -1, 100, 1, PROBE_MAX_BYTES, 0, 0, -1)
    body += struct.pack(">ih", 1, len(name)) + name + struct.pack(">i", partitions)
    # partition, current_leader_epoch, fetch_offset, log_start_offset, partition_max_bytes
    body += b"".join(struct.pack(">iiqqi", p, -1, 0, -1, PROBE_PARTITION_MAX_BYTES)
                     for p in range(partitions))
    body += struct.pack(">ih", 0, 0)  # no forgotten topics, rack_id ""
    client_id = b"bench-probe"
    header = struct.pack(">hhih", 1, 11, 7, len(client_id)) + client_id
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(struct.pack(">i", len(header) + len(body)) + header + body)
        (size,) = struct.unpack(">i", _recv_exactly(sock, 4))
        resp = _recv_exactly(sock, size)
    pos = 4 + 4 + 2 + 4  # correlation id, throttle_time_ms, error_code, session_id
    largest = 0
    (n_topics,) = struct.unpack_from(">i", resp, pos)
    pos += 4
    for _ in range(n_topics):
        (name_len,) = struct.unpack_from(">h", resp, pos)
        pos += 2 + name_len
        (n_parts,) = struct.unpack_from(">i", resp, pos)
        pos += 4
        for _ in range(n_parts):
            pos += 4 + 2 + 8 + 8 + 8  # partition, error_code, high_watermark, lso, log_start_offset
            (n_aborted,) = struct.unpack_from(">i", resp, pos)
            pos += 4 + 16 * max(0, n_aborted) + 4  # ... and preferred_read_replica
            (records,) = struct.unpack_from(">i", resp, pos)
            pos += 4 + max(0, records)
            largest = max(largest, records)
    if not n_topics:
        raise RuntimeError(f"Fetch v11 probe answered with no topics ({size} bytes)")
    return {"largest_partition_bytes": largest, "response_bytes": size + 4}


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(min(1 << 20, n - len(buf)))
        if not chunk:
            raise ConnectionError(f"closed after {len(buf)} of {n} bytes")
        buf += chunk
    return bytes(buf)
