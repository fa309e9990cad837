"""DeleteRecords and time retention through real clients (confluent-kafka, kafka-python)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec
from kafka import KafkaAdminClient, KafkaConsumer
from kafka import TopicPartition as KpTopicPartition
from kafka.errors import OffsetOutOfRangeError
from waiting import wait_until

TIMEOUT = 10




def _produce(bootstrap: str, topic: str, count: int, *, timestamps: list[int] | None = None) -> None:
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    for i in range(count):
        kwargs = {"timestamp": timestamps[i]} if timestamps else {}
        p.produce(topic, b"v%d" % i, partition=0, **kwargs)
        p.flush(TIMEOUT)  # one batch each
    assert len(p) == 0


def _earliest(admin: AdminClient, topic: str) -> int:
    tp = TopicPartition(topic, 0)
    return admin.list_offsets({tp: OffsetSpec.earliest()})[tp].result(TIMEOUT).offset


def _first_offset_from(bootstrap: str, topic: str, start: int) -> int:
    """Offset of the first record a consumer assigned at ``start`` (auto.offset.reset=earliest) gets."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"g-{topic}", "auto.offset.reset": "earliest",
                  "enable.auto.commit": False})
    try:
        c.assign([TopicPartition(topic, 0, start)])
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            msg = c.poll(0.5)
            if msg is not None and msg.error() is None:
                return msg.offset()
        raise AssertionError("no record consumed")
    finally:
        c.close()


def test_confluent_delete_records(broker: Any) -> None:
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic("dr", 1, 1)])["dr"].result(TIMEOUT)
    _produce(broker.bootstrap, "dr", 10)
    result = admin.delete_records([TopicPartition("dr", 0, 4)])
    deleted = next(iter(result.values())).result(TIMEOUT)
    assert deleted.low_watermark == 4
    assert _earliest(admin, "dr") == 4
    # A consumer positioned below the log start gets OFFSET_OUT_OF_RANGE and resets to it.
    assert _first_offset_from(broker.bootstrap, "dr", 1) == 4
    # Lower offsets change nothing; beyond the high watermark is OFFSET_OUT_OF_RANGE.
    assert next(iter(admin.delete_records([TopicPartition("dr", 0, 2)]).values())).result(
        TIMEOUT).low_watermark == 4
    with pytest.raises(KafkaException) as info:
        next(iter(admin.delete_records([TopicPartition("dr", 0, 11)]).values())).result(TIMEOUT)
    assert info.value.args[0].code() == 1
    # -1: up to the high watermark.
    assert next(iter(admin.delete_records([TopicPartition("dr", 0, -1)]).values())).result(
        TIMEOUT).low_watermark == 10
    assert _earliest(admin, "dr") == 10
    # The new log start survives a restart.
    assert broker.stop() == 0
    broker.start()
    admin2 = AdminClient({"bootstrap.servers": broker.bootstrap})
    assert _earliest(admin2, "dr") == 10


def test_kafka_python_delete_records(broker: Any) -> None:
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        from kafka.admin import NewTopic as KpNewTopic
        admin.create_topics([KpNewTopic("kdr", 1, 1)])
        _produce(broker.bootstrap, "kdr", 6)
        tp = KpTopicPartition("kdr", 0)
        out = admin.delete_records({tp: 3})
        assert out[tp]["low_watermark"] == 3 and out[tp]["error_code"] == 0
        with pytest.raises(OffsetOutOfRangeError):
            admin.delete_records({tp: 7})
    finally:
        admin.close()
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, auto_offset_reset="earliest",
                             enable_auto_commit=False)
    try:
        consumer.assign([tp])
        assert consumer.beginning_offsets([tp])[tp] == 3
        consumer.seek(tp, 0)
        records: list[Any] = []
        deadline = time.monotonic() + TIMEOUT
        while not records and time.monotonic() < deadline:
            records = [r for batch in consumer.poll(500).values() for r in batch]
        assert records and records[0].offset == 3
    finally:
        consumer.close()


def test_time_retention_deletes_old_segments(broker_factory: Any) -> None:
    b = broker_factory("log.retention.check.interval.ms=200")
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    configs = {"retention.ms": "1000", "segment.ms": "100", "file.delete.delay.ms": "0"}
    admin.create_topics([NewTopic("ret", 1, 1, config=configs)])["ret"].result(TIMEOUT)
    now = int(time.time() * 1000)
    # Old timestamps far apart: each batch starts a segment, and the first three are expired.
    _produce(b.bootstrap, "ret", 4, timestamps=[now - 600_000, now - 500_000, now - 400_000, now])
    directory = Path(b.data_dir) / "ret-0"
    old = [f"{base:020d}.log" for base in range(3)]
    wait_until(lambda: not any((directory / name).exists() for name in old), timeout=TIMEOUT)
    wait_until(lambda: not [p for p in directory.iterdir() if p.name.endswith(".deleted")], timeout=TIMEOUT)
    assert _earliest(admin, "ret") >= 3
