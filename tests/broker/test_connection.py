"""Connection driver tests with an in-memory transport (no sockets): framing limits, in-order
responses, the large-frame path, and that a bad frame closes only its own connection."""

from __future__ import annotations

import asyncio
import struct
from pathlib import Path
from typing import Any

import pytest
from kafka.protocol.metadata import ApiVersionsRequest, ApiVersionsResponse, MetadataRequest, MetadataResponse

from pykafka_broker.broker.config import BrokerConfig
from pykafka_broker.broker.connection import KafkaConnection
from pykafka_broker.broker.connection_quotas import SCRATCH_SIZE as RECV_BUFFER
from pykafka_broker.broker.server import open_broker


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


def feed(conn: KafkaConnection, data: bytes, chunk: int = 1 << 30) -> None:
    """Deliver ``data`` the way asyncio does for a BufferedProtocol, ``chunk`` bytes at a time."""
    pos = 0
    while pos < len(data) and not conn.closed:
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
