"""The one record walker: every place that reads the records of a magic-2 batch goes through here
(produce validation, recompression, compaction, ListOffsets by timestamp, dump-log).

A record (DefaultRecord.java):

    length varint | attributes int8 | timestampDelta varlong | offsetDelta varint
    keyLength varint (negative: null) | key | valueLength varint (negative: null) | value
    headerCount varint | (headerKeyLength varint | utf-8 key | headerValueLength varint | value)*

``iter_record_spans`` yields each record's positions and small fields without copying keys or values;
every structural rule Kafka's ``DefaultRecord.readFrom`` enforces is checked (length, varints, header
count and key sizes, no byte left over or missing against ``recordsCount``), and a violation raises
``KafkaError(INVALID_RECORD)`` as Kafka's InvalidRecordException does. ``records_section`` returns the
(bounded, see compression.py) decompressed records of a batch.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

from pykafka_broker.protocol.compression import decompress
from pykafka_broker.protocol.errors import ErrorCode, KafkaError

_BATCH_HEADER_SIZE = 61


class RecordSpan(NamedTuple):
    start: int  # position of the record's length varint in the records section
    ts_start: int  # position of the timestamp delta (just after the attributes byte)
    ts_end: int
    end: int  # position after the record
    timestamp_delta: int
    offset_delta: int
    key_start: int
    key_length: int  # -1: null key
    value_start: int
    value_length: int  # -1: null value
    headers_start: int  # position of the header count
    header_count: int


def invalid_record(message: str) -> KafkaError:
    return KafkaError(ErrorCode.INVALID_RECORD, message)


def _varint(data: bytes | bytearray | memoryview, pos: int) -> tuple[int, int]:
    """Zigzag varint/varlong at ``pos``: (value, new position). IndexError past the end."""
    b = data[pos]
    if b < 0x80:
        return (b >> 1) ^ -(b & 1), pos + 1
    raw = b & 0x7F
    shift = 7
    while True:
        pos += 1
        b = data[pos]
        raw |= (b & 0x7F) << shift
        if b < 0x80:
            return (raw >> 1) ^ -(raw & 1), pos + 1
        shift += 7
        if shift > 63:
            raise ValueError("varint longer than 10 bytes")


def records_section(batch: bytes | bytearray | memoryview, codec: int, size: int
                    ) -> bytes | bytearray | memoryview:
    """The records of the ``size``-byte batch at the start of ``batch``, decompressed (bounded)."""
    data = (batch if isinstance(batch, memoryview) else memoryview(batch))[_BATCH_HEADER_SIZE:size]
    return decompress(codec, data) if codec else data


def iter_record_spans(section: bytes | bytearray | memoryview, count: int) -> Iterator[RecordSpan]:
    """Each of the ``count`` records of ``section``; KafkaError(INVALID_RECORD) at the first
    malformed one, or when bytes remain after the last."""
    pos, end = 0, len(section)
    varint = _varint
    i = 0
    try:
        for i in range(count):  # noqa: B007 - i names the bad record in the error
            start = pos
            length, pos = varint(section, pos)
            rec_end = pos + length
            if length < 0 or rec_end > end:
                raise ValueError(f"record size {length} runs past the {end - pos} bytes left")
            ts_start = pos + 1  # after the attributes byte
            ts_delta, ts_end = varint(section, ts_start)
            offset_delta, pos = varint(section, ts_end)
            klen, key_start = varint(section, pos)
            pos = key_start + klen if klen > 0 else key_start
            vlen, value_start = varint(section, pos)
            headers_start = pos = value_start + vlen if vlen > 0 else value_start
            hcount, pos = varint(section, pos)
            if hcount < 0 or 2 * hcount > rec_end - pos:
                raise ValueError(f"invalid number of record headers {hcount}")
            for _ in range(hcount):
                hklen, pos = varint(section, pos)
                if hklen < 0:
                    raise ValueError(f"invalid negative header key size {hklen}")
                hvlen, pos = varint(section, pos + hklen)
                if hvlen > 0:
                    pos += hvlen
            if pos != rec_end:
                raise ValueError(f"expected to read {length} bytes in record payload, "
                                 f"but instead read {pos - (rec_end - length)}")
            yield RecordSpan(start, ts_start, ts_end, rec_end, ts_delta, offset_delta, key_start,
                             klen if klen >= 0 else -1, value_start, vlen if vlen >= 0 else -1,
                             headers_start, hcount)
    except (IndexError, ValueError) as exc:
        detail = str(exc) if isinstance(exc, ValueError) else "record runs past the end of its batch"
        raise invalid_record(f"Invalid record at index {i}: {detail}") from None
    if pos != end:
        raise invalid_record(f"Incorrect declared batch size: {end - pos} bytes remain after {count} records")


def iter_headers(section: bytes | bytearray | memoryview, span: RecordSpan
                 ) -> Iterator[tuple[str, bytes | None]]:
    """The headers of a record already checked by ``iter_record_spans``. Header keys are decoded as
    Java's String does, replacing invalid UTF-8 rather than failing."""
    _, pos = _varint(section, span.headers_start)
    for _ in range(span.header_count):
        hklen, pos = _varint(section, pos)
        key = str(section[pos : pos + hklen], "utf-8", "replace")
        hvlen, pos = _varint(section, pos + hklen)
        if hvlen >= 0:
            yield key, bytes(section[pos : pos + hvlen])
            pos += hvlen
        else:
            yield key, None
