"""Transactions across a broker SIGKILL (confluent-kafka): a transaction whose EndTxn was acknowledged
stays committed, an open one (its producer killed too) is aborted by its timeout after the restart, and
the last stable offset then moves up to the log end."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from kafka import KafkaConsumer
from kafka import TopicPartition as KTopicPartition

TOPIC = "txn-crash"
PARTITIONS = 3
TIMEOUT = 20.0
TXN_TIMEOUT_MS = 3000

OPEN_TXN = f"""
import sys, time
from confluent_kafka import Producer
p = Producer({{"bootstrap.servers": sys.argv[1], "transactional.id": "crash-open",
              "transaction.timeout.ms": {TXN_TIMEOUT_MS}}})
p.init_transactions(20)
p.begin_transaction()
for i in range(9):
    p.produce({TOPIC!r}, b"open-%d" % i, partition=i % 3)
assert p.flush(20) == 0
print("flushed", flush=True)
time.sleep(60)
"""


def stable_and_end(bootstrap: str) -> tuple[dict[int, int], dict[int, int]]:
    """(ListOffsets latest with read_committed, with read_uncommitted) per partition."""
    tps = [KTopicPartition(TOPIC, p) for p in range(PARTITIONS)]
    out = []
    for isolation in ("read_committed", "read_uncommitted"):
        c = KafkaConsumer(bootstrap_servers=bootstrap, isolation_level=isolation)
        try:
            out.append({tp.partition: off for tp, off in c.end_offsets(tps).items()})
        finally:
            c.close()
    return out[0], out[1]


def read_values(bootstrap: str, isolation: str) -> list[bytes]:
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"crash-{isolation}",
            "isolation.level": isolation,
            "enable.partition.eof": True,
            "enable.auto.commit": False,
        }
    )
    c.assign([TopicPartition(TOPIC, p, 0) for p in range(PARTITIONS)])
    values: list[bytes] = []
    eof: set[int] = set()
    deadline = time.monotonic() + TIMEOUT
    try:
        while len(eof) < PARTITIONS and time.monotonic() < deadline:
            m = c.poll(0.2)
            if m is None:
                continue
            if m.error():
                eof.add(m.partition() or 0)
                continue
            values.append(m.value() or b"")
    finally:
        c.close()
    assert len(eof) == PARTITIONS
    return values


def test_sigkill_keeps_committed_and_aborts_open_on_timeout(broker_factory: Any) -> None:
    broker = broker_factory()
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1)])[TOPIC].result(TIMEOUT)
    committed = [b"committed-%d" % i for i in range(9)]
    p = Producer({"bootstrap.servers": broker.bootstrap, "transactional.id": "crash-committed"})
    p.init_transactions(TIMEOUT)
    p.begin_transaction()
    for i, v in enumerate(committed):
        p.produce(TOPIC, v, partition=i % PARTITIONS)
    p.commit_transaction(TIMEOUT)  # acknowledged: must survive the kill

    zombie = subprocess.Popen(
        [sys.executable, "-c", OPEN_TXN, broker.bootstrap],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert zombie.stdout is not None and zombie.stdout.readline().strip() == "flushed"
        stable, end = stable_and_end(broker.bootstrap)
        assert all(stable[q] < end[q] for q in range(PARTITIONS)), (stable, end)  # the open txn pins the LSO
    finally:
        zombie.kill()
        zombie.wait()
    broker.kill()  # SIGKILL mid-transaction

    broker = broker_factory(data_dir=broker.data_dir)
    deadline = time.monotonic() + TIMEOUT
    while True:  # the timeout (3 s after the transaction started) aborts it and the LSO reaches the end
        stable, end = stable_and_end(broker.bootstrap)
        if stable == end:
            break
        assert time.monotonic() < deadline, f"LSO stuck: {stable} < {end}"
        time.sleep(0.2)
    assert sum(end.values()) == 9 + 9 + 2 * PARTITIONS  # records plus one marker per partition and txn
    assert sorted(read_values(broker.bootstrap, "read_committed")) == sorted(committed)
    everything = read_values(broker.bootstrap, "read_uncommitted")
    assert sorted(everything) == sorted(committed + [b"open-%d" % i for i in range(9)])
