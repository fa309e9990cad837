"""Replies written with writev and handed to the transport for the rest (broker/send.py), on real
sockets: a partial send keeps the bytes and their order, replies behind a partly sent one wait
their turn, more buffers than IOV_MAX go out whole, and a peer that resets the connection mid-send
closes that connection quietly."""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from pathlib import Path
from typing import Any

import pytest
from kafka.protocol.consumer import FetchRequest, FetchResponse
from kafka.protocol.metadata import ApiVersionsRequest

from pykafka_broker.broker import connection as connection_module
from pykafka_broker.broker.clock import now_ms
from pykafka_broker.broker.config import BrokerConfig
from pykafka_broker.broker.connection import KafkaConnection
from pykafka_broker.broker.send import IOV_MAX, direct_write_fd, write_direct
from pykafka_broker.broker.server import open_broker
from pykafka_broker.protocol.records import build_batch, read_batch_header

DEADLINE = 10.0


class Capture(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.lost: asyncio.Future[Exception | None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(exc)


async def pair(rcvbuf: int = 4096) -> tuple[Capture, socket.socket]:
    """A transport on one end of a socket pair with small buffers (so sends are partial) and the
    other end as a plain non-blocking socket that reads only when told to."""
    ours, peer = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    peer.setblocking(False)
    _, proto = await asyncio.get_running_loop().connect_accepted_socket(Capture, ours)
    return proto, peer


async def read_exactly(sock: socket.socket, n: int) -> bytes:
    loop = asyncio.get_running_loop()
    out = bytearray()
    async with asyncio.timeout(DEADLINE):
        while len(out) < n:
            chunk = await loop.sock_recv(sock, min(1 << 16, n - len(out)))
            if not chunk:
                raise AssertionError(f"peer closed after {len(out)} of {n} bytes")
            out += chunk
    return bytes(out)


def pieces(total: int, seed: int) -> list[Any]:
    data = bytes((seed + i * 7) % 251 for i in range(total))
    out: list[Any] = [data[:5], b""]
    pos, step = 5, 1000
    while pos < total:
        out.append(memoryview(data)[pos : pos + step])  # memoryviews, as the log chunks are
        pos += step
        step = step * 3 // 2 + 1
    return out


async def test_partial_send_keeps_bytes_and_order_and_later_replies_queue_behind() -> None:
    proto, peer = await pair()
    transport = proto.transport
    assert transport is not None
    fd = direct_write_fd(transport, enabled=True)
    assert fd >= 0
    first, second = pieces(2_000_000, 1), pieces(300_000, 2)
    expected = b"".join(bytes(p) for p in first) + b"".join(bytes(p) for p in second)
    sent = write_direct(transport, fd, list(first))
    assert 0 < sent < 2_000_000  # the socket took a part, the transport holds the rest
    assert transport.get_write_buffer_size() == 2_000_000 - sent
    assert write_direct(transport, fd, list(second)) == 0  # behind the first: all to the transport
    assert await read_exactly(peer, len(expected)) == expected
    peer.close()
    transport.close()


async def test_more_buffers_than_iov_max_go_out_whole() -> None:
    proto, peer = await pair(rcvbuf=1 << 20)
    transport = proto.transport
    assert transport is not None
    bufs = [bytes([i % 256]) * 3 for i in range(IOV_MAX * 2 + 17)]
    write_direct(transport, direct_write_fd(transport, enabled=True), list(bufs))
    assert await read_exactly(peer, 3 * len(bufs)) == b"".join(bufs)
    peer.close()
    transport.close()


async def test_peer_reset_mid_send_closes_the_connection_quietly() -> None:
    proto, peer = await pair()
    transport = proto.transport
    assert transport is not None
    fd = direct_write_fd(transport, enabled=True)
    assert write_direct(transport, fd, pieces(1_000_000, 3)) < 1_000_000  # the rest is queued
    peer.close()  # unread bytes: the next send fails (EPIPE / ECONNRESET)
    write_direct(transport, fd, pieces(100_000, 4))  # must not raise; queued behind, then dropped
    async with asyncio.timeout(DEADLINE):
        exc = await proto.lost
    assert isinstance(exc, OSError)
    write_direct(transport, fd, [b"late"])  # after the loss: nothing raised, nothing sent


async def test_reset_before_a_direct_write_leaves_the_error_to_the_transport() -> None:
    proto, peer = await pair()
    transport = proto.transport
    assert transport is not None
    peer.close()
    assert write_direct(transport, direct_write_fd(transport, enabled=True), [b"x" * 10_000]) == 0
    async with asyncio.timeout(DEADLINE):
        exc = await proto.lost
    assert isinstance(exc, OSError)


# --- through the connection: a Fetch larger than the socket buffer between other replies -----------


def fetch(correlation_id: int) -> bytes:
    ft = FetchRequest.FetchTopic
    req = FetchRequest(replica_id=-1, max_wait_ms=0, min_bytes=1, max_bytes=16 << 20, isolation_level=0,
                       session_id=0, session_epoch=-1, topics=[ft(topic="t", partitions=[
                           ft.FetchPartition(partition=0, fetch_offset=0, partition_max_bytes=16 << 20)])],
                       forgotten_topics_data=[], rack_id="")
    req.with_header(correlation_id=correlation_id, client_id="test")
    return bytes(req.encode(version=12, header=True, framed=True))


def api_versions(correlation_id: int) -> bytes:
    req = ApiVersionsRequest[3](client_software_name="t", client_software_version="1")
    req.with_header(correlation_id=correlation_id, client_id="test")
    return bytes(req.encode(header=True, framed=True))


async def read_frame(sock: socket.socket) -> bytes:
    (size,) = struct.unpack(">i", await read_exactly(sock, 4))
    return await read_exactly(sock, size)


@pytest.fixture
def broker(tmp_path: Path) -> Any:
    b = open_broker(BrokerConfig(data_dir=tmp_path))
    b.logs.create_topic("t", 1, {})
    plog = b.logs.get_log("t", 0)
    for i in range(20):  # ~2 MB in batches of ~100 KB
        batch = build_batch([(None, bytes([i]) * 1000, [], 1000 + i)] * 100)
        plog.append(batch, read_batch_header(batch), now_ms())
    yield b
    b.logs.close()


async def test_fetch_reply_partly_sent_keeps_its_place_among_pipelined_replies(
        broker: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    direct: list[int] = []

    def recording(transport: Any, fd: int, buffers: list[Any]) -> int:
        direct.append(write_direct(transport, fd, buffers))
        return direct[-1]

    monkeypatch.setattr(connection_module, "write_direct", recording)
    monkeypatch.setattr(connection_module, "direct_write_fd",
                        lambda transport: direct_write_fd(transport, enabled=True))
    loop = asyncio.get_running_loop()
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8192)  # inherited by the accepted socket
    listener.bind(("127.0.0.1", 0))
    server = await loop.create_server(lambda: KafkaConnection(broker), sock=listener)
    port = listener.getsockname()[1]
    client = socket.socket()
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
    client.setblocking(False)
    try:
        await loop.sock_connect(client, ("127.0.0.1", port))
        await loop.sock_sendall(client, fetch(1) + api_versions(2) + fetch(3) + api_versions(4))
        frames = [await read_frame(client) for _ in range(4)]
    finally:
        client.close()
        server.close()
        await server.wait_closed()
    assert [struct.unpack_from(">i", f)[0] for f in frames] == [1, 2, 3, 4]
    log_bytes = b"".join(bytes(c) for c in broker.logs.get_log("t", 0).read(0, 16 << 20).chunks)
    for frame in (frames[0], frames[2]):
        resp = FetchResponse.decode(frame[5:], version=12)
        assert resp.responses[0][1][0][-1] == log_bytes  # the records field, byte for byte
    assert len(direct) == 4 and 0 < direct[0] < 4 + len(frames[0])  # the first: a partial direct send
    assert direct[1:] == [0, 0, 0]  # the others were queued behind it in the transport
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
