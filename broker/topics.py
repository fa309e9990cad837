"""Topic creation rules shared by CreateTopics and Metadata auto-creation (Kafka's Topic.validate)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pykafka_broker.broker.config_defs import (
    BROKER_CONFIGS,
    SYNONYM_TO_MS,
    TOPIC_CONFIGS,
    ConfigError,
    canonical_value,
    validate_value,
)
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
    """Kafka's LogConfig.validateNames + per-value checks + validateValues (INVALID_CONFIG)."""
    for name, value in configs.items():
        if name not in TOPIC_CONFIGS:
            raise KafkaError(ErrorCode.INVALID_CONFIG, f"Unknown topic config name: {name}")
        try:
            validate_value(name, value)
        except ConfigError as exc:
            raise KafkaError(ErrorCode.INVALID_CONFIG, str(exc)) from None
    if configs.get("remote.storage.enable", "false").strip().lower() == "true":
        # LogConfig.validateRemoteStorageOnlyIfSystemEnabled: no tiered storage system here.
        raise KafkaError(ErrorCode.INVALID_CONFIG, "Tiered Storage functionality is disabled in the broker. "
                         "Topic cannot be configured with remote log storage.")
    min_lag = int(configs.get("min.compaction.lag.ms", TOPIC_CONFIGS["min.compaction.lag.ms"].default or 0))
    max_lag = int(configs.get("max.compaction.lag.ms", TOPIC_CONFIGS["max.compaction.lag.ms"].default or 0))
    if min_lag > max_lag:
        raise KafkaError(ErrorCode.INVALID_CONFIG, f"conflict topic config setting min.compaction.lag.ms "
                         f"({min_lag}) > max.compaction.lag.ms ({max_lag})")


# DescribeConfigs ConfigSource codes (ConfigHelper / DescribeConfigsResponse.ConfigSource).
SOURCE_TOPIC = 1  # DYNAMIC_TOPIC_CONFIG
SOURCE_DYNAMIC_BROKER = 2  # DYNAMIC_BROKER_CONFIG: this node's own dynamic config
SOURCE_DYNAMIC_DEFAULT = 3  # DYNAMIC_DEFAULT_BROKER_CONFIG: the cluster-wide dynamic default
SOURCE_STATIC_BROKER = 4
SOURCE_DEFAULT = 5
SOURCE_CODES = {"DYNAMIC_BROKER_CONFIG": SOURCE_DYNAMIC_BROKER,
                "DYNAMIC_DEFAULT_BROKER_CONFIG": SOURCE_DYNAMIC_DEFAULT,
                "STATIC_BROKER_CONFIG": SOURCE_STATIC_BROKER}

# The broker's explicitly set values, highest precedence first, each with its source code.
BrokerLayers = Sequence[tuple[Mapping[str, str], int]]


def broker_layers(broker_config: Any) -> BrokerLayers:
    """Per-broker dynamic, cluster-default dynamic, then static values (Kafka's synonym order)."""
    return [(values, SOURCE_CODES[source]) for values, source in broker_config.layers()]


@dataclass(frozen=True, slots=True)
class ResolvedConfig:
    """A topic config's effective value, where it came from, and every candidate in priority order."""
    value: str
    source: int
    synonyms: tuple[tuple[str, str | None, int], ...]  # (name, value, source)


def resolve_topic_config(name: str, layers: BrokerLayers | Mapping[str, str],
                         overrides: Mapping[str, str]) -> ResolvedConfig:
    """Kafka's order (ConfigHelper.configSynonyms): the topic override, then the broker synonyms set
    in each layer (per-broker dynamic, cluster-default dynamic, static; all synonyms of one layer
    before the next), then the defaults of the broker synonyms. ``layers`` may be a plain mapping of
    static properties. The value is the first synonym set in any layer, the layers merged as Kafka
    merges them into its KafkaConfig; ``*.minutes``/``*.hours`` synonyms are converted to ms.

    Kafka itself drops synonyms listed before the first-priority broker name, so e.g. a static
    ``log.retention.hours`` shows as DEFAULT_CONFIG for ``retention.ms``; we report it as
    STATIC_BROKER_CONFIG, which says where the value really comes from.
    """
    if isinstance(layers, Mapping):
        layers = [(layers, SOURCE_STATIC_BROKER)]
    cd = TOPIC_CONFIGS[name]
    synonyms: list[tuple[str, str | None, int]] = []
    value: str | None = None
    if name in overrides:
        value = _canonical(name, overrides[name])
        synonyms.append((name, value, SOURCE_TOPIC))
    for values, source in layers:
        synonyms += [(b, values[b], source) for b in cd.synonyms if b in values]
    if value is None:
        for broker_name in cd.synonyms:
            raw = next((values[broker_name] for values, _src in layers if broker_name in values), None)
            if raw is not None:
                value = _from_broker(name, broker_name, raw)
                break
    for broker_name in cd.synonyms:
        default = BROKER_CONFIGS[broker_name].default
        if default is not None:
            synonyms.append((broker_name, default, SOURCE_DEFAULT))
    if value is None:
        value = cd.default or ""
    source = synonyms[0][2] if synonyms else SOURCE_DEFAULT
    return ResolvedConfig(value, source, tuple(synonyms))


def _canonical(name: str, raw: str) -> str:
    try:
        return canonical_value(name, raw)
    except ConfigError:  # stored before validation existed: show it as it was given
        return raw


def _from_broker(name: str, broker_name: str, raw: str) -> str:
    unit = SYNONYM_TO_MS.get(broker_name, 1)
    if unit == 1 or not raw.strip().lstrip("-").isdigit():
        return _canonical(name, raw)
    millis = int(raw) * unit
    if name == "retention.ms" and millis < 0:  # KafkaConfig.logRetentionTimeMillis: any negative is -1
        millis = -1
    return str(millis)


def effective_topic_configs(broker_config: Any, overrides: dict[str, str]) -> dict[str, tuple[str, int]]:
    """Every topic config's value and source: the topic override, else the broker synonym, else the
    default (Kafka's resolution order for DescribeConfigs)."""
    layers = broker_layers(broker_config)
    return {name: (r.value, r.source) for name in TOPIC_CONFIGS
            for r in [resolve_topic_config(name, layers, overrides)]}


def log_properties(broker_config: Any, overrides: dict[str, str]) -> dict[str, str]:
    """Topic-level property map the storage layer's LogConfig is built from."""
    return {name: value for name, (value, _src) in effective_topic_configs(broker_config, overrides).items()}
