"""Length-prefixed Kafka frames and request/response headers.

A request frame is ``int32 size`` followed by ``size`` bytes: the request header, then the body.
Request header v1: api_key int16, api_version int16, correlation_id int32, client_id nullable string
(int16 length). v2 (flexible request versions, KIP-482) adds a tagged-field section. Response header
v0 is the correlation id; v1 adds an empty tagged-field section. ApiVersions always answers with v0.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from pykafka_broker.protocol.api_keys import ApiKey
from pykafka_broker.protocol.errors import ProtocolError
from pykafka_broker.protocol.messages import is_flexible
from pykafka_broker.protocol.produce import skip_tagged_fields

DEFAULT_MAX_REQUEST_BYTES = 104857600  # socket.request.max.bytes

_HEAD = struct.Struct(">hhih")
_SIZE = struct.Struct(">i")
_CORR = struct.Struct(">i")


class RequestHeader(NamedTuple):
    api_key: int
    api_version: int
    correlation_id: int
    client_id: str | None
    body_offset: int  # where the body starts within the frame


def parse_request_header(frame: bytes | bytearray | memoryview) -> RequestHeader:
    """Parse the header at the start of ``frame`` (the bytes after the size prefix)."""
    if len(frame) < _HEAD.size:
        raise ProtocolError(f"request of {len(frame)} bytes is shorter than a request header")
    api_key, api_version, correlation_id, client_len = _HEAD.unpack_from(frame, 0)
    pos = _HEAD.size
    client_id: str | None = None
    if client_len >= 0:
        end = pos + client_len
        if end > len(frame):
            raise ProtocolError("truncated client_id")
        try:
            client_id = bytes(frame[pos:end]).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProtocolError("client_id is not UTF-8") from exc
        pos = end
    elif client_len != -1:
        raise ProtocolError(f"invalid client_id length {client_len}")
    # The header is v2 exactly when the request version is flexible; ApiVersions v3+ included.
    if api_version >= 0 and api_key in _KNOWN_KEYS and is_flexible(api_key, api_version):
        try:
            pos = skip_tagged_fields(memoryview(frame), pos)
        except (IndexError, ValueError):
            # An ApiVersions request newer than we know may use a header we cannot predict; its body
            # is ignored (we answer v0 with our ranges), so do not fail the connection over it.
            if api_key != ApiKey.API_VERSIONS:
                raise ProtocolError("malformed tagged fields in the request header") from None
            pos = len(frame)
    return RequestHeader(api_key, api_version, correlation_id, client_id, pos)


_KNOWN_KEYS = frozenset(int(k) for k in ApiKey)


def response_header(correlation_id: int, api_key: int, api_version: int) -> bytes:
    if api_key != ApiKey.API_VERSIONS and is_flexible(api_key, api_version):
        return _CORR.pack(correlation_id) + b"\x00"
    return _CORR.pack(correlation_id)


def frame_size(n: int) -> bytes:
    return _SIZE.pack(n)
