"""confluent-kafka (librdkafka) consumer groups: sharing, take-over on leave and on kill, resuming at
committed offsets (also across a broker restart), cooperative-sticky rebalancing, group admin."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import Consumer, ConsumerGroupState, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from groups_expect import (
    COMMITTED,
    HEARTBEAT_INTERVAL_MS,
    MAX_POLL_INTERVAL_MS,
    PARTITIONS,
    RESUME_RECORDS,
    RESUMED_COUNT,
    SESSION_TIMEOUT_MS,
    TIMEOUT,
    assert_disjoint_cover,
    assert_exactly_once,
    assert_resumed,
    covers,
    values,
)

TOPIC = "orders"


def create_topic(bootstrap: str, name: str = TOPIC, partitions: int = PARTITIONS) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, partitions, 1)])[name].result(TIMEOUT)


def produce(bootstrap: str, vals: list[bytes], topic: str = TOPIC, partitions: int = PARTITIONS) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for i, v in enumerate(vals):
        producer.produce(topic, value=v, partition=i % partitions)
    assert producer.flush(TIMEOUT) == 0


def consumer(bootstrap: str, group: str, **conf: Any) -> Consumer:
    return Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                     "enable.auto.commit": False, "session.timeout.ms": SESSION_TIMEOUT_MS,
                     "heartbeat.interval.ms": HEARTBEAT_INTERVAL_MS,
                     "max.poll.interval.ms": MAX_POLL_INTERVAL_MS, **conf})


def owned(c: Consumer) -> set[int]:
    return {tp.partition for tp in c.assignment()}


def pump(members: list[Consumer], seen: list[bytes], until: Callable[[], bool], what: str) -> None:
    """Poll every member in turn, committing what each read, until ``until()`` or the deadline."""
    deadline = time.monotonic() + TIMEOUT
    while not until():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        for c in members:
            msgs = [m for m in c.consume(num_messages=100, timeout=0.05) if m.error() is None]
            if msgs:
                seen.extend(m.value() for m in msgs)
                c.commit(asynchronous=False)


def test_members_share_partitions_and_take_over_on_leave(broker: Any) -> None:
    create_topic(broker.bootstrap)
    members = [consumer(broker.bootstrap, "share") for _ in range(3)]
    for c in members:
        c.subscribe([TOPIC])
    seen: list[bytes] = []
    pump(members, seen, lambda: covers([owned(c) for c in members]), "three members to share")
    first = values("first", 120)
    produce(broker.bootstrap, first)
    pump(members, seen, lambda: len(seen) >= len(first), "every record")
    assert_disjoint_cover([owned(c) for c in members])
    assert_exactly_once(seen, first)

    members.pop().close()  # leaves the group: the other two take its partitions over
    pump(members, seen, lambda: covers([owned(c) for c in members]), "two members to cover all")
    second = values("second", 120)
    produce(broker.bootstrap, second)
    pump(members, seen, lambda: len(seen) >= len(first) + len(second), "the second batch")
    assert_exactly_once(seen, first + second)
    for c in members:
        c.close()


KILLED_MEMBER = """
import sys
from confluent_kafka import Consumer
conf = dict(arg.split("=", 1) for arg in sys.argv[1:])
topic = conf.pop("topic")
c = Consumer(conf)
def on_assign(consumer, partitions):
    print("assigned", ",".join(str(tp.partition) for tp in partitions), flush=True)
c.subscribe([topic], on_assign=on_assign)
while True:
    c.poll(0.1)
"""


def test_killed_member_is_replaced_after_session_timeout(broker: Any) -> None:
    create_topic(broker.bootstrap)
    survivor = consumer(broker.bootstrap, "kill")
    survivor.subscribe([TOPIC])
    pump([survivor], [], lambda: len(owned(survivor)) == PARTITIONS, "the first member")
    conf = {"bootstrap.servers": broker.bootstrap, "group.id": "kill",
            "session.timeout.ms": SESSION_TIMEOUT_MS,
            "heartbeat.interval.ms": HEARTBEAT_INTERVAL_MS, "max.poll.interval.ms": MAX_POLL_INTERVAL_MS,
            "topic": TOPIC}
    proc = subprocess.Popen([sys.executable, "-c", KILLED_MEMBER, *(f"{k}={v}" for k, v in conf.items())],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        child: list[set[int]] = []

        def read_child() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                if line.startswith("assigned "):
                    child.append({int(p) for p in line.split()[1].split(",") if p})
        threading.Thread(target=read_child, daemon=True).start()
        pump([survivor], [], lambda: bool(child) and bool(child[-1]) and covers([owned(survivor), child[-1]]),
             "the second member to get its share")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(TIMEOUT)
        killed_at = time.monotonic()
        pump([survivor], [], lambda: len(owned(survivor)) == PARTITIONS, "the survivor to take over")
        took = time.monotonic() - killed_at
        # Not before the session timeout expired (the broker never heard a leave), and soon after.
        assert SESSION_TIMEOUT_MS / 1000 - 1 <= took <= SESSION_TIMEOUT_MS / 1000 + 10, took
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        survivor.close()


@pytest.mark.parametrize("restart", [False, True], ids=["same-broker", "broker-restarted"])
def test_new_member_resumes_at_committed_offset(broker_factory: Any, restart: bool) -> None:
    broker = broker_factory()
    create_topic(broker.bootstrap)
    first = values("first", RESUME_RECORDS)
    produce(broker.bootstrap, first)
    c = consumer(broker.bootstrap, "resume")
    c.subscribe([TOPIC])
    seen: list[bytes] = []
    pump([c], seen, lambda: len(seen) >= len(first), "the first batch")
    # Commit an explicit offset on every partition (10 records each), then leave.
    c.commit(offsets=[TopicPartition(TOPIC, p, COMMITTED) for p in range(PARTITIONS)], asynchronous=False)
    c.close()
    if restart:
        broker.stop()
        broker = broker_factory(data_dir=broker.data_dir)
    c = consumer(broker.bootstrap, "resume")
    committed = c.committed([TopicPartition(TOPIC, p) for p in range(PARTITIONS)], timeout=TIMEOUT)
    assert [tp.offset for tp in committed] == [COMMITTED] * PARTITIONS
    c.subscribe([TOPIC])
    got: list[Any] = []
    deadline = time.monotonic() + TIMEOUT
    while len(got) < RESUMED_COUNT:
        assert time.monotonic() < deadline, f"read {len(got)} of {RESUMED_COUNT} records"
        got.extend(m for m in c.consume(num_messages=100, timeout=0.1) if m.error() is None)
    assert_resumed([(m.offset(), m.value()) for m in got], first)
    c.close()


def test_cooperative_sticky_keeps_unaffected_partitions(broker: Any) -> None:
    create_topic(broker.bootstrap)
    events: dict[str, list[tuple[str, set[int]]]] = {"a": [], "b": []}

    def callbacks(name: str) -> dict[str, Any]:
        def on_assign(_c: Any, parts: list[TopicPartition]) -> None:
            events[name].append(("assign", {tp.partition for tp in parts}))

        def on_revoke(_c: Any, parts: list[TopicPartition]) -> None:
            events[name].append(("revoke", {tp.partition for tp in parts}))
        return {"on_assign": on_assign, "on_revoke": on_revoke}

    a = consumer(broker.bootstrap, "coop", **{"partition.assignment.strategy": "cooperative-sticky"})
    a.subscribe([TOPIC], **callbacks("a"))
    pump([a], [], lambda: len(owned(a)) == PARTITIONS, "the first member")
    b = consumer(broker.bootstrap, "coop", **{"partition.assignment.strategy": "cooperative-sticky"})
    b.subscribe([TOPIC], **callbacks("b"))
    pump([a, b], [], lambda: covers([owned(a), owned(b)]), "both members to share")
    revoked = set().union(*(parts for kind, parts in events["a"] if kind == "revoke"))
    assert revoked == owned(b), events  # a gave up exactly what b received ...
    assert not revoked & owned(a), events  # ... and kept the rest throughout
    assert all(kind == "assign" for kind, _ in events["b"]), events
    assert len(owned(a)) == len(owned(b)) == PARTITIONS // 2
    for c in (a, b):
        c.close()


def test_admin_describe_list_delete(broker: Any) -> None:
    create_topic(broker.bootstrap)
    c = consumer(broker.bootstrap, "admin-group", **{"client.id": "admin-test-member"})
    c.subscribe([TOPIC])
    pump([c], [], lambda: len(owned(c)) == PARTITIONS, "the member")
    c.commit(offsets=[TopicPartition(TOPIC, 0, 0)], asynchronous=False)
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    groups = admin.list_consumer_groups(request_timeout=TIMEOUT).result(TIMEOUT).valid
    listed = {g.group_id: g for g in groups}
    assert listed["admin-group"].state == ConsumerGroupState.STABLE
    assert not listed["admin-group"].is_simple_consumer_group
    described = admin.describe_consumer_groups(["admin-group"], request_timeout=TIMEOUT)
    desc = described["admin-group"].result(TIMEOUT)
    assert desc.state == ConsumerGroupState.STABLE and desc.partition_assignor == "range"
    (member,) = desc.members
    assert member.client_id == "admin-test-member" and member.host.lstrip("/") == "127.0.0.1"
    assert {tp.partition for tp in member.assignment.topic_partitions} == set(range(PARTITIONS))
    with pytest.raises(KafkaException) as err:
        admin.delete_consumer_groups(["admin-group"], request_timeout=TIMEOUT)["admin-group"].result(TIMEOUT)
    assert err.value.args[0].code() == KafkaError.NON_EMPTY_GROUP
    c.close()
    admin.delete_consumer_groups(["admin-group"], request_timeout=TIMEOUT)["admin-group"].result(TIMEOUT)
    listed = {g.group_id for g in admin.list_consumer_groups(request_timeout=TIMEOUT).result(TIMEOUT).valid}
    assert "admin-group" not in listed
