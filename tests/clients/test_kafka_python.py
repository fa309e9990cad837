"""kafka-python 3 end to end: KafkaAdminClient, idempotent KafkaProducer, KafkaConsumer with assign()."""

from __future__ import annotations

from typing import Any

import pytest
from expect import (
    BIG_TOPIC_CONFIG,
    BIG_VALUE_SIZE,
    TIME_QUERIES,
    TIMESTAMPS,
    Got,
    Rec,
    assert_roundtrip,
    make_records,
    norm_headers,
    poll_until,
)
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient
from kafka.errors import InvalidReplicationFactorError, TopicAlreadyExistsError

TIMEOUT = 20.0


def admin_client(bootstrap: str) -> KafkaAdminClient:
    return KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(TIMEOUT * 1000))


def create_topic(bootstrap: str, name: str, partitions: int, configs: dict[str, str] | None = None) -> None:
    admin = admin_client(bootstrap)
    try:
        admin.create_topics({name: {"num_partitions": partitions, "replication_factor": 1,
                                    "configs": configs or {}}})
    finally:
        admin.close()


def produce(bootstrap: str, topic: str, records: list[Rec], **conf: object) -> list[tuple[int, int]]:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True,
                             linger_ms=5, **conf)
    try:
        futures = [producer.send(topic, key=r.key, value=r.value, headers=list(r.headers))
                   for r in records]
        producer.flush(timeout=TIMEOUT)
        metas = [f.get(timeout=TIMEOUT) for f in futures]
    finally:
        producer.close(timeout=TIMEOUT)
    return [(m.partition, m.offset) for m in metas]


def consume_all(bootstrap: str, topic: str, partitions: int, expected: int, **conf: object) -> list[Got]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                             auto_offset_reset="none", **conf)
    got: list[Got] = []
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)

        def step() -> bool:
            for tp, msgs in consumer.poll(timeout_ms=500).items():
                got.extend(Got(tp.partition, m.offset, m.key, m.value, norm_headers(m.headers))
                           for m in msgs)
            return len(got) >= expected

        poll_until(step, TIMEOUT, f"{expected} records from {topic}")
    finally:
        consumer.close()
    return got


def test_roundtrip_1000_keyed_records_with_headers(broker: Any) -> None:
    create_topic(broker.bootstrap, "kp-roundtrip", 3)
    records = make_records(1000, "kp")
    reports = produce(broker.bootstrap, "kp-roundtrip", records)
    got = consume_all(broker.bootstrap, "kp-roundtrip", 3, len(records))
    assert_roundtrip(records, got, 3)
    assert sorted(reports) == sorted((g.partition, g.offset) for g in got)


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
def test_compressed_roundtrip(broker: Any, codec: Any) -> None:
    topic = f"kp-{codec}"
    create_topic(broker.bootstrap, topic, 3)
    records = make_records(300, codec, value_pad=50)
    produce(broker.bootstrap, topic, records, compression_type=codec)
    assert_roundtrip(records, consume_all(broker.bootstrap, topic, 3, len(records)), 3)


def test_one_mib_record(broker: Any) -> None:
    create_topic(broker.bootstrap, "kp-big", 1, BIG_TOPIC_CONFIG)
    value = bytes(range(256)) * (BIG_VALUE_SIZE // 256) + b"x" * (BIG_VALUE_SIZE % 256)
    produce(broker.bootstrap, "kp-big", [Rec(b"big", value, (("h", b"v"),))], max_request_size=2_000_000)
    got = consume_all(broker.bootstrap, "kp-big", 1, 1, fetch_max_bytes=4_000_000,
                      max_partition_fetch_bytes=4_000_000)
    assert len(got) == 1 and got[0].value == value and got[0].key == b"big"


def test_offsets_for_times(broker: Any) -> None:
    create_topic(broker.bootstrap, "kp-times", 1)
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all", enable_idempotence=True)
    try:
        for ts in TIMESTAMPS:
            producer.send("kp-times", key=b"k", value=str(ts).encode(), timestamp_ms=ts)
        producer.flush(timeout=TIMEOUT)
    finally:
        producer.close(timeout=TIMEOUT)
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=None, enable_auto_commit=False)
    tp = TopicPartition("kp-times", 0)
    try:
        for ts, want in TIME_QUERIES:
            found = consumer.offsets_for_times({tp: ts}, timeout_ms=int(TIMEOUT * 1000))
            if want is None:
                assert found[tp] is None, (ts, found)
            else:
                assert found[tp] is not None and found[tp].offset == want, (ts, found)
                assert found[tp].timestamp == TIMESTAMPS[want]
        assert consumer.beginning_offsets([tp])[tp] == 0
        assert consumer.end_offsets([tp])[tp] == len(TIMESTAMPS)
    finally:
        consumer.close()


def test_admin_errors_and_delete(broker: Any) -> None:
    admin = admin_client(broker.bootstrap)
    try:
        with pytest.raises(InvalidReplicationFactorError):
            admin.create_topics({"kp-rf3": {"num_partitions": 1, "replication_factor": 3}})
        admin.create_topics({"kp-admin": {"num_partitions": 2, "replication_factor": 1}})
        with pytest.raises(TopicAlreadyExistsError):
            admin.create_topics({"kp-admin": {"num_partitions": 2, "replication_factor": 1}})
        assert "kp-admin" in admin.list_topics()
        admin.delete_topics(["kp-admin"])
        topics = admin.list_topics()
        assert "kp-admin" not in topics and "kp-rf3" not in topics
    finally:
        admin.close()
