"""The one adapter around kafka-python's schema-driven message classes (control-plane APIs).

kafka-python 3.0 builds its request/response classes from Apache Kafka's JSON message specs; we use
them to decode requests and encode responses for everything except the two hot paths (Produce and
Fetch, see produce.py / fetch.py). Nothing outside this module imports ``kafka.protocol``.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from typing import Any

from kafka.protocol.api_message import ApiMessage
from kafka.protocol.schemas.fields.array import ArrayField
from kafka.protocol.schemas.fields.struct import StructField
from kafka.protocol.schemas.fields.struct_array import StructArrayField

from pykafka_broker.protocol.errors import ProtocolError


def _all_message_classes() -> Iterator[type[ApiMessage]]:
    stack = list(ApiMessage.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if getattr(cls, "_class_version", None) is None and getattr(cls, "_json", None) is not None:
            yield cls


@cache
def _classes() -> dict[tuple[int, str], type[ApiMessage]]:
    # importing the package registers every message module
    import kafka.protocol.admin  # noqa: F401
    import kafka.protocol.consumer  # noqa: F401
    import kafka.protocol.metadata  # noqa: F401
    import kafka.protocol.producer  # noqa: F401

    found: dict[tuple[int, str], type[ApiMessage]] = {}
    for cls in _all_message_classes():
        found[(cls.API_KEY, cls.type)] = cls
    return found


def request_class(api_key: int) -> type[ApiMessage]:
    return _classes()[(api_key, "request")]


def response_class(api_key: int) -> type[ApiMessage]:
    return _classes()[(api_key, "response")]


def schema_versions(api_key: int) -> tuple[int, int] | None:
    """(min, max) request versions the schema describes, or None when kafka-python lacks the API."""
    cls = _classes().get((api_key, "request"))
    if cls is None:
        return None
    lo, hi = cls.valid_versions
    return int(lo), int(hi)


@cache
def is_flexible(api_key: int, version: int) -> bool:
    """Whether (api_key, version) uses the flexible encoding (KIP-482), hence request header v2."""
    cls = _classes().get((api_key, "request"))
    if cls is None:
        return False
    return bool(cls.flexible_version_q(version))


def decode_request(api_key: int, version: int, body: memoryview) -> Any:
    """The request decoded; ProtocolError (the peer's fault: Kafka closes the connection, see
    RequestContext.parseRequest) when it cannot be, including a null where the schema allows none."""
    cls = request_class(api_key)
    try:
        request = cls.decode(body, version=version)
    except Exception as exc:  # the library raises assorted errors on malformed input
        raise ProtocolError(f"undecodable {api_key} v{version} request: {exc!r}") from exc
    _check_nulls(_null_plan(api_key, version), request)
    return request


# Per field present in a version: (attribute name, JSON name, ("array"|"struct", nested plan) or
# None, nullable in this version).
_Plan = tuple[tuple[str, str, Any, bool], ...]
_NULLABLE_TYPES = frozenset({"string", "bytes", "records"})  # the scalar types with a null encoding


def _plan_for(fields: Any, version: int) -> _Plan:
    plan: list[tuple[str, str, Any, bool]] = []
    for f in fields.values() if isinstance(fields, dict) else fields:
        if not f.for_version_q(version) or f.tagged_field_q(version):
            continue  # absent in this version, or tagged (optional by definition)
        nested: Any = None
        if isinstance(f, StructArrayField):
            nested = ("array", _plan_for(f.fields, version))
        elif isinstance(f, StructField):
            nested = ("struct", _plan_for(f.fields, version))
        elif isinstance(f, ArrayField):
            if f._type_str[2:] in _NULLABLE_TYPES:  # []string, []bytes: no element may be null
                nested = ("scalars", ())
        elif f._type_str not in _NULLABLE_TYPES:
            continue  # ints, bools, uuids (kafka-python decodes the zero uuid as None): never null
        plan.append((f.name, f._name, nested, f.nullable_for_version_q(version)))
    return tuple(plan)


@cache
def _null_plan(api_key: int, version: int) -> _Plan:
    return _plan_for(request_class(api_key).fields, version)


def _check_nulls(plan: Any, obj: Any) -> None:
    """Kafka's generated readers refuse a null where the field is not nullable ("non-nullable field
    X was serialized as null"); kafka-python decodes it as None, which would reach a handler."""
    for name, json_name, nested, nullable in plan:
        value = getattr(obj, name, None)
        if value is None:
            if not nullable:
                raise ProtocolError(f"non-nullable field {json_name} was serialized as null")
            continue
        if nested is None:
            continue
        kind, sub = nested
        if kind == "scalars":
            if any(item is None for item in value):
                raise ProtocolError(f"non-nullable field {json_name} element was serialized as null")
            continue
        if not sub:
            continue
        if kind == "array":
            for item in value:
                _check_nulls(sub, item)
        else:
            _check_nulls(sub, value)


def new_response(api_key: int, version: int, **fields: Any) -> Any:
    return response_class(api_key)[version](**fields)


def encode_response(api_key: int, version: int, response: Any) -> bytes:
    return bytes(response.encode(version=version))


def response_type(api_key: int) -> type[ApiMessage]:
    """The response class, for building nested data objects (e.g. ``cls.MetadataResponseTopic``)."""
    return response_class(api_key)
