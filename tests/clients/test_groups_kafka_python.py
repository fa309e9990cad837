"""kafka-python consumer groups: sharing and take-over on leave, resuming at committed offsets (also
across a broker restart), group admin. Each member polls in its own thread: kafka-python's poll()
blocks in JoinGroup until every member has rejoined, so members cannot take turns in one thread."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
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
    wait_for,
)
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import NonEmptyGroupError
from kafka.structs import OffsetAndMetadata

TOPIC = "orders"


def create_topic(bootstrap: str) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1)])
    finally:
        admin.close()


def produce(bootstrap: str, vals: list[bytes]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    for i, v in enumerate(vals):
        producer.send(TOPIC, value=v, partition=i % PARTITIONS)
    producer.flush(TIMEOUT)
    producer.close()


def new_consumer(bootstrap: str, group: str, **conf: Any) -> KafkaConsumer:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest",
                             enable_auto_commit=False, session_timeout_ms=SESSION_TIMEOUT_MS,
                             heartbeat_interval_ms=HEARTBEAT_INTERVAL_MS,
                             max_poll_interval_ms=MAX_POLL_INTERVAL_MS, **conf)
    # kafka-python's group leader assigns from the metadata it holds at JoinGroup time; one that has
    # not fetched the topic yet assigns it to nobody ("No partition metadata for topic") and may not
    # notice later — a client-side race, the same against Kafka. Learn the topic before subscribing.
    deadline = time.monotonic() + TIMEOUT
    while not consumer.partitions_for_topic(TOPIC):
        assert time.monotonic() < deadline, f"no metadata for {TOPIC}"
    return consumer


class Member(threading.Thread):
    """One group member polling in its own thread, committing after every batch it reads."""

    def __init__(self, bootstrap: str, group: str, seen: list[bytes]) -> None:
        super().__init__(daemon=True)
        self.consumer = new_consumer(bootstrap, group)
        self.seen = seen
        self.owned: set[int] = set()
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.consumer.subscribe([TOPIC])
            while not self.stop.is_set():
                batches = self.consumer.poll(timeout_ms=100)
                self.owned = {tp.partition for tp in self.consumer.assignment()}
                if batches:
                    self.seen.extend(r.value for recs in batches.values() for r in recs)
                    self.consumer.commit()
        except BaseException as exc:  # surfaced by the test
            self.error = exc
        finally:
            self.consumer.close()  # commits nothing more (auto commit is off) and leaves the group

    def leave(self) -> None:
        self.stop.set()
        self.join(TIMEOUT)
        assert not self.is_alive() and self.error is None, self.error


def test_members_share_partitions_and_take_over_on_leave(broker: Any) -> None:
    create_topic(broker.bootstrap)
    seen: list[bytes] = []
    members = [Member(broker.bootstrap, "share", seen) for _ in range(3)]
    for m in members:
        m.start()
    try:
        wait_for(lambda: covers([m.owned for m in members]), "the members to cover every partition")
        first = values("first", 120)
        produce(broker.bootstrap, first)
        wait_for(lambda: len(seen) >= len(first), "the first batch")
        assert_disjoint_cover([m.owned for m in members])
        assert_exactly_once(seen, first)

        members.pop().leave()
        wait_for(lambda: covers([m.owned for m in members]), "the members to cover every partition")
        second = values("second", 120)
        produce(broker.bootstrap, second)
        wait_for(lambda: len(seen) >= len(first) + len(second), "the second batch")
        assert_exactly_once(seen, first + second)
        assert all(m.error is None for m in members), [m.error for m in members]
    finally:
        for m in members:
            m.leave()


@pytest.mark.parametrize("restart", [False, True], ids=["same-broker", "broker-restarted"])
def test_new_member_resumes_at_committed_offset(broker_factory: Any, restart: bool) -> None:
    broker = broker_factory()
    create_topic(broker.bootstrap)
    first = values("first", RESUME_RECORDS)
    produce(broker.bootstrap, first)
    c = new_consumer(broker.bootstrap, "resume")
    c.subscribe([TOPIC])
    n = 0
    deadline = time.monotonic() + TIMEOUT
    while n < len(first):
        assert time.monotonic() < deadline, f"read {n} of {len(first)}"
        n += sum(len(recs) for recs in c.poll(timeout_ms=100).values())
    c.commit({TopicPartition(TOPIC, p): OffsetAndMetadata(COMMITTED, "kp", -1) for p in range(PARTITIONS)})
    c.close()
    if restart:
        broker.stop()
        broker = broker_factory(data_dir=broker.data_dir)
    c = new_consumer(broker.bootstrap, "resume")
    c.subscribe([TOPIC])
    got: list[Any] = []
    deadline = time.monotonic() + TIMEOUT
    while len(got) < RESUMED_COUNT:
        assert time.monotonic() < deadline, f"read {len(got)} of {RESUMED_COUNT} records"
        got.extend(r for recs in c.poll(timeout_ms=100).values() for r in recs)
    assert_resumed([(r.offset, r.value) for r in got], first)
    committed = c.committed(TopicPartition(TOPIC, 0), metadata=True)
    assert committed is not None and (committed.offset, committed.metadata) == (COMMITTED, "kp")
    c.close()


def test_admin_describe_list_delete(broker: Any) -> None:
    create_topic(broker.bootstrap)
    seen: list[bytes] = []
    member = Member(broker.bootstrap, "admin-group", seen)
    member.start()
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        wait_for(lambda: len(member.owned) == PARTITIONS, "the member to own every partition")
        produce(broker.bootstrap, values("v", 12))
        wait_for(lambda: len(seen) == 12, "the records")
        # Under load the client may start another round (e.g. a late heartbeat); wait for Stable.
        wait_for(lambda: {g["group_id"]: g["group_state"] for g in admin.list_groups()}.get("admin-group")
                 == "Stable", "the group to be Stable")
        listed = {g["group_id"]: g for g in admin.list_groups()}
        assert listed["admin-group"]["protocol_type"] == "consumer"
        desc = admin.describe_groups(["admin-group"])["admin-group"]
        assert desc["group_state"] == "Stable" and desc["protocol_type"] == "consumer"
        assert desc["protocol_data"] == "range" and len(desc["members"]) == 1
        offsets = admin.list_group_offsets({"admin-group": None})["admin-group"]
        assert {tp.partition: om.offset for tp, om in offsets.items()} == {p: 2 for p in range(PARTITIONS)}
        assert admin.delete_groups(["admin-group"]) == {"admin-group": NonEmptyGroupError.__name__}
        member.leave()
        assert admin.delete_groups(["admin-group"]) == {"admin-group": "OK"}
        assert "admin-group" not in {g["group_id"] for g in admin.list_groups()}
    finally:
        member.stop.set()
        admin.close()
