"""Durability with a real client (confluent-kafka): clean restart, and kill -9 mid-load.

Records carry a unique sequence number as key and ``v<seq>`` as value, so what comes back after the
restart can be checked record by record against what the producer was told had been acknowledged.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

TOPIC = "durable"
PARTITIONS = 3
TIMEOUT = 20.0


def create_topic(bootstrap: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1)])[TOPIC].result(TIMEOUT)


def value_of(seq: int) -> bytes:
    return b"v%d-" % seq + b"x" * (seq % 50)


def read_everything(bootstrap: str) -> dict[int, list[tuple[int, bytes, bytes]]]:
    """All records of every partition up to its high watermark: {partition: [(offset, key, value)]}.

    Any error the consumer reports (other than end of partition) fails the test: the log must read
    cleanly after recovery.
    """
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused-manual-assign",
                         "enable.auto.commit": False, "enable.auto.offset.store": False,
                         "auto.offset.reset": "error"})
    out: dict[int, list[tuple[int, bytes, bytes]]] = {p: [] for p in range(PARTITIONS)}
    try:
        watermarks = {p: consumer.get_watermark_offsets(TopicPartition(TOPIC, p), timeout=TIMEOUT)
                      for p in range(PARTITIONS)}
        assert all(low == 0 for low, _ in watermarks.values()), watermarks
        highs = {p: high for p, (_, high) in watermarks.items()}
        consumer.assign([TopicPartition(TOPIC, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
        deadline = time.monotonic() + TIMEOUT
        while any(len(out[p]) < highs[p] for p in range(PARTITIONS)):
            assert time.monotonic() < deadline, (
                f"read {[len(v) for v in out.values()]} of high watermarks {highs} in {TIMEOUT}s")
            for msg in consumer.consume(num_messages=5000, timeout=0.5):
                err = msg.error()
                if err is not None:
                    assert err.code() == KafkaError._PARTITION_EOF, f"consumer error after recovery: {err}"
                    continue
                out[msg.partition() or 0].append((msg.offset() or 0, msg.key() or b"", msg.value() or b""))
    finally:
        consumer.close()
    return out


def assert_clean_log(parts: dict[int, list[tuple[int, bytes, bytes]]]) -> list[int]:
    """Consecutive offsets from 0, intact values, each sequence number once and in order per partition."""
    seqs: list[int] = []
    for p, recs in parts.items():
        assert [o for o, _, _ in recs] == list(range(len(recs))), f"partition {p}: offset gap"
        partition_seqs = [int(k) for _, k, _ in recs]
        assert partition_seqs == sorted(partition_seqs), f"partition {p}: records out of produce order"
        for _, k, v in recs:
            assert v == value_of(int(k)), f"partition {p}: key {k!r} has value {v[:40]!r}"
        seqs.extend(partition_seqs)
    dupes = len(seqs) - len(set(seqs))
    assert dupes == 0, f"{dupes} duplicated records (idempotent producer)"
    return seqs


def test_clean_restart_keeps_everything(broker_factory: Any) -> None:
    first = broker_factory()
    create_topic(first.bootstrap)
    producer = Producer({"bootstrap.servers": first.bootstrap, "enable.idempotence": True, "acks": "all",
                         "linger.ms": 5})
    failures: list[object] = []

    def on_delivery(err: Any, _msg: Any) -> None:
        if err is not None:
            failures.append(err)

    for seq in range(5000):
        producer.produce(TOPIC, key=str(seq).encode(), value=value_of(seq),
                         on_delivery=on_delivery)
        producer.poll(0)
    assert producer.flush(TIMEOUT) == 0 and not failures, failures[:5]
    del producer

    assert first.stop() == 0
    second = broker_factory(data_dir=first.data_dir)
    seqs = assert_clean_log(read_everything(second.bootstrap))
    assert sorted(seqs) == list(range(5000))
    log = second.log_text().lower()
    assert "truncat" not in log and "unclean" not in log, second.log_text()


def test_kill_mid_load_loses_no_acknowledged_record(broker_factory: Any) -> None:
    first = broker_factory()
    create_topic(first.bootstrap)
    acked: list[int] = []
    first_ack, enough, stop = threading.Event(), threading.Event(), threading.Event()
    producer_errors: list[BaseException] = []

    def on_delivery(err: Any, msg: Any) -> None:
        if err is None:
            acked.append(int(msg.key()))
            first_ack.set()
            if len(acked) >= 50_000:
                enough.set()

    def produce_flat_out() -> None:
        producer = Producer({"bootstrap.servers": first.bootstrap, "enable.idempotence": True,
                             "acks": "all", "linger.ms": 5, "message.timeout.ms": 3000,
                             "queue.buffering.max.messages": 20_000, "reconnect.backoff.max.ms": 200})
        try:
            seq = 0
            deadline = time.monotonic() + TIMEOUT
            while not stop.is_set() and time.monotonic() < deadline:
                try:
                    producer.produce(TOPIC, key=str(seq).encode(), value=value_of(seq),
                                     on_delivery=on_delivery)
                    seq += 1
                    producer.poll(0)
                except BufferError:
                    producer.poll(0.01)  # local queue full: serve delivery reports until there is room
            producer.flush(6.0)  # the broker is dead: what is left times out (message.timeout.ms)
        except BaseException as exc:  # surfaced in the main thread
            producer_errors.append(exc)

    thread = threading.Thread(target=produce_flat_out, name="crash-producer", daemon=True)
    thread.start()
    try:
        assert first_ack.wait(TIMEOUT), "no record acknowledged"
        enough.wait(2.0)  # ~2 s of load, or 50k acks, whichever first
        first.kill()
    finally:
        stop.set()
        thread.join(TIMEOUT)
    assert not thread.is_alive(), "producer thread did not stop"
    assert not producer_errors, producer_errors
    acknowledged = set(acked)
    assert len(acknowledged) == len(acked) > 0

    second = broker_factory(data_dir=first.data_dir)
    seqs = set(assert_clean_log(read_everything(second.bootstrap)))
    missing = acknowledged - seqs
    assert not missing, f"{len(missing)} acknowledged records lost, e.g. {sorted(missing)[:10]}"
