"""Metadata answers every topic with its own partition count and indexes, also after a topic grows,
while partition entries are shared between topics (broker/handlers/metadata.py)."""

from __future__ import annotations

from typing import Any

from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic


def counts(admin: AdminClient) -> dict[str, list[int]]:
    meta = admin.list_topics(timeout=10)  # an all-topics Metadata request
    return {name: sorted(t.partitions) for name, t in meta.topics.items() if name.startswith("m")}


def test_topics_of_different_sizes_and_growth(broker_factory: Any) -> None:
    b = broker_factory()
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    for name, n in [("m4", 4), ("m1", 1), ("m2", 2)]:
        admin.create_topics([NewTopic(name, n, 1)])[name].result()
    assert counts(admin) == {"m4": [0, 1, 2, 3], "m1": [0], "m2": [0, 1]}
    admin.create_partitions([NewPartitions("m1", 6)])["m1"].result()
    assert counts(admin) == {"m4": [0, 1, 2, 3], "m1": list(range(6)), "m2": [0, 1]}
    one = admin.list_topics("m2", timeout=10)  # one topic, as a client refreshing it asks
    leaders = {p.id: p.leader for p in one.topics["m2"].partitions.values()}
    assert leaders == {0: next(iter(one.brokers)), 1: next(iter(one.brokers))}
    assert b.stop() == 0
