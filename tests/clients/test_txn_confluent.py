"""Transactions end to end with confluent-kafka (librdkafka): commit and abort across partitions seen
through read_committed and read_uncommitted consumers, consume-transform-produce with
send_offsets_to_transaction, and zombie fencing."""

from __future__ import annotations

import time
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

PARTITIONS = 3
TIMEOUT_S = 15.0


def create_topic(bootstrap: str, name: str, partitions: int = PARTITIONS) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for f in admin.create_topics([NewTopic(name, partitions, 1)]).values():
        f.result(TIMEOUT_S)


def txn_producer(bootstrap: str, tid: str, **conf: Any) -> Producer:
    p = Producer({"bootstrap.servers": bootstrap, "transactional.id": tid, "linger.ms": 5, **conf})
    p.init_transactions(TIMEOUT_S)
    return p


def read_all(bootstrap: str, topic: str, isolation: str, partitions: int = PARTITIONS) -> list[bytes]:
    """Every value up to the end of each partition (as the given isolation level sees it)."""
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{isolation}-{time.monotonic_ns()}",
            "isolation.level": isolation,
            "enable.partition.eof": True,
            "enable.auto.commit": False,
        }
    )
    c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    values: list[bytes] = []
    eof: set[int] = set()
    deadline = time.monotonic() + TIMEOUT_S
    try:
        while len(eof) < partitions and time.monotonic() < deadline:
            m = c.poll(0.2)
            if m is None:
                continue
            if m.error():
                eof.add(m.partition())
                continue
            eof.discard(m.partition())
            values.append(m.value())
    finally:
        c.close()
    assert len(eof) == partitions, "did not reach the end of every partition"
    return values


def test_commit_and_abort_across_partitions(broker: Any) -> None:
    create_topic(broker.bootstrap, "txn-ca")
    p = txn_producer(broker.bootstrap, "ca-1")
    committed = [b"c-%d" % i for i in range(30)]
    aborted = [b"a-%d" % i for i in range(30)]
    p.begin_transaction()
    for i, v in enumerate(committed[:15]):
        p.produce("txn-ca", v, partition=i % PARTITIONS)
    p.commit_transaction(TIMEOUT_S)
    p.begin_transaction()
    for i, v in enumerate(aborted):
        p.produce("txn-ca", v, partition=i % PARTITIONS)
    p.flush(TIMEOUT_S)  # on the broker before the abort (librdkafka purges unsent messages on abort)
    p.abort_transaction(TIMEOUT_S)
    p.begin_transaction()
    for i, v in enumerate(committed[15:]):
        p.produce("txn-ca", v, partition=i % PARTITIONS)
    p.commit_transaction(TIMEOUT_S)

    seen = read_all(broker.bootstrap, "txn-ca", "read_committed")
    assert sorted(seen) == sorted(committed)
    everything = read_all(broker.bootstrap, "txn-ca", "read_uncommitted")
    assert sorted(everything) == sorted(committed + aborted)


def test_consume_transform_produce(broker: Any) -> None:
    create_topic(broker.bootstrap, "ctp-in")
    create_topic(broker.bootstrap, "ctp-out")
    src = Producer({"bootstrap.servers": broker.bootstrap})
    inputs = [b"%d" % i for i in range(60)]
    for i, v in enumerate(inputs):
        src.produce("ctp-in", v, partition=i % PARTITIONS)
    src.flush(TIMEOUT_S)

    def process(limit: int | None, end: str) -> int:
        """Copy up to ``limit`` records in one transaction, then commit, abort, or walk away mid-transaction
        as a crashed processor does (the next one with the same transactional.id fences and aborts it)."""
        c = Consumer(
            {
                "bootstrap.servers": broker.bootstrap,
                "group.id": "ctp",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "isolation.level": "read_committed",
            }
        )
        c.subscribe(["ctp-in"])
        p = txn_producer(broker.bootstrap, "ctp-processor")
        p.begin_transaction()
        n, idle_until = 0, time.monotonic() + 5.0
        while (limit is None or n < limit) and time.monotonic() < idle_until:
            m = c.poll(0.2)
            if m is None or m.error():
                continue
            p.produce("ctp-out", b"out-" + m.value(), partition=m.partition())
            n += 1
            idle_until = time.monotonic() + (1.0 if limit is None else 5.0)
        p.send_offsets_to_transaction(c.position(c.assignment()), c.consumer_group_metadata(), TIMEOUT_S)
        p.flush(TIMEOUT_S)
        if end == "commit":
            p.commit_transaction(TIMEOUT_S)
        elif end == "abort":
            p.abort_transaction(TIMEOUT_S)
        c.close()
        return n

    assert process(20, "commit") == 20
    assert process(25, "abort") == 25  # a failed batch: output and offsets are rolled back
    assert process(15, "crash") == 15  # a crashed processor: its successor's init_transactions aborts it
    assert process(None, "commit") == 40
    out = read_all(broker.bootstrap, "ctp-out", "read_committed")
    assert sorted(out) == sorted(b"out-" + v for v in inputs)  # exactly once: no duplicates, none lost
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "ctp"})
    committed = c.committed([TopicPartition("ctp-in", p) for p in range(PARTITIONS)], timeout=TIMEOUT_S)
    c.close()
    assert sum(tp.offset for tp in committed) == len(inputs)


def test_zombie_is_fenced(broker: Any) -> None:
    create_topic(broker.bootstrap, "txn-z")
    first = txn_producer(broker.bootstrap, "zombie")
    first.begin_transaction()
    first.produce("txn-z", b"zombie-1", partition=0)
    first.flush(TIMEOUT_S)
    second = txn_producer(broker.bootstrap, "zombie")  # fences the first, aborting its transaction
    second.begin_transaction()
    second.produce("txn-z", b"second", partition=1)
    second.commit_transaction(TIMEOUT_S)
    with pytest.raises(KafkaException) as info:
        first.produce("txn-z", b"zombie-2", partition=0)
        first.commit_transaction(TIMEOUT_S)
    assert info.value.args[0].fatal(), info.value
    assert read_all(broker.bootstrap, "txn-z", "read_committed") == [b"second"]
