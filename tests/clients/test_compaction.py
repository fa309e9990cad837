"""Compaction end to end with confluent-kafka (librdkafka): a compacted topic read from the
beginning shows the latest value per key, keyless records are refused, and ``__consumer_offsets``
stays small under many commits and still replays after a restart."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from waiting import wait_until

from pykafka_broker.broker.coordinator.topic import partition_for
from pykafka_broker.storage.manager import read_offset_checkpoint

TIMEOUT = 20.0
FAST_CLEANER = ("log.cleaner.backoff.ms=100",)
COMPACTED = {"cleanup.policy": "compact", "segment.ms": "100", "min.cleanable.dirty.ratio": "0.01"}


def create_topic(bootstrap: str, name: str, config: dict[str, str]) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, 1, 1, config=config)])[name].result(TIMEOUT)


def cleaned_up_to(data_dir: Path, topic: str, partition: int = 0) -> int:
    return read_offset_checkpoint(data_dir / "cleaner-offset-checkpoint").get((topic, partition), -1)


def read_all(bootstrap: str, topic: str, end: int) -> list[tuple[int, bytes | None, bytes | None]]:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "reader", "auto.offset.reset": "earliest",
                  "enable.auto.commit": False})
    c.assign([TopicPartition(topic, 0, 0)])
    got: list[tuple[int, bytes | None, bytes | None]] = []
    deadline = time.monotonic() + TIMEOUT
    while not got or got[-1][0] < end - 1:
        assert time.monotonic() < deadline, f"read up to {got[-1:]} of {end}"
        for m in c.consume(num_messages=500, timeout=0.2):
            if m.error() is None:
                got.append((m.offset(), m.key(), m.value()))
    c.close()
    return got


def test_consumer_sees_latest_value_per_key(broker_factory: Any) -> None:
    broker = broker_factory(*FAST_CLEANER)
    topic = "compacted"
    create_topic(broker.bootstrap, topic, COMPACTED)
    producer = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "linger.ms": 5})
    keys, rounds = 20, 6
    base_ts = int(time.time() * 1000) - 60_000
    for r in range(rounds):
        # Each round is stamped 1 s after the previous one: with segment.ms=100 it starts a segment,
        # so the last round is the active segment and every earlier one is cleanable.
        for k in range(keys):
            producer.produce(topic, key=b"k%d" % k, value=b"v%d-%d" % (r, k), timestamp=base_ts + r * 1000)
        assert producer.flush(TIMEOUT) == 0
    end = keys * rounds
    active_base = keys * (rounds - 1)
    wait_until(lambda: cleaned_up_to(broker.data_dir, topic) >= active_base, timeout=15)
    got = read_all(broker.bootstrap, topic, end)
    offsets = [o for o, _, _ in got]
    assert offsets == sorted(offsets) and offsets[-1] == end - 1
    cleaned = [(k, v) for o, k, v in got if o < active_base]
    assert cleaned == [(b"k%d" % k, b"v%d-%d" % (rounds - 2, k)) for k in range(keys)]
    assert [(k, v) for o, k, v in got if o >= active_base] == [
        (b"k%d" % k, b"v%d-%d" % (rounds - 1, k)) for k in range(keys)]
    assert "Traceback" not in broker.log_text()


def test_keyless_record_on_compacted_topic_is_refused(broker: Any) -> None:
    create_topic(broker.bootstrap, "compacted", {"cleanup.policy": "compact"})
    create_topic(broker.bootstrap, "plain", {})
    producer = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "retries": 0,
                         "message.timeout.ms": 10_000})
    errors: dict[str, Any] = {}

    def report(err: Any, msg: Any) -> None:
        errors[msg.topic()] = err

    producer.produce("compacted", value=b"no key", on_delivery=report)
    producer.produce("plain", value=b"no key", on_delivery=report)
    assert producer.flush(TIMEOUT) == 0
    assert errors["compacted"] is not None and errors["compacted"].code() == KafkaError.INVALID_RECORD
    assert errors["plain"] is None


def test_consumer_offsets_stay_bounded_and_replay(broker_factory: Any) -> None:
    broker = broker_factory(*FAST_CLEANER, "log.roll.ms=50", "offsets.topic.num.partitions=4")
    create_topic(broker.bootstrap, "data", {})
    group, partition = "busy", partition_for("busy", 4)
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group, "enable.auto.commit": False})
    offsets_dir = broker.data_dir / f"__consumer_offsets-{partition}"
    commits = 1500
    for written in range(1, commits + 1):  # log.roll.ms=50: segments roll while this runs
        c.commit(offsets=[TopicPartition("data", 0, written)], asynchronous=False)
    c.close()

    def log_bytes() -> int:
        return sum(p.stat().st_size for p in offsets_dir.glob("*.log"))

    # Every commit is a batch of at least 100 bytes; compacted, only the last few remain.
    wait_until(lambda: cleaned_up_to(broker.data_dir, "__consumer_offsets", partition) > 0
               and log_bytes() < commits * 100 / 4, timeout=15)
    assert broker.stop() == 0
    broker = broker_factory(*FAST_CLEANER, data_dir=broker.data_dir)
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group, "enable.auto.commit": False})
    committed = c.committed([TopicPartition("data", 0)], timeout=TIMEOUT)
    assert committed[0].offset == commits
    c.close()
