"""DescribeCluster and DescribeConfigs through real admin clients."""

from __future__ import annotations

from typing import Any

from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType
from kafka import KafkaAdminClient


def test_describe_cluster_confluent(broker: Any) -> None:
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    desc = admin.describe_cluster(request_timeout=10).result()
    assert [n.id for n in desc.nodes] == [1]
    assert desc.controller.id == 1
    assert desc.nodes[0].port == broker.port
    assert len(desc.cluster_id) == 22


def test_describe_cluster_kafka_python(broker: Any) -> None:
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=10000)
    try:
        desc = admin.describe_cluster()
        assert desc["controller_id"] == 1
        assert [b["broker_id"] for b in desc["brokers"]] == [1], desc
        assert desc["brokers"][0]["port"] == broker.port
    finally:
        admin.close()


def test_describe_topic_configs_confluent(broker: Any) -> None:
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    from confluent_kafka.admin import NewTopic
    admin.create_topics([NewTopic("cfg", 1, 1, config={"retention.ms": "12345"})])["cfg"].result()
    (res,) = admin.describe_configs([ConfigResource(ResourceType.TOPIC, "cfg")]).values()
    configs = res.result()
    assert configs["retention.ms"].value == "12345" and not configs["retention.ms"].is_default
    assert configs["segment.bytes"].value == "1073741824" and configs["segment.bytes"].is_default
    assert configs["cleanup.policy"].value == "delete"
