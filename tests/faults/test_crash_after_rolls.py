"""kill -9 a real broker after its partitions rolled segments under the default flush policy (no
forced fsync): the rolls were fsynced asynchronously and the recovery-point checkpoint advanced, so
the restart recovers only the active segment of each partition, and every acknowledged record
(kafka-python, acks=1) is there."""

from __future__ import annotations

import re
import time
from typing import Any

from fault_helpers import consume_all
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic
from waiting import wait_until

from pykafka_broker.storage.manager import RECOVERY_POINT_CHECKPOINT, read_offset_checkpoint

TOPIC = "rolled"
RECORDS = 600
SEGMENT_MS = 1000
STEP_MS = 20  # between record timestamps: a segment every ~50 records


def test_kill_after_rolls_recovers_only_the_active_segments(broker_factory: Any) -> None:
    broker = broker_factory()
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:  # segments roll by record time (segment.bytes cannot go below 1 MiB)
        admin.create_topics([NewTopic(TOPIC, 1, 1, topic_configs={"segment.ms": str(SEGMENT_MS)})])
    finally:
        admin.close()
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks=1, linger_ms=0)
    acked = []
    start = int(time.time() * 1000)
    try:
        for i in range(RECORDS):
            value = b"%05d-" % i + b"y" * 200
            producer.send(TOPIC, value, partition=0, timestamp_ms=start + i * STEP_MS).get(timeout=10)
            acked.append(value)
    finally:
        producer.close()
    segments = sorted((broker.data_dir / f"{TOPIC}-0").glob("*.log"))
    assert len(segments) >= 5
    active_base = int(segments[-1].name.split(".")[0])
    checkpoint = broker.data_dir / RECOVERY_POINT_CHECKPOINT
    wait_until(lambda: read_offset_checkpoint(checkpoint).get((TOPIC, 0)) == active_base)
    broker.kill()

    again = broker_factory(data_dir=broker.data_dir)
    recovered = re.findall(rf"{TOPIC}-0: recovering \w+ segment (\d+)\.log", again.log_text())
    assert [int(r) for r in recovered] == [active_base], again.log_text()[-2000:]
    got = consume_all(again.bootstrap, TOPIC, len(acked))
    assert got == acked
