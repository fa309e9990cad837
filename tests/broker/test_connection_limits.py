"""Connection limits and memory bounds against a real broker process over raw sockets.

Hostile clients (one that pipelines requests and never reads, sockets that send only a huge size
prefix) must leave the broker's RSS bounded and the broker serving others; max.connections,
max.connections.per.ip, connections.max.idle.ms and fetch.max.bytes are enforced as Kafka does.
Requests are built with kafka-python's schema classes (helpers from test_bad_input).
"""

from __future__ import annotations

import socket
import struct
import time
from pathlib import Path
from typing import Any

import pytest
from kafka.protocol.consumer import FetchRequest
from kafka.protocol.metadata import ApiVersionsRequest, ApiVersionsResponse, MetadataRequest
from procfs import status_kib
from test_bad_input import FETCH_V, Wire, create_topic, fetch, produce, v2_batch
from waiting import wait_until

MiB = 1 << 20


def rss_bytes(pid: int) -> int:
    return status_kib(pid, "VmRSS") * 1024


def peak_rss_growth(pid: int, baseline: int, seconds: float) -> int:
    """Largest RSS above ``baseline`` seen while sampling for ``seconds`` (bounded loop)."""
    peak = 0
    for _ in range(int(seconds / 0.05)):
        peak = max(peak, rss_bytes(pid) - baseline)
        time.sleep(0.05)
    return peak


def api_versions_ok(wire: Wire) -> bool:
    req = ApiVersionsRequest[3](client_software_name="t", client_software_version="1")
    return wire.request(req, ApiVersionsResponse, 3).error_code == 0


def fetch_frame(correlation_id: int, topic: str, max_bytes: int) -> bytes:
    ft = FetchRequest.FetchTopic
    req = FetchRequest(replica_id=-1, max_wait_ms=0, min_bytes=0, max_bytes=max_bytes, isolation_level=0,
                       session_id=0, session_epoch=-1, topics=[ft(topic=topic, partitions=[
                           ft.FetchPartition(partition=0, fetch_offset=0, partition_max_bytes=max_bytes)])],
                       forgotten_topics_data=[], rack_id="")
    req.with_header(correlation_id=correlation_id, client_id="slow-reader")
    return bytes(req.encode(version=FETCH_V, header=True, framed=True))


def metadata_frame(correlation_id: int) -> bytes:
    req = MetadataRequest[4](topics=None, allow_auto_topic_creation=False)
    req.with_header(correlation_id=correlation_id, client_id="slow-reader")
    return bytes(req.encode(header=True, framed=True))


def slow_socket(bootstrap: str) -> socket.socket:
    host, port = bootstrap.rsplit(":", 1)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a reader that hardly reads
    sock.settimeout(10.0)
    sock.connect((host, int(port)))
    return sock


def test_slow_reader_pipelining_fetches_keeps_rss_bounded(broker_factory: Any) -> None:
    broker = broker_factory()
    value = bytes(range(256)) * 1024  # 256 KiB, 4 batches: each Fetch answers ~1 MiB
    with Wire(broker.bootstrap) as wire:
        assert create_topic(wire, "big") == 0
        for i in range(4):
            assert produce(wire, "big", v2_batch([(b"k%d" % i, value)]))[0] == 0
        assert len(fetch(wire, "big", 0)[1]) >= 3  # warm the read path once (1 MiB max)
    pid = broker.proc.pid
    baseline = rss_bytes(pid)
    sock = slow_socket(broker.bootstrap)
    try:
        # 60 pipelined Fetches (60 MiB of answers) and Metadata requests, 6 KB sent, nothing read.
        sock.sendall(b"".join(fetch_frame(i, "big", 50 * MiB) + metadata_frame(1000 + i) for i in range(60)))
        growth = peak_rss_growth(pid, baseline, 2.0)
        assert growth < 24 * MiB, f"broker RSS grew by {growth / MiB:.1f} MiB for a client that never reads"
        with Wire(broker.bootstrap) as other:  # the broker still serves everyone else
            assert api_versions_ok(other)
            assert len(fetch(other, "big", 0)[1]) >= 3
    finally:
        sock.close()


def test_many_sockets_sending_only_a_huge_size_prefix_keep_rss_bounded(broker_factory: Any) -> None:
    broker = broker_factory()
    with Wire(broker.bootstrap) as wire:
        assert api_versions_ok(wire)
    pid = broker.proc.pid
    baseline = rss_bytes(pid)
    host, port = broker.bootstrap.rsplit(":", 1)
    socks = []
    try:
        for _ in range(100):
            s = socket.create_connection((host, int(port)), timeout=10.0)
            # A 100 MB Produce frame (the largest socket.request.max.bytes allows) that never comes.
            s.sendall(struct.pack(">ihh", 100_000_000, 0, 9) + b"\x00" * 64)
            socks.append(s)
        growth = peak_rss_growth(pid, baseline, 1.0)
        assert growth < 24 * MiB, f"broker RSS grew by {growth / MiB:.1f} MiB for 100 size prefixes"
        with Wire(broker.bootstrap) as other:
            assert api_versions_ok(other)
    finally:
        for s in socks:
            s.close()


def test_oversized_control_request_closes_the_connection(broker_factory: Any) -> None:
    broker = broker_factory()
    with Wire(broker.bootstrap) as wire:
        wire.send_raw(struct.pack(">ihhi", 7 * MiB, 3, 4, 1))  # a 7 MiB Metadata request
        wire.assert_closed_by_peer()
    wait_until(lambda: "InvalidReceive: METADATA request of 7340032 bytes" in broker.log_text())
    with Wire(broker.bootstrap) as other:
        assert api_versions_ok(other)


def test_idle_connections_are_closed_after_connections_max_idle_ms(broker_factory: Any) -> None:
    broker = broker_factory("connections.max.idle.ms=400")
    with Wire(broker.bootstrap) as idle, Wire(broker.bootstrap) as busy:
        started = time.monotonic()
        for _ in range(10):  # ~1.5 s of requests every 150 ms: never idle for 400 ms
            assert api_versions_ok(busy)
            time.sleep(0.15)
        idle.assert_closed_by_peer()
        assert time.monotonic() - started >= 0.35
        assert api_versions_ok(busy)
    wait_until(lambda: "idle for more than connections.max.idle.ms=400" in broker.log_text())


def test_a_client_that_stopped_reading_is_closed_when_idle(broker_factory: Any) -> None:
    broker = broker_factory("connections.max.idle.ms=500")
    with Wire(broker.bootstrap) as wire:
        assert create_topic(wire, "t") == 0
        assert produce(wire, "t", v2_batch([(b"k", b"v" * 400_000)]))[0] == 0
    sock = slow_socket(broker.bootstrap)
    try:
        sock.sendall(b"".join(fetch_frame(i, "t", MiB) for i in range(40)))  # 16 MB of replies
        time.sleep(1.5)  # let the replies fill both socket buffers, then stay idle past the limit
        received, deadline = 0, time.monotonic() + 10.0
        while time.monotonic() < deadline:  # drain: the stream must end well before all 40 replies
            chunk = sock.recv(1 << 20)
            if not chunk:
                break
            received += len(chunk)
        else:
            raise AssertionError("the broker did not close the connection")
        assert received < 40 * 400_000
    except ConnectionResetError:
        pass  # aborted with unread data: also closed
    finally:
        sock.close()
    wait_until(lambda: "idle for more than connections.max.idle.ms=500" in broker.log_text())


def test_max_connections_stops_accepting_until_a_slot_frees(broker_factory: Any) -> None:
    broker = broker_factory("max.connections=2")
    with Wire(broker.bootstrap) as a, Wire(broker.bootstrap) as b:
        assert api_versions_ok(a) and api_versions_ok(b)
        third = Wire(broker.bootstrap)  # completes in the listen backlog, not accepted
        try:
            req = ApiVersionsRequest[3](client_software_name="t", client_software_version="1")
            req.with_header(correlation_id=1, client_id="third")
            third.send_raw(bytes(req.encode(version=3, header=True, framed=True)))
            third.sock.settimeout(0.5)
            with pytest.raises(TimeoutError):
                third.sock.recv(1)
            a.sock.close()  # a slot frees: the third is accepted and answered
            third.sock.settimeout(10.0)
            frame = third.read_frame()
            assert struct.unpack_from(">i", frame)[0] == 1
        finally:
            third.sock.close()


def test_max_connections_per_ip_closes_the_extra_connection(broker_factory: Any) -> None:
    broker = broker_factory("max.connections.per.ip=2")
    with Wire(broker.bootstrap) as a, Wire(broker.bootstrap) as b, Wire(broker.bootstrap) as c:
        assert api_versions_ok(a) and api_versions_ok(b)
        c.assert_closed_by_peer()
    # the warning is written after the close: wait for it rather than race it
    wait_until(lambda: "already has the configured maximum of 2 connections" in broker.log_text())


def test_per_ip_override_raises_the_limit_for_that_address(broker_factory: Any) -> None:
    broker = broker_factory("max.connections.per.ip=1", "max.connections.per.ip.overrides=127.0.0.1:2")
    with Wire(broker.bootstrap) as a, Wire(broker.bootstrap) as b, Wire(broker.bootstrap) as c:
        assert api_versions_ok(a) and api_versions_ok(b)
        c.assert_closed_by_peer()


def test_fetch_is_clamped_to_the_broker_fetch_max_bytes(broker_factory: Any, tmp_path: Path) -> None:
    broker = broker_factory("fetch.max.bytes=1024")
    with Wire(broker.bootstrap) as wire:
        assert create_topic(wire, "t") == 0
        for i in range(3):
            assert produce(wire, "t", v2_batch([(b"k%d" % i, b"x" * 600)]))[0] == 0
        error, records = fetch(wire, "t", 0)  # asks for 1 MiB
        # min(1 MiB, fetch.max.bytes=1024): the first batch only (always one whole batch, KIP-74).
        assert error == 0 and [r[0] for r in records] == [0]
