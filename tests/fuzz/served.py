"""After a run: what the restarted broker serves. Every batch a Fetch returns is judged by the oracle.

Fetch v12 requests are built and their responses decoded with kafka-python's message classes (an
encoder independent of the broker's), read_uncommitted from the log start to the high watermark.
A trailing partial batch (Fetch may cut one at ``partition_max_bytes``) is not counted; the next
fetch starts after the last complete batch. Bounded: at most ``max_partitions`` partitions (the
ones with the most bytes on disk) and ``max_fetches`` requests in all.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass, field
from pathlib import Path

from batches import check_batch, iter_log_batches
from kafka.protocol.consumer import FetchRequest, FetchResponse

FETCH_V = 12


@dataclass
class ServedReport:
    partitions: int = 0
    batches: int = 0
    invalid: int = 0
    errors: int = 0  # partitions answered with an error code other than 0 (OFFSET_OUT_OF_RANGE...)
    examples: list[str] = field(default_factory=list)


def _partitions(data_dir: Path, max_partitions: int) -> list[tuple[str, int]]:
    sized = []
    for p in data_dir.iterdir():
        topic, _, index = p.name.rpartition("-")
        if not p.is_dir() or not index.isdigit() or topic.startswith("__"):
            continue
        size = sum(f.stat().st_size for f in p.glob("*.log"))
        if size:
            sized.append((size, topic, int(index)))
    sized.sort(reverse=True)
    return [(t, i) for _, t, i in sized[:max_partitions]]


def _fetch(sock: socket.socket, corr: int, topic: str, partition: int,
           offset: int) -> tuple[int, int, int, bytes]:
    ft = FetchRequest.FetchTopic
    req = FetchRequest(replica_id=-1, max_wait_ms=0, min_bytes=0, max_bytes=4 << 20, isolation_level=0,
                       session_id=0, session_epoch=-1, topics=[ft(topic=topic, partitions=[
                           ft.FetchPartition(partition=partition, fetch_offset=offset,
                                             partition_max_bytes=1 << 20)])],
                       forgotten_topics_data=[], rack_id="")
    req.with_header(correlation_id=corr, client_id="fuzz-served-check")
    sock.sendall(bytes(req.encode(version=FETCH_V, header=True, framed=True)))
    size = struct.unpack(">i", _read(sock, 4))[0]
    frame = _read(sock, size)
    resp = FetchResponse.decode(frame[5:], version=FETCH_V)  # correlation id, empty tagged fields
    p = resp.responses[0].partitions[0]
    return p.error_code, p.high_watermark, p.log_start_offset, bytes(p.records or b"")


def _read(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed by the broker")
        buf += chunk
    return bytes(buf)


def check_served(port: int, data_dir: Path, *, max_partitions: int = 32, max_fetches: int = 2000,
                 timeout: float = 10.0) -> ServedReport:
    rep = ServedReport()
    fetches = 0
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        for topic, partition in _partitions(data_dir, max_partitions):
            rep.partitions += 1
            offset = 0
            while fetches < max_fetches:
                fetches += 1
                error, hwm, log_start, records = _fetch(sock, fetches, topic, partition, offset)
                if error == 1 and offset < log_start:  # OFFSET_OUT_OF_RANGE: the log starts later
                    offset = log_start
                    continue
                if error:
                    rep.errors += 1
                    break
                complete = [b for _, b in iter_log_batches(records) if b is not None]
                if not complete:
                    break
                for batch in complete:
                    rep.batches += 1
                    v = check_batch(batch, from_client=False)
                    if not v.valid:
                        rep.invalid += 1
                        if len(rep.examples) < 5:
                            base = struct.unpack_from(">q", batch)[0]
                            rep.examples.append(f"{topic}-{partition} offset {base}: {v.reason}")
                last = complete[-1]
                offset = struct.unpack_from(">q", last)[0] + struct.unpack_from(">i", last, 23)[0] + 1
                if offset >= hwm:
                    break
    return rep
