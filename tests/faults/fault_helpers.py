"""A file layer that fails on demand (storage/files.py ``FileIO``), and small log helpers.

Faults are armed per call kind and limited to files whose path contains ``match``, so one log of a
data dir can fail while its neighbours keep working. The fd's path comes from /proc/self/fd."""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path

from pykafka_broker.protocol.records import build_batch, iter_batches, read_batch_header
from pykafka_broker.storage.files import FileIO
from pykafka_broker.storage.log import LogConfig, PartitionLog

NOW = 1_700_000_000_000


def fd_path(fd: int) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return ""


class FaultyIO(FileIO):
    def __init__(self, match: str = "") -> None:
        self.match = match
        self.short_write: tuple[int, int] | None = None  # (bytes let through, errno raised next)
        self.write_errno: int | None = None  # every write fails with this
        self.truncate_errno: int | None = None
        self.fsync_errno: int | None = None
        self.pwrite_errno: int | None = None
        self._raise_next: int | None = None
        self.fsyncs = 0
        self.synced: list[str] = []  # the path of every file fsynced, in order

    def _hit(self, fd: int) -> bool:
        return self.match in fd_path(fd)

    def write(self, fd: int, data: memoryview) -> int:
        if self._hit(fd):
            if self._raise_next is not None:
                code, self._raise_next = self._raise_next, None
                raise OSError(code, os.strerror(code), fd_path(fd))
            if self.short_write is not None:
                let_through, code = self.short_write
                self.short_write = None
                self._raise_next = code
                return os.write(fd, data[:let_through])
            if self.write_errno is not None:
                raise OSError(self.write_errno, os.strerror(self.write_errno), fd_path(fd))
        return os.write(fd, data)

    def pwrite(self, fd: int, data: bytes, offset: int) -> int:
        if self.pwrite_errno is not None and self._hit(fd):
            raise OSError(self.pwrite_errno, os.strerror(self.pwrite_errno), fd_path(fd))
        return os.pwrite(fd, data, offset)

    def ftruncate(self, fd: int, length: int) -> None:
        if self.truncate_errno is not None and self._hit(fd):
            raise OSError(self.truncate_errno, os.strerror(self.truncate_errno), fd_path(fd))
        os.ftruncate(fd, length)

    def fsync(self, fd: int) -> None:
        if self.fsync_errno is not None and self._hit(fd):
            raise OSError(self.fsync_errno, os.strerror(self.fsync_errno), fd_path(fd))
        self.fsyncs += 1
        self.synced.append(fd_path(fd))
        os.fsync(fd)


ENOSPC, EIO = errno.ENOSPC, errno.EIO


def batch(tag: int, count: int = 3, size: int = 40) -> bytearray:
    """A batch whose values say which batch and record they are (``b<tag>-<i>``), padded."""
    return build_batch([(b"k", b"b%d-%d-" % (tag, i) + b"x" * size, [], NOW + i) for i in range(count)])


def append(plog: PartitionLog, data: bytearray, now: int = NOW) -> int:
    return plog.append(data, read_batch_header(data), now).base_offset


def open_log(path: Path, config: LogConfig | None = None, *, recovery_point: int | None = 0) -> PartitionLog:
    return PartitionLog.open(path, "t", 0, config or LogConfig(), recovery_point=recovery_point, now_ms=NOW)


def read_all(plog: PartitionLog) -> list[bytes]:
    """Every batch from the log start to its end, as bytes (from the second, the bytes on disk)."""
    out: list[bytes] = []
    offset = plog.log_start_offset
    while offset < plog.log_end_offset:
        result = plog.read(offset, 1 << 20)
        data = b"".join(bytes(c) for c in result.chunks)
        found = list(iter_batches(data))
        if not found:
            break
        for pos, header in found:
            out.append(data[pos : pos + header.size])
            offset = header.next_offset
    return out


def values(batches: list[bytes]) -> list[bytes]:
    """The record values of batches (built by ``batch``), in order."""
    from pykafka_broker.protocol.records import decode_records
    return [r.value for b in batches for r in decode_records(b)]


def consume_all(bootstrap: str, topic: str, expected: int) -> list[bytes]:
    """Every value of partition 0 from the start, read with kafka-python until ``expected`` values
    arrived or 20 s passed."""
    from kafka import KafkaConsumer, TopicPartition
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                             auto_offset_reset="earliest", consumer_timeout_ms=2000)
    tp = TopicPartition(topic, 0)
    consumer.assign([tp])
    consumer.seek_to_beginning(tp)
    out: list[bytes] = []
    deadline = time.monotonic() + 20
    try:
        while len(out) < expected and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                out.extend(r.value for r in records)
    finally:
        consumer.close()
    return out
