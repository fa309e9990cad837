"""An error response in the API's own shape, for a request whose handler failed unexpectedly.

Kafka's ``KafkaApis.handleError`` answers a request that threw with ``request.getErrorResponse(e)``:
each request class builds its response with the error code at every level that has one — the
top-level ``error_code`` where the response has it, else per topic / per partition / per resource,
mirroring the request. The connection stays open. This module does the same generically from the
JSON schemas: it walks the response schema, copies identifying fields (``name``,
``partition_index``, ``resource_name``, ...) from the matching request items, and puts the error
code (and message, where the schema has one) everywhere an ``error_code`` field exists.
"""

from __future__ import annotations

from typing import Any

from kafka.protocol.schemas.fields.struct import StructField
from kafka.protocol.schemas.fields.struct_array import StructArrayField

from pykafka_broker.protocol import messages
from pykafka_broker.protocol.errors import ErrorCode

# Request arrays whose response counterpart has another name (first match wins).
_ARRAY_ALIASES = {
    "responses": ("topics", "topic_data", "resources"),
    "results": ("topics", "resources", "groups", "transactions", "producers"),
    "topics": ("topic_data", "topics"),
    "partitions": ("partition_data", "partition_indexes", "partitions"),
    "partition_responses": ("partition_data", "partitions"),
}
# Identifying scalars: response field -> request field names that carry it.
_SCALAR_ALIASES = {
    "name": ("name", "topic"),
    "topic": ("topic", "name"),
    "index": ("index", "partition_index", "partition"),
    "partition_index": ("partition_index", "partition", "index"),
    "partition": ("partition", "partition_index", "index"),
}


def build_error_response(api_key: int, version: int, request: Any,
                         code: ErrorCode = ErrorCode.UNKNOWN_SERVER_ERROR,
                         message: str | None = None) -> bytes:
    """The encoded error response for ``request`` (a decoded request, or None when there is none)."""
    cls = messages.response_class(api_key)
    values = _fill(cls.fields, request, version, code, message)
    return messages.encode_response(api_key, version, cls[version](**values))


def _fields(fields: Any) -> Any:
    return fields.values() if isinstance(fields, dict) else fields


def _fill(fields: Any, req: Any, version: int, code: ErrorCode, message: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in _fields(fields):
        if not f.for_version_q(version):
            continue
        name = f.name
        if name == "error_code":
            out[name] = int(code)
        elif name == "error_message":
            out[name] = message
        elif name == "throttle_time_ms":
            out[name] = 0
        elif isinstance(f, StructArrayField):
            items = _request_items(req, name)
            data_class = f.array_of.data_class
            out[name] = [data_class(**_fill(f.fields, item, version, code, message)) for item in items]
        elif isinstance(f, StructField):
            continue  # nested structs keep their defaults
        elif req is not None:
            value = _scalar(req, name)
            if value is not None:
                out[name] = value
    return out


def _request_items(req: Any, name: str) -> list[Any]:
    if req is None:
        return []
    for candidate in (name, *_ARRAY_ALIASES.get(name, ())):
        value = getattr(req, candidate, None)
        if isinstance(value, list):
            return value
    return []


def _scalar(req: Any, name: str) -> Any:
    if isinstance(req, int):  # an item of an int array (partition_indexes): the partition itself
        return req if name in ("partition_index", "partition", "index") else None
    for candidate in _SCALAR_ALIASES.get(name, (name,)):
        value = getattr(req, candidate, None)
        if value is not None and not isinstance(value, list):
            return value
    return None
