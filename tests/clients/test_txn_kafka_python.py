"""Transactions end to end with kafka-python's transactional producer: commit and abort across
partitions under read_committed and read_uncommitted, offsets committed in the transaction
(send_offsets_to_transaction), and fencing of a producer that shares its transactional id."""

from __future__ import annotations

import time
from typing import Any

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

PARTITIONS = 3
TIMEOUT_S = 15.0


def create_topic(bootstrap: str, name: str) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(name, PARTITIONS, 1)])
    finally:
        admin.close()


def producer(bootstrap: str, tid: str) -> KafkaProducer:
    p = KafkaProducer(bootstrap_servers=bootstrap, transactional_id=tid)
    p.init_transactions()
    return p


def read_all(bootstrap: str, topic: str, isolation: str) -> list[bytes]:
    c = KafkaConsumer(
        bootstrap_servers=bootstrap,
        isolation_level=isolation,
        enable_auto_commit=False,
        consumer_timeout_ms=200,
    )
    tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    c.assign(tps)
    c.seek_to_beginning()
    end = c.end_offsets(tps)  # follows the isolation level: the last stable offset for read_committed
    values: list[bytes] = []
    deadline = time.monotonic() + TIMEOUT_S
    try:
        while any(c.position(tp) < end[tp] for tp in tps) and time.monotonic() < deadline:
            for batch in c.poll(timeout_ms=200).values():
                values.extend(m.value for m in batch)
    finally:
        c.close()
    return values


def test_commit_abort_and_offsets(broker: Any) -> None:
    create_topic(broker.bootstrap, "kp-txn")
    p = producer(broker.bootstrap, "kp-1")
    committed = [b"c-%d" % i for i in range(12)]
    aborted = [b"a-%d" % i for i in range(12)]
    p.begin_transaction()
    for i, v in enumerate(committed):
        p.send("kp-txn", v, partition=i % PARTITIONS)
    offsets = {TopicPartition("kp-txn", 0): OffsetAndMetadata(4, "kept as sent", 0)}
    p.send_offsets_to_transaction(offsets, "kp-group")
    p.commit_transaction()
    p.begin_transaction()
    for i, v in enumerate(aborted):
        p.send("kp-txn", v, partition=i % PARTITIONS)
    p.send_offsets_to_transaction(
        {TopicPartition("kp-txn", 0): OffsetAndMetadata(99, "aborted", 0)}, "kp-group"
    )
    p.flush()
    p.abort_transaction()
    p.close()

    assert sorted(read_all(broker.bootstrap, "kp-txn", "read_committed")) == sorted(committed)
    assert sorted(read_all(broker.bootstrap, "kp-txn", "read_uncommitted")) == sorted(committed + aborted)
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        got = admin.list_group_offsets("kp-group")
    finally:
        admin.close()
    meta = got["kp-group"][TopicPartition("kp-txn", 0)]
    assert (meta.offset, meta.metadata, meta.leader_epoch) == (4, "kept as sent", 0)


def test_second_producer_fences_the_first(broker: Any) -> None:
    create_topic(broker.bootstrap, "kp-fence")
    first = producer(broker.bootstrap, "kp-shared")
    first.begin_transaction()
    first.send("kp-fence", b"zombie", partition=0).get(TIMEOUT_S)
    second = producer(broker.bootstrap, "kp-shared")
    second.begin_transaction()
    second.send("kp-fence", b"winner", partition=1)
    second.commit_transaction()
    with pytest.raises(KafkaError):
        first.send("kp-fence", b"zombie-2", partition=0).get(TIMEOUT_S)
        first.commit_transaction()
    second.close()
    first.close(timeout=1)
    assert read_all(broker.bootstrap, "kp-fence", "read_committed") == [b"winner"]
