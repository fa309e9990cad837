"""Dynamic broker configs (KIP-226) through the AlterConfigs / IncrementalAlterConfigs / DescribeConfigs
handlers, in process: scopes, precedence, persistence, live effect on open logs, refusals."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kafka.protocol.admin import AlterConfigsRequest, DescribeConfigsRequest, IncrementalAlterConfigsRequest

from pykafka_broker.broker.config import BrokerConfig
from pykafka_broker.broker.context import Broker
from pykafka_broker.broker.dispatch import RequestContext
from pykafka_broker.broker.dynamic_configs import DYNAMIC_CONFIGS_FILE
from pykafka_broker.broker.handlers.alter_configs import (
    handle_alter_configs,
    handle_incremental_alter_configs,
)
from pykafka_broker.broker.handlers.describe_configs import handle_describe_configs
from pykafka_broker.broker.log_lifecycle import LogLifecycle
from pykafka_broker.broker.server import open_broker
from pykafka_broker.protocol import messages
from pykafka_broker.protocol.errors import ErrorCode
from pykafka_broker.protocol.frame import RequestHeader

TOPIC, BROKER = 2, 4
SET, DELETE, APPEND, SUBTRACT = 0, 1, 2, 3
TOPIC_SRC, DYN_BROKER, DYN_DEFAULT, STATIC, DEFAULT = 1, 2, 3, 4, 5


@pytest.fixture
def opened(tmp_path: Path) -> Iterator[list[Broker]]:
    brokers: list[Broker] = []
    yield brokers
    for b in brokers:
        b.logs.close()


def start(opened: list[Broker], data_dir: Path, **props: str) -> Broker:
    broker = open_broker(BrokerConfig(data_dir=data_dir, props=dict(props)))
    opened.append(broker)
    return broker


def call(broker: Broker, api_key: int, version: int, request: Any, handler: Any) -> Any:
    """Encode a real kafka-python request, decode it as the broker does, run the handler, and prove the
    response encodes."""
    decoded = messages.decode_request(api_key, version, memoryview(request.encode()))
    ctx = RequestContext(broker, RequestHeader(api_key, version, 1, "test", 0), "peer")
    response = handler(ctx, decoded)
    assert isinstance(messages.encode_response(api_key, version, response), bytes)
    return response


def incremental(broker: Broker, name: str, *ops: tuple[str, str | None, int], validate_only: bool = False,
                resource_type: int = BROKER) -> tuple[int, str | None]:
    cls = IncrementalAlterConfigsRequest[1]
    res = cls.AlterConfigsResource(resource_type=resource_type, resource_name=name, configs=[
        cls.AlterConfigsResource.AlterableConfig(name=n, config_operation=op, value=v) for n, v, op in ops])
    resp = call(broker, 44, 1, cls(resources=[res], validate_only=validate_only),
                handle_incremental_alter_configs)
    (r,) = resp.responses
    return r.error_code, r.error_message


def legacy(broker: Broker, name: str, configs: dict[str, str]) -> tuple[int, str | None]:
    cls = AlterConfigsRequest[2]
    res = cls.AlterConfigsResource(resource_type=BROKER, resource_name=name, configs=[
        cls.AlterConfigsResource.AlterableConfig(name=n, value=v) for n, v in configs.items()])
    (r,) = call(broker, 33, 2, cls(resources=[res], validate_only=False), handle_alter_configs).responses
    return r.error_code, r.error_message


def describe(broker: Broker, resource_type: int, name: str, keys: list[str] | None = None) -> dict[str, Any]:
    cls = DescribeConfigsRequest[4]
    req = cls(resources=[cls.DescribeConfigsResource(resource_type=resource_type, resource_name=name,
                                                     configuration_keys=keys)],
              include_synonyms=True, include_documentation=False)
    (result,) = call(broker, 32, 4, req, handle_describe_configs).results
    assert result.error_code == 0, result.error_message
    return {c.name: c for c in result.configs}


def synonyms(entry: Any) -> list[tuple[str, str | None, int]]:
    return [(s.name, s.value, s.source) for s in entry.synonyms]


def test_per_broker_and_default_scopes_and_precedence(opened: list[Broker], tmp_path: Path) -> None:
    b = start(opened, tmp_path, **{"log.retention.hours": "48"})
    assert incremental(b, "", ("log.retention.ms", "7200000", SET), ("message.max.bytes", "2000000", SET)) \
        == (0, None)
    assert incremental(b, "1", ("log.retention.ms", "3600000", SET)) == (0, None)
    entry = describe(b, BROKER, "1", ["log.retention.ms"])["log.retention.ms"]
    assert (entry.value, entry.config_source, entry.read_only) == ("3600000", DYN_BROKER, False)
    assert synonyms(entry) == [("log.retention.ms", "3600000", DYN_BROKER),
                               ("log.retention.ms", "7200000", DYN_DEFAULT),
                               ("log.retention.hours", "48", STATIC), ("log.retention.hours", "168", DEFAULT)]
    default_scope = describe(b, BROKER, "")
    assert sorted(default_scope) == ["log.retention.ms", "message.max.bytes"]
    assert default_scope["message.max.bytes"].config_source == DYN_DEFAULT
    assert synonyms(default_scope["log.retention.ms"]) == [("log.retention.ms", "7200000", DYN_DEFAULT)]
    # Topic configs without an override report where the broker value came from.
    b.logs.create_topic("t", 1, {})
    b.logs.create_topic("own", 1, {"retention.ms": "1000"})
    t = describe(b, TOPIC, "t")
    assert (t["retention.ms"].value, t["retention.ms"].config_source) == ("3600000", DYN_BROKER)
    assert synonyms(t["retention.ms"])[:3] == [("log.retention.ms", "3600000", DYN_BROKER),
                                               ("log.retention.ms", "7200000", DYN_DEFAULT),
                                               ("log.retention.hours", "48", STATIC)]
    assert (t["max.message.bytes"].value, t["max.message.bytes"].config_source) == ("2000000", DYN_DEFAULT)
    own = describe(b, TOPIC, "own")["retention.ms"]
    assert (own.value, own.config_source) == ("1000", TOPIC_SRC)
    # Deleting the per-broker value falls back to the cluster default, then to the static one.
    assert incremental(b, "1", ("log.retention.ms", None, DELETE)) == (0, None)
    assert describe(b, TOPIC, "t")["retention.ms"].value == "7200000"
    assert incremental(b, "", ("log.retention.ms", None, DELETE)) == (0, None)
    t = describe(b, TOPIC, "t")["retention.ms"]
    assert (t.value, t.config_source) == (str(48 * 3_600_000), STATIC)
    lifecycle = LogLifecycle(b.config, b.logs)
    assert lifecycle.retention_config("t").retention_ms == 48 * 3_600_000


def test_live_effect_on_open_logs_and_persistence(opened: list[Broker], tmp_path: Path) -> None:
    b = start(opened, tmp_path)
    b.logs.create_topic("t", 2, {})
    b.logs.create_topic("own", 1, {"segment.bytes": "2097152"})
    assert incremental(b, "1", ("log.segment.bytes", "1048576", SET), ("message.max.bytes", "5000", SET),
                       ("log.cleanup.policy", "compact", APPEND)) == (0, None)
    for partition in (0, 1):
        config = b.logs.get_log("t", partition).config  # type: ignore[union-attr]
        assert (config.segment_bytes, config.max_message_bytes, config.compact) == (1048576, 5000, True)
    own = b.logs.get_log("own", 0).config  # type: ignore[union-attr]
    assert (own.segment_bytes, own.max_message_bytes) == (2097152, 5000)  # its override still wins
    assert incremental(b, "1", ("log.cleanup.policy", "compact", SUBTRACT)) == (0, None)
    assert b.logs.get_log("t", 0).config.compact is False  # type: ignore[union-attr]
    saved = json.loads((tmp_path / DYNAMIC_CONFIGS_FILE).read_text())
    assert saved["broker"] == {"log.segment.bytes": "1048576", "message.max.bytes": "5000",
                               "log.cleanup.policy": "delete"}
    assert saved["default"] == {}
    b.logs.close()
    opened.remove(b)
    again = start(opened, tmp_path)
    assert again.config.dynamic_broker["message.max.bytes"] == "5000"
    assert again.logs.get_log("t", 1).config.segment_bytes == 1048576  # type: ignore[union-attr]
    entry = describe(again, BROKER, "1", ["log.segment.bytes"])["log.segment.bytes"]
    assert (entry.value, entry.config_source) == ("1048576", DYN_BROKER)


def test_legacy_alter_configs_replaces_the_scope(opened: list[Broker], tmp_path: Path) -> None:
    b = start(opened, tmp_path)
    assert incremental(b, "", ("log.retention.ms", "60000", SET),
                       ("message.max.bytes", "5000", SET)) == (0, None)
    assert legacy(b, "", {"log.retention.bytes": "1000000"}) == (0, None)
    assert b.config.dynamic_default == {"log.retention.bytes": "1000000"}


def test_refusals_change_nothing(opened: list[Broker], tmp_path: Path) -> None:
    b = start(opened, tmp_path)
    assert incremental(b, "1", ("log.retention.check.interval.ms", "1000", SET)) == (
        ErrorCode.INVALID_REQUEST,
        "Cannot update these configs dynamically: Set(log.retention.check.interval.ms)")
    code, message = incremental(b, "1", ("log.segment.bytes", "100", SET))
    assert code == ErrorCode.INVALID_REQUEST
    assert message == "Invalid value 100 for configuration log.segment.bytes: Value must be at least 1048576"
    assert incremental(b, "1", ("no.such.config", "1", SET))[0] == ErrorCode.INVALID_CONFIG
    assert incremental(b, "1", ("message.max.bytes", "1", APPEND)) == (
        ErrorCode.INVALID_REQUEST, "Config value append is not allowed for config key: message.max.bytes")
    assert incremental(b, "2", ("message.max.bytes", "5000", SET)) == (
        ErrorCode.INVALID_REQUEST, "Unexpected broker id, expected 1, but received 2")
    assert incremental(b, "x", ("message.max.bytes", "5000", SET))[0] == ErrorCode.INVALID_REQUEST
    assert incremental(b, "1", ("message.max.bytes", "5000", SET), ("message.max.bytes", "6000", SET)) == (
        ErrorCode.INVALID_REQUEST, "Error due to duplicate config keys")
    assert incremental(b, "1", ("message.max.bytes", None, SET)) == (
        ErrorCode.INVALID_REQUEST, "Null value not supported for : message.max.bytes")
    assert legacy(b, "1", {"num.partitions": "3"})[0] == ErrorCode.INVALID_REQUEST
    # validate_only checks and changes nothing
    assert incremental(b, "1", ("message.max.bytes", "5000", SET), validate_only=True) == (0, None)
    code, _ = incremental(b, "1", ("log.segment.bytes", "1", SET), validate_only=True)
    assert code == ErrorCode.INVALID_REQUEST
    assert b.config.dynamic_broker == {} and b.config.dynamic_default == {}
    assert not (tmp_path / DYNAMIC_CONFIGS_FILE).exists()
    assert describe(b, BROKER, "") == {}


def test_invalid_persisted_entries_are_skipped(opened: list[Broker], tmp_path: Path) -> None:
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / DYNAMIC_CONFIGS_FILE).write_text(json.dumps({
        "version": 1, "broker": {"message.max.bytes": "5000", "num.partitions": "3"},
        "default": {"log.segment.bytes": "5"}}))
    b = start(opened, tmp_path)
    assert b.config.dynamic_broker == {"message.max.bytes": "5000"}
    assert b.config.dynamic_default == {}
