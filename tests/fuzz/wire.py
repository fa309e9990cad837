"""Byte-level Kafka wire helpers for the fuzzer, written independently of the broker's protocol package.

Frames here are the bytes after the int32 size prefix (``framed`` adds it). Produce requests v3-v12
are parsed and re-encoded by hand so that mutators can replace a partition's record batch and keep the
outer framing consistent (the interesting failures are then inside the batch, not in the framing).
Layouts follow clients/src/main/resources/common/message/ProduceRequest.json and RequestHeader.json.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

_I16 = struct.Struct(">h")
_I32 = struct.Struct(">i")
_HEAD = struct.Struct(">hhih")

FLEXIBLE_PRODUCE = 9  # first flexible Produce version (KIP-482)


def framed(frame: bytes) -> bytes:
    return _I32.pack(len(frame)) + frame


# -- varints (unsigned for the flexible protocol, zig-zag for records) ------------------------------
def uvarint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def read_uvarint(buf: bytes | memoryview, pos: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def zigzag(n: int) -> bytes:
    return uvarint((n << 1) ^ (n >> 63))


# -- request header ---------------------------------------------------------------------------------
@dataclass(slots=True)
class Header:
    api_key: int
    api_version: int
    correlation_id: int
    client_id: str | None
    body_offset: int


def parse_header(frame: bytes, flexible: bool) -> Header:
    if len(frame) < _HEAD.size:
        raise ValueError("short header")
    api_key, version, corr, clen = _HEAD.unpack_from(frame, 0)
    pos = _HEAD.size
    client_id = None
    if clen >= 0:
        if pos + clen > len(frame):
            raise ValueError("truncated client id")
        client_id = frame[pos:pos + clen].decode("utf-8", "replace")
        pos += clen
    if flexible:
        pos = _skip_tags(frame, pos)
    return Header(api_key, version, corr, client_id, pos)


def encode_header(api_key: int, version: int, corr: int, client_id: str | None, flexible: bool) -> bytes:
    cid = b"" if client_id is None else client_id.encode()
    out = _HEAD.pack(api_key, version, corr, -1 if client_id is None else len(cid)) + cid
    return out + (b"\x00" if flexible else b"")


def _skip_tags(buf: bytes, pos: int) -> int:
    n, pos = read_uvarint(buf, pos)
    for _ in range(n):
        _tag, pos = read_uvarint(buf, pos)
        size, pos = read_uvarint(buf, pos)
        pos += size
        if pos > len(buf):
            raise ValueError("truncated tagged field")
    return pos


# -- Produce v3-v12 -----------------------------------------------------------------------------------
@dataclass(slots=True)
class Produce:
    version: int
    correlation_id: int
    client_id: str | None
    transactional_id: str | None
    acks: int
    timeout_ms: int
    topics: list[tuple[str, list[tuple[int, bytes | None]]]] = field(default_factory=list)


class _Reader:
    def __init__(self, buf: bytes, pos: int, flexible: bool) -> None:
        self.buf, self.pos, self.flexible = buf, pos, flexible

    def fixed(self, st: struct.Struct) -> int:
        if self.pos + st.size > len(self.buf):
            raise ValueError("truncated")
        (v,) = st.unpack_from(self.buf, self.pos)
        self.pos += st.size
        return int(v)

    def length(self, st: struct.Struct) -> int:
        if self.flexible:
            n, self.pos = read_uvarint(self.buf, self.pos)
            return n - 1
        return self.fixed(st)

    def raw(self, n: int) -> bytes | None:
        if n < 0:
            return None
        if self.pos + n > len(self.buf):
            raise ValueError("truncated")
        out = self.buf[self.pos:self.pos + n]
        self.pos += n
        return out

    def string(self) -> str | None:
        b = self.raw(self.length(_I16))
        return None if b is None else b.decode("utf-8", "replace")

    def tags(self) -> None:
        if self.flexible:
            self.pos = _skip_tags(self.buf, self.pos)


def parse_produce(frame: bytes) -> Produce:
    """Parse a Produce v3-v12 request frame; ValueError when it is not one."""
    api_key, version = _I16.unpack_from(frame, 0)[0], _I16.unpack_from(frame, 2)[0]
    if api_key != 0 or not 3 <= version <= 12:
        raise ValueError(f"not a Produce v3-v12 frame (key {api_key} v{version})")
    flexible = version >= FLEXIBLE_PRODUCE
    h = parse_header(frame, flexible)
    r = _Reader(frame, h.body_offset, flexible)
    req = Produce(version, h.correlation_id, h.client_id, r.string(), r.fixed(_I16), r.fixed(_I32))
    for _ in range(r.length(_I32)):
        name = r.string() or ""
        parts: list[tuple[int, bytes | None]] = []
        for _ in range(r.length(_I32)):
            index = r.fixed(_I32)
            parts.append((index, r.raw(r.length(_I32))))
            r.tags()
        r.tags()
        req.topics.append((name, parts))
    return req


def encode_produce(req: Produce) -> bytes:
    flexible = req.version >= FLEXIBLE_PRODUCE

    def length(n: int, st: struct.Struct) -> bytes:
        return uvarint(n + 1) if flexible else st.pack(n)

    def string(s: str | None) -> bytes:
        if s is None:
            return length(-1, _I16) if not flexible else b"\x00"
        b = s.encode()
        return length(len(b), _I16) + b

    out = bytearray(encode_header(0, req.version, req.correlation_id, req.client_id, flexible))
    out += string(req.transactional_id) + _I16.pack(req.acks) + _I32.pack(req.timeout_ms)
    out += length(len(req.topics), _I32)
    tag = b"\x00" if flexible else b""
    for name, parts in req.topics:
        out += string(name) + length(len(parts), _I32)
        for index, records in parts:
            out += _I32.pack(index)
            out += (b"\x00" if flexible else _I32.pack(-1)) if records is None else \
                length(len(records), _I32) + records
            out += tag
        out += tag
    out += tag
    return bytes(out)


def produce_partition_errors(response: bytes, version: int) -> list[int]:
    """Error code of every partition of a Produce v3-v12 response frame, in response order
    (ProduceResponse.json: index, error, base offset, log-append time, log start offset v5+,
    record errors and error message v8+; flexible from v9)."""
    flexible = version >= FLEXIBLE_PRODUCE
    r = _Reader(response, 4, flexible)  # after the correlation id
    r.tags()
    errors = []
    for _ in range(r.length(_I32)):
        r.string()
        for _ in range(r.length(_I32)):
            r.fixed(_I32)
            errors.append(r.fixed(_I16))
            r.pos += 16 + (8 if version >= 5 else 0)
            if version >= 8:
                for _ in range(r.length(_I32)):
                    r.fixed(_I32)
                    r.string()
                    r.tags()
                r.string()
            r.tags()
        r.tags()
    r.fixed(_I32)  # throttle_time_ms
    r.tags()
    if r.pos != len(response):
        raise ValueError(f"{len(response) - r.pos} bytes after the Produce response")
    return errors


def api_versions_request(corr: int, client_id: str = "fuzz-health") -> bytes:
    return framed(encode_header(18, 0, corr, client_id, False))


def metadata_request(corr: int, client_id: str = "fuzz-health") -> bytes:
    """Metadata v1 for all topics (null topic array)."""
    return framed(encode_header(3, 1, corr, client_id, False) + _I32.pack(-1))
