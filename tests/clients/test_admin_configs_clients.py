"""Real admin clients on configs (topic and dynamic broker configs), partitions and record deletion:
kafka-python KafkaAdminClient, confluent-kafka AdminClient, kafkajs admin (js/admin_configs.js)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, ConfigSource
from confluent_kafka.admin import ResourceType as CResourceType
from kafka import KafkaProducer, TopicPartition
from kafka.admin import ConfigResource as KConfigResource
from kafka.admin import ConfigResourceType, KafkaAdminClient, NewTopic
from kafka.protocol.admin import DescribeConfigsRequest, IncrementalAlterConfigsRequest

JS_SCRIPT = Path(__file__).parent / "js" / "admin_configs.js"
NODE = shutil.which("node")
DYNAMIC_BROKER = ConfigSource.DYNAMIC_BROKER_CONFIG.value
DYNAMIC_DEFAULT = ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG.value
KAFKAJS_DIR = os.environ.get("KAFKAJS_DIR", "")
HAVE_KAFKAJS = bool(KAFKAJS_DIR) and (Path(KAFKAJS_DIR) / "node_modules" / "kafkajs").is_dir()


def test_kafka_python_admin(broker: Any) -> None:
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        admin.create_topics([NewTopic("kp-admin", 1, 1)])
        # AlterConfigs (legacy) on the topic, IncrementalAlterConfigs on this broker
        assert admin.alter_configs([KConfigResource(ConfigResourceType.TOPIC, "kp-admin",
                                                    configs={"retention.ms": "60000"})], incremental=False) \
            == {"topic": {"kp-admin": "OK"}}
        assert admin.alter_configs([KConfigResource(ConfigResourceType.BROKER, "1",
                                                    configs={"log.retention.bytes": "123456789"})]) \
            == {"broker": {"1": "OK"}}
        topic = admin.describe_configs([KConfigResource(ConfigResourceType.TOPIC, "kp-admin")],
                                       include_synonyms=True)["topic"]["kp-admin"]
        assert topic["retention.ms"]["value"] == "60000"
        assert topic["retention.ms"]["config_source"] == "DYNAMIC_TOPIC_CONFIG"
        assert topic["retention.bytes"]["value"] == "123456789"
        assert topic["retention.bytes"]["config_source"] == "DYNAMIC_BROKER_CONFIG"
        assert [s["source"] for s in topic["retention.bytes"]["synonyms"]] == \
            ["DYNAMIC_BROKER_CONFIG", "DEFAULT_CONFIG"]
        brk = admin.describe_configs([KConfigResource(ConfigResourceType.BROKER, "1",
                                                      configs={"log.retention.bytes": None})],
                                     config_filter="all")["broker"]["1"]
        assert brk["log.retention.bytes"]["value"] == "123456789"
        assert brk["log.retention.bytes"]["config_source"] == "DYNAMIC_BROKER_CONFIG"
        assert brk["log.retention.bytes"]["read_only"] is False
        # CreatePartitions, then DeleteRecords on a partition with data
        result = admin.create_partitions({"kp-admin": 3})
        assert [r.error_code for r in result.results] == [0]
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
        for i in range(10):
            producer.send("kp-admin", b"v%d" % i, partition=2)
        producer.flush(10)
        producer.close()
        deleted = admin.delete_records({TopicPartition("kp-admin", 2): 4})
        assert deleted[TopicPartition("kp-admin", 2)]["low_watermark"] == 4
    finally:
        admin.close()


def test_confluent_incremental_broker_configs(broker: Any) -> None:
    """confluent-kafka, kafka-python and kafkajs all refuse a BROKER resource named "" in their admin
    APIs (only Java's Admin sends it), so the cluster-wide defaults are set and described through
    kafka-python's admin connection with its own request classes; this node's ("1") through
    confluent-kafka's incremental_alter_configs, whose describe_configs then shows each source."""
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    kp_admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)

    def alter(name: str, *entries: ConfigEntry) -> None:
        res = ConfigResource(CResourceType.BROKER, name, incremental_configs=list(entries))
        (fut,) = admin.incremental_alter_configs([res]).values()
        fut.result()

    def describe(name: str) -> dict[str, Any]:
        (fut,) = admin.describe_configs([ConfigResource(CResourceType.BROKER, name)]).values()
        return fut.result()  # type: ignore[no-any-return]

    set_op = AlterConfigOpType.SET
    try:
        ialter = IncrementalAlterConfigsRequest[1]
        resource = ialter.AlterConfigsResource(resource_type=4, resource_name="", configs=[
            ialter.AlterConfigsResource.AlterableConfig(name=n, config_operation=0, value=v)
            for n, v in [("message.max.bytes", "2000000"), ("log.cleaner.backoff.ms", "20000")]])
        send = kp_admin._manager.send
        altered = kp_admin._manager.run(send, ialter(resources=[resource], validate_only=False))
        assert [(r.resource_name, r.error_code) for r in altered.responses] == [("", 0)]
        dcls = DescribeConfigsRequest[4]
        described = kp_admin._manager.run(send, dcls(resources=[dcls.DescribeConfigsResource(
            resource_type=4, resource_name="", configuration_keys=None)], include_synonyms=True,
            include_documentation=False))
    finally:
        kp_admin.close()
    default_scope = {c.name: c for c in described.results[0].configs}
    assert set(default_scope) == {"message.max.bytes", "log.cleaner.backoff.ms"}
    assert default_scope["log.cleaner.backoff.ms"].value == "20000"
    assert default_scope["message.max.bytes"].config_source == DYNAMIC_DEFAULT
    alter("1", ConfigEntry("log.cleaner.backoff.ms", "30000", incremental_operation=set_op))
    node = describe("1")
    assert (node["log.cleaner.backoff.ms"].value, node["log.cleaner.backoff.ms"].source) == \
        ("30000", DYNAMIC_BROKER)
    assert (node["message.max.bytes"].value, node["message.max.bytes"].source) == \
        ("2000000", DYNAMIC_DEFAULT)
    assert node["num.partitions"].is_read_only
    # DELETE on this node's value falls back to the cluster default
    alter("1", ConfigEntry("log.cleaner.backoff.ms", None, incremental_operation=AlterConfigOpType.DELETE))
    node = describe("1")
    assert (node["log.cleaner.backoff.ms"].value, node["log.cleaner.backoff.ms"].source) == \
        ("20000", DYNAMIC_DEFAULT)
    # a config Kafka cannot change dynamically is refused, nothing changes
    with pytest.raises(Exception, match="Cannot update these configs dynamically"):
        alter("1", ConfigEntry("num.partitions", "3", incremental_operation=set_op))
    assert describe("1")["num.partitions"].source == ConfigSource.DEFAULT_CONFIG.value


@pytest.mark.skipif(NODE is None, reason="node not installed")
@pytest.mark.skipif(not HAVE_KAFKAJS, reason="kafkajs not found: set KAFKAJS_DIR to a dir with "
                    "node_modules/kafkajs (npm install --prefix DIR kafkajs@2; .ci/run does)")
def test_kafkajs_admin(broker: Any) -> None:
    assert NODE is not None
    proc = subprocess.run([NODE, str(JS_SCRIPT), broker.bootstrap, "kjs-admin"], capture_output=True,
                          text=True, timeout=60, env={**os.environ, "KAFKAJS_DIR": KAFKAJS_DIR})
    lines = proc.stdout.strip().splitlines()
    assert proc.returncode == 0 and lines, f"node exited {proc.returncode}\nstdout:\n{proc.stdout}\n" \
                                           f"stderr:\n{proc.stderr[-4000:]}"
    result = json.loads(lines[-1])
    topic = result["topicConfigs"]
    assert topic["retention.ms"] == {"value": "3600000", "source": 1, "readOnly": False}
    assert topic["cleanup.policy"]["value"] == "compact,delete"
    assert topic["segment.bytes"]["source"] == 5  # DEFAULT_CONFIG
    assert result["badValueError"] == "INVALID_CONFIG"
    assert result["brokerConfigs"]["log.retention.bytes"] == {"value": "987654321", "source": 2,
                                                             "readOnly": False}
    assert result["brokerConfigs"]["num.partitions"]["readOnly"] is True
    assert result["partitions"] == 3
    assert result["offsets"] == [{"partition": 0, "low": 4, "high": 10},
                                 {"partition": 1, "low": 0, "high": 0}, {"partition": 2, "low": 0, "high": 0}]
