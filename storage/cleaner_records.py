"""Record-level work of the log cleaner: walk the records of a batch without decoding more than the
cleaner needs, decide which survive, and re-encode a batch from the survivors.

A cleaned batch keeps everything that identifies it: its base offset, ``lastOffsetDelta`` (so the
next offset, and an idempotent producer's last sequence, stay what they were -- the v2 format keeps
that field for exactly this, see DefaultRecordBatch), partition leader epoch, producer id, epoch and
base sequence, the transactional/control/timestamp-type bits and the codec (a compressed batch is
recompressed with its own codec). Surviving records are copied byte for byte, so their offset deltas,
keys, values and headers are untouched; only when the batch gains a delete horizon (KIP-534:
attribute bit 6, the horizon stored in ``baseTimestamp``) are their timestamp deltas rewritten
against the new base, so every record keeps its timestamp.

The decisions follow Kafka's ``LogCleaner.cleanInto``/``shouldRetainRecord`` and
``CleanedTransactionMetadata``; see storage/cleaner.py for the whole pass.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

from pykafka_broker.protocol.compression import compress
from pykafka_broker.protocol.record_walk import iter_record_spans
from pykafka_broker.protocol.record_walk import records_section as walk_section
from pykafka_broker.protocol.records import (
    BATCH_HEADER_SIZE,
    COMPRESSION_MASK,
    CRC_OFFSET,
    LOG_OVERHEAD,
    BatchHeader,
    compute_crc,
    varint_bytes,
)

DELETE_HORIZON_FLAG = 0x40  # attributes bit 6 (KIP-534)
CONTROL_ABORT, CONTROL_COMMIT = 0, 1
_HEADER = struct.Struct(">qiiBIhiqqqhii")
_I = struct.Struct(">I")
_CONTROL_KEY = struct.Struct(">hh")  # version, type (ControlRecordType)


class RawRecord(NamedTuple):
    start: int  # position of the record's length varint in the records section
    ts_start: int  # position of the timestamp delta (just after the attributes byte)
    ts_end: int
    end: int
    timestamp_delta: int
    offset_delta: int
    key: bytes | None
    has_value: bool


def records_section(batch: bytes | memoryview, header: BatchHeader) -> bytes | bytearray | memoryview:
    """The records of ``batch`` (one whole batch), decompressed with the protocol's bounded output."""
    return walk_section(batch, header.compression, header.size)


def iter_raw_records(section: bytes | bytearray | memoryview, count: int) -> Iterator[RawRecord]:
    """Positions and the fields the cleaner needs of each record, from the protocol's record walker;
    a malformed record raises (KafkaError), and the caller keeps such a batch as it is."""
    for span in iter_record_spans(section, count):
        klen = span.key_length
        key = None if klen < 0 else bytes(section[span.key_start : span.key_start + klen])
        yield RawRecord(span.start, span.ts_start, span.ts_end, span.end, span.timestamp_delta,
                        span.offset_delta, key, span.value_length >= 0)


def control_type(batch: bytes | memoryview, header: BatchHeader) -> int:
    """ControlRecordType of a control batch (ABORT 0, COMMIT 1; -1 when unreadable)."""
    try:
        section = records_section(batch, header)
        for rec in iter_raw_records(section, 1):
            if rec.key is not None and len(rec.key) >= _CONTROL_KEY.size:
                return int(_CONTROL_KEY.unpack_from(rec.key)[1])
    except (ValueError, Exception):  # noqa: BLE001 - a corrupt marker is simply kept
        return -1
    return -1


def encode_batch(header: BatchHeader, section: bytes, count: int, *, attributes: int,
                 base_timestamp: int, max_timestamp: int) -> bytearray:
    """A batch with ``header``'s identity (offsets, producer fields, epoch) around ``section``
    (uncompressed records), compressed with the codec named in ``attributes``; CRC set."""
    codec = attributes & COMPRESSION_MASK
    out = bytearray(BATCH_HEADER_SIZE)
    out += compress(codec, section) if codec and count else section
    _HEADER.pack_into(out, 0, header.base_offset, len(out) - LOG_OVERHEAD, header.partition_leader_epoch,
                      2, 0, attributes, header.last_offset_delta, base_timestamp, max_timestamp,
                      header.producer_id, header.producer_epoch, header.base_sequence, count)
    _I.pack_into(out, CRC_OFFSET, compute_crc(out, 0, len(out)))
    return out


@dataclass(slots=True)
class BatchFilter:
    """What one cleaning pass knows when it decides about a batch.

    ``offset_map``: key -> offset of its latest record in the dirty range; records at or below
    ``map_latest`` survive when they are the latest of their key (or their key was not in the dirty
    range); records past it were not covered by the map and all survive. ``aborted`` and
    ``undecided`` hold base offsets of transactional batches whose transaction was aborted, or whose
    marker is not in the cleanable range yet (kept untouched). ``last_data_offsets``: producer id ->
    last offset of that producer's last data batch, which is never removed (for idempotence)."""

    offset_map: dict[bytes, int]
    map_latest: int
    now_ms: int
    delete_retention_ms: int
    aborted: set[int] = field(default_factory=set)
    undecided: set[int] = field(default_factory=set)
    last_data_offsets: dict[int, int] = field(default_factory=dict)
    # Per producer id: does its transaction in progress (in offset order) still hold any data?
    txn_has_data: dict[int, bool] = field(default_factory=dict)
    min_delete_horizon: int | None = None  # earliest horizon of a batch still holding tombstones/markers
    records_removed: int = 0

    def _horizon_seen(self, horizon: int) -> None:
        if self.min_delete_horizon is None or horizon < self.min_delete_horizon:
            self.min_delete_horizon = horizon

    def clean(self, batch: memoryview, header: BatchHeader) -> bytes | bytearray | memoryview | None:
        """The batch to write in place of ``batch``: itself, a rebuilt one, or None (dropped)."""
        has_horizon = bool(header.attributes & DELETE_HORIZON_FLAG)
        if header.is_control:
            return self._clean_control(batch, header, has_horizon)
        if header.base_offset > self.map_latest or header.base_offset in self.undecided:
            if header.is_transactional:
                self.txn_has_data[header.producer_id] = True
            return batch
        aborted = header.is_transactional and header.base_offset in self.aborted
        try:
            section = records_section(batch, header)
            records = [] if aborted else list(iter_raw_records(section, header.records_count))
        except Exception:  # noqa: BLE001 - an unreadable batch is kept as it is, never lost
            return batch
        horizon = header.base_timestamp if has_horizon else None
        kept: list[RawRecord] = []
        tombstones = False
        for rec in records:
            if self._retain(header.base_offset + rec.offset_delta, rec, horizon):
                kept.append(rec)
                tombstones = tombstones or not rec.has_value
        self.records_removed += header.records_count - len(kept)
        if header.is_transactional and kept:
            self.txn_has_data[header.producer_id] = True
        if not kept:
            if self.last_data_offsets.get(header.producer_id) == header.last_offset:
                # The producer's last batch stays, emptied, so its sequence survives (Kafka's
                # RETAIN_EMPTY: writeEmptyHeader).
                attributes = header.attributes & ~COMPRESSION_MASK
                return encode_batch(header, b"", 0, attributes=attributes,
                                    base_timestamp=header.max_timestamp, max_timestamp=header.max_timestamp)
            return None
        set_horizon = tombstones and not has_horizon
        if tombstones:
            horizon_ms = self.now_ms + self.delete_retention_ms if set_horizon else header.base_timestamp
            self._horizon_seen(horizon_ms)
        if len(kept) == header.records_count and not set_horizon:
            return batch
        return self._rebuild(header, section, kept, set_horizon)

    def _retain(self, offset: int, rec: RawRecord, horizon: int | None) -> bool:
        """LogCleaner.shouldRetainRecord for magic 2."""
        if offset > self.map_latest:
            return True
        if rec.key is None:
            return False  # keyless records have no place in a compacted log
        if offset < self.offset_map.get(rec.key, -1):
            return False
        return rec.has_value or horizon is None or self.now_ms < horizon

    def _clean_control(self, batch: memoryview, header: BatchHeader, has_horizon: bool
                       ) -> bytes | bytearray | memoryview | None:
        """A transaction marker goes once its transaction holds no data any more and its delete
        horizon has passed; the first pass that finds it empty sets that horizon."""
        had_data = self.txn_has_data.pop(header.producer_id, False)
        if header.base_offset > self.map_latest or had_data:
            return batch
        if has_horizon:
            if self.now_ms >= header.base_timestamp:
                self.records_removed += header.records_count
                return None
            self._horizon_seen(header.base_timestamp)
            return batch
        horizon = self.now_ms + self.delete_retention_ms
        self._horizon_seen(horizon)
        try:
            section = records_section(batch, header)
            records = list(iter_raw_records(section, header.records_count))
        except Exception:  # noqa: BLE001
            return batch
        return self._rebuild(header, section, records, True, horizon)

    def _rebuild(self, header: BatchHeader, section: bytes | bytearray | memoryview, kept: list[RawRecord],
                 set_horizon: bool, horizon: int | None = None) -> bytearray:
        base_ts = header.base_timestamp
        attributes = header.attributes
        parts: list[bytes | memoryview] = []
        mv = memoryview(section)
        if set_horizon:
            new_base = self.now_ms + self.delete_retention_ms if horizon is None else horizon
            attributes |= DELETE_HORIZON_FLAG
            for rec in kept:
                # Same record, timestamp delta rebased on the horizon (the timestamp itself is kept).
                body = b"".join((mv[rec.ts_start - 1 : rec.ts_start],
                                 varint_bytes(base_ts + rec.timestamp_delta - new_base),
                                 mv[rec.ts_end : rec.end]))
                parts.append(varint_bytes(len(body)))
                parts.append(body)
        else:
            new_base = base_ts
            parts.extend(mv[rec.start : rec.end] for rec in kept)
        if header.is_log_append_time:
            max_ts = header.max_timestamp
        else:
            max_ts = max(base_ts + rec.timestamp_delta for rec in kept)
        return encode_batch(header, b"".join(parts), len(kept), attributes=attributes,
                            base_timestamp=new_base, max_timestamp=max_ts)
