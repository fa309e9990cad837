"""DescribeConfigs (key 32), versions 1-4 (v0 was removed in Kafka 4.0, KIP-896).

TOPIC resources (type 2): every topic config with its effective value, resolved like Kafka's
``LogConfig.fromProps``: the topic's own override (DYNAMIC_TOPIC_CONFIG), else a broker synonym set
as a dynamic config of this node (DYNAMIC_BROKER_CONFIG), as a cluster-wide dynamic default
(DYNAMIC_DEFAULT_BROKER_CONFIG) or in the static config (STATIC_BROKER_CONFIG), ``*.hours``/
``*.minutes`` converted to ms, else the default (DEFAULT_CONFIG). Unknown topics answer
UNKNOWN_TOPIC_OR_PARTITION, illegal names INVALID_TOPIC_EXCEPTION. BROKER resources (type 4): the
name must be this node's id, answered with every broker config we define, its value and source taken
from the same layers (``read_only`` unless Kafka can change it dynamically); an empty name means the
cluster-wide dynamic defaults: only those that are set, each with just its
DYNAMIC_DEFAULT_BROKER_CONFIG synonyms (ConfigHelper). ``configuration_keys`` filters (null or
empty: all); ``include_synonyms`` adds the synonyms in Kafka's priority order (every layer's set
synonyms, highest layer first, then the defaults); v3+ carries the config type
(KIP-569) and, when ``include_documentation``, a short description — for a config that has no
effect here, "Not used by this single-node broker: <why>" (config_defs.NOT_USED). Configs are
sorted by name.
Not served: BROKER_LOGGER (8), CLIENT_METRICS (16), GROUP (32) and unknown types answer
INVALID_REQUEST for that resource. No config is sensitive (there are no passwords here).
"""

from __future__ import annotations

from typing import Any

from pykafka_broker.broker.config_audit import documentation
from pykafka_broker.broker.config_defs import BROKER_CONFIGS, TOPIC_CONFIGS, ConfigDef
from pykafka_broker.broker.dispatch import RequestContext, handler
from pykafka_broker.broker.topics import (
    SOURCE_DEFAULT,
    SOURCE_DYNAMIC_DEFAULT,
    BrokerLayers,
    broker_layers,
    resolve_topic_config,
    validate_topic_name,
)
from pykafka_broker.protocol import messages
from pykafka_broker.protocol.api_keys import ApiKey
from pykafka_broker.protocol.errors import ErrorCode, KafkaError

RESOURCE_TOPIC = 2
RESOURCE_BROKER = 4
_RESOURCE_NAMES = {8: "BROKER_LOGGER", 16: "CLIENT_METRICS", 32: "GROUP"}

# DynamicBrokerConfig.brokerConfigSynonyms: broker names that stand for one another, in priority order.
_BROKER_SYNONYM_GROUPS = [
    ("log.roll.ms", "log.roll.hours"),
    ("log.roll.jitter.ms", "log.roll.jitter.hours"),
    ("log.retention.ms", "log.retention.minutes", "log.retention.hours"),
]

Entry = tuple[str, str | None, int, bool, list[tuple[str, str | None, int]], ConfigDef]


@handler(ApiKey.DESCRIBE_CONFIGS, 1, 4)
def handle_describe_configs(ctx: RequestContext, req: Any) -> Any:
    cls = messages.response_type(ApiKey.DESCRIBE_CONFIGS)
    results = []
    for res in req.resources:
        try:
            entries = _describe(ctx, res)
        except KafkaError as exc:
            results.append(cls.DescribeConfigsResult(
                error_code=int(exc.code), error_message=exc.message, resource_type=res.resource_type,
                resource_name=res.resource_name, configs=[]))
            continue
        keys = set(res.configuration_keys) if res.configuration_keys else None
        entries.sort(key=lambda entry: entry[0])
        configs = [_config(cls, ctx.api_version, req, entry) for entry in entries
                   if keys is None or entry[0] in keys]
        results.append(cls.DescribeConfigsResult(
            error_code=0, error_message=None, resource_type=res.resource_type,
            resource_name=res.resource_name, configs=configs))
    return messages.new_response(ApiKey.DESCRIBE_CONFIGS, ctx.api_version, throttle_time_ms=0,
                                 results=results)


def _describe(ctx: RequestContext, res: Any) -> list[Entry]:
    if res.resource_type == RESOURCE_TOPIC:
        return _topic_entries(ctx, res.resource_name)
    if res.resource_type == RESOURCE_BROKER:
        return _broker_entries(ctx, res.resource_name)
    kind = _RESOURCE_NAMES.get(res.resource_type)
    if kind is None:
        raise KafkaError(ErrorCode.INVALID_REQUEST, f"Unsupported resource type: {res.resource_type}")
    raise KafkaError(ErrorCode.INVALID_REQUEST,
                     f"Describing {kind} configs is not supported by pykafka-broker")


def _topic_entries(ctx: RequestContext, name: str) -> list[Entry]:
    validate_topic_name(name)
    info = ctx.broker.logs.topics.get(name)
    if info is None:
        raise KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"Topic '{name}' does not exist.")
    layers = broker_layers(ctx.broker.config)
    out: list[Entry] = []
    for config_name, cd in TOPIC_CONFIGS.items():
        r = resolve_topic_config(config_name, layers, info.configs)
        out.append((config_name, r.value, r.source, False, list(r.synonyms), cd))
    return out


def _broker_entries(ctx: RequestContext, name: str) -> list[Entry]:
    config = ctx.broker.config
    layers = broker_layers(config)
    out: list[Entry] = []
    if not name:  # the cluster-wide dynamic defaults that are set, nothing else
        for config_name, value in config.dynamic_default.items():
            cd = BROKER_CONFIGS.get(config_name)
            if cd is not None:
                synonyms = [s for s in _broker_synonyms(config_name, layers)
                            if s[2] == SOURCE_DYNAMIC_DEFAULT]
                out.append((config_name, value, SOURCE_DYNAMIC_DEFAULT, cd.read_only, synonyms, cd))
        return out
    node_id = ctx.broker.node_id
    try:
        requested = int(name)
    except ValueError:
        raise KafkaError(ErrorCode.INVALID_REQUEST,
                         f"Broker id must be an integer, but it is: {name}") from None
    if requested != node_id:
        raise KafkaError(ErrorCode.INVALID_REQUEST,
                         f"Unexpected broker id, expected {node_id} or empty string, but received {name}")
    for config_name, cd in BROKER_CONFIGS.items():
        synonyms = _broker_synonyms(config_name, layers)
        value = config.get(config_name)
        if config_name in ("node.id", "broker.id") and config.source(config_name) == "DEFAULT_CONFIG":
            value = str(node_id)
        source = synonyms[0][2] if synonyms else SOURCE_DEFAULT
        out.append((config_name, value, source, cd.read_only, synonyms, cd))
    return out


def _broker_synonyms(name: str, layers: BrokerLayers) -> list[tuple[str, str | None, int]]:
    """Kafka's ConfigHelper.configSynonyms for one broker config: the synonym group's values set in
    each layer (per-broker dynamic, cluster-default dynamic, static), then their defaults, dropping
    those before the first entry for ``name`` itself."""
    group = next((g for g in _BROKER_SYNONYM_GROUPS if name in g), (name,))
    if name == "log.flush.interval.ms":
        group = ("log.flush.interval.ms", "log.flush.scheduler.interval.ms")
    found: list[tuple[str, str | None, int]] = [
        (s, values[s], source) for values, source in layers for s in group if s in values]
    found += [(s, d, SOURCE_DEFAULT) for s in group if (d := BROKER_CONFIGS[s].default) is not None]
    while found and found[0][0] != name:
        found.pop(0)
    return found


def _config(cls: Any, version: int, req: Any, entry: Entry) -> Any:
    name, value, source, read_only, synonyms, cd = entry
    nested = cls.DescribeConfigsResult.DescribeConfigsResourceResult
    return nested(
        name=name, value=value, read_only=read_only, config_source=source, is_sensitive=False,
        synonyms=[nested.DescribeConfigsSynonym(name=n, value=v, source=s) for n, v, s in synonyms]
        if req.include_synonyms else [],
        config_type=cd.type_code,
        documentation=documentation(cd) if version >= 3 and req.include_documentation else None)
