"""Per-record produce errors (Produce v8+ ``record_errors``, KIP-467) as librdkafka sees them: when the
broker lists every invalid record, each message fails with the broker's error; records the broker does
not list fail with librdkafka's local _INVALID_DIFFERENT_RECORD instead."""

from __future__ import annotations

from typing import Any

from confluent_kafka import KafkaError, Producer
from confluent_kafka.admin import AdminClient, NewTopic

TIMEOUT = 20.0


def test_ten_keyless_records_on_a_compacted_topic_all_fail_with_invalid_record(broker: Any) -> None:
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    topic = NewTopic("compacted", 1, 1, config={"cleanup.policy": "compact"})
    admin.create_topics([topic])["compacted"].result(TIMEOUT)
    errors: list[int] = []

    def report(err: Any, msg: Any) -> None:
        errors.append(err.code() if err is not None else 0)

    # One batch of ten: linger long enough that they travel together, retries off.
    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 500, "retries": 0,
                         "enable.idempotence": False})
    for i in range(10):
        producer.produce("compacted", value=b"no key %d" % i, on_delivery=report)
    assert producer.flush(TIMEOUT) == 0
    assert errors == [KafkaError.INVALID_RECORD] * 10
