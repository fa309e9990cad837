"""Connection driver tests with an in-memory transport (no sockets): framing limits, in-order
responses, the large-frame path, that a bad frame closes only its own connection, and the bounds
on work taken off a connection (pending responses, write buffer, queued.max.requests)."""

from __future__ import annotations

import asyncio
import mmap
import struct
from pathlib import Path
from typing import Any

import pytest
from kafka.protocol.consumer import FetchRequest
from kafka.protocol.metadata import ApiVersionsRequest, ApiVersionsResponse, MetadataRequest, MetadataResponse
from kafka.protocol.producer import ProduceRequest

from pykafka_broker.broker import connection
from pykafka_broker.broker.clock import now_ms
from pykafka_broker.broker.config import BrokerConfig
from pykafka_broker.broker.connection import CONTROL_REQUEST_MAX_BYTES, MAX_PENDING, KafkaConnection
from pykafka_broker.broker.connection_quotas import EAGER_RESERVE_BYTES, ConnectionQuotas
from pykafka_broker.broker.connection_quotas import SCRATCH_SIZE as RECV_BUFFER
from pykafka_broker.broker.ratelimit_log import RateLimitedLog
from pykafka_broker.broker.server import open_broker
from pykafka_broker.protocol.records import build_batch, read_batch_header


class MemoryTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.out = bytearray()
        self.aborted = False
        self.closed = False
        self.paused = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 5555) if name == "peername" else default

    def write(self, data: Any) -> None:
        self.out += data

    def writelines(self, chunks: Any) -> None:
        for c in chunks:
            self.out += c

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False

    def abort(self) -> None:
        self.aborted = True

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.aborted or self.closed

    def get_write_buffer_size(self) -> int:
        return 0


def feed(conn: KafkaConnection, data: bytes, chunk: int = 1 << 30) -> None:
    """Deliver ``data`` the way asyncio does for a BufferedProtocol, ``chunk`` bytes at a time (and
    none while the connection has paused reading)."""
    pos = 0
    while pos < len(data) and not conn.closed:
        assert conn.transport is not None
        if conn.transport.paused:  # type: ignore[attr-defined]
            raise AssertionError("fed while reading is paused")
        buf = conn.get_buffer(-1)
        n = min(len(buf), chunk, len(data) - pos)
        buf[:n] = data[pos : pos + n]
        pos += n
        conn.buffer_updated(n)


def responses(raw: bytearray) -> list[bytes]:
    out, pos = [], 0
    while pos + 4 <= len(raw):
        (size,) = struct.unpack_from(">i", raw, pos)
        out.append(bytes(raw[pos + 4 : pos + 4 + size]))
        pos += 4 + size
    return out


@pytest.fixture(autouse=True)
def fresh_abort_log(monkeypatch: pytest.MonkeyPatch) -> None:
    """Connection warnings are rate-limited process-wide; each test sees its own first warning."""
    monkeypatch.setattr(connection, "_abort_log", RateLimitedLog(connection.log))


@pytest.fixture
def conn(tmp_path: Path) -> Any:
    broker = open_broker(BrokerConfig(data_dir=tmp_path, props={"socket.request.max.bytes": "200000"}))
    c = KafkaConnection(broker)
    t = MemoryTransport()
    c.connection_made(t)
    yield c, t, broker
    broker.logs.close()


def api_versions(correlation_id: int, version: int = 3) -> bytes:
    req = ApiVersionsRequest[version](client_software_name="t", client_software_version="1")
    req.with_header(correlation_id=correlation_id, client_id="test")
    return req.encode(header=True, framed=True)


async def test_pipelined_requests_answer_in_order_even_across_split_reads(conn: Any) -> None:
    c, t, _ = conn
    data = b"".join(api_versions(i) for i in range(1, 6))
    feed(c, data, chunk=7)
    got = responses(t.out)
    assert [struct.unpack_from(">i", r)[0] for r in got] == [1, 2, 3, 4, 5]
    resp = ApiVersionsResponse[3].decode(got[0][4:])
    assert resp.error_code == 0 and any(k.api_key == 0 and k.min_version == 0 for k in resp.api_keys)


async def test_api_versions_above_max_answers_v0_with_error_35(conn: Any) -> None:
    c, t, _ = conn
    body = struct.pack(">hhih", 18, 99, 42, 4) + b"test"
    feed(c, struct.pack(">i", len(body)) + body)
    (raw,) = responses(t.out)
    assert struct.unpack_from(">i", raw)[0] == 42
    resp = ApiVersionsResponse[0].decode(raw[4:])
    assert resp.error_code == 35 and len(resp.api_keys) >= 10


async def test_frame_over_limit_closes_before_buffering(conn: Any) -> None:
    c, t, _ = conn
    feed(c, struct.pack(">i", 200001))
    assert t.aborted and c.closed and not t.out


async def test_unknown_api_key_closes_connection(conn: Any, caplog: pytest.LogCaptureFixture) -> None:
    c, t, _ = conn
    body = struct.pack(">hhih", 9999, 0, 1, -1)
    feed(c, struct.pack(">i", len(body)) + body)
    assert t.aborted
    assert "127.0.0.1:5555" in caplog.text and "9999" in caplog.text


async def test_garbage_closes_connection(conn: Any) -> None:
    c, t, _ = conn
    feed(c, struct.pack(">i", 3) + b"\x00\x00\x00")
    assert t.aborted


async def test_large_frame_is_read_into_its_own_buffer(conn: Any) -> None:
    c, t, broker = conn
    # A Metadata request padded past the receive buffer: the large-frame path must deliver it whole.
    names = [f"topic-{i:05d}-" + "x" * 40 for i in range(RECV_BUFFER // 40)]
    req = MetadataRequest[4](topics=[MetadataRequest[4].MetadataRequestTopic(name=n) for n in names],
                             allow_auto_topic_creation=False)
    req.with_header(correlation_id=7, client_id="test")
    data = req.encode(header=True, framed=True)
    assert len(data) > RECV_BUFFER
    feed(c, api_versions(6) + data, chunk=5000)
    got = responses(t.out)
    assert [struct.unpack_from(">i", r)[0] for r in got] == [6, 7]
    resp = MetadataResponse[4].decode(got[1][4:])
    assert len(resp.topics) == len(names) and all(tp.error_code == 3 for tp in resp.topics)
    assert not broker.logs.topics  # auto-creation was not allowed


async def test_malformed_header_tagged_fields_close_the_connection(conn: Any) -> None:
    c, t, _ = conn
    # Metadata v9 is flexible: header v2 ends with a tagged-field count; claim 5 tags, give none.
    body = struct.pack(">hhih", 3, 9, 1, -1) + b"\x05"
    feed(c, struct.pack(">i", len(body)) + body)
    assert t.aborted and not t.out


async def test_api_versions_v3_advertises_transaction_version_1(conn: Any) -> None:
    c, t, _ = conn
    feed(c, api_versions(9, version=3))
    (raw,) = responses(t.out)
    resp = ApiVersionsResponse[3].decode(raw[4:])
    assert [(f.name, f.min_version, f.max_version) for f in resp.supported_features] == \
        [("transaction.version", 0, 1)]
    assert [(f.name, f.min_version_level, f.max_version_level) for f in resp.finalized_features] == \
        [("transaction.version", 1, 1)]


# --- bounds -----------------------------------------------------------------------------------

def fetch_request(correlation_id: int, topic: str, max_wait_ms: int = 30_000) -> bytes:
    ft = FetchRequest.FetchTopic
    req = FetchRequest(replica_id=-1, max_wait_ms=max_wait_ms, min_bytes=1, max_bytes=1 << 20,
                       isolation_level=0, session_id=0, session_epoch=-1, topics=[ft(topic=topic, partitions=[
                           ft.FetchPartition(partition=0, fetch_offset=0, partition_max_bytes=1 << 20)])],
                       forgotten_topics_data=[], rack_id="")
    req.with_header(correlation_id=correlation_id, client_id="test")
    return bytes(req.encode(version=12, header=True, framed=True))


def correlation_ids(t: MemoryTransport) -> list[int]:
    return [struct.unpack_from(">i", r)[0] for r in responses(t.out)]


def append(broker: Any, topic: str) -> None:
    plog = broker.logs.get_log(topic, 0)
    batch = build_batch([(b"k", b"v", [], 1000)])
    plog.append(batch, read_batch_header(batch), now_ms())
    broker.waiters.notify(topic, 0, len(batch))


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_non_produce_frame_over_the_control_cap_closes_before_buffering(
        conn: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    broker = open_broker(BrokerConfig(data_dir=tmp_path / "big"))  # socket.request.max.bytes 100 MB
    try:
        c, t = KafkaConnection(broker), MemoryTransport()
        c.connection_made(t)
        feed(c, struct.pack(">ih", CONTROL_REQUEST_MAX_BYTES + 1, 3))  # Metadata
        assert t.aborted and "InvalidReceive: METADATA request" in caplog.text
        # Produce may be that large: it is accepted and read in place; beyond the eager budget its
        # buffer is a lazily backed mapping (memory follows the bytes that arrive).
        p, tp = KafkaConnection(broker), MemoryTransport()
        p.connection_made(tp)
        feed(p, struct.pack(">ih", 90_000_000, 0) + b"\x00" * 100)
        assert not tp.aborted and len(p.get_buffer(-1)) == 90_000_000 - 102
        assert isinstance(p._frame, mmap.mmap)
    finally:
        broker.logs.close()


async def test_prefix_alone_reserves_nothing(conn: Any) -> None:
    c, t, _ = conn
    feed(c, struct.pack(">i", 150_000))  # under this fixture's socket.request.max.bytes
    assert not t.aborted
    assert c.get_buffer(-1) is c.quotas.scratch_view  # nothing of its own until the api key arrives


async def test_frames_are_not_cut_while_the_write_buffer_is_full(conn: Any) -> None:
    c, t, _ = conn
    real_write = t.writelines

    def write_then_fill(chunks: Any) -> None:
        real_write(chunks)
        c.pause_writing()  # the socket is full after the first reply, as for a client that never reads

    t.writelines = write_then_fill  # type: ignore[method-assign]
    feed(c, b"".join(api_versions(i) for i in range(1, 6)))
    assert correlation_ids(t) == [1] and t.paused  # the other four stay unparsed, reading paused
    t.writelines = real_write  # type: ignore[method-assign]
    c.resume_writing()
    assert correlation_ids(t) == [1, 2, 3, 4, 5] and not t.paused


async def test_pending_responses_bound_stops_cutting_frames(conn: Any) -> None:
    c, t, broker = conn
    broker.logs.create_topic("t", 1, {})
    data = b"".join(fetch_request(i, "t") for i in range(MAX_PENDING)) + api_versions(999)
    feed(c, data)
    assert t.paused and not t.out and c.quotas.pending == MAX_PENDING  # ApiVersions not even parsed
    append(broker, "t")
    await settle()
    assert correlation_ids(t) == [*range(MAX_PENDING), 999] and not t.paused
    assert c.quotas.pending == 0


async def test_queued_max_requests_is_broker_wide(tmp_path: Path) -> None:
    broker = open_broker(BrokerConfig(data_dir=tmp_path, props={"queued.max.requests": "1"}))
    try:
        broker.logs.create_topic("t", 1, {})
        quotas = ConnectionQuotas(broker.config)
        a, ta = KafkaConnection(broker, quotas), MemoryTransport()
        b, tb = KafkaConnection(broker, quotas), MemoryTransport()
        a.connection_made(ta)
        b.connection_made(tb)
        feed(a, fetch_request(1, "t"))  # a long poll: the one request the broker may hold
        feed(b, api_versions(2))
        assert not tb.out and tb.paused  # b waits for room in the broker-wide queue
        append(broker, "t")
        await settle()
        assert correlation_ids(ta) == [1] and correlation_ids(tb) == [2] and not tb.paused
    finally:
        broker.logs.close()


async def test_dynamic_max_connections_raise_wakes_the_acceptor(tmp_path: Path) -> None:
    config = BrokerConfig(data_dir=tmp_path, props={"max.connections": "1"})
    quotas = ConnectionQuotas(config)
    assert quotas.admit(object(), "127.0.0.1") is None
    waiting = asyncio.ensure_future(quotas.wait_for_slot())
    await asyncio.sleep(0.05)
    assert not waiting.done()
    config.dynamic_broker["max.connections"] = "2"  # what apply_dynamic_configs does
    await asyncio.wait_for(waiting, 5.0)


async def test_per_ip_limit_and_overrides(tmp_path: Path) -> None:
    config = BrokerConfig(data_dir=tmp_path, props={"max.connections.per.ip": "1",
                                                    "max.connections.per.ip.overrides": "10.0.0.7:2"})
    quotas = ConnectionQuotas(config)
    assert quotas.admit(object(), "127.0.0.1") is None
    assert "maximum of 1 connections" in str(quotas.admit(object(), "127.0.0.1"))
    assert quotas.admit(object(), "10.0.0.7") is None and quotas.admit(object(), "10.0.0.7") is None
    assert quotas.admit(object(), "10.0.0.7") is not None


@pytest.mark.parametrize("eager", [True, False])
async def test_produce_frames_read_in_place_on_both_paths(conn: Any, eager: bool) -> None:
    c, t, broker = conn
    broker.logs.create_topic("t", 1, {})
    if not eager:
        c.quotas.eager_left = 0  # the budget is spent: the frame lands in a lazily backed mapping
    values = [bytes([i]) * 30_000 for i in range(4)]
    batch = build_batch([(b"k%d" % i, v, [], 1000 + i) for i, v in enumerate(values)])
    data = ProduceRequest.TopicProduceData
    req = ProduceRequest(transactional_id=None, acks=1, timeout_ms=1000, topic_data=[
        data(name="t", partition_data=[data.PartitionProduceData(index=0, records=batch)])])
    req.with_header(correlation_id=5, client_id="test")
    frame = bytes(req.encode(version=9, header=True, framed=True))
    assert len(frame) > 100_000
    feed(c, frame, chunk=7000)
    assert correlation_ids(t) == [5]
    assert c.quotas.eager_left == (EAGER_RESERVE_BYTES if eager else 0)  # the reservation was returned
    read = broker.logs.get_log("t", 0).read(0, 1 << 20)
    assert b"".join(bytes(ch) for ch in read.chunks)[16:] == batch[16:]  # as sent (offset, epoch patched)


async def test_repeated_aborts_for_the_same_reason_log_once(tmp_path: Path, caplog: pytest.LogCaptureFixture
                                                            ) -> None:
    """A fuzzer or a broken client closing connection after connection logs one line per reason per
    10 s, not one per connection (the log once grew 30 MB in four minutes of fuzzing)."""
    broker = open_broker(BrokerConfig(data_dir=tmp_path / "d"))
    try:
        for _ in range(50):
            c, t = KafkaConnection(broker), MemoryTransport()
            c.connection_made(t)
            feed(c, struct.pack(">ih", CONTROL_REQUEST_MAX_BYTES + 1, 3))
            assert t.aborted
        assert caplog.text.count("InvalidReceive: METADATA request") == 1
    finally:
        broker.logs.close()
