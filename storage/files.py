"""File helpers shared by the storage layer: Kafka's file names, atomic metadata writes, full writes,
and a buffered scanner that walks the record-batch headers of a segment file with ``os.pread``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from pykafka_broker.protocol.records import BATCH_HEADER_SIZE, LOG_OVERHEAD, BatchHeader, read_batch_header

LOG_SUFFIX = ".log"
INDEX_SUFFIX = ".index"
TIME_INDEX_SUFFIX = ".timeindex"
SNAPSHOT_SUFFIX = ".snapshot"
TMP_SUFFIX = ".tmp"
# Left behind by a crash in the middle of a delete or a compaction (Kafka's LogFileUtils suffixes).
STRAY_SUFFIXES = (".deleted", ".cleaned", TMP_SUFFIX)

SCAN_CHUNK = 1 << 20


def offset_file_name(offset: int, suffix: str) -> str:
    """``00000000000000000042.log``: Kafka names segment files by the 20-digit base offset."""
    return f"{offset:020d}{suffix}"


def offset_from_file_name(name: str) -> int | None:
    """The offset a file is named by, or None when the stem is not 20 digits."""
    stem = name.split(".", 1)[0]
    if len(stem) != 20 or not stem.isdigit():
        return None
    return int(stem)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes) -> None:
    """Write metadata so a crash leaves either the old or the new file: tmp, fsync, rename, fsync dir."""
    tmp = path.with_name(path.name + TMP_SUFFIX)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
    """os.write may write less than asked (signals, full disks); loop until every byte is out."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def fsync_path(path: Path) -> None:
    """fsync a file that is not kept open (rolled segments, index files). Missing files are skipped."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class BatchScanner:
    """Walk the batches of ``fd`` between ``start`` and ``end`` with buffered preads.

    Yields ``(position, header, batch)`` where ``batch`` is the whole batch as a memoryview when
    ``with_body`` is set, else None. Stops at the first position where no complete, plausible batch
    is present (fewer bytes than a header, a batchLength too small, or a batch running past ``end``);
    ``position`` then tells where the walk stopped, so ``position < end`` means a torn tail."""

    def __init__(self, fd: int, start: int, end: int, *, with_body: bool = False,
                 chunk: int = SCAN_CHUNK) -> None:
        self.fd = fd
        self.position = start
        self.end = end
        self.with_body = with_body
        self.chunk = chunk

    def __iter__(self) -> Iterator[tuple[int, BatchHeader, memoryview | None]]:
        buf = b""
        buf_pos = self.position
        while True:
            pos = self.position
            if pos + BATCH_HEADER_SIZE > self.end:
                return
            off = pos - buf_pos
            if off + BATCH_HEADER_SIZE > len(buf):
                buf = os.pread(self.fd, min(self.chunk, self.end - pos), pos)
                buf_pos, off = pos, 0
                if len(buf) < BATCH_HEADER_SIZE:
                    return
            header = read_batch_header(buf, off)
            if header.batch_length < BATCH_HEADER_SIZE - LOG_OVERHEAD or pos + header.size > self.end:
                return
            body: memoryview | None = None
            if self.with_body:
                if off + header.size > len(buf):
                    buf = os.pread(self.fd, min(max(self.chunk, header.size), self.end - pos), pos)
                    buf_pos, off = pos, 0
                    if len(buf) < header.size:
                        return
                body = memoryview(buf)[off : off + header.size]
            yield pos, header, body
            self.position = pos + header.size
