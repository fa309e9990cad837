"""Record batches (magic 2) for the fuzzer: a raw encoder that can lie, and the validity oracle.

The encoder writes any header fields and any records section, then recomputes the CRC-32C (so a batch
reaches the broker's record validation instead of failing the CRC check). The oracle mirrors what
Apache Kafka accepts from a client: DefaultRecordBatch's header and CRC, LogValidator.validateBatch
(offset range vs count, no control batches, a producer id needs a sequence) and a walk of every
record exactly as DefaultRecord.readFrom reads it (int8 attributes, varint/varlong bounds, key, value,
headers, the record's length, no trailing bytes). Decompression is bounded so that a bomb costs the
oracle no memory. kafka-python's DefaultRecordBatch is a second, independent decoder for the batches
the broker stores (what a real client would have to read).
"""

from __future__ import annotations

import gzip
import struct
import zlib
from dataclasses import dataclass

import crc32c
from kafka.codec import lz4_encode, snappy_decode, snappy_encode, zstd_encode
from wire import zigzag

_HEADER = struct.Struct(">qiibIhiqqqhii")
HEADER_SIZE = 61
ORACLE_DECOMPRESS_LIMIT = 64 << 20  # decompressed batches above this are bombs, never acceptable here


@dataclass(slots=True)
class Rec:
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[bytes, bytes | None], ...] = ()
    ts_delta: int = 0
    offset_delta: int | None = None  # None: the record's index


def encode_record(r: Rec, index: int) -> bytes:
    body = bytearray(b"\x00")  # attributes
    body += zigzag(r.ts_delta) + zigzag(index if r.offset_delta is None else r.offset_delta)
    for b in (r.key, r.value):
        body += zigzag(-1) if b is None else zigzag(len(b)) + b
    body += zigzag(len(r.headers))
    for k, v in r.headers:
        body += zigzag(len(k)) + k + (zigzag(-1) if v is None else zigzag(len(v)) + v)
    return zigzag(len(body)) + bytes(body)


def compress(codec: int, data: bytes) -> bytes:
    if codec == 0:
        return data
    if codec == 1:
        return gzip.compress(data, mtime=0)  # no timestamp in the header: cases stay reproducible
    return {2: snappy_encode, 3: lz4_encode, 4: zstd_encode}[codec](data)


def build_batch(records_section: bytes, *, count: int, last_offset_delta: int | None = None,
                attributes: int = 0, base_ts: int = 0, max_ts: int | None = None, producer_id: int = -1,
                producer_epoch: int = -1, base_sequence: int = -1, compressed: bytes | None = None) -> bytes:
    """A batch around ``records_section`` (compressed with the codec in ``attributes`` unless
    ``compressed`` gives the exact payload), CRC recomputed."""
    payload = compressed if compressed is not None else compress(attributes & 7, records_section)
    lod = count - 1 if last_offset_delta is None else last_offset_delta
    head = _HEADER.pack(0, HEADER_SIZE - 12 + len(payload), -1, 2, 0, attributes, lod, base_ts,
                        base_ts if max_ts is None else max_ts, producer_id, producer_epoch, base_sequence,
                        count)
    batch = bytearray(head + payload)
    struct.pack_into(">I", batch, 17, crc32c.crc32c(memoryview(batch)[21:]))
    return bytes(batch)


def recrc(batch: bytes) -> bytes:
    b = bytearray(batch)
    if len(b) >= HEADER_SIZE:
        struct.pack_into(">I", b, 17, crc32c.crc32c(memoryview(b)[21:]))
    return bytes(b)


# -- the oracle -----------------------------------------------------------------------------------
class Invalid(Exception):
    """The batch would be refused by Apache Kafka (the message says why)."""


def _bounded_decompress(codec: int, data: bytes) -> bytes:
    limit = ORACLE_DECOMPRESS_LIMIT
    if codec == 1:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out = d.decompress(data, limit + 1)
        if len(out) > limit:
            raise Invalid("gzip payload decompresses beyond the oracle's bound")
        if not d.eof:
            raise Invalid("truncated gzip payload")
        return out
    if codec == 4:
        import zstandard
        dobj = zstandard.ZstdDecompressor().decompressobj()
        chunks, total = [], 0
        for i in range(0, len(data), 4096):
            piece = dobj.decompress(data[i:i + 4096])
            total += len(piece)
            if total > limit:
                raise Invalid("zstd payload decompresses beyond the oracle's bound")
            chunks.append(piece)
        if not dobj.eof:
            raise Invalid("truncated zstd payload")
        return b"".join(chunks)
    if codec == 3:
        import lz4.frame
        dec = lz4.frame.LZ4FrameDecompressor()
        out = dec.decompress(data, max_length=limit + 1)
        if len(out) > limit:
            raise Invalid("lz4 payload decompresses beyond the oracle's bound")
        if not dec.eof:
            raise Invalid("truncated lz4 payload")
        return out
    if codec == 2:
        if len(data) * 32 > limit:  # snappy expands at most ~21x: bounded by the input
            raise Invalid("snappy payload too large for the oracle")
        return snappy_decode(data)
    raise Invalid(f"unknown compression codec {codec}")


def _varint(buf: bytes, pos: int, max_bytes: int) -> tuple[int, int]:
    """Zig-zag varint as Kafka's ByteUtils.readVarint (5 bytes) / readVarlong (10 bytes), including
    Java's wrap-around of the bits beyond 32 (64) in the last byte."""
    result = shift = 0
    mask = (1 << (32 if max_bytes == 5 else 64)) - 1
    for _ in range(max_bytes):
        if pos >= len(buf):
            raise Invalid("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            result &= mask
            return (result >> 1) ^ -(result & 1), pos
        shift += 7
    raise Invalid("varint too long")


def _walk_records(buf: bytes, count: int) -> list[int]:
    """Walk ``count`` records as DefaultRecord.readFrom does; returns their offset deltas."""
    pos, deltas = 0, []
    for _ in range(count):
        length, pos = _varint(buf, pos, 5)
        start = pos
        if length < 0 or start + length > len(buf):
            raise Invalid(f"record length {length} outside the batch")
        pos += 1  # attributes: one byte
        _ts, pos = _varint(buf, pos, 10)
        delta, pos = _varint(buf, pos, 5)
        for _kv in range(2):
            n, pos = _varint(buf, pos, 5)
            if n > 0:
                pos += n
        nh, pos = _varint(buf, pos, 5)
        if nh < 0:
            raise Invalid("negative header count")
        for _h in range(nh):
            klen, pos = _varint(buf, pos, 5)
            if klen < 0:
                raise Invalid("negative header key length")
            pos += klen
            vlen, pos = _varint(buf, pos, 5)
            if vlen > 0:
                pos += vlen
            if pos > start + length:
                raise Invalid("header beyond the record")
        if pos != start + length:
            raise Invalid(f"record length {length} but {pos - start} bytes read")
        deltas.append(delta)
    if pos != len(buf):
        raise Invalid(f"{len(buf) - pos} bytes after the last record")
    return deltas


@dataclass(slots=True)
class Verdict:
    valid: bool
    reason: str = ""
    consecutive_offsets: bool = True


def check_batch(batch: bytes, *, from_client: bool = True) -> Verdict:
    """Would Apache Kafka accept ``batch`` (exactly one batch) from a producer?"""
    try:
        consecutive = _check(batch, from_client)
    except Invalid as exc:
        return Verdict(False, str(exc))
    except Exception as exc:  # a codec error: the payload does not decompress
        return Verdict(False, f"{type(exc).__name__}: {exc}")
    return Verdict(True, consecutive_offsets=consecutive)


def _check(batch: bytes, from_client: bool) -> bool:
    """Raise Invalid, or return whether the records' offset deltas are 0..count-1 (Kafka accepts
    other deltas: it rewrites a compressed batch and keeps an uncompressed one as sent)."""
    if len(batch) < HEADER_SIZE:
        raise Invalid("shorter than a batch header")
    (_base, blen, _ple, magic, crc, attrs, lod, _bts, _mts, pid, _epoch, seq,
     count) = _HEADER.unpack_from(batch)
    if magic != 2:
        raise Invalid(f"magic {magic}")
    if blen + 12 != len(batch):
        raise Invalid(f"batchLength {blen} but {len(batch) - 12} bytes follow")
    if crc != crc32c.crc32c(memoryview(batch)[21:]):
        raise Invalid("CRC-32C mismatch")
    if lod + 1 < count:
        raise Invalid(f"{count} records but only {lod + 1} offsets")
    if from_client:
        if lod < 0 or count <= 0 or lod + 1 != count:
            raise Invalid(f"offset range {lod + 1} vs record count {count}")
        if attrs & 0x20:
            raise Invalid("control batch from a client")
        if pid >= 0 and seq < 0:
            raise Invalid(f"producer id {pid} with sequence {seq}")
    codec = attrs & 7
    payload = batch[HEADER_SIZE:]
    records = payload if codec == 0 else _bounded_decompress(codec, payload)
    deltas = _walk_records(records, count)
    return deltas == list(range(count))


def kafka_python_decodes(batch: bytes) -> bool:
    """kafka-python's own decoder reads every record of ``batch`` (after the bounded oracle passed)."""
    from kafka.record.default_records import DefaultRecordBatch
    try:
        b = DefaultRecordBatch(batch)
        if not b.validate_crc():
            return False
        for _ in b:
            pass
    except Exception:
        return False
    return True


def iter_log_batches(data: bytes) -> list[tuple[int, bytes | None]]:
    """Split a segment file into (position, batch) pairs; None for a torn/garbage tail."""
    out: list[tuple[int, bytes | None]] = []
    pos = 0
    while pos < len(data):
        if pos + 12 > len(data):
            out.append((pos, None))
            break
        blen = struct.unpack_from(">i", data, pos + 8)[0]
        if blen < HEADER_SIZE - 12 or pos + 12 + blen > len(data):
            out.append((pos, None))
            break
        out.append((pos, data[pos:pos + 12 + blen]))
        pos += 12 + blen
    return out
