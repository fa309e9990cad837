"""One client connection: framing, in-order responses, backpressure.

Reads go straight into buffers we own (``asyncio.BufferedProtocol``): small frames are cut out of a
64 KiB receive buffer; a frame larger than that gets its own bytearray of exactly its size and the
socket reads into it directly, so a 1 MiB produce is never copied in user space. The size prefix
is checked against ``socket.request.max.bytes`` before anything is buffered.

Requests run as soon as they are complete; a handler may answer later (a long-poll Fetch, a Produce
waiting for fsync), so responses queue in request order and are written strictly in that order.
Reading pauses while too many responses are pending or the transport's write buffer is full
(aiohttp's ``web_protocol`` watermarks).
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections import deque
from typing import Any

from pykafka_broker.broker.dispatch import NO_RESPONSE, RequestContext, dispatch
from pykafka_broker.protocol.errors import ProtocolError
from pykafka_broker.protocol.frame import parse_request_header, response_header

log = logging.getLogger("pykafka_broker.connection")

RECV_BUFFER = 65536
MAX_PENDING = 64  # responses outstanding before we stop reading (Kafka mutes at 1; clients pipeline 5)
_SIZE = struct.Struct(">i")


class _Slot:
    __slots__ = ("head", "body", "future")

    def __init__(self, head: bytes, body: Any, future: asyncio.Future[Any] | None) -> None:
        self.head = head
        self.body = body
        self.future = future


class KafkaConnection(asyncio.BufferedProtocol):
    def __init__(self, broker: Any) -> None:
        self.broker = broker
        self.max_request = broker.config.max_request_bytes
        self.transport: asyncio.Transport | None = None
        self.peer = "?"
        self._rbuf = bytearray(RECV_BUFFER)
        self._rmv = memoryview(self._rbuf)
        self._rlen = 0
        self._big: bytearray | None = None  # frame being read directly into its own buffer
        self._big_pos = 0
        self._slots: deque[_Slot] = deque()
        self._reading_paused = False
        self._writing_paused = False
        self.closed = False

    # -- asyncio callbacks ---------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        self.broker.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.broker.connections.discard(self)
        for slot in self._slots:
            if slot.future is not None and not slot.future.done():
                slot.future.cancel()
        self._slots.clear()

    def get_buffer(self, sizehint: int) -> memoryview:
        if self._big is not None:
            return memoryview(self._big)[self._big_pos :]
        return self._rmv[self._rlen :]

    def buffer_updated(self, nbytes: int) -> None:
        try:
            if self._big is not None:
                self._big_pos += nbytes
                if self._big_pos == len(self._big):
                    frame, self._big = self._big, None
                    self._handle_frame(frame)
                return
            self._rlen += nbytes
            self._cut_frames()
        except ProtocolError as exc:
            self.abort(str(exc))

    def pause_writing(self) -> None:
        self._writing_paused = True
        self._update_reading()

    def resume_writing(self) -> None:
        self._writing_paused = False
        self._update_reading()

    # -- framing -------------------------------------------------------------------------
    def _cut_frames(self) -> None:
        buf, pos, end = self._rbuf, 0, self._rlen
        while end - pos >= 4 and not self.closed:
            (size,) = _SIZE.unpack_from(buf, pos)
            if size < 0 or size > self.max_request:
                raise ProtocolError(f"frame of {size} bytes exceeds socket.request.max.bytes="
                                    f"{self.max_request}" if size > 0 else f"negative frame size {size}")
            if end - pos - 4 >= size:
                frame = buf[pos + 4 : pos + 4 + size]  # one small copy out of the reused buffer
                pos += 4 + size
                self._handle_frame(frame)
                continue
            if 4 + size > RECV_BUFFER:
                # Large frame: give it its own buffer and let the socket fill it in place.
                big = bytearray(size)
                have = end - pos - 4
                big[:have] = buf[pos + 4 : end]
                self._big, self._big_pos = big, have
                pos = end
            break
        if pos:
            remaining = end - pos
            if remaining:
                buf[:remaining] = buf[pos:end]
            self._rlen = remaining

    # -- requests and responses ----------------------------------------------------------
    def _handle_frame(self, frame: bytearray) -> None:
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
            slot = _Slot(head, None, result)
            self._slots.append(slot)
            result.add_done_callback(self._on_future_done)
            self._update_reading()
        elif self._slots:
            self._slots.append(_Slot(head, result, None))
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
            self._slots.popleft()
            if body is not NO_RESPONSE:
                self._write(slot.head, body)
        self._update_reading()

    def _write(self, head: bytes, body: list[Any]) -> None:
        if self.transport is None or self.closed:
            return
        size = len(head)
        for chunk in body:
            size += len(chunk)
        self.transport.writelines([_SIZE.pack(size) + head, *body])

    def _update_reading(self) -> None:
        if self.transport is None or self.closed:
            return
        should_pause = self._writing_paused or len(self._slots) >= MAX_PENDING
        if should_pause and not self._reading_paused:
            self._reading_paused = True
            self.transport.pause_reading()
        elif not should_pause and self._reading_paused:
            self._reading_paused = False
            self.transport.resume_reading()

    def pending_futures(self) -> list[asyncio.Future[Any]]:
        """Replies still being produced (long-polls, fsync waits), for a graceful shutdown."""
        return [s.future for s in self._slots if s.future is not None and not s.future.done()]

    def abort(self, reason: str) -> None:
        if self.closed:
            return
        log.warning("closing connection from %s: %s", self.peer, reason)
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.closed = True
            self.transport.close()
