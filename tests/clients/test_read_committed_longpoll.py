"""librdkafka's read_committed consumer (its default isolation) against a transaction left open:
its long-polls must wait on the last stable offset, not return empty at every transactional append
(which made it spin). Fetch requests are counted from librdkafka's own statistics."""

from __future__ import annotations

import json
import time
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

TIMEOUT_S = 15.0
WINDOW_S = 2.0
FETCH_WAIT_MS = 500


def test_read_committed_consumer_does_not_spin_while_a_transaction_is_open(broker: Any) -> None:
    bootstrap = broker.bootstrap
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for f in admin.create_topics([NewTopic("open-txn", 1, 1)]).values():
        f.result(TIMEOUT_S)
    producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": "stays-open", "linger.ms": 0})
    producer.init_transactions(TIMEOUT_S)
    producer.begin_transaction()
    producer.produce("open-txn", b"first")
    producer.flush(TIMEOUT_S)

    stats: list[dict[str, Any]] = []
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "rc-spin",
                         "isolation.level": "read_committed", "enable.auto.commit": False,
                         "fetch.wait.max.ms": FETCH_WAIT_MS,
                         "statistics.interval.ms": 100, "stats_cb": lambda s: stats.append(json.loads(s))})

    def fetches() -> int:
        brokers = stats[-1]["brokers"].values()
        return sum(b.get("req", {}).get("Fetch", 0) for b in brokers if b["nodeid"] >= 0)

    try:
        consumer.assign([TopicPartition("open-txn", 0, 0)])
        deadline = time.monotonic() + TIMEOUT_S
        while (not stats or fetches() == 0) and time.monotonic() < deadline:
            assert consumer.poll(0.05) is None
        before = fetches()
        window_end = time.monotonic() + WINDOW_S
        sent = 0
        while time.monotonic() < window_end:  # keep appending to the open transaction
            producer.produce("open-txn", b"more-%d" % sent)
            producer.flush(TIMEOUT_S)
            sent += 1
            assert consumer.poll(0.01) is None  # nothing is committed: nothing to read
        consumer.poll(0.2)  # let a last statistics report in
        served = fetches() - before
        # Each long poll waits fetch.wait.max.ms: ~4 in the window (+ slack for the boundaries),
        # against one per transactional append when the waiter counted uncommitted bytes.
        assert sent > 20
        print(f"{served} Fetch requests served in {WINDOW_S} s, {sent} transactional appends")
        assert served <= WINDOW_S * 1000 / FETCH_WAIT_MS + 4, (served, sent)
        producer.commit_transaction(TIMEOUT_S)
        got = []
        deadline = time.monotonic() + TIMEOUT_S
        while len(got) < sent + 1 and time.monotonic() < deadline:
            m = consumer.poll(0.2)
            if m is not None and not m.error():
                got.append(m.value())
        assert got[0] == b"first" and len(got) == sent + 1
    finally:
        consumer.close()
