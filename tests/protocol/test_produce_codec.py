from __future__ import annotations

import pytest
from kafka.protocol.producer import ProduceRequest, ProduceResponse

from pykafka_broker.protocol.errors import ProtocolError
from pykafka_broker.protocol.produce import (
    ProducePartitionResult,
    ProduceTopicResult,
    decode_produce_request,
    encode_produce_response,
)

TopicData = ProduceRequest.TopicProduceData
PartitionData = TopicData.PartitionProduceData


@pytest.fixture
def batches(make_batch) -> dict[tuple[str, int], bytes]:
    out = {}
    for n, (topic, part) in enumerate([("orders", 0), ("orders", 3), ("événements", 1), ("événements", 2)]):
        out[(topic, part)] = make_batch(
            [
                (b"k%d" % i, b"value-%d" % (n * 10 + i), [("h", b"x")], 1_700_000_000_000 + i)
                for i in range(n + 1)
            ]
        )
    return out


def _request(version: int, batches: dict[tuple[str, int], bytes | None], txn: str | None) -> bytes:
    topics: dict[str, list] = {}
    for (topic, part), records in batches.items():
        topics.setdefault(topic, []).append(PartitionData(index=part, records=records))
    req = ProduceRequest[version](
        transactional_id=txn,
        acks=-1,
        timeout_ms=30_000,
        topic_data=[TopicData(name=name, partition_data=parts) for name, parts in topics.items()],
    )
    return bytes(req.encode())


@pytest.mark.parametrize("version", range(13))
def test_decode_matches_kafka_python_encoder(version: int, batches) -> None:
    txn = "my-txn" if version >= 3 else None
    data = decode_produce_request(memoryview(_request(version, batches, txn)), version)
    assert data.transactional_id == txn
    assert (data.acks, data.timeout_ms) == (-1, 30_000)
    assert [t.name for t in data.topics] == ["orders", "événements"]
    got = {(t.name, idx): bytes(rec) for t in data.topics for idx, rec in t.partitions}
    assert got == batches
    assert all(isinstance(rec, memoryview) for t in data.topics for _, rec in t.partitions)


@pytest.mark.parametrize("version", [3, 8, 9, 12])
def test_null_transactional_id_and_null_records(version: int) -> None:
    data = decode_produce_request(_request(version, {("t", 0): None}, None), version)
    assert data.transactional_id is None
    assert data.topics[0].partitions == [(0, None)]


@pytest.mark.parametrize("version", [3, 9])
def test_records_are_writable_views_of_the_frame(version: int, batches) -> None:
    frame = bytearray(_request(version, batches, "t"))
    data = decode_produce_request(memoryview(frame), version)
    records = data.topics[0].partitions[0][1]
    assert records is not None and not records.readonly
    records[0:8] = (42).to_bytes(8, "big")  # what the broker does to assign baseOffset
    assert frame.find((42).to_bytes(8, "big")) >= 0


@pytest.mark.parametrize("version", [0, 2, 3, 8, 9, 12])
def test_every_truncation_is_a_protocol_error(version: int, batches) -> None:
    encoded = _request(version, batches, "tx" if version >= 3 else None)
    for cut in range(len(encoded)):
        with pytest.raises(ProtocolError):
            decode_produce_request(memoryview(encoded)[:cut], version)


@pytest.mark.parametrize(
    "garbage", [b"\xff" * 40, b"\x00\x00\xff\xff\xff\xff\xff\xff\xff\xff\x7f" + b"\x00" * 8, b"\x80" * 40]
)
@pytest.mark.parametrize("version", [3, 9])
def test_garbage_is_a_protocol_error(version: int, garbage: bytes) -> None:
    with pytest.raises(ProtocolError):
        decode_produce_request(garbage, version)


def test_invalid_utf8_topic_is_a_protocol_error() -> None:
    encoded = bytearray(_request(3, {("abc", 0): b""}, None))
    encoded[encoded.index(b"abc")] = 0xFF
    with pytest.raises(ProtocolError):
        decode_produce_request(bytes(encoded), 3)


def test_unserved_version_is_our_error_not_the_peers() -> None:
    with pytest.raises(ValueError):
        decode_produce_request(b"", 13)


RESULTS = [
    ProduceTopicResult(
        "orders",
        [
            ProducePartitionResult(
                0, 0, base_offset=100, log_append_time_ms=1_700_000_000_123, log_start_offset=7
            ),
            ProducePartitionResult(3, 87, record_errors=[(0, "bad record"), (2, None)], error_message="boom"),
        ],
    ),
    ProduceTopicResult("événements", [ProducePartitionResult(1, 6)]),
]


@pytest.mark.parametrize("version", range(13))
def test_response_decodes_with_kafka_python(version: int) -> None:
    resp = ProduceResponse[version].decode(encode_produce_response(version, RESULTS, throttle_time_ms=25))
    if version >= 1:
        assert resp.throttle_time_ms == 25
    assert [t.name for t in resp.responses] == ["orders", "événements"]
    for ours, theirs in zip(RESULTS, resp.responses, strict=True):
        for p, q in zip(ours.partitions, theirs.partition_responses, strict=True):
            assert (q.index, q.error_code, q.base_offset) == (p.index, p.error_code, p.base_offset)
            if version >= 2:
                assert q.log_append_time_ms == p.log_append_time_ms
            if version >= 5:
                assert q.log_start_offset == p.log_start_offset
            if version >= 8:
                assert [(e.batch_index, e.batch_index_error_message) for e in q.record_errors] == list(
                    p.record_errors
                )
                assert q.error_message == p.error_message


@pytest.mark.parametrize("version", [0, 5, 9, 12])
def test_response_bytes_equal_kafka_python_encoding(version: int) -> None:
    P = ProduceResponse.TopicProduceResponse.PartitionProduceResponse
    ref = ProduceResponse[version](
        throttle_time_ms=3,
        responses=[
            ProduceResponse.TopicProduceResponse(
                name="t",
                partition_responses=[
                    P(
                        index=1,
                        error_code=0,
                        base_offset=5,
                        log_append_time_ms=-1,
                        log_start_offset=0,
                        record_errors=[],
                        error_message=None,
                    )
                ],
            )
        ],
    )
    ours = encode_produce_response(
        version, [ProduceTopicResult("t", [ProducePartitionResult(1, 0, 5, log_start_offset=0)])], 3
    )
    assert ours == bytes(ref.encode())
