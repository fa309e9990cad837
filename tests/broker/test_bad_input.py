"""Malformed and hostile input over raw sockets against a real broker process.

Requests are built with kafka-python's schema classes and record-batch builders (an independent
encoder, not ours). Each test does one bad thing, checks the exact answer (an error code, or the
connection being closed), then checks that a fresh connection still works and that the records
acknowledged before it are intact.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Iterator
from typing import Any

import pytest
from kafka.protocol.admin import (
    CreateTopicsRequest,
    CreateTopicsResponse,
    DescribeConfigsRequest,
    DescribeConfigsResponse,
)
from kafka.protocol.consumer import FetchRequest, FetchResponse, ListOffsetsRequest, ListOffsetsResponse
from kafka.protocol.metadata import ApiVersionsRequest, ApiVersionsResponse
from kafka.protocol.producer import ProduceRequest, ProduceResponse
from kafka.record.default_records import DefaultRecordBatchBuilder
from kafka.record.legacy_records import LegacyRecordBatchBuilder
from kafka.record.memory_records import MemoryRecords
from kafka_wire import TIMEOUT, Wire
from waiting import wait_until

MAX_REQUEST = 1000  # socket.request.max.bytes for these brokers
SEED_TOPIC = "seed"
SEED = [(b"k%d" % i, b"acknowledged-%d" % i) for i in range(3)]

# Versions used for the raw requests (all served by the broker, all known to kafka-python).
PRODUCE_V, FETCH_V, LIST_OFFSETS_V, CREATE_TOPICS_V, API_VERSIONS_V = 9, 12, 7, 7, 3


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


# --- requests that do not parse: null arrays, negative versions (Kafka closes the connection) ----

def _framed(api_key: int, version: int, body: bytes, flexible: bool) -> bytes:
    head = request_header(api_key, version) + (b"\x00" if flexible else b"")
    return struct.pack(">i", len(head) + len(body)) + head + body


NULL_ARRAY, NULL_COMPACT = struct.pack(">i", -1), b"\x00"  # int32 -1; compact-array length 0 = null
NULL_ARRAY_REQUESTS = {
    "ListOffsets v5": (2, 5, struct.pack(">ib", -1, 0) + NULL_ARRAY, False),
    "ListOffsets v7": (2, 7, struct.pack(">ib", -1, 0) + NULL_COMPACT + b"\x00", True),
    "DescribeConfigs v1": (32, 1, NULL_ARRAY + b"\x00", False),
    "DescribeConfigs v4": (32, 4, NULL_COMPACT + b"\x00\x00\x00", True),
    "CreatePartitions v1": (37, 1, NULL_ARRAY + struct.pack(">ib", 1000, 0), False),
    "CreatePartitions v3": (37, 3, NULL_COMPACT + struct.pack(">ib", 1000, 0) + b"\x00", True),
    "CreateTopics v4": (19, 4, NULL_ARRAY + struct.pack(">ib", 1000, 0), False),
    "CreateTopics v7": (19, 7, NULL_COMPACT + struct.pack(">ib", 1000, 0) + b"\x00", True),
    # a null string inside a []string (states filter of one null element, empty types filter)
    "ListGroups v5 null element": (16, 5, b"\x02" + NULL_COMPACT + b"\x01" + b"\x00", True),
}


def assert_no_traceback(b: Any) -> None:
    assert "Traceback" not in b.log_text(), b.log_text()[-3000:]


@pytest.mark.parametrize("name", list(NULL_ARRAY_REQUESTS))
def test_null_array_where_the_schema_forbids_it_closes_without_traceback(seeded: Any, name: str) -> None:
    api_key, version, body, flexible = NULL_ARRAY_REQUESTS[name]
    with Wire(seeded.bootstrap) as w:
        w.send_raw(_framed(api_key, version, body, flexible))
        w.assert_closed_by_peer()
    assert_healthy(seeded)
    wait_until(lambda: "non-nullable field" in seeded.log_text())
    assert_no_traceback(seeded)


@pytest.mark.parametrize("api_key", [0, 1, 2, 3, 19, 32, 37])
def test_negative_api_version_closes_without_traceback(seeded: Any, api_key: int) -> None:
    with Wire(seeded.bootstrap) as w:
        w.send_raw(_framed(api_key, -1, b"", False))
        w.assert_closed_by_peer()
    assert_healthy(seeded)
    wait_until(lambda: "negative version -1" in seeded.log_text())
    assert_no_traceback(seeded)


def test_handler_bug_answers_unknown_server_error_and_keeps_the_connection(
        broker_factory: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYKAFKA_BROKER_INJECT_HANDLER_FAULT", "32,2")  # DescribeConfigs, ListOffsets
    b = broker_factory("auto.create.topics.enable=false")
    with Wire(b.bootstrap) as w:
        assert create_topic(w, SEED_TOPIC) == 0
        resource = DescribeConfigsRequest.DescribeConfigsResource
        resp = w.request(DescribeConfigsRequest(resources=[
            resource(resource_type=2, resource_name=SEED_TOPIC, configuration_keys=None)],
            include_synonyms=False, include_documentation=False), DescribeConfigsResponse, 4)
        [result] = resp.results
        assert (result.error_code, result.resource_name, result.configs) == (-1, SEED_TOPIC, [])
        lt = ListOffsetsRequest.ListOffsetsTopic
        resp = w.request(ListOffsetsRequest(replica_id=-1, isolation_level=0, topics=[
            lt(name=SEED_TOPIC, partitions=[lt.ListOffsetsPartition(partition_index=0, timestamp=-1)])]),
            ListOffsetsResponse, LIST_OFFSETS_V)
        [p] = resp.topics[0].partitions
        assert (resp.topics[0].name, p.partition_index, p.error_code) == (SEED_TOPIC, 0, -1)
        # Same connection, next request: still served.
        assert w.request(ApiVersionsRequest(client_software_name="t", client_software_version="1"),
                         ApiVersionsResponse, API_VERSIONS_V).error_code == 0
    assert "answering UNKNOWN_SERVER_ERROR" in b.log_text()
