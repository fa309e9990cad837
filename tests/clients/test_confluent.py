"""confluent-kafka (librdkafka) end to end: admin, idempotent produce, fetch, codecs, big records."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic
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

TIMEOUT = 20.0


def create_topic(bootstrap: str, name: str, partitions: int, config: dict[str, str] | None = None) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(name, partitions, 1, config=config or {})],
                                  operation_timeout=10, request_timeout=TIMEOUT)
    futures[name].result(TIMEOUT)


def produce(bootstrap: str, topic: str, records: list[Rec], **conf: object) -> list[tuple[int, int]]:
    """Idempotent acks=all produce; returns (partition, offset) per record from delivery reports."""
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all",
                         "linger.ms": 5, **conf})
    reports: list[Any] = [None] * len(records)
    errors: list[object] = []

    def on_delivery(i: int) -> Callable[[Any, Any], None]:
        def cb(err: Any, msg: Any) -> None:
            if err is not None:
                errors.append(err)
            else:
                reports[i] = (msg.partition(), msg.offset())
        return cb

    for i, r in enumerate(records):
        producer.produce(topic, key=r.key, value=r.value, headers=list(r.headers), on_delivery=on_delivery(i))
        producer.poll(0)
    assert producer.flush(TIMEOUT) == 0, "records still undelivered after flush"
    assert not errors, errors[:5]
    assert None not in reports
    return reports


def consume_all(bootstrap: str, topic: str, partitions: int, expected: int, **conf: object) -> list[Got]:
    # group.id is mandatory in confluent-kafka even for assign(); no group APIs are used.
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused-manual-assign",
                         "enable.auto.commit": False, "enable.auto.offset.store": False,
                         "auto.offset.reset": "error", **conf})
    got: list[Got] = []
    try:
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])

        def step() -> bool:
            for msg in consumer.consume(num_messages=1000, timeout=0.5):
                err = msg.error()
                if err is not None:
                    assert err.code() == KafkaError._PARTITION_EOF, err
                    continue
                got.append(Got(msg.partition() or 0, msg.offset() or 0, msg.key(), msg.value(),
                               norm_headers(msg.headers())))
            return len(got) >= expected

        poll_until(step, TIMEOUT, f"{expected} records from {topic}")
    finally:
        consumer.close()
    return got


def test_roundtrip_1000_keyed_records_with_headers(broker: Any) -> None:
    create_topic(broker.bootstrap, "cf-roundtrip", 3)
    records = make_records(1000, "cf")
    reports = produce(broker.bootstrap, "cf-roundtrip", records)
    got = consume_all(broker.bootstrap, "cf-roundtrip", 3, len(records))
    assert_roundtrip(records, got, 3)
    # Delivery reports name exactly the offsets the consumer saw.
    assert sorted(reports) == sorted((g.partition, g.offset) for g in got)


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
def test_compressed_roundtrip(broker: Any, codec: Any) -> None:
    topic = f"cf-{codec}"
    create_topic(broker.bootstrap, topic, 3)
    records = make_records(300, codec, value_pad=50)
    produce(broker.bootstrap, topic, records, **{"compression.type": codec})
    assert_roundtrip(records, consume_all(broker.bootstrap, topic, 3, len(records)), 3)


def test_one_mib_record(broker: Any) -> None:
    create_topic(broker.bootstrap, "cf-big", 1, BIG_TOPIC_CONFIG)
    value = bytes(range(256)) * (BIG_VALUE_SIZE // 256) + b"x" * (BIG_VALUE_SIZE % 256)
    records = [Rec(b"big", value, (("h", b"v"),))]
    produce(broker.bootstrap, "cf-big", records, **{"message.max.bytes": 2_000_000})
    got = consume_all(broker.bootstrap, "cf-big", 1, 1, **{"fetch.max.bytes": 4_000_000,
                                                           "max.partition.fetch.bytes": 4_000_000,
                                                           "receive.message.max.bytes": 5_000_000})
    assert len(got) == 1 and got[0].value == value and got[0].key == b"big"


def test_offsets_for_times(broker: Any) -> None:
    create_topic(broker.bootstrap, "cf-times", 1)
    producer = Producer({"bootstrap.servers": broker.bootstrap, "enable.idempotence": True,
                         "acks": "all"})
    for ts in TIMESTAMPS:
        producer.produce("cf-times", key=b"k", value=str(ts).encode(), timestamp=ts)
    assert producer.flush(TIMEOUT) == 0
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "unused-manual-assign",
                         "enable.auto.commit": False})
    try:
        for ts, want in TIME_QUERIES:
            [tp] = consumer.offsets_for_times([TopicPartition("cf-times", 0, ts)], timeout=TIMEOUT)
            assert tp.error is None, tp.error
            # librdkafka reports "no such record" as OFFSET_END (-1).
            assert tp.offset == (-1 if want is None else want), (ts, tp.offset)
        # The timestamps come back on the records too (CreateTime).
        consumer.assign([TopicPartition("cf-times", 0, OFFSET_BEGINNING)])
        seen: list[int] = []

        def step() -> bool:
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                seen.append(msg.timestamp()[1])
            return len(seen) >= len(TIMESTAMPS)

        poll_until(step, TIMEOUT, "timestamped records")
        assert seen == TIMESTAMPS
    finally:
        consumer.close()


def test_admin_errors_and_delete(broker: Any) -> None:
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    f = admin.create_topics([NewTopic("cf-rf3", 1, 3)], request_timeout=TIMEOUT)["cf-rf3"]
    with pytest.raises(KafkaException) as ei:
        f.result(TIMEOUT)
    assert ei.value.args[0].code() == KafkaError.INVALID_REPLICATION_FACTOR

    create_topic(broker.bootstrap, "cf-admin", 2)
    f = admin.create_topics([NewTopic("cf-admin", 2, 1)], request_timeout=TIMEOUT)["cf-admin"]
    with pytest.raises(KafkaException) as ei:
        f.result(TIMEOUT)
    assert ei.value.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS

    assert "cf-admin" in admin.list_topics(timeout=TIMEOUT).topics
    admin.delete_topics(["cf-admin"], request_timeout=TIMEOUT)["cf-admin"].result(TIMEOUT)
    assert "cf-admin" not in admin.list_topics(timeout=TIMEOUT).topics
    assert "cf-rf3" not in admin.list_topics(timeout=TIMEOUT).topics
