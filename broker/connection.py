"""One client connection: framing, in-order responses, backpressure, bounded memory.

Receiving (``asyncio.BufferedProtocol``). An idle connection owns no buffer: every socket read
lands in the broker's one shared scratch buffer (``ConnectionQuotas.scratch``; the event loop runs
one read at a time) and is cut into frames at once, each complete frame copied out once. What is
left of a read is kept per connection, sized to what has arrived:

- fewer than 6 bytes (size prefix + api key): kept as they are, nothing reserved;
- the start of a larger frame: the frame gets its own buffer of exactly its size and the socket
  reads the rest into it in place, so a 1 MiB Produce is never copied in user space. That buffer
  is a bytearray while the bytes not yet arrived fit the broker-wide ``EAGER_RESERVE_BYTES``
  budget (the fast path of every normal producer), else an anonymous private mapping, whose pages
  cost memory only as bytes arrive: peers that send 100 MB size prefixes and stop cost almost
  nothing.

Sizes are checked before anything is reserved: a frame over ``socket.request.max.bytes`` closes
the connection (Kafka's InvalidReceiveException), and so does a non-Produce frame over
``CONTROL_REQUEST_MAX_BYTES`` (2 MiB): only Produce carries bulk data, and the generic decoder
blocks the event loop for 150-350 ms per MiB of, say, a Metadata request naming many topics.

Requests run as soon as they are complete; a handler may answer later (a long-poll Fetch, a
Produce waiting for fsync), so responses are written strictly in request order. Before each frame
is cut the connection checks its bounds: responses pending on it (``MAX_PENDING``, every request
read and not yet answered, immediate replies queued behind a slow one included), the transport's
write buffer (``pause_writing``) plus replies queued behind a slow one (``QUEUED_BYTES_HIGH``),
and the broker-wide ``queued.max.requests``. Over any bound it stops cutting frames, keeps the rest
of the read (at most one read) and pauses reading, like aiohttp's ``web_protocol`` watermarks.
"""

from __future__ import annotations

import asyncio
import logging
import mmap
import struct
import sys
from collections import deque
from typing import Any

from pykafka_broker.broker.connection_quotas import ConnectionQuotas
from pykafka_broker.broker.dispatch import NO_RESPONSE, RequestContext, dispatch
from pykafka_broker.broker.ratelimit_log import RateLimitedLog
from pykafka_broker.broker.send import direct_write_fd, write_direct
from pykafka_broker.protocol.api_keys import ApiKey
from pykafka_broker.protocol.errors import ProtocolError
from pykafka_broker.protocol.frame import parse_request_header, response_header

log = logging.getLogger("pykafka_broker.connection")
_abort_log = RateLimitedLog(log)

# Requests read and not yet answered, per connection. Kafka reads one request per connection at a
# time (the channel is muted until its response is sent); clients pipeline up to 5 (Java, kafka-python
# max.in.flight), so 16 never throttles a well-behaved client while bounding a hostile one.
MAX_PENDING = 16
QUEUED_BYTES_HIGH = 1 << 20  # replies computed but queued behind an earlier, slower one
# Frames of every API but Produce (not a Kafka config). The largest legitimate ones are JoinGroup and
# SyncGroup of big groups, whose state must fit a __consumer_offsets record (message.max.bytes, ~1 MB)
# anyway; a 2 MiB Metadata request already holds the event loop for ~0.3-0.5 s in the generic decoder.
CONTROL_REQUEST_MAX_BYTES = 2 << 20
SMALL_FRAME = 16384  # partial frames up to this size get a plain bytearray
_MAP_FLAGS = mmap.MAP_PRIVATE | (0x4000 if sys.platform.startswith("linux") else 0)  # MAP_NORESERVE
_SIZE = struct.Struct(">i")
_KEY = struct.Struct(">h")
_PRODUCE = int(ApiKey.PRODUCE)


class _Slot:
    __slots__ = ("head", "body", "future")

    def __init__(self, head: bytes, body: Any, future: asyncio.Future[Any] | None) -> None:
        self.head = head
        self.body = body
        self.future = future


class KafkaConnection(asyncio.BufferedProtocol):
    def __init__(self, broker: Any, quotas: ConnectionQuotas | None = None) -> None:
        self.broker = broker
        self.quotas = quotas if quotas is not None else ConnectionQuotas(broker.config)
        self.max_request = broker.config.max_request_bytes
        self.max_control = min(self.max_request, CONTROL_REQUEST_MAX_BYTES)
        self.transport: asyncio.Transport | None = None
        self.peer = "?"
        self.ip = "?"
        self.admitted = False
        self._head = b""  # the first bytes of a frame, before its size and api key are known
        self._frame: bytearray | mmap.mmap | None = None  # frame being read in place
        self._fpos = 0
        self._reserved = 0  # bytes of the eager budget this frame holds
        self._backlog: bytearray | None = None  # bytes read but not cut while over a bound
        self._draining = False
        self._slots: deque[_Slot] = deque()
        self._queued_bytes = 0
        self._reading_paused = False
        self._writing_paused = False
        self._blocked = False  # waiting for the broker-wide queued.max.requests
        self._fd = -1  # the socket's fd when replies are written with writev (see send.py)
        self.closed = False

    # -- asyncio callbacks ---------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple):
            self.ip, self.peer = str(peer[0]), f"{peer[0]}:{peer[1]}"
        else:
            self.ip = self.peer = str(peer)
        refused = self.quotas.admit(self, self.ip)
        if refused is not None:
            _abort_log.warning("refused:" + self.ip, "%s", refused)
            self.closed = True
            transport.abort()
            return
        self.admitted = True
        self.broker.connections.add(self)
        self._fd = direct_write_fd(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.broker.connections.discard(self)
        self._frame = self._backlog = None
        self._release_reserve()
        for slot in self._slots:
            if slot.future is not None and not slot.future.done():
                slot.future.cancel()
        n, self._queued_bytes = len(self._slots), 0
        self._slots.clear()
        for _ in range(n):
            self.quotas.request_done()
        if self.admitted:
            self.admitted = False
            self.quotas.release(self, self.ip)

    def get_buffer(self, sizehint: int) -> memoryview:
        if self._frame is not None:
            return memoryview(self._frame)[self._fpos :]
        return self.quotas.scratch_view

    def buffer_updated(self, nbytes: int) -> None:
        self.quotas.touch(self)
        try:
            frame = self._frame
            if frame is not None:
                self._fpos += nbytes
                if self._fpos == len(frame):
                    self._frame = None
                    self._release_reserve()
                    self._handle_frame(frame)
                return
            data = self.quotas.scratch_view[:nbytes]
            if self._head:
                data, self._head = memoryview(self._head + data), b""
            self._consume(data)
        except ProtocolError as exc:
            self.abort(str(exc))

    def pause_writing(self) -> None:
        self._writing_paused = True
        self._update_reading()

    def resume_writing(self) -> None:
        self._writing_paused = False
        self._update_reading()

    # -- framing -------------------------------------------------------------------------
    def _consume(self, data: memoryview) -> None:
        """Cut and run the frames in ``data`` until a bound is reached; keep what is left."""
        pos, end = 0, len(data)
        while pos < end and not self.closed:
            if self._over_bounds():
                self._backlog = bytearray(data[pos:end])  # at most one read, until we may go on
                self._update_reading()
                return
            have = end - pos
            if have < 4:
                self._head = bytes(data[pos:end])
                return
            (size,) = _SIZE.unpack_from(data, pos)
            if size < 0 or size > self.max_request:
                raise ProtocolError(f"InvalidReceive: frame size {size} is not in [0, "
                                    f"socket.request.max.bytes={self.max_request}]")
            if have - 4 >= size:
                if size >= 2:
                    self._check_api_size(size, _KEY.unpack_from(data, pos + 4)[0])
                frame = bytearray(data[pos + 4 : pos + 4 + size])  # one small copy out of the scratch
                pos += 4 + size
                self._handle_frame(frame)
                continue
            if have < 6:
                self._head = bytes(data[pos:end])  # wait for the api key before reserving anything
                return
            self._check_api_size(size, _KEY.unpack_from(data, pos + 4)[0])
            frame_buf = self._new_frame(size, size - (have - 4))
            frame_buf[: have - 4] = data[pos + 4 : end]
            self._frame, self._fpos = frame_buf, have - 4
            return

    def _new_frame(self, size: int, missing: int) -> bytearray | mmap.mmap:
        if size <= SMALL_FRAME:
            return bytearray(size)
        quotas = self.quotas
        if missing <= quotas.eager_left:
            quotas.eager_left -= missing
            self._reserved = missing
            return bytearray(size)
        return mmap.mmap(-1, size, flags=_MAP_FLAGS)

    def _release_reserve(self) -> None:
        if self._reserved:
            self.quotas.eager_left += self._reserved
            self._reserved = 0

    def _check_api_size(self, size: int, api_key: int) -> None:
        if size > self.max_control and api_key != _PRODUCE:
            try:
                name = ApiKey(api_key).name
            except ValueError:
                name = f"api_key={api_key}"
            raise ProtocolError(f"InvalidReceive: {name} request of {size} bytes is larger than "
                                f"{self.max_control}, the limit for requests other than Produce")

    def _over_bounds(self) -> bool:
        if self._writing_paused or self._queued_bytes >= QUEUED_BYTES_HIGH or len(self._slots) >= MAX_PENDING:
            return True
        if self.quotas.queue_full():
            if not self._blocked:
                self._blocked = True
                self.quotas.block(self)
            return True
        return False

    # -- requests and responses ----------------------------------------------------------
    def _handle_frame(self, frame: bytearray | mmap.mmap) -> None:
        if self.closed:
            return
        header = parse_request_header(frame)
        ctx = RequestContext(self.broker, header, self.peer)
        body = memoryview(frame)[header.body_offset :]
        try:
            result = dispatch(ctx, body)
        except ProtocolError:
            raise
        except Exception as exc:  # a bug of ours: keep the broker up, drop this connection
            log.exception("error handling api_key=%s v%s from %s", header.api_key, header.api_version,
                          self.peer)
            raise ProtocolError(f"internal error: {exc!r}") from exc
        if result is NO_RESPONSE:
            return
        head = response_header(header.correlation_id, header.api_key, header.api_version)
        if isinstance(result, asyncio.Future):
            self._slots.append(_Slot(head, None, result))
            self.quotas.pending += 1
            result.add_done_callback(self._on_future_done)
            self._update_reading()
        elif self._slots:
            self._slots.append(_Slot(head, result, None))
            self.quotas.pending += 1
            self._queued_bytes += _size(result)
        else:
            self._write(head, result)

    def _on_future_done(self, _fut: asyncio.Future[Any]) -> None:
        while self._slots and not self.closed:
            slot = self._slots[0]
            if slot.future is not None:
                if not slot.future.done():
                    break
                if slot.future.cancelled():
                    self.abort("request cancelled")
                    return
                exc = slot.future.exception()
                if exc is not None:
                    log.error("error completing request from %s: %r", self.peer, exc)
                    self.abort(f"internal error: {exc!r}")
                    return
                body = slot.future.result()
            else:
                body = slot.body
                self._queued_bytes -= _size(body)
            self._slots.popleft()
            self.quotas.request_done()
            if body is not NO_RESPONSE:
                self._write(slot.head, body)
        self._update_reading()

    def _write(self, head: bytes, body: list[Any]) -> None:
        transport = self.transport
        if transport is None or self.closed:
            return
        size = len(head) + _size(body)
        buffers = [_SIZE.pack(size) + head, *body]
        if self._fd >= 0 and len(buffers) > 1:
            write_direct(transport, self._fd, buffers)
        else:
            transport.writelines(buffers)
        self.quotas.touch(self)

    def _update_reading(self) -> None:
        if self.transport is None or self.closed:
            return
        if self._backlog is not None and not self._draining and not self._over_bounds():
            backlog, self._backlog = self._backlog, None
            self._draining = True
            try:
                self._consume(memoryview(backlog))
            except ProtocolError as exc:
                self.abort(str(exc))
                return
            finally:
                self._draining = False
            if self.closed:
                return
        should_pause = self._backlog is not None or self._over_bounds()
        if should_pause and not self._reading_paused:
            self._reading_paused = True
            self.transport.pause_reading()
        elif not should_pause and self._reading_paused:
            self._reading_paused = False
            self.transport.resume_reading()

    def unblock(self) -> None:
        """The broker-wide request queue has room again (called by ConnectionQuotas)."""
        self._blocked = False
        asyncio.get_running_loop().call_soon(self._update_reading)

    def busy(self) -> bool:
        """The broker is still working on a request (a long poll, an fsync wait): not idle. A reply
        stuck in the write buffer because the client stopped reading does not count, so such a
        client is closed after connections.max.idle.ms like any other idle one (Kafka's Selector sees
        no activity on it either)."""
        return bool(self._slots) and self._slots[0].future is not None and not self._slots[0].future.done()

    def expire_idle(self, idle_ms: int) -> None:
        if not self.closed:
            log.info("closing connection from %s: idle for more than connections.max.idle.ms=%d",
                     self.peer, idle_ms)
            self.closed = True
            if self.transport is not None:
                self.transport.abort()  # close() would wait for a reply a non-reading client never takes

    def pending_futures(self) -> list[asyncio.Future[Any]]:
        """Replies still being produced (long-polls, fsync waits), for a graceful shutdown."""
        return [s.future for s in self._slots if s.future is not None and not s.future.done()]

    def abort(self, reason: str) -> None:
        if self.closed:
            return
        # One line per kind of reason every 10 s: a fuzzer or a broken client would fill the disk.
        _abort_log.warning(reason.split(":", 1)[0][:80], "closing connection from %s: %s", self.peer, reason)
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.closed = True
            self.transport.close()


def _size(body: list[Any]) -> int:
    n = 0
    for chunk in body:
        n += len(chunk)
    return n
