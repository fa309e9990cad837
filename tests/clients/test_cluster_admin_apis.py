"""Kafka's cluster admin APIs answered truthfully for one node, through kafka-python's admin client
and confluent-kafka where it has the call."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient
from kafka import KafkaAdminClient, TopicPartition, TopicPartitionReplica
from kafka.errors import KafkaError, LogDirNotFoundError, NoError


@pytest.fixture
def admin(broker: Any) -> Iterator[KafkaAdminClient]:
    client = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=10000)
    client.create_topics({"a": {"num_partitions": 3, "replication_factor": 1},
                          "b": {"num_partitions": 2, "replication_factor": 1}})
    yield client
    client.close()


def test_describe_topic_partitions_paginates_with_a_cursor(admin: KafkaAdminClient) -> None:
    first = admin.describe_topic_partitions(["a", "b", "missing"], response_partition_limit=2)
    assert [(t["name"], [p["partition_index"] for p in t["partitions"]]) for t in first["topics"]][:1] == \
        [("a", [0, 1])]
    assert first["next_cursor"] == {"topic_name": "a", "partition_index": 2}
    second = admin.describe_topic_partitions(["a", "b", "missing"], response_partition_limit=2,
                                             cursor=first["next_cursor"])
    got = [(t["name"], [p["partition_index"] for p in t["partitions"]]) for t in second["topics"]]
    assert got == [("a", [2]), ("b", [0])]
    third = admin.describe_topic_partitions(["a", "b", "missing"], response_partition_limit=5,
                                            cursor=second["next_cursor"])
    assert [(t["name"], t["error_code"]) for t in third["topics"]] == [("b", 0), ("missing", 3)]
    assert third["next_cursor"] is None
    part = third["topics"][0]["partitions"][0]
    assert (part["leader_id"], part["replica_nodes"], part["isr_nodes"]) == (1, [1], [1])


def test_describe_log_dirs_reports_sizes(admin: KafkaAdminClient, broker: Any) -> None:
    from kafka import KafkaProducer
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
    producer.send("a", b"x" * 1000, partition=1).get(timeout=10)
    producer.close()
    (per_broker,) = admin.describe_log_dirs()
    (log_dir,) = per_broker["log_dirs"]
    assert log_dir["log_dir"] == str(broker.data_dir.resolve()) and log_dir["error_code"] == 0
    assert 0 < log_dir["usable_bytes"] <= log_dir["total_bytes"]
    sizes = {(t["name"], p["partition_index"]): p["partition_size"]
             for t in log_dir["topics"] for p in t["partitions"]}
    assert sizes[("a", 1)] > 1000 and sizes[("a", 0)] == 0 and ("b", 1) in sizes


def test_alter_replica_log_dirs_only_knows_the_data_dir(admin: KafkaAdminClient, broker: Any) -> None:
    ours = str(broker.data_dir.resolve())
    result = admin.alter_replica_log_dirs({TopicPartitionReplica("a", 0, 1): ours,
                                           TopicPartitionReplica("a", 1, 1): "/no/such/dir"})
    assert result[TopicPartitionReplica("a", 0, 1)] is NoError
    assert result[TopicPartitionReplica("a", 1, 1)] is LogDirNotFoundError


def test_elect_leaders_election_not_needed(admin: KafkaAdminClient, broker: Any) -> None:
    resp = admin.elect_leaders(0, {"a": [0, 1]}, raise_errors=False)
    codes = [p.error_code for r in resp.replica_election_results for p in r.partition_result]
    assert codes == [84, 84]
    confluent = AdminClient({"bootstrap.servers": broker.bootstrap})
    from confluent_kafka import ElectionType
    from confluent_kafka import TopicPartition as CTP
    result = confluent.elect_leaders(ElectionType.PREFERRED, [CTP("a", 2)]).result()
    (err,) = result.values()
    assert err is not None and err.code() == 84  # ELECTION_NOT_NEEDED


def test_partition_reassignments(admin: KafkaAdminClient) -> None:
    assert admin.list_partition_reassignments() == {}
    result = admin.alter_partition_reassignments({TopicPartition("a", 0): [1], TopicPartition("a", 1): [2],
                                                  TopicPartition("a", 2): None})
    assert result[TopicPartition("a", 0)] is None
    assert result[TopicPartition("a", 1)].errno == 39  # INVALID_REPLICA_ASSIGNMENT
    assert result[TopicPartition("a", 2)].errno == 85  # NO_REASSIGNMENT_IN_PROGRESS


def test_describe_metadata_quorum_one_voter(admin: KafkaAdminClient) -> None:
    try:
        quorum = admin.describe_metadata_quorum()
    except KafkaError as exc:  # pragma: no cover - shows what the client disliked
        raise AssertionError(exc) from exc
    text = repr(quorum)
    assert "leader_id" in text and "'replica_id': 1" in text.replace('"', "'")
