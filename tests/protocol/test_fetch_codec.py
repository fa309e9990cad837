from __future__ import annotations

import uuid

import pytest
from kafka.protocol.consumer import FetchRequest, FetchResponse

from pykafka_broker.protocol.errors import ProtocolError
from pykafka_broker.protocol.fetch import (
    FetchPartitionResult,
    FetchTopicResult,
    decode_fetch_request,
    encode_fetch_response,
)

VERSIONS = range(4, 18)
TOPIC_IDS = {"orders": uuid.UUID(int=0x1234_5678_9ABC_DEF0_1122_3344_5566_7788), "événements": uuid.uuid4()}
FetchTopic = FetchRequest.FetchTopic
FetchPartition = FetchTopic.FetchPartition


def _request(version: int) -> bytes:
    topics = [
        FetchTopic(
            topic=name,
            topic_id=TOPIC_IDS[name],
            partitions=[
                FetchPartition(
                    partition=p,
                    current_leader_epoch=3,
                    fetch_offset=1000 + p,
                    last_fetched_epoch=2,
                    log_start_offset=5,
                    partition_max_bytes=1 << 20,
                    replica_directory_id=uuid.uuid4(),
                )
                for p in range(3)
            ],
        )
        for name in TOPIC_IDS
    ]
    kw = dict(
        cluster_id="cluster-1",
        replica_id=-1,
        max_wait_ms=500,
        min_bytes=1,
        max_bytes=50 << 20,
        isolation_level=1,
        session_id=77,
        session_epoch=4,
        topics=topics,
        forgotten_topics_data=[
            FetchRequest.ForgottenTopic(topic="orders", topic_id=TOPIC_IDS["orders"], partitions=[7, 8])
        ],
        rack_id="rack-a",
    )
    if version >= 15:
        kw["replica_state"] = FetchRequest.ReplicaState(replica_id=-1, replica_epoch=-1)
    return bytes(FetchRequest[version](**kw).encode())


@pytest.mark.parametrize("version", VERSIONS)
def test_decode_matches_kafka_python_encoder(version: int) -> None:
    req = decode_fetch_request(memoryview(_request(version)), version)
    assert (req.replica_id, req.max_wait_ms, req.min_bytes, req.max_bytes, req.isolation_level) == (
        -1,
        500,
        1,
        50 << 20,
        1,
    )
    assert (req.session_id, req.session_epoch) == ((77, 4) if version >= 7 else (0, -1))
    assert req.rack_id == ("rack-a" if version >= 11 else "")
    assert req.cluster_id == ("cluster-1" if version >= 12 else None)
    for topic, name in zip(req.topics, TOPIC_IDS, strict=True):
        if version >= 13:
            assert (topic.name, topic.topic_id) == (None, TOPIC_IDS[name])
        else:
            assert (topic.name, topic.topic_id) == (name, None)
        for p, part in enumerate(topic.partitions):
            assert (part.partition, part.fetch_offset, part.partition_max_bytes) == (p, 1000 + p, 1 << 20)
            assert part.current_leader_epoch == (3 if version >= 9 else -1)
            assert part.last_fetched_epoch == (2 if version >= 12 else -1)
            assert part.log_start_offset == (5 if version >= 5 else -1)
    if version >= 7:
        (forgotten,) = req.forgotten_topics
        assert forgotten.partitions == [7, 8]
        assert (forgotten.topic_id if version >= 13 else forgotten.name) == (
            TOPIC_IDS["orders"] if version >= 13 else "orders"
        )
    else:
        assert req.forgotten_topics == []


@pytest.mark.parametrize("version", [15, 17])
def test_replica_id_from_replica_state_tag(version: int) -> None:
    req = FetchRequest[version](
        replica_id=-1,
        replica_state=FetchRequest.ReplicaState(replica_id=3, replica_epoch=9),
        max_wait_ms=0,
        min_bytes=0,
        max_bytes=1,
        isolation_level=0,
        session_id=0,
        session_epoch=-1,
        topics=[],
        forgotten_topics_data=[],
        rack_id="",
    )
    assert decode_fetch_request(bytes(req.encode()), version).replica_id == 3


@pytest.mark.parametrize("version", [4, 7, 11, 12, 13, 17])
def test_every_truncation_is_a_protocol_error(version: int) -> None:
    encoded = _request(version)
    for cut in range(len(encoded)):
        with pytest.raises(ProtocolError):
            decode_fetch_request(memoryview(encoded)[:cut], version)


def _results(chunk: bytes | memoryview) -> list[FetchTopicResult]:
    return [
        FetchTopicResult(
            "orders",
            TOPIC_IDS["orders"],
            [
                FetchPartitionResult(0, 0, 120, 110, 3, [(4000, 100), (4001, 105)], [chunk, b"tail"], 2),
                FetchPartitionResult(1, 0, 0, 0, 0, [], []),
                FetchPartitionResult(2, 1, -1, -1, -1, None, None),
            ],
        ),
        FetchTopicResult(
            "événements",
            TOPIC_IDS["événements"],
            [
                FetchPartitionResult(5, 0, 9, 9, 0, None, [chunk]),
            ],
        ),
    ]


@pytest.mark.parametrize("version", VERSIONS)
def test_response_decodes_with_kafka_python(version: int) -> None:
    chunk = memoryview(bytearray(b"\x01batch-bytes" * 500))
    results = _results(chunk)
    out = encode_fetch_response(version, throttle_time_ms=12, error_code=0, session_id=77, topics=results)
    assert any(x is chunk for x in out)
    resp = FetchResponse[version].decode(b"".join(out))
    assert resp.throttle_time_ms == 12
    if version >= 7:
        assert (resp.error_code, resp.session_id) == (0, 77)
    for ours, theirs in zip(results, resp.responses, strict=True):
        if version >= 13:
            assert theirs.topic_id == ours.topic_id
        else:
            assert theirs.topic == ours.name
        for p, q in zip(ours.partitions, theirs.partitions, strict=True):
            assert (q.partition_index, q.error_code, q.high_watermark, q.last_stable_offset) == (
                p.index,
                p.error_code,
                p.high_watermark,
                p.last_stable_offset,
            )
            if version >= 5:
                assert q.log_start_offset == p.log_start_offset
            if version >= 11:
                assert q.preferred_read_replica == p.preferred_read_replica
            if p.aborted_transactions is None:
                assert q.aborted_transactions is None
            else:
                assert [
                    (a.producer_id, a.first_offset) for a in q.aborted_transactions
                ] == p.aborted_transactions
            if p.records is None:
                assert q.records is None
            else:
                assert bytes(q.records) == b"".join(bytes(c) for c in p.records)


@pytest.mark.parametrize("version", [4, 12, 13])
def test_response_bytes_equal_kafka_python_encoding(version: int) -> None:
    PD = FetchResponse.FetchableTopicResponse.PartitionData
    ref = FetchResponse[version](
        throttle_time_ms=0,
        error_code=0,
        session_id=0,
        responses=[
            FetchResponse.FetchableTopicResponse(
                topic="t",
                topic_id=TOPIC_IDS["orders"],
                partitions=[
                    PD(
                        partition_index=0,
                        error_code=0,
                        high_watermark=5,
                        last_stable_offset=5,
                        log_start_offset=0,
                        aborted_transactions=None,
                        preferred_read_replica=-1,
                        records=b"abc",
                    )
                ],
            )
        ],
    )
    ours = encode_fetch_response(
        version,
        throttle_time_ms=0,
        error_code=0,
        session_id=0,
        topics=[
            FetchTopicResult(
                "t", TOPIC_IDS["orders"], [FetchPartitionResult(0, 0, 5, 5, 0, None, [b"ab", b"c"])]
            )
        ],
    )
    assert b"".join(ours) == bytes(ref.encode())


def test_empty_response() -> None:
    out = encode_fetch_response(12, throttle_time_ms=0, error_code=70, session_id=0, topics=[])
    resp = FetchResponse[12].decode(b"".join(out))
    assert resp.error_code == 70 and resp.responses == []
