"""Record-batch compression codecs (attributes bits 0-2), backed by ``cramjam``.

    0 none   1 gzip   2 snappy   3 lz4 (LZ4 frame format, KIP-57)   4 zstd (KIP-110)

Snappy comes in two shapes on the wire: the Java client (snappy-java ``SnappyOutputStream``) writes
the *xerial* framing -- an 8-byte magic ``\\x82SNAPPY\\x00``, int32 version, int32 compatible
version, then ``[int32 length, raw snappy block]*`` -- while librdkafka may write one raw block.
``decompress`` accepts both; ``compress`` writes xerial framing, as a Kafka broker would.

Decompression is needed where records are read: produce validation (every record is walked, as
Kafka's LogValidator does), recompression, compaction, ListOffsets by timestamp, dump-log. Fetch
passes compressed bytes through untouched. Every decompression is bounded (see below).
"""

from __future__ import annotations

import struct
import zlib
from typing import Any

import cramjam

from pykafka_broker.protocol.errors import ErrorCode, KafkaError

NONE, GZIP, SNAPPY, LZ4, ZSTD = 0, 1, 2, 3, 4
CODEC_NAMES = {NONE: "none", GZIP: "gzip", SNAPPY: "snappy", LZ4: "lz4", ZSTD: "zstd"}

XERIAL_MAGIC = b"\x82SNAPPY\x00"
_XERIAL_HEADER = struct.Struct(">8sii")
_XERIAL_BLOCK_SIZE = 32 * 1024  # snappy-java's default block size
_I = struct.Struct(">i")

# Kafka's defaults (KIP-390): gzip Deflater default (6), lz4 9, zstd 3.
_DEFAULT_LEVELS = {GZIP: 6, LZ4: 9, ZSTD: 3}


def _unsupported(codec: int) -> KafkaError:
    return KafkaError(ErrorCode.UNSUPPORTED_COMPRESSION_TYPE, f"unsupported compression codec {codec}")


def _xerial_decompress(data: memoryview, limit: int) -> bytes:
    end = len(data)
    pos = _XERIAL_HEADER.size
    if end < pos:
        raise ValueError("truncated xerial snappy header")
    out: list[bytes] = []
    total = 0
    while pos < end:
        if pos + 4 > end:
            raise ValueError("truncated xerial snappy block length")
        (size,) = _I.unpack_from(data, pos)
        pos += 4
        if size < 0 or pos + size > end:
            raise ValueError("truncated xerial snappy block")
        block = data[pos : pos + size]
        total += cramjam.snappy.decompress_raw_len(block)
        if total > limit:
            raise _TooLarge
        out.append(bytes(cramjam.snappy.decompress_raw(block)))
        pos += size
    return b"".join(out)


# --- Bounded decompression ------------------------------------------------------------------------
# A produce request is bounded by max.message.bytes, but what it decompresses to is not: a 10 KB zstd
# frame can claim (and produce) gigabytes. Kafka reads compressed records as a stream, one record
# at a time; here the walk needs the section in one buffer, so every decompression is capped. The cap
# is derived from the compressed size: 64 times it, at least 16 MiB, never more than 512 MiB. A
# payload that decompresses past its cap is refused as CORRUPT_MESSAGE without ever holding more than
# the cap in memory: gzip streams through zlib with ``max_length``; zstd and lz4 decompress into a
# buffer sized from the size the frame declares (checked against the cap first) or, when the frame
# declares none, into buffers doubling up to the cap; snappy blocks declare their size up front.

MIN_DECOMPRESSED_LIMIT = 16 * 1024 * 1024
MAX_DECOMPRESSED_LIMIT = 512 * 1024 * 1024
DECOMPRESSION_RATIO_LIMIT = 64

_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_LZ4_MAGIC = b"\x04\x22\x4d\x18"
_TOO_SMALL = "failed to write whole buffer"  # cramjam's message when the output buffer is full
_FIRST_GUESS_RATIO = 8


def decompressed_limit(compressed_size: int) -> int:
    """Most bytes a payload of ``compressed_size`` bytes may decompress to."""
    return min(max(DECOMPRESSION_RATIO_LIMIT * compressed_size, MIN_DECOMPRESSED_LIMIT),
               MAX_DECOMPRESSED_LIMIT)


class _TooLarge(Exception):
    pass


def _zstd_declared_size(mv: memoryview) -> int | None:
    """Frame_Content_Size of the first zstd frame (RFC 8878 3.1.1.1), None when absent."""
    if len(mv) < 6 or mv[:4] != _ZSTD_MAGIC:
        return None
    fhd = mv[4]
    fcs_flag, single_segment, dict_flag = fhd >> 6, (fhd >> 5) & 1, fhd & 3
    pos = 5 + (0 if single_segment else 1) + (0, 1, 2, 4)[dict_flag]
    size = (1 if single_segment else 0, 2, 4, 8)[fcs_flag]
    if size == 0 or pos + size > len(mv):
        return None
    value = int.from_bytes(mv[pos : pos + size], "little")
    return value + 256 if size == 2 else value


def _lz4_declared_size(mv: memoryview) -> int | None:
    """Content Size of the first LZ4 frame (lz4 Frame format 1.6.x), None when absent."""
    if len(mv) < 15 or mv[:4] != _LZ4_MAGIC or not mv[4] & 0x08:
        return None
    return int.from_bytes(mv[6:14], "little")


def _into(fn: Any, mv: memoryview, declared: int | None, limit: int) -> bytearray:
    """``fn`` (a cramjam ``decompress_into``) into a buffer of the declared size, or of doubling
    guesses, never larger than ``limit``."""
    if declared is not None and declared > limit:
        raise _TooLarge
    size = min(limit, declared if declared is not None else max(_FIRST_GUESS_RATIO * len(mv), 4096))
    while True:
        out = bytearray(size + 1)  # one spare byte: a full buffer means "maybe more"
        try:
            n = fn(mv, out)
        except Exception as exc:  # noqa: BLE001 - cramjam.DecompressionError
            if _TOO_SMALL not in str(exc):
                raise
            n = size + 1
        if n <= size:
            del out[n:]
            return out
        if size >= limit:
            raise _TooLarge
        size = min(limit, size * 2)


def _gzip(mv: memoryview, limit: int) -> bytes:
    """Every gzip member (java.util.zip.GZIPInputStream reads concatenated members), streamed by
    zlib with an output bound."""
    parts: list[bytes] = []
    total = 0
    data: bytes | memoryview = mv
    while True:
        d = zlib.decompressobj(31)
        chunk = d.decompress(data, limit - total + 1)
        total += len(chunk)
        if total > limit:
            raise _TooLarge
        if not d.eof:
            raise ValueError("truncated gzip stream")
        parts.append(chunk)
        data = d.unused_data
        if not data:
            return parts[0] if len(parts) == 1 else b"".join(parts)


def _snappy_raw(mv: memoryview, limit: int) -> bytes:
    if cramjam.snappy.decompress_raw_len(mv) > limit:
        raise _TooLarge
    return bytes(cramjam.snappy.decompress_raw(mv))


def decompress(codec: int, data: bytes | bytearray | memoryview,
               limit: int | None = None) -> bytes | bytearray:
    """The uncompressed bytes of ``data``, at most ``limit`` of them (default
    ``decompressed_limit(len(data))``); KafkaError(CORRUPT_MESSAGE) if they cannot be decoded or
    exceed the limit."""
    if codec == NONE:
        return bytes(data)
    if codec not in CODEC_NAMES:
        raise _unsupported(codec)
    mv = data if isinstance(data, memoryview) else memoryview(data)
    if limit is None:
        limit = decompressed_limit(len(mv))
    try:
        if codec == GZIP:
            return _gzip(mv, limit)
        if codec == SNAPPY:
            if mv[:8] == XERIAL_MAGIC:
                return _xerial_decompress(mv, limit)
            return _snappy_raw(mv, limit)
        if codec == LZ4:
            return _into(cramjam.lz4.decompress_into, mv, _lz4_declared_size(mv), limit)
        return _into(cramjam.zstd.decompress_into, mv, _zstd_declared_size(mv), limit)
    except _TooLarge:
        raise KafkaError(ErrorCode.CORRUPT_MESSAGE,
                         f"{CODEC_NAMES[codec]} payload of {len(mv)} bytes decompresses to more than "
                         f"{limit} bytes") from None
    except KafkaError:
        raise
    except Exception as exc:  # cramjam.DecompressionError, zlib.error, ValueError from the framing
        raise KafkaError(ErrorCode.CORRUPT_MESSAGE, f"invalid {CODEC_NAMES[codec]} payload: {exc}") from None


def compress(codec: int, data: bytes | bytearray | memoryview, level: int | None = None) -> bytes:
    """``data`` compressed with ``codec`` (Kafka's default level unless ``level`` is given)."""
    if codec == NONE:
        return bytes(data)
    if codec not in CODEC_NAMES:
        raise _unsupported(codec)
    if level is None:
        level = _DEFAULT_LEVELS.get(codec)
    if codec == GZIP:
        return bytes(cramjam.gzip.compress(data, level=level))
    if codec == SNAPPY:
        mv = data if isinstance(data, memoryview) else memoryview(data)
        parts = [_XERIAL_HEADER.pack(XERIAL_MAGIC, 1, 1)]
        for pos in range(0, len(mv), _XERIAL_BLOCK_SIZE):
            block = bytes(cramjam.snappy.compress_raw(mv[pos : pos + _XERIAL_BLOCK_SIZE]))
            parts.append(_I.pack(len(block)))
            parts.append(block)
        return b"".join(parts)
    if codec == LZ4:
        return bytes(cramjam.lz4.compress(data, level=level))
    return bytes(cramjam.zstd.compress(data, level=level))
