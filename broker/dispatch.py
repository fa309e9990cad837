"""Routes a decoded request header to its handler; handlers self-register their version range.

A handler is registered with ``@handler(ApiKey.X, min, max)``. Library-codec handlers receive the
request decoded by kafka-python's schema classes and return a response object (or a Future of one),
which is encoded here. ``raw=True`` handlers (Produce, Fetch: the hot paths) receive the body as a
writable memoryview and return the encoded body as a list of buffers (or a Future of that list), or
``NO_RESPONSE`` (Produce with acks=0).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

from pykafka_broker.protocol import messages
from pykafka_broker.protocol.api_keys import ApiKey
from pykafka_broker.protocol.errors import ErrorCode, ProtocolError
from pykafka_broker.protocol.frame import RequestHeader
from pykafka_broker.protocol.versions import VersionRegistry

if TYPE_CHECKING:
    from pykafka_broker.broker.context import BrokerServices

log = logging.getLogger("pykafka_broker.dispatch")

REGISTRY = VersionRegistry()

Body = list[bytes | bytearray | memoryview]


class _NoResponse:
    def __repr__(self) -> str:
        return "NO_RESPONSE"


NO_RESPONSE: Any = _NoResponse()


@dataclass(frozen=True, slots=True)
class HandlerEntry:
    api_key: ApiKey
    fn: Callable[..., Any]
    raw: bool


_HANDLERS: dict[int, HandlerEntry] = {}


def handler(api_key: ApiKey, min_version: int, max_version: int, *, advertised_min: int | None = None,
            raw: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        REGISTRY.register(api_key, min_version, max_version, advertised_min)
        _HANDLERS[int(api_key)] = HandlerEntry(api_key, fn, raw)
        return fn
    return register


class UnknownApiKey(ProtocolError):
    pass


@dataclass(slots=True)
class RequestContext:
    broker: BrokerServices
    header: RequestHeader
    peer: str

    @property
    def api_version(self) -> int:
        return self.header.api_version

    @property
    def client_id(self) -> str:
        return self.header.client_id or ""

    @property
    def client_host(self) -> str:
        """The peer address as Kafka reports it (``InetAddress.toString()``: ``/127.0.0.1``)."""
        host = self.peer.rsplit(":", 1)[0] if ":" in self.peer else self.peer
        return "/" + host


def dispatch(ctx: RequestContext, body: memoryview) -> Body | asyncio.Future[Body] | Any:
    """Run the handler for one request. Raises ProtocolError for what must close the connection."""
    header = ctx.header
    entry = _HANDLERS.get(header.api_key)
    if entry is None:
        raise UnknownApiKey(f"unknown or unserved API key {header.api_key}")
    vr = REGISTRY.get(header.api_key)
    assert vr is not None
    version = header.api_version
    if entry.raw:
        # Raw handlers check the version themselves (Produce answers v0-2 with UNSUPPORTED_VERSION).
        return entry.fn(ctx, body)
    if not vr.accepts(version):
        if header.api_key == ApiKey.API_VERSIONS:
            return entry.fn(ctx, None)  # answers at v0 with error 35 and our ranges
        return _unsupported_version(header)
    request = messages.decode_request(header.api_key, version, body)
    result = entry.fn(ctx, request)
    return map_reply(result, lambda response: [messages.encode_response(header.api_key, version, response)])


T = TypeVar("T")
U = TypeVar("U")
Reply: TypeAlias = "T | asyncio.Future[T]"


def map_reply(value: Reply[T], fn: Callable[[T], U]) -> Reply[U]:
    """Apply ``fn`` to a reply now, or when its Future resolves (failures and cancels pass through)."""
    if not isinstance(value, asyncio.Future):
        return fn(value)
    out: asyncio.Future[U] = asyncio.get_running_loop().create_future()

    def done(f: asyncio.Future[T]) -> None:
        if out.done():
            return
        if f.cancelled():
            out.cancel()
        elif (exc := f.exception()) is not None:
            out.set_exception(exc)
        else:
            try:
                out.set_result(fn(f.result()))
            except Exception as exc2:  # an encoding bug: fail this reply (closes the connection)
                out.set_exception(exc2)
    value.add_done_callback(done)
    return out


def _unsupported_version(header: RequestHeader) -> Body:
    """An error response at the request's version when the schema can express it; else close."""
    schema = messages.schema_versions(header.api_key)
    if schema is None or not 0 <= header.api_version <= schema[1]:
        raise ProtocolError(f"unsupported version {header.api_version} of API {header.api_key}")
    cls = messages.response_class(header.api_key)
    if "error_code" not in cls.fields:
        raise ProtocolError(f"unsupported version {header.api_version} of API {header.api_key}")
    resp = messages.new_response(header.api_key, header.api_version,
                                 error_code=int(ErrorCode.UNSUPPORTED_VERSION))
    return [messages.encode_response(header.api_key, header.api_version, resp)]
