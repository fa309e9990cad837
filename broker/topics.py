"""Topic creation rules shared by CreateTopics and Metadata auto-creation (Kafka's Topic.validate)."""

from __future__ import annotations

import re
from typing import Any

from pykafka_broker.broker.config_defs import TOPIC_CONFIGS, ConfigError, validate_value
from pykafka_broker.protocol.errors import ErrorCode, KafkaError

MAX_NAME_LENGTH = 249
_LEGAL = re.compile(r"^[a-zA-Z0-9._-]+$")
INTERNAL_TOPICS = frozenset({"__consumer_offsets", "__transaction_state"})


def validate_topic_name(name: str | None) -> None:
    if not name:
        raise KafkaError(ErrorCode.INVALID_TOPIC_EXCEPTION, "Topic name is illegal, it can't be empty")
    if name in (".", ".."):
        raise KafkaError(ErrorCode.INVALID_TOPIC_EXCEPTION, "Topic name cannot be \".\" or \"..\"")
    if len(name) > MAX_NAME_LENGTH:
        raise KafkaError(ErrorCode.INVALID_TOPIC_EXCEPTION,
                         f"Topic name is illegal, it can't be longer than {MAX_NAME_LENGTH} characters, "
                         f"topic name: {name}")
    if not _LEGAL.match(name):
        raise KafkaError(ErrorCode.INVALID_TOPIC_EXCEPTION,
                         f"Topic name \"{name}\" is illegal, it contains a character other than ASCII "
                         "alphanumerics, '.', '_' and '-'")


def validate_topic_configs(configs: dict[str, str]) -> None:
    for name, value in configs.items():
        if name not in TOPIC_CONFIGS:
            raise KafkaError(ErrorCode.INVALID_CONFIG, f"Unknown topic config name: {name}")
        try:
            validate_value(name, value)
        except ConfigError as exc:
            raise KafkaError(ErrorCode.INVALID_CONFIG, str(exc)) from None
    ts_type = configs.get("message.timestamp.type")
    if ts_type is not None and ts_type not in ("CreateTime", "LogAppendTime"):
        raise KafkaError(ErrorCode.INVALID_CONFIG,
                         f"Invalid value {ts_type} for configuration message.timestamp.type: String must "
                         "be one of: CreateTime, LogAppendTime")


# Broker properties a topic config falls back to, in Kafka's synonym order, with a unit multiplier.
_FALLBACKS: dict[str, list[tuple[str, int]]] = {
    "retention.ms": [("log.retention.ms", 1), ("log.retention.minutes", 60_000),
                     ("log.retention.hours", 3_600_000)],
    "segment.ms": [("log.roll.ms", 1), ("log.roll.hours", 3_600_000)],
    "flush.ms": [("log.flush.interval.ms", 1), ("log.flush.scheduler.interval.ms", 1)],
}

SOURCE_TOPIC = 1  # DescribeConfigs ConfigSource: DYNAMIC_TOPIC_CONFIG
SOURCE_STATIC_BROKER = 4
SOURCE_DEFAULT = 5


def effective_topic_configs(broker_config: Any, overrides: dict[str, str]) -> dict[str, tuple[str, int]]:
    """Every topic config's value and source: the topic override, else the broker synonym, else the
    default (Kafka's resolution order for DescribeConfigs)."""
    out: dict[str, tuple[str, int]] = {}
    for name, cd in TOPIC_CONFIGS.items():
        if name in overrides:
            out[name] = (overrides[name], SOURCE_TOPIC)
            continue
        synonyms = _FALLBACKS.get(name) or ([(cd.synonym, 1)] if cd.synonym else [])
        for broker_name, unit in synonyms:
            if broker_name in broker_config.props:
                out[name] = (str(int(broker_config.props[broker_name]) * unit) if unit != 1
                             else broker_config.props[broker_name], SOURCE_STATIC_BROKER)
                break
        else:
            out[name] = (cd.default or "", SOURCE_DEFAULT)
    return out


def log_properties(broker_config: Any, overrides: dict[str, str]) -> dict[str, str]:
    """Topic-level property map the storage layer's LogConfig is built from."""
    return {name: value for name, (value, _src) in effective_topic_configs(broker_config, overrides).items()}
