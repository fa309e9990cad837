"""IncrementalAlterConfigs (key 44), versions 0-1, and AlterConfigs (key 33), versions 0-2.

Topic resources (type 2): the topic's overrides are changed — IncrementalAlterConfigs applies SET,
DELETE (back to the default), APPEND and SUBTRACT (LIST configs only, e.g. cleanup.policy) per
config; the legacy AlterConfigs replaces the whole override set. Every resulting value is validated
as at creation (unknown name or bad value → INVALID_CONFIG with Kafka's message) before anything
changes; then the overrides are persisted and applied to the open logs at once. ``validate_only``
checks and changes nothing. Errors are per resource: UNKNOWN_TOPIC_OR_PARTITION for an unknown topic.
Broker resources (type 4, KIP-226): name "1" (this node) or "" (the cluster-wide default) changes
that scope's dynamic broker configs, with the same operations; only configs Kafka can update
dynamically are accepted (else INVALID_REQUEST "Cannot update these configs dynamically: Set(...)",
as Kafka's ConfigAdminManager answers; bad values likewise INVALID_REQUEST, unknown names
INVALID_CONFIG, another broker id INVALID_REQUEST). They are persisted in the data dir and applied
at once, including to the defaults of topics without their own override (broker/dynamic_configs.py).
Shared checks, as Kafka's preprocess: duplicate config keys and null values (but for DELETE) are
INVALID_REQUEST. Other resource types (BROKER_LOGGER, ...) answer INVALID_REQUEST.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pykafka_broker.broker import dynamic_configs
from pykafka_broker.broker.config_defs import BROKER_CONFIGS, TOPIC_CONFIGS, ConfigDef
from pykafka_broker.broker.dispatch import RequestContext, handler
from pykafka_broker.broker.topics import validate_topic_configs
from pykafka_broker.protocol import messages
from pykafka_broker.protocol.api_keys import ApiKey
from pykafka_broker.protocol.errors import ErrorCode, KafkaError

TOPIC, BROKER = 2, 4
SET, DELETE, APPEND, SUBTRACT = 0, 1, 2, 3


@handler(ApiKey.INCREMENTAL_ALTER_CONFIGS, 0, 1)
def handle_incremental_alter_configs(ctx: RequestContext, req: Any) -> Any:
    return _respond(ctx, ApiKey.INCREMENTAL_ALTER_CONFIGS, req, incremental=True)


@handler(ApiKey.ALTER_CONFIGS, 0, 2)
def handle_alter_configs(ctx: RequestContext, req: Any) -> Any:
    return _respond(ctx, ApiKey.ALTER_CONFIGS, req, incremental=False)


def _respond(ctx: RequestContext, api_key: ApiKey, req: Any, *, incremental: bool) -> Any:
    cls = messages.response_type(api_key)
    results = []
    for res in req.resources:
        code, message = ErrorCode.NONE, None
        try:
            _alter(ctx, res, incremental, bool(req.validate_only))
        except KafkaError as exc:
            code, message = exc.code, exc.message
        results.append(cls.AlterConfigsResourceResponse(
            error_code=int(code), error_message=message, resource_type=res.resource_type,
            resource_name=res.resource_name))
    return messages.new_response(api_key, ctx.api_version, throttle_time_ms=0, responses=results)


def _alter(ctx: RequestContext, res: Any, incremental: bool, validate_only: bool) -> None:
    # ConfigAdminManager.preprocess: checks every resource type shares.
    names = [c.name for c in res.configs]
    if len(set(names)) != len(names):
        raise KafkaError(ErrorCode.INVALID_REQUEST, "Error due to duplicate config keys")
    nulls = [c.name for c in res.configs
             if c.value is None and (not incremental or c.config_operation != DELETE)]
    if nulls:
        raise KafkaError(ErrorCode.INVALID_REQUEST, "Null value not supported for : " + ", ".join(nulls))
    if res.resource_type == BROKER:
        _alter_broker(ctx, res, incremental, validate_only)
    elif res.resource_type == TOPIC:
        _alter_topic(ctx, res, incremental, validate_only)
    else:
        raise KafkaError(ErrorCode.INVALID_REQUEST, f"Unsupported resource type {res.resource_type}")


def _alter_topic(ctx: RequestContext, res: Any, incremental: bool, validate_only: bool) -> None:
    logs = ctx.broker.logs
    info = logs.topics.get(res.resource_name)
    if info is None:
        raise KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                         f"Topic '{res.resource_name}' does not exist.")
    for c in res.configs:
        if c.name not in TOPIC_CONFIGS:
            raise KafkaError(ErrorCode.INVALID_CONFIG, f"Unknown topic config name: {c.name}")
    overrides = _apply_ops(dict(info.configs), res.configs, TOPIC_CONFIGS, incremental,
                           ErrorCode.INVALID_CONFIG)
    validate_topic_configs(overrides)
    if not validate_only:
        logs.alter_topic_configs(info.name, overrides)


def _alter_broker(ctx: RequestContext, res: Any, incremental: bool, validate_only: bool) -> None:
    config = ctx.broker.config
    per_broker = dynamic_configs.is_per_broker(config, res.resource_name)
    dynamic_configs.check_names([c.name for c in res.configs])
    values = _apply_ops(dynamic_configs.current(config, per_broker), res.configs, BROKER_CONFIGS,
                        incremental, ErrorCode.INVALID_REQUEST)
    values = dynamic_configs.validate_dynamic_configs(values)
    if not validate_only:
        dynamic_configs.apply_dynamic_configs(ctx.broker, per_broker, values)


def _apply_ops(current: dict[str, str], configs: Any, defs: Mapping[str, ConfigDef], incremental: bool,
               list_error: ErrorCode) -> dict[str, str]:
    """The new value set: the legacy AlterConfigs replaces it; IncrementalAlterConfigs applies SET,
    DELETE, APPEND and SUBTRACT (LIST configs only, starting from the current value or the default)."""
    values = current if incremental else {}
    for c in configs:
        op = c.config_operation if incremental else SET
        if op == SET:
            values[c.name] = c.value
        elif op == DELETE:
            values.pop(c.name, None)
        elif op in (APPEND, SUBTRACT):
            cd = defs[c.name]
            if cd.type != "LIST":
                verb = "append" if op == APPEND else "subtract"
                raise KafkaError(list_error, f"Config value {verb} is not allowed for config key: {c.name}")
            items = [v.strip() for v in values.get(c.name, cd.default or "").split(",") if v.strip()]
            given = [v.strip() for v in (c.value or "").split(",") if v.strip()]
            if op == APPEND:
                items += [v for v in given if v not in items]
            else:
                items = [v for v in items if v not in given]
            values[c.name] = ",".join(items)
        else:
            raise KafkaError(ErrorCode.INVALID_REQUEST, f"Unknown config operation {op}")
    return values
