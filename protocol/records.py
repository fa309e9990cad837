"""RecordBatch v2 (magic 2) views: header parsing, CRC-32C, in-place offset assignment.

Layout (DefaultRecordBatch.java), all big-endian:

    off  size  field
      0     8  baseOffset
      8     4  batchLength            (bytes after this field)
     12     4  partitionLeaderEpoch
     16     1  magic                  (2)
     17     4  crc                    (CRC-32C of bytes 21..end)
     21     2  attributes             (bits 0-2 codec, 3 timestamp type, 4 transactional, 5 control,
                                       6 delete horizon)
     23     4  lastOffsetDelta
     27     8  baseTimestamp
     35     8  maxTimestamp
     43     8  producerId
     51     2  producerEpoch
     53     4  baseSequence
     57     4  recordsCount
     61        records...

On produce the broker reads this header, checks the CRC, validates the records (validation.py, through
the one record walker in record_walk.py), patches ``baseOffset`` (and ``maxTimestamp``) and stores the
exact bytes. Fetch never decodes records.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple, TypeVar

import crc32c

from pykafka_broker.protocol.compression import compress
from pykafka_broker.protocol.errors import ErrorCode, KafkaError
from pykafka_broker.protocol.record_walk import (
    RecordSpan,
    c_records,
    iter_headers,
    iter_record_spans,
    records_section,
)

BATCH_HEADER_SIZE = 61
LOG_OVERHEAD = 12  # baseOffset + batchLength: bytes not counted in batchLength
MAGIC_OFFSET = 16
CRC_OFFSET = 17
ATTRIBUTES_OFFSET = 21
MAX_TIMESTAMP_OFFSET = 35

COMPRESSION_MASK = 0x07
TIMESTAMP_TYPE_MASK = 0x08
TRANSACTIONAL_FLAG = 0x10
CONTROL_FLAG = 0x20

NO_PRODUCER_ID = -1
NO_SEQUENCE = -1
NO_TIMESTAMP = -1
T = TypeVar("T")

_HEADER = struct.Struct(">qiiBIhiqqqhii")
_PREFIX = struct.Struct(">qi")
_Q = struct.Struct(">q")
_I = struct.Struct(">I")


class BatchHeader(NamedTuple):
    base_offset: int
    batch_length: int
    partition_leader_epoch: int
    magic: int
    crc: int
    attributes: int
    last_offset_delta: int
    base_timestamp: int
    max_timestamp: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    records_count: int

    @property
    def size(self) -> int:
        """Bytes the whole batch occupies, header included."""
        return self.batch_length + LOG_OVERHEAD

    @property
    def last_offset(self) -> int:
        return self.base_offset + self.last_offset_delta

    @property
    def next_offset(self) -> int:
        return self.base_offset + self.last_offset_delta + 1

    @property
    def compression(self) -> int:
        return self.attributes & COMPRESSION_MASK

    @property
    def is_log_append_time(self) -> bool:
        return bool(self.attributes & TIMESTAMP_TYPE_MASK)

    @property
    def is_transactional(self) -> bool:
        return bool(self.attributes & TRANSACTIONAL_FLAG)

    @property
    def is_control(self) -> bool:
        return bool(self.attributes & CONTROL_FLAG)

    @property
    def has_producer_id(self) -> bool:
        return self.producer_id >= 0

    @property
    def last_sequence(self) -> int:
        """Sequence of the last record, wrapping at 2^31 like Kafka's DefaultRecordBatch."""
        if self.base_sequence == NO_SEQUENCE:
            return NO_SEQUENCE
        return (self.base_sequence + self.last_offset_delta) % 0x80000000


def read_batch_prefix(buf: bytes | bytearray | memoryview, pos: int = 0) -> tuple[int, int]:
    """(baseOffset, batchLength) of the batch at ``pos``; the first 12 bytes must be present."""
    return _PREFIX.unpack_from(buf, pos)


def read_batch_header(buf: bytes | bytearray | memoryview, pos: int = 0) -> BatchHeader:
    """Parse the 61-byte header at ``pos``. The caller checks that 61 bytes are there."""
    return BatchHeader._make(_HEADER.unpack_from(buf, pos))


def compute_crc(buf: bytes | bytearray | memoryview, pos: int, size: int) -> int:
    """CRC-32C over attributes..end of the batch of ``size`` bytes starting at ``pos``."""
    mv = buf if isinstance(buf, memoryview) else memoryview(buf)
    return crc32c.crc32c(mv[pos + ATTRIBUTES_OFFSET : pos + size])


def crc_matches(buf: bytes | bytearray | memoryview, pos: int, header: BatchHeader) -> bool:
    return compute_crc(buf, pos, header.size) == header.crc


def patch_base_offset(buf: bytearray | memoryview, pos: int, base_offset: int) -> None:
    """Assign offsets in place. baseOffset is outside the CRC, so the CRC stays valid."""
    _Q.pack_into(buf, pos, base_offset)


def patch_log_append_time(buf: bytearray | memoryview, pos: int, header: BatchHeader, now_ms: int) -> None:
    """Stamp LogAppendTime (as Kafka's setMaxTimestamp): set the timestamp-type bit and maxTimestamp,
    then recompute the CRC, which covers both."""
    struct.pack_into(">h", buf, pos + ATTRIBUTES_OFFSET, header.attributes | TIMESTAMP_TYPE_MASK)
    _Q.pack_into(buf, pos + MAX_TIMESTAMP_OFFSET, now_ms)
    _I.pack_into(buf, pos + CRC_OFFSET, compute_crc(buf, pos, header.size))


def set_create_max_timestamp(buf: bytearray | memoryview, header: BatchHeader, max_timestamp: int
                             ) -> BatchHeader:
    """As Kafka's setMaxTimestamp(CREATE_TIME, ...) after validation: the batch claims the largest
    timestamp of its records, whatever the producer wrote, as a CreateTime batch; CRC recomputed.
    The header of the batch now in ``buf``."""
    attributes = header.attributes & ~TIMESTAMP_TYPE_MASK
    struct.pack_into(">h", buf, ATTRIBUTES_OFFSET, attributes)
    _Q.pack_into(buf, MAX_TIMESTAMP_OFFSET, max_timestamp)
    crc = compute_crc(buf, 0, header.size)
    _I.pack_into(buf, CRC_OFFSET, crc)
    return header._replace(attributes=attributes, max_timestamp=max_timestamp, crc=crc)


def iter_batches(buf: bytes | bytearray | memoryview, pos: int = 0, end: int | None = None
                 ) -> Iterator[tuple[int, BatchHeader]]:
    """Yield (position, header) for each complete batch in ``buf[pos:end]``.

    Stops silently at a truncated tail (fewer bytes than the header or than batchLength says);
    callers that care compare the last position reached with ``end``. Does not check CRCs."""
    if end is None:
        end = len(buf)
    while pos + BATCH_HEADER_SIZE <= end:
        header = read_batch_header(buf, pos)
        if header.batch_length < BATCH_HEADER_SIZE - LOG_OVERHEAD or pos + header.size > end:
            return
        yield pos, header
        pos += header.size


# --- Varints ------------------------------------------------------------------------------------
# Unsigned varints (protobuf style, little-endian base-128) frame the flexible protocol versions
# (compact lengths, tagged fields, KIP-482); records use zigzag varints (ByteUtils.java).


def read_uvarint(buf: bytes | bytearray | memoryview, pos: int) -> tuple[int, int]:
    """(value, new position) of the unsigned varint at ``pos``.

    IndexError when the buffer ends first, ValueError past 10 bytes; callers map both to their own
    error (ProtocolError for request framing, CORRUPT_MESSAGE for records)."""
    b = buf[pos]
    if b < 0x80:
        return b, pos + 1
    value = b & 0x7F
    shift = 7
    while True:
        pos += 1
        b = buf[pos]
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos + 1
        shift += 7
        if shift > 63:
            raise ValueError("varint longer than 10 bytes")


def uvarint_bytes(value: int) -> bytes:
    """Encoding of a non-negative int as an unsigned varint."""
    if value < 0x80:
        return _SMALL_UVARINTS[value]
    if value < 0x4000:
        return bytes(((value & 0x7F) | 0x80, value >> 7))
    if value < 0x200000:
        return bytes(((value & 0x7F) | 0x80, ((value >> 7) & 0x7F) | 0x80, value >> 14))
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


_SMALL_UVARINTS = [bytes((i,)) for i in range(0x80)]


def read_varint(buf: bytes | bytearray | memoryview, pos: int) -> tuple[int, int]:
    """(value, new position) of the zigzag-encoded signed varint/varlong at ``pos``."""
    raw, pos = read_uvarint(buf, pos)
    return (raw >> 1) ^ -(raw & 1), pos


def varint_bytes(value: int) -> bytes:
    """Zigzag encoding of a signed 64-bit int."""
    return uvarint_bytes(((value << 1) ^ (value >> 63)) & 0xFFFFFFFFFFFFFFFF)


# --- Records ------------------------------------------------------------------------------------
# Read through the one record walker (record_walk.py); here a malformed record in a stored or
# fetched batch is CORRUPT_MESSAGE (produce validation reports INVALID_RECORD, as Kafka does).


class Record(NamedTuple):
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]]


def _corrupt(message: str) -> KafkaError:
    return KafkaError(ErrorCode.CORRUPT_MESSAGE, message)


def _batches(buf: bytes | bytearray | memoryview
             ) -> Iterator[tuple[BatchHeader, bytes | bytearray | memoryview]]:
    """(header, uncompressed records section) of each batch in ``buf``; the whole buffer must be
    complete magic-2 batches. Decompression is bounded (compression.py)."""
    mv = buf if isinstance(buf, memoryview) else memoryview(buf)
    pos, end = 0, len(mv)
    while pos < end:
        if pos + BATCH_HEADER_SIZE > end:
            raise _corrupt(f"truncated record batch header at position {pos}")
        header = read_batch_header(mv, pos)
        if header.magic != 2:
            raise _corrupt(f"unsupported record batch magic {header.magic}")
        size = header.size
        if size < BATCH_HEADER_SIZE or pos + size > end:
            raise _corrupt(f"record batch at position {pos} declares {size} bytes, {end - pos} present")
        yield header, records_section(mv[pos:], header.compression, size)
        pos += size


def _spans(header: BatchHeader, data: bytes | bytearray | memoryview) -> Iterator[RecordSpan]:
    try:
        yield from iter_record_spans(data, header.records_count)
    except KafkaError as exc:
        raise _corrupt(f"invalid record in batch at offset {header.base_offset}: {exc.message}") from None


def decode_records(batch: bytes | bytearray | memoryview) -> list[Record]:
    """Every record of the batch (or of several concatenated batches) in ``batch``.

    Decompresses per the batch codec; for LogAppendTime batches every record gets the batch
    maxTimestamp, as Kafka's DefaultRecordBatch does. Does not check the CRC."""
    out: list[Record] = []
    append = out.append
    for header, data in _batches(batch):
        fast = _c_records(header, data, _as_records)
        if fast is not None:
            out += fast
            continue
        base_offset, base_ts = header.base_offset, header.base_timestamp
        lat_ts = header.max_timestamp if header.is_log_append_time else None
        for span in _spans(header, data):
            klen, vlen = span.key_length, span.value_length
            key = None if klen < 0 else bytes(data[span.key_start : span.key_start + klen])
            value = None if vlen < 0 else bytes(data[span.value_start : span.value_start + vlen])
            headers = list(iter_headers(data, span)) if span.header_count else []
            ts = base_ts + span.timestamp_delta if lat_ts is None else lat_ts
            append(Record(base_offset + span.offset_delta, ts, key, value, headers))
    return out


def _as_records(records: list[Any]) -> list[Record]:
    return [Record(r.offset, NO_TIMESTAMP if r.timestamp is None else r.timestamp, r.key, r.value, r.headers)
            for r in records]


def _as_offsets_and_timestamps(records: list[Any]) -> list[tuple[int, int]]:
    return [(r.offset, NO_TIMESTAMP if r.timestamp is None else r.timestamp) for r in records]


def _c_records(header: BatchHeader, data: bytes | bytearray | memoryview, extract: Callable[[list[Any]], T]
               ) -> T | None:
    """``extract`` of the records read in C (record_walk.c_records), or None to walk them in Python."""
    try:
        return c_records(_HEADER.pack(*header), data, extract)
    except KafkaError as exc:
        raise _corrupt(f"invalid record in batch at offset {header.base_offset}: {exc.message}") from None


def record_offsets_and_timestamps(batch: bytes | bytearray | memoryview) -> Iterator[tuple[int, int]]:
    """(absolute offset, timestamp) of each record."""
    for header, data in _batches(batch):
        pairs = _c_records(header, data, _as_offsets_and_timestamps)
        if pairs is not None:
            yield from pairs
            continue
        base_offset, base_ts = header.base_offset, header.base_timestamp
        lat_ts = header.max_timestamp if header.is_log_append_time else None
        for span in _spans(header, data):
            ts = base_ts + span.timestamp_delta if lat_ts is None else lat_ts
            yield base_offset + span.offset_delta, ts


def _sized(out: bytearray, data: bytes | None) -> None:
    if data is None:
        out += b"\x01"  # zigzag(-1)
    else:
        out += varint_bytes(len(data))
        out += data


def build_batch(
    records: list[tuple[bytes | None, bytes | None, list[tuple[str, bytes | None]], int]],
    *,
    base_offset: int = 0,
    codec: int = 0,
    producer_id: int = NO_PRODUCER_ID,
    producer_epoch: int = -1,
    base_sequence: int = NO_SEQUENCE,
    transactional: bool = False,
    control: bool = False,
    partition_leader_epoch: int = -1,
) -> bytearray:
    """A complete magic-2 batch (CreateTime, CRC set) of ``(key, value, headers, timestamp)`` records;
    offsets are ``base_offset``, ``base_offset + 1``, ... (for tests and for control batches)."""
    if not records:
        raise ValueError("a record batch holds at least one record")
    base_ts = records[0][3]
    section = bytearray()
    for delta, (key, value, headers, ts) in enumerate(records):
        rec = bytearray(b"\x00")  # attributes
        rec += varint_bytes(ts - base_ts)
        rec += varint_bytes(delta)
        _sized(rec, key)
        _sized(rec, value)
        rec += varint_bytes(len(headers))
        for hkey, hvalue in headers:
            _sized(rec, hkey.encode())
            _sized(rec, hvalue)
        section += varint_bytes(len(rec))
        section += rec
    attributes = codec & COMPRESSION_MASK
    if transactional:
        attributes |= TRANSACTIONAL_FLAG
    if control:
        attributes |= CONTROL_FLAG
    out = bytearray(BATCH_HEADER_SIZE)
    out += compress(codec, section) if codec else section
    _HEADER.pack_into(
        out, 0, base_offset, len(out) - LOG_OVERHEAD, partition_leader_epoch, 2, 0, attributes,
        len(records) - 1, base_ts, max(r[3] for r in records), producer_id, producer_epoch,
        base_sequence, len(records),
    )
    _I.pack_into(out, CRC_OFFSET, compute_crc(out, 0, len(out)))
    return out
