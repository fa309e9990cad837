"""Idempotent- and transactional-producer state of one partition, after Kafka's ProducerStateManager.

Per producer id we keep the epoch, the metadata of its last five batches, the coordinator epoch of
its last end-transaction marker and the first offset of its ongoing transaction (KIP-98). An append
is *validated* first (``check`` / ``check_marker``: no mutation; may raise or report a duplicate),
then written to the log, then *committed* (``commit``). Recovery replays batches through ``commit``
alone, so the rebuilt state is exactly what validation-then-commit produced before the crash.

Transactions: a transactional batch opens its producer's transaction at its base offset unless one
is open; the producer's COMMIT or ABORT marker closes it, and ``commit`` then returns the completed
transaction with the last stable offset right after it (ProducerStateManager.lastStableOffset), for
the log to put aborted ones in the segment's ``.txnindex``. The first unstable offset is the least
first offset of the open transactions.

Snapshots ``<20-digit offset>.snapshot`` hold the state as of that offset, in our own format:

    magic "PKPS" | int16 version | uint32 CRC-32C of the payload | payload
    payload: int32 count, then per producer
        int64 producerId, int16 epoch, int32 coordinatorEpoch, int64 currentTxnFirstOffset,
        int8 batch count, then per batch int32 firstSeq, int32 lastSeq, int64 firstOffset,
        int64 lastOffset, int64 maxTimestamp
"""

from __future__ import annotations

import logging
import os
import struct
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import crc32c

from pykafka_broker.protocol.errors import ErrorCode, KafkaError
from pykafka_broker.protocol.records import NO_SEQUENCE, BatchHeader

from .files import SNAPSHOT_SUFFIX, atomic_write, offset_file_name, offset_from_file_name
from .txn_index import AbortedTxn, EndTxnMarker

log = logging.getLogger(__name__)

NUM_BATCHES_TO_RETAIN = 5  # Kafka's ProducerStateEntry.NUM_BATCHES_TO_RETAIN
SNAPSHOTS_TO_KEEP = 2
_SEQ_MODULUS = 0x80000000

_MAGIC = b"PKPS"
_PREFIX = struct.Struct(">4shI")
_COUNT = struct.Struct(">i")
_PRODUCER = struct.Struct(">qhiqb")
_BATCH = struct.Struct(">iiqqq")
_VERSION = 1


@dataclass(frozen=True, slots=True)
class BatchMetadata:
    first_seq: int
    last_seq: int
    first_offset: int
    last_offset: int
    max_timestamp: int


@dataclass(slots=True)
class ProducerEntry:
    producer_id: int
    epoch: int
    batches: deque[BatchMetadata] = field(default_factory=lambda: deque(maxlen=NUM_BATCHES_TO_RETAIN))
    coordinator_epoch: int = -1  # of the last end-transaction marker
    current_txn_first_offset: int = -1  # -1: no transaction open
    # Timestamp of its last batch or marker (ProducerStateEntry.lastTimestamp), for expiration. Not in
    # the snapshot: after a restart it is the last retained batch's, or -1 when none is.
    last_timestamp: int = -1

    @property
    def last_seq(self) -> int:
        return self.batches[-1].last_seq if self.batches else NO_SEQUENCE

    def find_duplicate(self, first_seq: int, last_seq: int) -> BatchMetadata | None:
        for meta in self.batches:
            if meta.first_seq == first_seq and meta.last_seq == last_seq:
                return meta
        return None


@dataclass(frozen=True, slots=True)
class CompletedTxn:
    """A transaction closed by a marker: offsets [first_offset, last_offset] (the marker's), and the
    partition's last stable offset once it is closed."""

    producer_id: int
    first_offset: int
    last_offset: int
    aborted: bool
    last_stable_offset: int

    def as_aborted_txn(self) -> AbortedTxn:
        return AbortedTxn(self.producer_id, self.first_offset, self.last_offset, self.last_stable_offset)


class CorruptSnapshotError(Exception):
    pass


class ProducerStateManager:
    def __init__(self, dir: Path) -> None:
        self.dir = dir
        self.producers: dict[int, ProducerEntry] = {}
        self.ongoing: dict[int, int] = {}  # producer id -> first offset of its open transaction

    # -- validate, then commit ------------------------------------------------------------------

    def check(self, header: BatchHeader) -> BatchMetadata | None:
        """Validate a batch before it is appended, without mutating anything.

        Returns the metadata of the original batch when this one is a retried duplicate (the caller
        then writes nothing), None when it may be appended; raises KafkaError otherwise."""
        if header.producer_id < 0:
            return None
        entry = self.producers.get(header.producer_id)
        if entry is None:
            # Unknown (new or expired) producer: accept any first sequence (KIP-360 behaviour).
            return None
        epoch = header.producer_epoch
        if epoch < entry.epoch:
            raise KafkaError(ErrorCode.INVALID_PRODUCER_EPOCH,
                             f"producer {header.producer_id} epoch {epoch} is older than {entry.epoch}")
        if header.is_control:
            return None
        if entry.current_txn_first_offset >= 0 and not header.is_transactional:
            # ProducerAppendInfo.appendDataBatch: no plain writes inside an open transaction.
            raise KafkaError(ErrorCode.INVALID_TXN_STATE,
                             f"expected a transactional write from producer {header.producer_id}, "
                             f"whose transaction opened at offset {entry.current_txn_first_offset}")
        if header.base_sequence == NO_SEQUENCE:
            return None
        if epoch > entry.epoch:
            if header.base_sequence != 0:
                raise KafkaError(ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER,
                                 f"new epoch {epoch} must start at sequence 0, got {header.base_sequence}")
            return None
        duplicate = entry.find_duplicate(header.base_sequence, header.last_sequence)
        if duplicate is not None:
            return duplicate
        last_seq = entry.last_seq
        if last_seq != NO_SEQUENCE and header.base_sequence != (last_seq + 1) % _SEQ_MODULUS:
            expected = (last_seq + 1) % _SEQ_MODULUS
            raise KafkaError(ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER,
                             f"producer {header.producer_id}: expected sequence {expected},"
                             f" got {header.base_sequence}")
        return None

    def check_marker(self, producer_id: int, producer_epoch: int, coordinator_epoch: int) -> None:
        """Validate an end-transaction marker before it is written (appendEndTxnMarker, TV1 rules: the
        marker's epoch may be the producer's or newer)."""
        entry = self.producers.get(producer_id)
        if entry is None:
            return
        if producer_epoch < entry.epoch:
            raise KafkaError(ErrorCode.INVALID_PRODUCER_EPOCH,
                             f"marker epoch {producer_epoch} of producer {producer_id} is older than "
                             f"{entry.epoch}")
        if coordinator_epoch < entry.coordinator_epoch:
            raise KafkaError(ErrorCode.TRANSACTION_COORDINATOR_FENCED,
                             f"marker for producer {producer_id} has coordinator epoch {coordinator_epoch}, "
                             f"older than {entry.coordinator_epoch}")

    def commit(self, header: BatchHeader, marker: EndTxnMarker | None = None) -> CompletedTxn | None:
        """Record an appended batch; ``header`` carries its assigned offsets, ``marker`` the decoded
        record of a control batch. Also used for replay. Returns the transaction a marker completed
        (a marker with no transaction open completes nothing, as in Kafka)."""
        if header.producer_id < 0:
            return None
        pid = header.producer_id
        entry = self.producers.get(pid)
        if entry is None:
            entry = self.producers[pid] = ProducerEntry(pid, header.producer_epoch)
        elif header.producer_epoch != entry.epoch:
            # A new epoch fences the old one: its batches no longer deduplicate anything
            # (ProducerStateEntry.maybeUpdateProducerEpoch); an open transaction stays open.
            entry.epoch = header.producer_epoch
            entry.batches.clear()
        entry.last_timestamp = header.max_timestamp
        if header.is_control:
            return None if marker is None else self._complete(entry, header.base_offset, marker)
        if header.is_transactional and entry.current_txn_first_offset < 0:
            entry.current_txn_first_offset = header.base_offset
            self.ongoing[pid] = header.base_offset
        if header.base_sequence != NO_SEQUENCE:
            entry.batches.append(BatchMetadata(header.base_sequence, header.last_sequence,
                                               header.base_offset, header.last_offset,
                                               header.max_timestamp))
        return None

    def _complete(self, entry: ProducerEntry, offset: int, marker: EndTxnMarker) -> CompletedTxn | None:
        entry.coordinator_epoch = marker.coordinator_epoch
        first = entry.current_txn_first_offset
        if first < 0:
            return None
        entry.current_txn_first_offset = -1
        del self.ongoing[entry.producer_id]
        # ProducerStateManager.lastStableOffset(completedTxn): the next open transaction, else just
        # past the marker.
        lso = min(self.ongoing.values(), default=offset + 1)
        return CompletedTxn(entry.producer_id, first, offset, not marker.committed, lso)

    def remove_expired(self, now_ms: int, expiration_ms: int) -> int:
        """Forget producers idle for ``producer.id.expiration.ms``, as Kafka's
        ProducerStateManager.removeExpiredProducers: no open transaction, and ``now`` at least
        ``expiration_ms`` past the timestamp of its last batch. The number removed; a removed
        producer's next batch is accepted with any sequence (KIP-360)."""
        expired = [pid for pid, e in self.producers.items()
                   if e.current_txn_first_offset < 0 and now_ms - e.last_timestamp >= expiration_ms]
        for pid in expired:
            del self.producers[pid]
        return len(expired)

    def first_unstable_offset(self) -> int | None:
        """First offset of the earliest open transaction, None when none is open."""
        return min(self.ongoing.values(), default=None)

    def clear(self) -> None:
        self.producers.clear()
        self.ongoing.clear()

    def _set_producers(self, producers: dict[int, ProducerEntry]) -> None:
        self.producers = producers
        self.ongoing = {pid: e.current_txn_first_offset for pid, e in producers.items()
                        if e.current_txn_first_offset >= 0}

    # -- snapshots -----------------------------------------------------------------------------

    def snapshot_path(self, offset: int) -> Path:
        return self.dir / offset_file_name(offset, SNAPSHOT_SUFFIX)

    def snapshot_offsets(self) -> list[int]:
        offsets = []
        for name in os.listdir(self.dir):
            if name.endswith(SNAPSHOT_SUFFIX):
                offset = offset_from_file_name(name)
                if offset is not None:
                    offsets.append(offset)
        return sorted(offsets)

    def take_snapshot(self, offset: int, *, sync: bool = True) -> None:
        """Write the state as of ``offset`` atomically and keep only the newest snapshots.
        ``sync=False`` leaves the fsync to the caller (a segment roll fsyncs it off the loop); a
        snapshot torn by a crash fails its CRC and is skipped at load."""
        parts = [_COUNT.pack(len(self.producers))]
        for entry in self.producers.values():
            parts.append(_PRODUCER.pack(entry.producer_id, entry.epoch, entry.coordinator_epoch,
                                        entry.current_txn_first_offset, len(entry.batches)))
            parts.extend(_BATCH.pack(b.first_seq, b.last_seq, b.first_offset, b.last_offset, b.max_timestamp)
                         for b in entry.batches)
        payload = b"".join(parts)
        atomic_write(self.snapshot_path(offset),
                     _PREFIX.pack(_MAGIC, _VERSION, crc32c.crc32c(payload)) + payload, sync=sync)
        for old in self.snapshot_offsets()[:-SNAPSHOTS_TO_KEEP]:
            self.snapshot_path(old).unlink(missing_ok=True)

    def delete_snapshots_after(self, offset: int) -> None:
        for snap in self.snapshot_offsets():
            if snap > offset:
                self.snapshot_path(snap).unlink(missing_ok=True)

    def load_latest_snapshot(self, max_offset: int) -> int | None:
        """Drop snapshots past ``max_offset``, load the newest readable one; its offset, or None
        (state empty) when there is none. Corrupt snapshots are deleted with a warning."""
        self.delete_snapshots_after(max_offset)
        for offset in reversed(self.snapshot_offsets()):
            path = self.snapshot_path(offset)
            try:
                self._set_producers(_decode(path.read_bytes()))
                return offset
            except (CorruptSnapshotError, struct.error) as exc:
                log.warning("deleting corrupt producer state snapshot %s: %s", path, exc)
                path.unlink(missing_ok=True)
        self._set_producers({})
        return None


def _decode(data: bytes) -> dict[int, ProducerEntry]:
    if len(data) < _PREFIX.size:
        raise CorruptSnapshotError("file too short")
    magic, version, crc = _PREFIX.unpack_from(data)
    if magic != _MAGIC or version != _VERSION:
        raise CorruptSnapshotError(f"unknown magic/version {magic!r}/{version}")
    payload = memoryview(data)[_PREFIX.size :]
    if crc32c.crc32c(payload) != crc:
        raise CorruptSnapshotError("CRC mismatch")
    (count,) = _COUNT.unpack_from(payload)
    pos = _COUNT.size
    producers: dict[int, ProducerEntry] = {}
    for _ in range(count):
        pid, epoch, coordinator_epoch, txn_first, nbatches = _PRODUCER.unpack_from(payload, pos)
        pos += _PRODUCER.size
        entry = ProducerEntry(pid, epoch, coordinator_epoch=coordinator_epoch,
                              current_txn_first_offset=txn_first)
        for _ in range(nbatches):
            entry.batches.append(BatchMetadata(*_BATCH.unpack_from(payload, pos)))
            pos += _BATCH.size
        if entry.batches:
            entry.last_timestamp = entry.batches[-1].max_timestamp
        producers[pid] = entry
    if pos != len(payload):
        raise CorruptSnapshotError("trailing bytes")
    return producers
