"""Routes a decoded request header to its handler; handlers self-register their version range.

A handler is registered with ``@handler(ApiKey.X, min, max)``. Library-codec handlers receive the
request decoded by kafka-python's schema classes and return a response object (or a Future of one),
which is encoded here. ``raw=True`` handlers (Produce, Fetch: the hot paths) receive the body as a
writable memoryview and return the encoded body as a list of buffers (or a Future of that list), or
``NO_RESPONSE`` (Produce with acks=0).

Whose fault a failure is decides the answer (Kafka's SocketServer / KafkaApis split): a request that
cannot be parsed — an unknown key, a negative or unserved version (except ApiVersions, which answers
v0 with error 35), a body that does not decode, a null where the schema forbids one — raises
ProtocolError and the connection is closed, as Kafka's ``RequestContext.parseRequest`` →
InvalidRequestException → ``Processor.close`` does; the connection logs one rate-limited warning and no
traceback. Any other exception from a handler is our bug: it is logged (rate-limited, with its
traceback) and answered with UNKNOWN_SERVER_ERROR in the API's own response shape, the connection
kept (``KafkaApis.handleError`` → ``request.getErrorResponse``), also when it fails a deferred reply.

Test hook: ``PYKAFKA_BROKER_INJECT_HANDLER_FAULT=<api key>[,<api key>...]`` in the environment makes
those handlers raise RuntimeError before running, to exercise that path over a real socket.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

from pykafka_broker.broker.error_response import build_error_response
from pykafka_broker.broker.ratelimit_log import RateLimitedLog
from pykafka_broker.protocol import messages
from pykafka_broker.protocol.api_keys import ApiKey
from pykafka_broker.protocol.errors import ErrorCode, ProtocolError
from pykafka_broker.protocol.frame import RequestHeader
from pykafka_broker.protocol.versions import VersionRegistry

if TYPE_CHECKING:
    from pykafka_broker.broker.context import BrokerServices

log = logging.getLogger("pykafka_broker.dispatch")
_bug_log = RateLimitedLog(log)

INJECT_FAULT_ENV = "PYKAFKA_BROKER_INJECT_HANDLER_FAULT"
_INJECTED_FAULTS = frozenset(int(k) for k in os.environ.get(INJECT_FAULT_ENV, "").split(",") if k.strip())

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
    if version < 0 and header.api_key != ApiKey.API_VERSIONS:
        # Kafka: "Received request api key X with version -1 which is not enabled" -> close.
        raise ProtocolError(f"negative version {version} of API {header.api_key}")
    if entry.raw:
        # Raw handlers check the version themselves (Produce answers v0-2 with UNSUPPORTED_VERSION).
        # Their deferred failures (a produce whose fsync failed) still close the connection.
        return _guarded(ctx, body, None, lambda: entry.fn(ctx, body), deferred=False)
    if not vr.accepts(version):
        if header.api_key == ApiKey.API_VERSIONS:
            return entry.fn(ctx, None)  # answers at v0 with error 35 and our ranges
        return _unsupported_version(header)
    request = messages.decode_request(header.api_key, version, body)

    def encode(response: Any) -> Body:
        return [messages.encode_response(header.api_key, version, response)]
    return _guarded(ctx, body, request, lambda: map_reply(entry.fn(ctx, request), encode))


def _guarded(ctx: RequestContext, body: memoryview, request: Any, run: Callable[[], Any], *,
             deferred: bool = True) -> Any:
    """``run()``, with a handler bug (any exception but ProtocolError, raised now or, if ``deferred``,
    failing its deferred reply) turned into UNKNOWN_SERVER_ERROR in the API's response shape."""
    header = ctx.header
    try:
        if header.api_key in _INJECTED_FAULTS:
            raise RuntimeError(f"fault injected into the handler of API {header.api_key} "
                               f"({INJECT_FAULT_ENV})")
        result = run()
    except ProtocolError:
        raise
    except Exception as exc:
        return _bug_response(ctx, body, request, exc)
    if not deferred or not isinstance(result, asyncio.Future):
        return result
    out: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    def done(f: asyncio.Future[Any]) -> None:
        if out.done():
            return
        if f.cancelled():
            out.cancel()
        elif (exc := f.exception()) is not None and not isinstance(exc, ProtocolError):
            try:
                out.set_result(_bug_response(ctx, body, request, exc))
            except Exception as exc2:  # noqa: BLE001  building the error response failed: close
                out.set_exception(exc2)
        elif exc is not None:
            out.set_exception(exc)
        else:
            out.set_result(f.result())
    result.add_done_callback(done)
    return out


def _bug_response(ctx: RequestContext, body: memoryview, request: Any, exc: BaseException) -> Body:
    header = ctx.header
    _bug_log.error(f"handler-bug:{header.api_key}:{type(exc).__name__}",
                   "error handling api_key=%s v%s from %s; answering UNKNOWN_SERVER_ERROR",
                   header.api_key, header.api_version, ctx.peer, exc_info=exc)
    if request is None:  # a raw handler: decode the request with the library to mirror it
        try:
            request = messages.decode_request(header.api_key, header.api_version, body)
        except ProtocolError:
            request = None
    try:
        return [build_error_response(header.api_key, header.api_version, request,
                                     ErrorCode.UNKNOWN_SERVER_ERROR, None)]
    except Exception as exc2:  # no error response can be built for it: close, as before
        raise ProtocolError(f"internal error: {exc!r}") from exc2


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
