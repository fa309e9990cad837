"""Config definitions, topic config validation, BrokerConfig loading, and DescribeConfigs (key 32)."""

from __future__ import annotations

import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from kafka.protocol.admin import DescribeConfigsRequest, DescribeConfigsResponse

from pykafka_broker.broker.config import BrokerConfig
from pykafka_broker.broker.config_defs import (
    BROKER_CONFIGS,
    TOPIC_CONFIGS,
    ConfigError,
    canonical_value,
    validate_value,
)
from pykafka_broker.broker.dispatch import RequestContext
from pykafka_broker.broker.handlers.describe_configs import handle_describe_configs
from pykafka_broker.broker.topics import effective_topic_configs, validate_topic_configs
from pykafka_broker.protocol import messages
from pykafka_broker.protocol.errors import ErrorCode, KafkaError
from pykafka_broker.protocol.frame import RequestHeader

TOPIC, BROKER, BROKER_LOGGER = 2, 4, 8
DYNAMIC_TOPIC_CONFIG, STATIC_BROKER_CONFIG, DEFAULT_CONFIG = 1, 4, 5


def make_broker(props: dict[str, str] | None = None, topics: dict[str, dict[str, str]] | None = None) -> Any:
    infos = {name: SimpleNamespace(name=name, topic_id=uuid.uuid4(), partitions=1, configs=configs)
             for name, configs in (topics or {}).items()}
    return SimpleNamespace(config=BrokerConfig(props=dict(props or {})),
                           logs=SimpleNamespace(topics=infos), node_id=1)


def describe(broker: Any, resources: list[tuple[int, str, list[str] | None]], version: int = 4,
             synonyms: bool = True, docs: bool = False) -> Any:
    """Encode a real kafka-python request, decode it as the broker does, run the handler, and prove
    the response encodes at this version."""
    cls = DescribeConfigsRequest[version]
    fields: dict[str, Any] = {"include_synonyms": synonyms}
    if version >= 3:
        fields["include_documentation"] = docs
    request = cls(resources=[cls.DescribeConfigsResource(resource_type=t, resource_name=n,
                                                         configuration_keys=k) for t, n, k in resources],
                  **fields)
    decoded = messages.decode_request(32, version, memoryview(request.encode()))
    ctx = RequestContext(broker, RequestHeader(32, version, 1, "test", 0), "peer")
    response = handle_describe_configs(ctx, decoded)
    assert isinstance(messages.encode_response(32, version, response), bytes)
    return response


def by_name(result: Any) -> dict[str, Any]:
    return {c.name: c for c in result.configs}


def synonyms_of(config: Any) -> list[tuple[str, str | None, int]]:
    return [(s.name, s.value, s.source) for s in config.synonyms]


# --- definitions -----------------------------------------------------------------------------------

def test_topic_config_list_is_kafka_41s():
    assert sorted(TOPIC_CONFIGS) == sorted([
        "cleanup.policy", "compression.type", "compression.gzip.level", "compression.lz4.level",
        "compression.zstd.level", "delete.retention.ms", "file.delete.delay.ms", "flush.messages",
        "flush.ms", "follower.replication.throttled.replicas", "index.interval.bytes",
        "leader.replication.throttled.replicas", "local.retention.bytes", "local.retention.ms",
        "max.compaction.lag.ms", "max.message.bytes", "message.timestamp.after.max.ms",
        "message.timestamp.before.max.ms", "message.timestamp.type", "min.cleanable.dirty.ratio",
        "min.compaction.lag.ms", "min.insync.replicas", "preallocate", "remote.storage.enable",
        "retention.bytes", "retention.ms", "segment.bytes", "segment.index.bytes", "segment.jitter.ms",
        "segment.ms", "unclean.leader.election.enable", "remote.log.copy.disable",
        "remote.log.delete.on.disable"])


def test_every_default_is_valid_and_every_synonym_is_defined():
    for name, cd in {**BROKER_CONFIGS, **TOPIC_CONFIGS}.items():
        if cd.default is not None:
            validate_value(name, cd.default)
    for cd in TOPIC_CONFIGS.values():
        assert all(s in BROKER_CONFIGS for s in cd.synonyms), cd.name
    assert TOPIC_CONFIGS["retention.ms"].synonyms == ("log.retention.ms", "log.retention.minutes",
                                                      "log.retention.hours")
    assert TOPIC_CONFIGS["flush.ms"].synonyms == ("log.flush.interval.ms", "log.flush.scheduler.interval.ms")


def test_single_node_overrides_of_kafka_defaults():
    assert BROKER_CONFIGS["offsets.topic.replication.factor"].default == "1"
    assert BROKER_CONFIGS["transaction.state.log.replication.factor"].default == "1"
    assert BROKER_CONFIGS["transaction.state.log.min.isr"].default == "1"
    assert BROKER_CONFIGS["group.initial.rebalance.delay.ms"].default == "0"


def test_canonical_values():
    assert canonical_value("retention.ms", " 0100 ") == "100"
    assert canonical_value("preallocate", "TRUE") == "true"
    assert canonical_value("cleanup.policy", "compact, delete") == "compact,delete"
    assert canonical_value("min.cleanable.dirty.ratio", "1") == "1.0"


# --- validate_topic_configs ------------------------------------------------------------------------

@pytest.mark.parametrize("configs, message", [
    ({"retention.mss": "1"}, "Unknown topic config name: retention.mss"),
    ({"retention.ms": "soon"},
     "Invalid value soon for configuration retention.ms: Not a number of type LONG"),
    ({"segment.bytes": "3000000000"},
     "Invalid value 3000000000 for configuration segment.bytes: Not a number of type INT"),
    ({"segment.bytes": "1000"}, "Invalid value 1000 for configuration segment.bytes: Value must be at least "
                                "1048576"),
    ({"retention.ms": "-2"}, "Invalid value -2 for configuration retention.ms: Value must be at least -1"),
    ({"cleanup.policy": "compact,forever"},
     "Invalid value forever for configuration cleanup.policy: String must be one of: compact, delete"),
    ({"compression.type": "brotli"}, "Invalid value brotli for configuration compression.type: String must "
                                     "be one of: uncompressed, zstd, lz4, snappy, gzip, producer"),
    ({"message.timestamp.type": "Now"}, "Invalid value Now for configuration message.timestamp.type: String "
                                        "must be one of: CreateTime, LogAppendTime"),
    ({"min.cleanable.dirty.ratio": "1.5"},
     "Invalid value 1.5 for configuration min.cleanable.dirty.ratio: Value must be no more than 1"),
    ({"min.cleanable.dirty.ratio": "half"},
     "Invalid value half for configuration min.cleanable.dirty.ratio: Not a number of type DOUBLE"),
    ({"preallocate": "yes"}, "Invalid value yes for configuration preallocate: Expected value to be either "
                             "true or false"),
    ({"compression.gzip.level": "0"}, "Invalid value 0 for configuration compression.gzip.level: Value must "
                                      "be between 1 and 9, or -1 for the default level"),
    ({"compression.lz4.level": "18"},
     "Invalid value 18 for configuration compression.lz4.level: Value must be no more than 17"),
    ({"leader.replication.throttled.replicas": "0:1,x"},
     "Invalid value 0:1,x for configuration leader.replication.throttled.replicas: Must be * or a list of "
     "partitionId:brokerId pairs, such as 0:1,1:1"),
    ({"min.compaction.lag.ms": "10", "max.compaction.lag.ms": "5"},
     "conflict topic config setting min.compaction.lag.ms (10) > max.compaction.lag.ms (5)"),
    ({"remote.storage.enable": "TRUE"}, "Tiered Storage functionality is disabled in the broker. Topic "
                                        "cannot be configured with remote log storage."),
])
def test_validate_topic_configs_rejects(configs: dict[str, str], message: str):
    with pytest.raises(KafkaError) as info:
        validate_topic_configs(configs)
    assert info.value.code == ErrorCode.INVALID_CONFIG
    assert info.value.message == message


def test_validate_topic_configs_accepts():
    validate_topic_configs({"cleanup.policy": "compact,delete", "compression.type": "zstd",
                            "min.cleanable.dirty.ratio": "0.1", "retention.ms": "-1",
                            "compression.gzip.level": "-1", "follower.replication.throttled.replicas": "*",
                            "leader.replication.throttled.replicas": "0:1, 1:1", "preallocate": "True"})


# --- BrokerConfig.load -----------------------------------------------------------------------------

def test_broker_config_load_yaml_then_overrides(tmp_path: Path):
    path = tmp_path / "server.yaml"
    path.write_text("num.partitions: 3\nlog.retention.hours: 24\nauto.create.topics.enable: false\n"
                    "node.id: 7\n")
    cfg = BrokerConfig.load(config_file=path, overrides=["log.retention.hours=1", "message.max.bytes=2000"],
                            port=9999)
    assert cfg.props == {"num.partitions": "3", "log.retention.hours": "1",
                         "auto.create.topics.enable": "false", "node.id": "7", "message.max.bytes": "2000"}
    assert cfg.get_int("num.partitions") == 3
    assert cfg.get_bool("auto.create.topics.enable") is False
    assert cfg.get("log.segment.bytes") == "1073741824"  # default
    assert cfg.node_id == 7 and cfg.port == 9999
    assert cfg.source("log.retention.hours") == "STATIC_BROKER_CONFIG"
    assert cfg.source("log.segment.bytes") == "DEFAULT_CONFIG"
    assert effective_topic_configs(cfg, {})["retention.ms"] == ("3600000", STATIC_BROKER_CONFIG)


def test_broker_config_load_rejects_bad_values(tmp_path: Path):
    with pytest.raises(ConfigError, match="Invalid value 0 for configuration num.partitions: Value must be "
                                          "at least 1"):
        BrokerConfig.load(overrides=["num.partitions=0"])
    with pytest.raises(ConfigError, match="log.cleanup.policy"):
        BrokerConfig.load(overrides=["log.cleanup.policy=shred"])
    with pytest.raises(ConfigError, match="key=value"):
        BrokerConfig.load(overrides=["num.partitions"])


# --- DescribeConfigs: topics -----------------------------------------------------------------------

def test_default_topic():
    resp = describe(make_broker(topics={"t": {}}), [(TOPIC, "t", None)])
    (result,) = resp.results
    assert (result.error_code, result.error_message, result.resource_type, result.resource_name) == \
        (0, None, TOPIC, "t")
    assert [c.name for c in result.configs] == sorted(TOPIC_CONFIGS)
    configs = by_name(result)
    seg = configs["segment.bytes"]
    assert (seg.value, seg.config_source, seg.read_only, seg.is_sensitive, seg.config_type) == \
        ("1073741824", DEFAULT_CONFIG, False, False, 3)
    assert synonyms_of(seg) == [("log.segment.bytes", "1073741824", DEFAULT_CONFIG)]
    assert synonyms_of(configs["retention.ms"]) == [("log.retention.hours", "168", DEFAULT_CONFIG)]
    assert configs["retention.ms"].value == "604800000"
    assert configs["retention.ms"].config_type == 5
    assert configs["message.timestamp.after.max.ms"].value == "3600000"
    assert (configs["cleanup.policy"].value, configs["cleanup.policy"].config_type) == ("delete", 7)
    assert (configs["min.cleanable.dirty.ratio"].value, configs["min.cleanable.dirty.ratio"].config_type) == \
        ("0.5", 6)
    assert (configs["preallocate"].value, configs["preallocate"].config_type) == ("false", 1)
    assert (configs["compression.type"].value, configs["compression.type"].config_type) == ("producer", 2)
    remote = configs["remote.storage.enable"]
    assert (remote.value, remote.config_source, synonyms_of(remote)) == ("false", DEFAULT_CONFIG, [])
    assert configs["leader.replication.throttled.replicas"].value == ""
    assert all(c.documentation is None for c in result.configs)


def test_topic_with_overrides():
    broker = make_broker(topics={"t": {"retention.ms": "1000", "cleanup.policy": "compact, delete"}})
    configs = by_name(describe(broker, [(TOPIC, "t", None)], docs=True).results[0])
    ret = configs["retention.ms"]
    assert (ret.value, ret.config_source) == ("1000", DYNAMIC_TOPIC_CONFIG)
    assert synonyms_of(ret) == [("retention.ms", "1000", DYNAMIC_TOPIC_CONFIG),
                                ("log.retention.hours", "168", DEFAULT_CONFIG)]
    assert (configs["cleanup.policy"].value, configs["cleanup.policy"].config_source) == \
        ("compact,delete", DYNAMIC_TOPIC_CONFIG)
    assert configs["segment.bytes"].config_source == DEFAULT_CONFIG
    assert configs["retention.ms"].documentation == TOPIC_CONFIGS["retention.ms"].doc


def test_broker_synonym_set_in_props():
    broker = make_broker(props={"log.retention.hours": "1", "log.retention.minutes": "30",
                                "log.segment.bytes": "2097152", "message.max.bytes": "5000"},
                         topics={"t": {"segment.bytes": "1048576"}})
    configs = by_name(describe(broker, [(TOPIC, "t", None)]).results[0])
    ret = configs["retention.ms"]  # minutes outrank hours
    assert (ret.value, ret.config_source) == ("1800000", STATIC_BROKER_CONFIG)
    assert synonyms_of(ret) == [("log.retention.minutes", "30", STATIC_BROKER_CONFIG),
                                ("log.retention.hours", "1", STATIC_BROKER_CONFIG),
                                ("log.retention.hours", "168", DEFAULT_CONFIG)]
    assert (configs["max.message.bytes"].value, configs["max.message.bytes"].config_source) == \
        ("5000", STATIC_BROKER_CONFIG)
    seg = configs["segment.bytes"]
    assert (seg.value, seg.config_source) == ("1048576", DYNAMIC_TOPIC_CONFIG)
    assert synonyms_of(seg) == [("segment.bytes", "1048576", DYNAMIC_TOPIC_CONFIG),
                                ("log.segment.bytes", "2097152", STATIC_BROKER_CONFIG),
                                ("log.segment.bytes", "1073741824", DEFAULT_CONFIG)]


def test_hours_synonym_alone():
    broker = make_broker(props={"log.retention.hours": "1"}, topics={"t": {}})
    ret = by_name(describe(broker, [(TOPIC, "t", ["retention.ms"])]).results[0])["retention.ms"]
    assert (ret.value, ret.config_source) == ("3600000", STATIC_BROKER_CONFIG)
    assert synonyms_of(ret) == [("log.retention.hours", "1", STATIC_BROKER_CONFIG),
                                ("log.retention.hours", "168", DEFAULT_CONFIG)]


def test_key_filter_and_no_synonyms():
    broker = make_broker(topics={"t": {}})
    result = describe(broker, [(TOPIC, "t", ["segment.ms", "retention.bytes", "no.such.key"])],
                      synonyms=False).results[0]
    assert [(c.name, c.value, c.config_source) for c in result.configs] == [
        ("retention.bytes", "-1", DEFAULT_CONFIG), ("segment.ms", "604800000", DEFAULT_CONFIG)]
    assert all(c.synonyms == [] for c in result.configs)
    # an empty key list means every key, as in Kafka
    assert len(describe(broker, [(TOPIC, "t", [])]).results[0].configs) == len(TOPIC_CONFIGS)


def test_unknown_and_illegal_topic():
    resp = describe(make_broker(), [(TOPIC, "missing", None), (TOPIC, "bad/name", None)])
    missing, bad = resp.results
    assert (missing.error_code, missing.error_message, missing.resource_name, missing.configs) == \
        (ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, "Topic 'missing' does not exist.", "missing", [])
    assert bad.error_code == ErrorCode.INVALID_TOPIC_EXCEPTION and bad.configs == []


# --- DescribeConfigs: brokers and other resources ---------------------------------------------------

def test_broker_resource():
    broker = make_broker(props={"num.partitions": "3", "log.retention.hours": "1"})
    result = describe(broker, [(BROKER, "1", None)], docs=True).results[0]
    assert result.error_code == 0
    assert [c.name for c in result.configs] == sorted(BROKER_CONFIGS)
    configs = by_name(result)
    parts = configs["num.partitions"]
    assert (parts.value, parts.config_source, parts.read_only, parts.config_type) == \
        ("3", STATIC_BROKER_CONFIG, True, 3)
    assert synonyms_of(parts) == [("num.partitions", "3", STATIC_BROKER_CONFIG),
                                  ("num.partitions", "1", DEFAULT_CONFIG)]
    hours = configs["log.retention.hours"]
    assert (hours.value, hours.config_source, hours.read_only) == ("1", STATIC_BROKER_CONFIG, False)
    # log.retention.ms itself is unset: Kafka drops the lower-priority synonyms listed before it
    ms = configs["log.retention.ms"]
    assert (ms.value, ms.config_source, synonyms_of(ms)) == (None, DEFAULT_CONFIG, [])
    seg = configs["log.segment.bytes"]
    assert (seg.value, seg.config_source, seg.read_only) == ("1073741824", DEFAULT_CONFIG, False)
    assert configs["offsets.topic.replication.factor"].config_type == 4
    assert configs["node.id"].value == "1"
    assert configs["num.partitions"].documentation == BROKER_CONFIGS["num.partitions"].doc


def test_broker_cluster_default_and_wrong_ids():
    resp = describe(make_broker(), [(BROKER, "", None), (BROKER, "2", None), (BROKER, "one", None)])
    default, other, bad = resp.results
    assert (default.error_code, default.configs) == (0, [])
    assert (other.error_code, other.error_message) == \
        (ErrorCode.INVALID_REQUEST, "Unexpected broker id, expected 1 or empty string, but received 2")
    assert (bad.error_code, bad.error_message) == \
        (ErrorCode.INVALID_REQUEST, "Broker id must be an integer, but it is: one")


def test_broker_logger_and_unknown_types():
    resp = describe(make_broker(), [(BROKER_LOGGER, "1", None), (99, "x", None)])
    logger, unknown = resp.results
    assert logger.error_code == ErrorCode.INVALID_REQUEST and "BROKER_LOGGER" in logger.error_message
    assert (unknown.error_code, unknown.error_message) == \
        (ErrorCode.INVALID_REQUEST, "Unsupported resource type: 99")
    assert (logger.resource_type, logger.resource_name, logger.configs) == (BROKER_LOGGER, "1", [])


@pytest.mark.parametrize("version", [1, 2, 3, 4])
def test_every_version_encodes(version: int):
    broker = make_broker(props={"log.retention.hours": "1"}, topics={"t": {"retention.ms": "5"}})
    resp = describe(broker, [(TOPIC, "t", None), (BROKER, "1", None), (TOPIC, "nope", None)],
                    version=version, docs=True)
    assert [r.error_code for r in resp.results] == [0, 0, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION]
    decoded = DescribeConfigsResponse[version].decode(messages.encode_response(32, version, resp))
    ret = by_name(decoded.results[0])["retention.ms"]
    assert (ret.value, ret.config_source, synonyms_of(ret)) == ("5", DYNAMIC_TOPIC_CONFIG, [
        ("retention.ms", "5", DYNAMIC_TOPIC_CONFIG), ("log.retention.hours", "1", STATIC_BROKER_CONFIG),
        ("log.retention.hours", "168", DEFAULT_CONFIG)])
    if version >= 3:  # config_type and documentation exist from v3 (KIP-569)
        assert (ret.config_type, ret.documentation) == (5, TOPIC_CONFIGS["retention.ms"].doc)


def test_documentation_says_which_configs_are_not_used():
    broker = make_broker(topics={"t": {}})
    topic, node = describe(broker, [(TOPIC, "t", ["preallocate", "retention.ms", "segment.jitter.ms"]),
                                    (BROKER, "1", ["num.io.threads", "log.retention.hours"])],
                           version=4, docs=True).results
    docs = {c.name: c.documentation for c in [*topic.configs, *node.configs]}
    assert docs["preallocate"] == ("Preallocate segment files. Not used by this single-node broker: segment "
                                   "files grow as they are written; nothing is preallocated.")
    assert docs["num.io.threads"].startswith("Threads processing requests. Not used by this single-node "
                                             "broker: ")
    for in_effect in ("retention.ms", "segment.jitter.ms", "log.retention.hours"):
        assert "Not used" not in docs[in_effect], in_effect
    [topic] = describe(broker, [(TOPIC, "t", ["preallocate"])], version=4, docs=False).results
    assert topic.configs[0].documentation is None
