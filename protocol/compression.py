"""Record-batch compression codecs (attributes bits 0-2), backed by ``cramjam``.

    0 none   1 gzip   2 snappy   3 lz4 (LZ4 frame format, KIP-57)   4 zstd (KIP-110)

Snappy comes in two shapes on the wire: the Java client (snappy-java ``SnappyOutputStream``) writes
the *xerial* framing -- an 8-byte magic ``\\x82SNAPPY\\x00``, int32 version, int32 compatible
version, then ``[int32 length, raw snappy block]*`` -- while librdkafka may write one raw block.
``decompress`` accepts both; ``compress`` writes xerial framing, as a Kafka broker would.

Only needed where records must be read (ListOffsets by timestamp, compaction, dump-log,
recompression): the produce and fetch paths pass compressed bytes through untouched.
"""

from __future__ import annotations

import struct

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


def _xerial_decompress(data: memoryview) -> bytes:
    end = len(data)
    pos = _XERIAL_HEADER.size
    if end < pos:
        raise ValueError("truncated xerial snappy header")
    out: list[bytes] = []
    while pos < end:
        if pos + 4 > end:
            raise ValueError("truncated xerial snappy block length")
        (size,) = _I.unpack_from(data, pos)
        pos += 4
        if size < 0 or pos + size > end:
            raise ValueError("truncated xerial snappy block")
        out.append(bytes(cramjam.snappy.decompress_raw(data[pos : pos + size])))
        pos += size
    return b"".join(out)


def decompress(codec: int, data: bytes | bytearray | memoryview) -> bytes:
    """The uncompressed bytes of ``data``; KafkaError(CORRUPT_MESSAGE) if they cannot be decoded."""
    if codec == NONE:
        return bytes(data)
    if codec not in CODEC_NAMES:
        raise _unsupported(codec)
    mv = data if isinstance(data, memoryview) else memoryview(data)
    try:
        if codec == GZIP:
            return bytes(cramjam.gzip.decompress(mv))
        if codec == SNAPPY:
            if mv[:8] == XERIAL_MAGIC:
                return _xerial_decompress(mv)
            return bytes(cramjam.snappy.decompress_raw(mv))
        if codec == LZ4:
            return bytes(cramjam.lz4.decompress(mv))
        return bytes(cramjam.zstd.decompress(mv))
    except KafkaError:
        raise
    except Exception as exc:  # cramjam.DecompressionError, ValueError from the framing above
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
