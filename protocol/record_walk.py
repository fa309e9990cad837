"""The one record walker: every place that reads the records of a magic-2 batch goes through here
(produce validation, recompression, compaction, ListOffsets by timestamp, dump-log).

A record (DefaultRecord.java):

    length varint | attributes int8 | timestampDelta varlong | offsetDelta varint
    keyLength varint (negative: null) | key | valueLength varint (negative: null) | value
    headerCount varint | (headerKeyLength varint | utf-8 key | headerValueLength varint | value)*

Where records are only read, not rewritten (produce validation, decode_records), ``c_records`` parses
them in C with aiokafka's Cython ``DefaultRecordBatch`` (bounds-checked, ~20x faster than Python on
100-byte records), given a zero-padded copy so that its varint reader can never run past the buffer;
without aiokafka's extension, or for a header key that is not UTF-8 (which Kafka accepts and that
reader refuses), it returns None and the caller walks in Python.

``iter_record_spans`` yields each record's positions and small fields without copying keys or values;
every structural rule Kafka's ``DefaultRecord.readFrom`` enforces is checked (length, varints, header
count and key sizes, no byte left over or missing against ``recordsCount``), and a violation raises
``KafkaError(INVALID_RECORD)`` as Kafka's InvalidRecordException does. ``records_section`` returns the
(bounded, see compression.py) decompressed records of a batch.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple, TypeVar

from pykafka_broker.protocol.compression import decompress
from pykafka_broker.protocol.errors import ErrorCode, KafkaError

T = TypeVar("T")
_BATCH_HEADER_SIZE = 61
_CODEC_BYTE = 22  # low byte of the attributes
_PADDING = bytes(16)  # > the 10 bytes a varint may span: aiokafka's reader checks 1 byte per varint


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


def _varint(data: bytes | bytearray | memoryview, pos: int, max_shift: int = 63,
            mask: int = 0xFFFFFFFFFFFFFFFF) -> tuple[int, int]:
    """Zigzag varlong at ``pos`` (ByteUtils.readVarlong: at most 10 bytes, Java's long wrap):
    (value, new position). IndexError past the end, ValueError when longer."""
    b = data[pos]
    if b < 0x80:
        return (b >> 1) ^ -(b & 1), pos + 1
    raw = b & 0x7F
    shift = 7
    while True:
        pos += 1
        b = data[pos]
        if b < 0x80:
            raw = (raw | (b << shift)) & mask
            return (raw >> 1) ^ -(raw & 1), pos + 1
        raw |= (b & 0x7F) << shift
        shift += 7
        if shift > max_shift:
            raise ValueError(f"varint longer than {max_shift // 7 + 1} bytes")


def _varint32(data: bytes | bytearray | memoryview, pos: int) -> tuple[int, int]:
    """ByteUtils.readVarint: at most 5 bytes, bits past 32 dropped (Java's int wrap), zigzag."""
    return _varint(data, pos, 28, 0xFFFFFFFF)


def records_section(batch: bytes | bytearray | memoryview, codec: int, size: int
                    ) -> bytes | bytearray | memoryview:
    """The records of the ``size``-byte batch at the start of ``batch``, decompressed (bounded)."""
    data = (batch if isinstance(batch, memoryview) else memoryview(batch))[_BATCH_HEADER_SIZE:size]
    return decompress(codec, data) if codec else data


def iter_record_spans(section: bytes | bytearray | memoryview, count: int) -> Iterator[RecordSpan]:
    """Each of the ``count`` records of ``section``; KafkaError(INVALID_RECORD) at the first
    malformed one, or when bytes remain after the last."""
    pos, end = 0, len(section)
    varint = _varint32  # every int field; the timestamp delta is a varlong
    i = 0
    try:
        for i in range(count):  # noqa: B007 - i names the bad record in the error
            start = pos
            length, pos = varint(section, pos)
            rec_end = pos + length
            if length < 0 or rec_end > end:
                raise ValueError(f"record size {length} runs past the {end - pos} bytes left")
            ts_start = pos + 1  # after the attributes byte
            ts_delta, ts_end = _varint(section, ts_start)
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
    _, pos = _varint32(section, span.headers_start)
    for _ in range(span.header_count):
        hklen, pos = _varint32(section, pos)
        key = str(section[pos : pos + hklen], "utf-8", "replace")
        hvlen, pos = _varint32(section, pos + hklen)
        if hvlen >= 0:
            yield key, bytes(section[pos : pos + hvlen])
            pos += hvlen
        else:
            yield key, None


# --- the C reader -----------------------------------------------------------------------------------

_C_BATCH: Any = None


def _c_batch_class() -> Any:
    """(aiokafka's Cython DefaultRecordBatch, its corrupt-record exception), or False when the
    extension is not installed or not compiled. Imported on first use: aiokafka's package import
    costs ~80 ms that start-up need not pay."""
    global _C_BATCH
    if _C_BATCH is None:
        try:
            from aiokafka.errors import CorruptRecordException
            from aiokafka.record._crecords.default_records import DefaultRecordBatch
            _C_BATCH = (DefaultRecordBatch, CorruptRecordException)
        except ImportError:
            _C_BATCH = False
    return _C_BATCH


_SCRATCH_KEEP = 4 * 1024 * 1024  # larger scratch buffers are not kept
_local = threading.local()  # the event loop and the cleaner's thread each get their own


def _scratch(size: int) -> bytearray:
    buf: bytearray | None = getattr(_local, "buf", None)
    if buf is not None and len(buf) >= size:
        return buf
    buf = bytearray(size)
    if size <= _SCRATCH_KEEP:
        _local.buf = buf
    return buf


def c_records(batch: bytes | bytearray | memoryview, section: bytes | bytearray | memoryview,
              extract: Callable[[list[Any]], T]) -> T | None:
    """``extract`` applied to the aiokafka DefaultRecord objects (offset, timestamp (None for -1),
    key, value, headers) of the batch whose 61-byte header starts ``batch`` and whose uncompressed
    records are ``section``; KafkaError(INVALID_RECORD) when malformed; None when the C reader
    cannot be used. The records must not outlive ``extract``."""
    c = _c_batch_class()
    if not c:
        return None
    cls, corrupt = c
    # The C reader gets an uncompressed batch: the header with the codec bits cleared, the records,
    # then zero padding outside the view it reads. The copy goes to a per-thread scratch buffer kept
    # between calls (the records hold no reference to it): a fresh megabyte would cost more in page
    # faults than the copy itself.
    size = _BATCH_HEADER_SIZE + len(section)
    buf = _scratch(size + len(_PADDING))
    buf[:_BATCH_HEADER_SIZE] = batch[:_BATCH_HEADER_SIZE]
    buf[_CODEC_BYTE] &= 0xF8
    buf[_BATCH_HEADER_SIZE:size] = section
    buf[size : size + len(_PADDING)] = _PADDING
    # The records are many, young and acyclic, and freed before the collector is back on: a
    # collection while they live would only walk them (it costs more than the walk itself), and
    # freeing them takes back the allocations they counted towards the next one.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    records: list[Any] = []
    try:
        with memoryview(buf) as view, view[:size] as exact:
            records = list(cls(exact))
        return extract(records)
    except corrupt as exc:
        raise invalid_record(f"Invalid record in batch: {exc}") from None
    except UnicodeDecodeError:
        return None
    finally:
        del records
        if gc_was_enabled:
            gc.enable()
