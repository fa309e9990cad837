"""Malformed and hostile input over raw sockets against a real broker process.

Requests are built with kafka-python's schema classes and record-batch builders (an independent
encoder, not ours). Each test does one bad thing, checks the exact answer (an error code, or the
connection being closed), then checks that a fresh connection still works and that the records
acknowledged before it are intact.
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Iterator
from typing import Any

import pytest
from kafka.protocol.admin import CreateTopicsRequest, CreateTopicsResponse
from kafka.protocol.consumer import FetchRequest, FetchResponse, ListOffsetsRequest, ListOffsetsResponse
from kafka.protocol.metadata import ApiVersionsRequest, ApiVersionsResponse
from kafka.protocol.producer import ProduceRequest, ProduceResponse
from kafka.record.default_records import DefaultRecordBatchBuilder
from kafka.record.legacy_records import LegacyRecordBatchBuilder
from kafka.record.memory_records import MemoryRecords

MAX_REQUEST = 1000  # socket.request.max.bytes for these brokers
SEED_TOPIC = "seed"
SEED = [(b"k%d" % i, b"acknowledged-%d" % i) for i in range(3)]
TIMEOUT = 10.0

# Versions used for the raw requests (all served by the broker, all known to kafka-python).
PRODUCE_V, FETCH_V, LIST_OFFSETS_V, CREATE_TOPICS_V, API_VERSIONS_V = 9, 12, 7, 7, 3


class Wire:
    """A blocking Kafka connection speaking through kafka-python's message classes."""

    def __init__(self, bootstrap: str) -> None:
        host, port = bootstrap.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=TIMEOUT)
        self.correlation_id = 0

    def __enter__(self) -> Wire:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()

    @property
    def local_address(self) -> str:
        host, port = self.sock.getsockname()[:2]
        return f"{host}:{port}"

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read_frame(self) -> bytes:
        size = struct.unpack(">i", self._read_exactly(4))[0]
        return self._read_exactly(size)

    def _read_exactly(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("closed by the broker")
            buf += chunk
        return bytes(buf)

    def request(self, req: Any, response_cls: Any, version: int) -> Any:
        self.correlation_id += 1
        req.with_header(correlation_id=self.correlation_id, client_id="bad-input-test")
        self.send_raw(bytes(req.encode(version=version, header=True, framed=True)))
        frame = self.read_frame()
        (corr,) = struct.unpack_from(">i", frame)
        assert corr == self.correlation_id
        pos = 4
        # Response header v1 (flexible versions) ends with empty tagged fields; ApiVersions is always v0.
        if response_cls is not ApiVersionsResponse and response_cls.flexible_version_q(version):
            assert frame[pos] == 0, "unexpected tagged fields in the response header"
            pos += 1
        return response_cls.decode(frame[pos:], version=version)

    def assert_closed_by_peer(self) -> None:
        """The broker closes this connection: EOF or reset within the deadline, and no response."""
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            try:
                data = self.sock.recv(65536)
            except (ConnectionResetError, BrokenPipeError):
                return
            except TimeoutError:
                continue
            assert not data, f"expected the connection to be closed, got {data[:64]!r}"
            return
        raise AssertionError("the broker did not close the connection")


# --- request builders ------------------------------------------------------------------------

def v2_batch(records: list[tuple[bytes, bytes]], timestamp: int = 1_700_000_000_000) -> bytes:
    builder = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=False,
                                        producer_id=-1, producer_epoch=-1, base_sequence=-1,
                                        batch_size=1 << 20)
    for i, (key, value) in enumerate(records):
        builder.append(i, timestamp=timestamp + i, key=key, value=value, headers=[("h", b"v")])
    return bytes(builder.build())


def produce(wire: Wire, topic: str, batch: bytes, partition: int = 0) -> tuple[int, int]:
    """(error_code, base_offset) of a single-partition acks=-1 produce."""
    data = ProduceRequest.TopicProduceData
    req = ProduceRequest(transactional_id=None, acks=-1, timeout_ms=10_000, topic_data=[
        data(name=topic, partition_data=[data.PartitionProduceData(index=partition, records=batch)])])
    resp = wire.request(req, ProduceResponse, PRODUCE_V)
    [t] = resp.responses
    [p] = t.partition_responses
    return p.error_code, p.base_offset


def latest_offset(wire: Wire, topic: str, partition: int = 0) -> int:
    lt = ListOffsetsRequest.ListOffsetsTopic
    req = ListOffsetsRequest(replica_id=-1, isolation_level=0, topics=[
        lt(name=topic, partitions=[lt.ListOffsetsPartition(partition_index=partition, timestamp=-1)])])
    resp = wire.request(req, ListOffsetsResponse, LIST_OFFSETS_V)
    [p] = resp.topics[0].partitions
    assert p.error_code == 0, p
    return p.offset


Fetched = list[tuple[int, bytes, bytes]]


def fetch(wire: Wire, topic: str, offset: int, partition: int = 0) -> tuple[int, Fetched]:
    """(error_code, [(offset, key, value)]) of one partition fetched from ``offset``."""
    ft = FetchRequest.FetchTopic
    req = FetchRequest(replica_id=-1, max_wait_ms=0, min_bytes=0, max_bytes=1 << 20, isolation_level=0,
                       session_id=0, session_epoch=-1, topics=[ft(topic=topic, partitions=[
                           ft.FetchPartition(partition=partition, fetch_offset=offset,
                                             partition_max_bytes=1 << 20)])],
                       forgotten_topics_data=[], rack_id="")
    resp = wire.request(req, FetchResponse, FETCH_V)
    assert resp.error_code == 0
    [p] = resp.responses[0].partitions
    out: Fetched = []
    if p.records:
        records = MemoryRecords(bytes(p.records))
        while (batch := records.next_batch()) is not None:
            out.extend((r.offset, r.key, r.value) for r in batch)
    return p.error_code, out


def create_topic(wire: Wire, name: str, partitions: int = 1, configs: dict[str, str] | None = None) -> int:
    ct = CreateTopicsRequest.CreatableTopic
    req = CreateTopicsRequest(timeout_ms=10_000, validate_only=False, topics=[ct(
        name=name, num_partitions=partitions, replication_factor=1, assignments=[],
        configs=[ct.CreatableTopicConfig(name=k, value=v) for k, v in (configs or {}).items()])])
    resp = wire.request(req, CreateTopicsResponse, CREATE_TOPICS_V)
    return resp.topics[0].error_code


def request_header(api_key: int, api_version: int, correlation_id: int = 7) -> bytes:
    client = b"bad-input-test"
    return struct.pack(">hhih", api_key, api_version, correlation_id, len(client)) + client


# --- fixture and the health check run after every bad input ----------------------------------

@pytest.fixture
def seeded(broker_factory: Any) -> Iterator[Any]:
    """A broker with a small request limit, no auto-creation, and acknowledged records in ``seed``."""
    b = broker_factory(f"socket.request.max.bytes={MAX_REQUEST}", "auto.create.topics.enable=false")
    with Wire(b.bootstrap) as w:
        assert create_topic(w, SEED_TOPIC) == 0
        assert produce(w, SEED_TOPIC, v2_batch(SEED)) == (0, 0)
    yield b
    assert b.proc.poll() is None, "broker process died:\n" + b.log_text()[-3000:]


def assert_healthy(b: Any) -> None:
    """A fresh connection works, and the acknowledged seed records are exactly as written."""
    assert b.proc.poll() is None, "broker process died:\n" + b.log_text()[-3000:]
    with Wire(b.bootstrap) as w:
        resp = w.request(ApiVersionsRequest(client_software_name="t", client_software_version="1"),
                         ApiVersionsResponse, API_VERSIONS_V)
        assert resp.error_code == 0 and resp.api_keys
        assert latest_offset(w, SEED_TOPIC) == len(SEED)
        error, got = fetch(w, SEED_TOPIC, 0)
        assert error == 0
        assert got == [(i, k, v) for i, (k, v) in enumerate(SEED)]


# --- framing ---------------------------------------------------------------------------------

def test_frame_over_socket_request_max_bytes_closes_only_that_connection(seeded: Any) -> None:
    with Wire(seeded.bootstrap) as other, Wire(seeded.bootstrap) as w:
        w.send_raw(struct.pack(">i", 2 * MAX_REQUEST))
        w.assert_closed_by_peer()
        # A connection opened before is unaffected.
        assert latest_offset(other, SEED_TOPIC) == len(SEED)
    assert_healthy(seeded)


def test_negative_frame_size_closes_connection(seeded: Any) -> None:
    with Wire(seeded.bootstrap) as w:
        w.send_raw(struct.pack(">i", -5) + b"junk")
        w.assert_closed_by_peer()
    assert_healthy(seeded)


@pytest.mark.parametrize("garbage", [
    b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",            # size prefix "GET " = 1.2 GB
    b"\x00\x00\x00\x10" + b"\xde\xad\xbe\xef" * 4,           # sane size, header of nonsense
    b"\x00\x00\x00\x03abc",                                  # shorter than any request header
    b"\x00\x00\x00\x0c\x00\x03\x00\x0c\x00\x00\x00\x01\x7f\xff\x00\x00",  # client_id longer than the frame
])
def test_garbage_bytes_close_connection(seeded: Any, garbage: Any) -> None:
    with Wire(seeded.bootstrap) as w:
        w.send_raw(garbage)
        w.assert_closed_by_peer()
    assert_healthy(seeded)


def test_truncated_frame_then_disconnect(seeded: Any) -> None:
    for cut in (2, 4, 30):  # inside the size prefix, right after it, inside the body
        batch = v2_batch([(b"never", b"complete")])
        data = ProduceRequest.TopicProduceData
        req = ProduceRequest(transactional_id=None, acks=-1, timeout_ms=1000, topic_data=[
            data(name=SEED_TOPIC, partition_data=[data.PartitionProduceData(index=0, records=batch)])])
        req.with_header(correlation_id=1, client_id="bad-input-test")
        frame = bytes(req.encode(version=PRODUCE_V, header=True, framed=True))
        with Wire(seeded.bootstrap) as w:
            w.send_raw(frame[:cut])
    assert_healthy(seeded)


def test_unknown_api_key_closes_connection_and_logs_peer(seeded: Any) -> None:
    with Wire(seeded.bootstrap) as w:
        peer = w.local_address
        body = request_header(9999, 0)
        w.send_raw(struct.pack(">i", len(body)) + body)
        w.assert_closed_by_peer()
    deadline = time.monotonic() + TIMEOUT
    while peer not in seeded.log_text():
        assert time.monotonic() < deadline, f"no log line names {peer}:\n{seeded.log_text()}"
        time.sleep(0.02)  # the broker's stderr is read by another thread: nothing to wait on
    assert "9999" in next(line for line in seeded.log_text().splitlines() if peer in line)
    assert_healthy(seeded)


def test_api_versions_above_max_answers_v0_with_error_35(seeded: Any) -> None:
    with Wire(seeded.bootstrap) as w:
        body = request_header(18, 99, correlation_id=42)
        w.send_raw(struct.pack(">i", len(body)) + body)
        frame = w.read_frame()
        assert struct.unpack_from(">i", frame)[0] == 42
        resp = ApiVersionsResponse.decode(frame[4:], version=0)
        assert resp.error_code == 35
        keys = {k.api_key: (k.min_version, k.max_version) for k in resp.api_keys}
        assert 18 in keys and 0 in keys and 1 in keys, keys
        # The connection stays usable: the client retries with a version we gave it.
        retry = w.request(ApiVersionsRequest(), ApiVersionsResponse, min(keys[18][1], API_VERSIONS_V))
        assert retry.error_code == 0
    assert_healthy(seeded)


# --- produce validation ------------------------------------------------------------------------

def test_produce_with_wrong_crc_is_corrupt_message_and_not_appended(seeded: Any) -> None:
    batch = bytearray(v2_batch([(b"k", b"will be corrupted")]))
    batch[-3] ^= 0xFF  # a byte of the last record, covered by the CRC-32C
    with Wire(seeded.bootstrap) as w:
        error, _ = produce(w, SEED_TOPIC, bytes(batch))
        assert error == 2  # CORRUPT_MESSAGE
        assert latest_offset(w, SEED_TOPIC) == len(SEED)
    assert_healthy(seeded)


def test_magic_1_batch_is_unsupported_for_message_format(seeded: Any) -> None:
    builder = LegacyRecordBatchBuilder(magic=1, compression_type=0, batch_size=1 << 20)
    builder.append(0, timestamp=1_700_000_000_000, key=b"old", value=b"magic one")
    with Wire(seeded.bootstrap) as w:
        error, _ = produce(w, SEED_TOPIC, bytes(builder.build()))
        assert error == 43  # UNSUPPORTED_FOR_MESSAGE_FORMAT
        assert latest_offset(w, SEED_TOPIC) == len(SEED)
    assert_healthy(seeded)


def test_batch_over_max_message_bytes_is_message_too_large(seeded: Any) -> None:
    with Wire(seeded.bootstrap) as w:
        assert create_topic(w, "small", configs={"max.message.bytes": "200"}) == 0
        assert produce(w, "small", v2_batch([(b"k", b"fits")])) == (0, 0)
        error, _ = produce(w, "small", v2_batch([(b"k", b"x" * 400)]))
        assert error == 10  # MESSAGE_TOO_LARGE
        assert latest_offset(w, "small") == 1
    assert_healthy(seeded)


def test_produce_to_unknown_topic_without_auto_create(seeded: Any) -> None:
    with Wire(seeded.bootstrap) as w:
        error, _ = produce(w, "does-not-exist", v2_batch([(b"k", b"v")]))
        assert error == 3  # UNKNOWN_TOPIC_OR_PARTITION
        error, _ = produce(w, SEED_TOPIC, v2_batch([(b"k", b"v")]), partition=5)
        assert error == 3
    assert_healthy(seeded)


# --- admin and fetch ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["bad/name", "", ".", "..", "a" * 250, "spaces are bad", "ünïcode"])
def test_create_topic_with_invalid_name(seeded: Any, name: Any) -> None:
    with Wire(seeded.bootstrap) as w:
        assert create_topic(w, name) == 17  # INVALID_TOPIC_EXCEPTION
    assert_healthy(seeded)


def test_fetch_beyond_log_end_is_offset_out_of_range(seeded: Any) -> None:
    with Wire(seeded.bootstrap) as w:
        error, records = fetch(w, SEED_TOPIC, len(SEED) + 100)
        assert error == 1 and records == []  # OFFSET_OUT_OF_RANGE
        error, records = fetch(w, SEED_TOPIC, len(SEED))  # exactly the log end: empty, no error
        assert error == 0 and records == []
    assert_healthy(seeded)
