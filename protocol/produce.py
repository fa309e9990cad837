"""Produce (API key 0) hot-path codec: request decode and response encode, versions 0-12.

Hand-written because it runs for every produce request: the request's ``records`` stay zero-copy
memoryview slices of the received frame (the broker patches ``baseOffset`` in them in place), and
no per-field schema machinery runs.

Versions (ProduceRequest.json / ProduceResponse.json): v1 adds throttle_time_ms to the response,
v2 log_append_time_ms, v3 transactional_id, v5 log_start_offset, v8 record_errors and
error_message (KIP-467), v9 flexible versions (KIP-482: compact strings/arrays/bytes as unsigned
varint length + 1, a tagged-field section closing every struct), v10 the response tagged fields
current_leader / node_endpoints (KIP-951; we never send them: there is no other leader).
v13 (topic ids) is not served.

The small wire helpers at the top (strings, tagged fields) are shared with ``fetch.py``.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from pykafka_broker.protocol.errors import ProtocolError
from pykafka_broker.protocol.records import read_uvarint, uvarint_bytes

MIN_VERSION = 0
MAX_VERSION = 12
FIRST_FLEXIBLE_VERSION = 9

_h = struct.Struct(">h")
_i = struct.Struct(">i")
_q = struct.Struct(">q")
_hi = struct.Struct(">hi")
_ii = struct.Struct(">ii")
_hii = struct.Struct(">hii")
# Fixed head of a partition response by version: index, error_code, base_offset
# [, log_append_time_ms (v2+)] [, log_start_offset (v5+)].
_PARTITION_HEAD = [struct.Struct(">ihq"), struct.Struct(">ihqq"), struct.Struct(">ihqqq")]

_MALFORMED = (IndexError, ValueError, struct.error)  # UnicodeDecodeError is a ValueError


# --- Wire helpers (also used by fetch.py) --------------------------------------------------------


def as_byte_view(body: bytes | bytearray | memoryview) -> memoryview:
    """A 1-D unsigned-byte view of ``body`` (indexing yields ints, slicing shares the buffer)."""
    mv = body if isinstance(body, memoryview) else memoryview(body)
    return mv if mv.format == "B" and mv.ndim == 1 else mv.cast("B")


def read_string(buf: memoryview, pos: int) -> tuple[str | None, int]:
    """int16-length nullable string."""
    (n,) = _h.unpack_from(buf, pos)
    pos += 2
    if n < 0:
        return None, pos
    end = pos + n
    if end > len(buf):
        raise ValueError("string runs past the end of the request")
    return str(buf[pos:end], "utf-8"), end


def read_compact_string(buf: memoryview, pos: int) -> tuple[str | None, int]:
    """Unsigned-varint (length + 1) nullable string."""
    n, pos = read_uvarint(buf, pos)
    if n == 0:
        return None, pos
    end = pos + n - 1
    if end > len(buf):
        raise ValueError("string runs past the end of the request")
    return str(buf[pos:end], "utf-8"), end


def skip_tagged_fields(buf: memoryview, pos: int) -> int:
    """Skip a tagged-field section (count, then (tag, size, bytes)*); unknown tags are ignored."""
    count, pos = read_uvarint(buf, pos)
    for _ in range(count):
        _tag, pos = read_uvarint(buf, pos)
        size, pos = read_uvarint(buf, pos)
        pos += size
    if pos > len(buf):
        raise ValueError("tagged field runs past the end of the request")
    return pos


def write_string(out: bytearray, value: str | None, flexible: bool) -> None:
    """Append a (nullable) string, compact in flexible versions."""
    if value is None:
        out += b"\x00" if flexible else b"\xff\xff"
        return
    data = value.encode()
    out += uvarint_bytes(len(data) + 1) if flexible else _h.pack(len(data))
    out += data


def write_array_length(out: bytearray, n: int, flexible: bool) -> None:
    out += uvarint_bytes(n + 1) if flexible else _i.pack(n)


# --- Request --------------------------------------------------------------------------------------


class ProduceTopicData(NamedTuple):
    name: str
    partitions: list[tuple[int, memoryview | None]]  # (partition index, records or None)


class ProduceRequestData(NamedTuple):  # a NamedTuple: ~1 us cheaper to build than a frozen dataclass
    transactional_id: str | None
    acks: int
    timeout_ms: int
    topics: list[ProduceTopicData]


def decode_produce_request(body: bytes | bytearray | memoryview, version: int) -> ProduceRequestData:
    """Decode a Produce request body (after the request header).

    ``records`` are slices of ``body``: writable if ``body`` is a writable memoryview. Raises
    ProtocolError on truncated or malformed input (the peer's fault: close the connection)."""
    if not MIN_VERSION <= version <= MAX_VERSION:
        raise ValueError(f"Produce v{version} is not served by this codec")
    buf = as_byte_view(body)
    try:
        if version >= FIRST_FLEXIBLE_VERSION:
            return _decode_flexible(buf)
        return _decode_classic(buf, version)
    except _MALFORMED as exc:
        raise ProtocolError(f"malformed Produce v{version} request: {exc}") from None


def _decode_classic(buf: memoryview, version: int) -> ProduceRequestData:
    end = len(buf)
    transactional_id: str | None = None
    pos = 0
    if version >= 3:
        transactional_id, pos = read_string(buf, 0)
    acks, timeout_ms, n_topics = _hii.unpack_from(buf, pos)
    pos += 10
    if n_topics < 0:
        raise ValueError("null topic_data")
    topics: list[ProduceTopicData] = []
    for _ in range(n_topics):
        name, pos = read_string(buf, pos)
        if name is None:
            raise ValueError("null topic name")
        (n_parts,) = _i.unpack_from(buf, pos)
        pos += 4
        if n_parts < 0:
            raise ValueError("null partition_data")
        partitions: list[tuple[int, memoryview | None]] = []
        for _ in range(n_parts):
            index, size = _ii.unpack_from(buf, pos)
            pos += 8
            if size < 0:
                partitions.append((index, None))
                continue
            stop = pos + size
            if stop > end:
                raise ValueError(f"records of {name}-{index} run past the end of the request")
            partitions.append((index, buf[pos:stop]))
            pos = stop
        topics.append(ProduceTopicData(name, partitions))
    return ProduceRequestData(transactional_id, acks, timeout_ms, topics)


def _decode_flexible(buf: memoryview) -> ProduceRequestData:
    end = len(buf)
    transactional_id, pos = read_compact_string(buf, 0)
    acks, timeout_ms = _hi.unpack_from(buf, pos)
    n_topics, pos = read_uvarint(buf, pos + 6)
    if n_topics == 0:
        raise ValueError("null topic_data")
    topics: list[ProduceTopicData] = []
    for _ in range(n_topics - 1):
        name, pos = read_compact_string(buf, pos)
        if name is None:
            raise ValueError("null topic name")
        n_parts, pos = read_uvarint(buf, pos)
        if n_parts == 0:
            raise ValueError("null partition_data")
        partitions: list[tuple[int, memoryview | None]] = []
        for _ in range(n_parts - 1):
            (index,) = _i.unpack_from(buf, pos)
            size, pos = read_uvarint(buf, pos + 4)
            if size == 0:
                partitions.append((index, None))
            else:
                stop = pos + size - 1
                if stop > end:
                    raise ValueError(f"records of {name}-{index} run past the end of the request")
                partitions.append((index, buf[pos:stop]))
                pos = stop
            if buf[pos] == 0:  # fast path: the usual empty tag section
                pos += 1
            else:
                pos = skip_tagged_fields(buf, pos)
        if buf[pos] == 0:
            pos += 1
        else:
            pos = skip_tagged_fields(buf, pos)
        topics.append(ProduceTopicData(name, partitions))
    skip_tagged_fields(buf, pos)
    return ProduceRequestData(transactional_id, acks, timeout_ms, topics)


# --- Response -------------------------------------------------------------------------------------


class ProducePartitionResult(NamedTuple):
    index: int  # type: ignore[assignment]  # shadows tuple.index; name per the spec
    error_code: int
    base_offset: int = -1
    log_append_time_ms: int = -1
    log_start_offset: int = -1
    record_errors: list[tuple[int, str | None]] | tuple[()] = ()  # (batch_index, message)
    error_message: str | None = None


class ProduceTopicResult(NamedTuple):
    name: str
    partitions: list[ProducePartitionResult]


def encode_produce_response(
    version: int, topics: list[ProduceTopicResult], throttle_time_ms: int = 0
) -> bytes:
    """Encode a Produce response body (no response header) for ``version``."""
    if not MIN_VERSION <= version <= MAX_VERSION:
        raise ValueError(f"Produce v{version} is not served by this codec")
    flexible = version >= FIRST_FLEXIBLE_VERSION
    head = _PARTITION_HEAD[0 if version < 2 else 1 if version < 5 else 2]
    out = bytearray()
    write_array_length(out, len(topics), flexible)
    for topic in topics:
        write_string(out, topic.name, flexible)
        write_array_length(out, len(topic.partitions), flexible)
        for p in topic.partitions:
            if version >= 5:
                out += head.pack(
                    p.index, p.error_code, p.base_offset, p.log_append_time_ms, p.log_start_offset
                )
            elif version >= 2:
                out += head.pack(p.index, p.error_code, p.base_offset, p.log_append_time_ms)
            else:
                out += head.pack(p.index, p.error_code, p.base_offset)
            if version >= 8:
                write_array_length(out, len(p.record_errors), flexible)
                for batch_index, message in p.record_errors:
                    out += _i.pack(batch_index)
                    write_string(out, message, flexible)
                    if flexible:
                        out.append(0)
                write_string(out, p.error_message, flexible)
            if flexible:
                out.append(0)  # no tagged fields (current_leader omitted)
        if flexible:
            out.append(0)
    if version >= 1:
        out += _i.pack(throttle_time_ms)
    if flexible:
        out.append(0)  # no tagged fields (node_endpoints omitted)
    return bytes(out)
