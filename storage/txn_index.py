"""The aborted-transaction index of one segment, ``<base offset>.txnindex`` (Kafka's TransactionIndex
and AbortedTxn), plus the end-transaction marker a control batch carries (EndTransactionMarker).

File format, one fixed-size entry per transaction whose ABORT marker was written in this segment, in
marker order (big-endian, 34 bytes):

    int16 version (0) | int64 producerId | int64 firstOffset | int64 lastOffset | int64 lastStableOffset

``lastOffset`` is the marker's offset; ``lastStableOffset`` the partition's LSO right after the
abort, which lets a search stop early (every transaction aborted later started at or after it). The
file is created with the first entry, written immediately on append (fsynced with the segment's other
files by a flush), and kept in memory as well: fetches never read it back. A segment that recovery
rescans gets its index rebuilt from the markers it holds (PartitionLog.open).
"""

from __future__ import annotations

import logging
import os
import struct
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

from pykafka_broker.protocol.errors import ErrorCode, KafkaError
from pykafka_broker.protocol.records import NO_SEQUENCE, build_batch, decode_records, iter_batches

from .files import truncate_path, write_all

log = logging.getLogger(__name__)

ABORTED_TXN_VERSION = 0
_ENTRY = struct.Struct(">hqqqq")
ENTRY_SIZE = _ENTRY.size  # 34

# Control record key/value of an end-transaction marker (EndTransactionMarker, ControlRecordType).
CONTROL_TYPE_ABORT, CONTROL_TYPE_COMMIT = 0, 1
_CONTROL_KEY = struct.Struct(">hh")
_MARKER_VALUE = struct.Struct(">hi")


class AbortedTxn(NamedTuple):
    producer_id: int
    first_offset: int
    last_offset: int
    last_stable_offset: int

    def encode(self) -> bytes:
        return _ENTRY.pack(ABORTED_TXN_VERSION, *self)


class EndTxnMarker(NamedTuple):
    committed: bool
    coordinator_epoch: int


def end_txn_marker_record(committed: bool, coordinator_epoch: int) -> tuple[bytes, bytes]:
    """(key, value) of the single record of a COMMIT or ABORT control batch."""
    key = _CONTROL_KEY.pack(0, CONTROL_TYPE_COMMIT if committed else CONTROL_TYPE_ABORT)
    return key, _MARKER_VALUE.pack(0, coordinator_epoch)


def build_control_batch(producer_id: int, producer_epoch: int, committed: bool, coordinator_epoch: int,
                        now_ms: int) -> bytearray:
    """A one-record COMMIT/ABORT control batch (transactional and control attributes, no sequence),
    stamped with leader epoch 0 like every batch on this node."""
    key, value = end_txn_marker_record(committed, coordinator_epoch)
    return build_batch([(key, value, [], now_ms)], producer_id=producer_id, producer_epoch=producer_epoch,
                       base_sequence=NO_SEQUENCE, transactional=True, control=True, partition_leader_epoch=0)


def parse_end_txn_marker(batch: bytes | bytearray | memoryview) -> EndTxnMarker | None:
    """The marker of a control batch, or None for an empty batch or another control type."""
    records = decode_records(batch)
    if not records:
        return None  # compaction may leave an empty control batch; it completes nothing
    key, value = records[0].key, records[0].value
    if key is None or len(key) < _CONTROL_KEY.size:
        raise KafkaError(ErrorCode.CORRUPT_MESSAGE, "control record key is too short")
    _version, ctype = _CONTROL_KEY.unpack_from(key)
    if ctype not in (CONTROL_TYPE_ABORT, CONTROL_TYPE_COMMIT):
        return None
    if value is None or len(value) < _MARKER_VALUE.size:
        raise KafkaError(ErrorCode.CORRUPT_MESSAGE, "end transaction marker value is too short")
    _version, coordinator_epoch = _MARKER_VALUE.unpack_from(value)
    return EndTxnMarker(ctype == CONTROL_TYPE_COMMIT, coordinator_epoch)


class TransactionIndex:
    """Entries in memory, mirrored to the file; the file exists only once there is an entry."""

    __slots__ = ("_path", "base_offset", "entries")

    def __init__(self, path: str | Path, base_offset: int) -> None:
        self._path = str(path)  # a str: one of these per segment of every partition
        self.base_offset = base_offset
        self.entries: list[AbortedTxn] = []

    @property
    def path(self) -> Path:
        return Path(self._path)

    @path.setter
    def path(self, path: Path) -> None:
        self._path = str(path)

    def load(self) -> bool:
        """Read the file; False (and no entries) when it is torn or insane, so the segment is
        recovered and the index rebuilt."""
        self.entries = []
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return True
        if len(data) % ENTRY_SIZE:
            return False
        entries: list[AbortedTxn] = []
        for pos in range(0, len(data), ENTRY_SIZE):
            version, *fields = _ENTRY.unpack_from(data, pos)
            entry = AbortedTxn(*fields)
            previous = entries[-1].last_offset if entries else -1
            if (version != ABORTED_TXN_VERSION or entry.last_offset < self.base_offset
                    or entry.last_offset <= previous or entry.first_offset > entry.last_offset):
                log.warning("transaction index %s has an invalid entry at byte %d", self.path, pos)
                return False
            entries.append(entry)
        self.entries = entries
        return True

    def append(self, entry: AbortedTxn) -> None:
        if self.entries and entry.last_offset <= self.entries[-1].last_offset:
            raise ValueError(f"aborted transaction ending at {entry.last_offset} does not follow "
                             f"{self.entries[-1].last_offset} in {self.path}")
        fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            write_all(fd, entry.encode())
        finally:
            os.close(fd)
        self.entries.append(entry)

    def reset(self) -> None:
        """Drop every entry (before a rebuild); the file goes too."""
        self.entries = []
        self.path.unlink(missing_ok=True)

    def truncate_to(self, offset: int) -> None:
        """Drop the entries of transactions whose marker is at or past ``offset`` (log truncation)."""
        keep = [e for e in self.entries if e.last_offset < offset]
        if len(keep) == len(self.entries):
            return
        self.entries = keep
        if keep:
            truncate_path(self.path, len(keep) * ENTRY_SIZE)
        else:
            self.path.unlink(missing_ok=True)

    def collect(self, fetch_offset: int, upper_bound: int, out: list[AbortedTxn]) -> bool:
        """Add the entries overlapping [fetch_offset, upper_bound) to ``out``; True when the search
        is complete (an entry's LSO reached ``upper_bound``: later aborts all start past it)."""
        for entry in self.entries:
            if entry.last_offset >= fetch_offset and entry.first_offset < upper_bound:
                out.append(entry)
            if entry.last_stable_offset >= upper_bound:
                return True
        return False


def collect_aborted(indexes: Iterable[TransactionIndex], fetch_offset: int, upper_bound: int
                    ) -> list[tuple[int, int]]:
    """(producerId, firstOffset) of the aborted transactions overlapping [fetch_offset, upper_bound),
    from the indexes of the segment holding ``fetch_offset`` onwards (UnifiedLog.collectAbortedTransactions:
    a transaction is indexed where its marker is, so no earlier segment can hold one ending at or
    after ``fetch_offset``)."""
    found: list[AbortedTxn] = []
    for index in indexes:
        if index.collect(fetch_offset, upper_bound, found):
            break
    return [(e.producer_id, e.first_offset) for e in found]


def cut_at_offset(chunks: list[bytes | memoryview], max_offset: int) -> tuple[list[bytes | memoryview], int]:
    """Keep the whole batches of ``chunks`` whose base offset is below ``max_offset`` (a fetch bounded
    by the last stable offset: nothing at or past it is returned); (chunks, total size)."""
    kept: list[bytes | memoryview] = []
    total = 0
    for chunk in chunks:
        end = 0
        for pos, header in iter_batches(chunk):
            if header.base_offset >= max_offset:
                break
            end = pos + header.size
        else:
            kept.append(chunk)
            total += len(chunk)
            continue
        if end:
            kept.append(memoryview(chunk)[:end])
            total += end
        break
    return kept, total


def encode_entries(entries: Iterable[AbortedTxn]) -> bytes:
    """The file image of ``entries`` (tests, offline tools)."""
    return b"".join(e.encode() for e in entries)
