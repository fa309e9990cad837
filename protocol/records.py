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

The broker never decodes records on the produce or fetch path: it reads this header, checks the CRC,
patches ``baseOffset`` (and ``maxTimestamp`` for LogAppendTime) and stores the exact bytes.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import NamedTuple

import crc32c

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
