"""Per-record produce errors (Produce v8+ ``record_errors``, KIP-467) as a real client sees them.

kafka-python, like the Java client, fails each record the broker lists with the broker's error and
message, and every record it does not list with a generic "part of a batch which had invalid records"
error. (librdkafka 2.x fails the whole batch with the top-level code either way.)"""

from __future__ import annotations

from typing import Any

from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import InvalidRecordError

TIMEOUT = 20.0


def test_ten_keyless_records_on_a_compacted_topic_each_fail_with_their_own_error(broker: Any) -> None:
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    admin.create_topics([NewTopic("compacted", 1, 1, topic_configs={"cleanup.policy": "compact"})])
    admin.close()
    # One batch of ten: linger long enough that they travel together.
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=500, retries=0)
    futures = [producer.send("compacted", value=b"no key %d" % i) for i in range(10)]
    producer.flush(TIMEOUT)
    errors = [f.exception for f in futures]
    producer.close(TIMEOUT)
    assert all(isinstance(e, InvalidRecordError) for e in errors), errors
    assert all("Compacted topic cannot accept message without key" in str(e) for e in errors), errors
