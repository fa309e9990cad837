"""IncrementalAlterConfigs (key 44), versions 0-1, and AlterConfigs (key 33), versions 0-2.

Topic resources (type 2): the topic's overrides are changed — IncrementalAlterConfigs applies SET,
DELETE (back to the default), APPEND and SUBTRACT (LIST configs only, e.g. cleanup.policy) per
config; the legacy AlterConfigs replaces the whole override set. Every resulting value is validated
as at creation (unknown name or bad value → INVALID_CONFIG with Kafka's message) before anything
changes; then the overrides are persisted and applied to the open logs at once. ``validate_only``
checks and changes nothing. Errors are per resource: UNKNOWN_TOPIC_OR_PARTITION for an unknown topic.
Not served yet: dynamic broker configs (resource type 4) — answered INVALID_REQUEST with a message
rather than pretending to apply them; other resource types likewise.
"""

from __future__ import annotations

from typing import Any

from pykafka_broker.broker.config_defs import TOPIC_CONFIGS
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
    logs = ctx.broker.logs
    if res.resource_type == BROKER:
        raise KafkaError(ErrorCode.INVALID_REQUEST, "Dynamic broker configs are not supported yet; set "
                         "broker properties with --config/--override at start")
    if res.resource_type != TOPIC:
        raise KafkaError(ErrorCode.INVALID_REQUEST, f"Unsupported resource type {res.resource_type}")
    info = logs.topics.get(res.resource_name)
    if info is None:
        raise KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                         f"Topic '{res.resource_name}' does not exist.")
    overrides = dict(info.configs) if incremental else {}
    for c in res.configs:
        if c.name not in TOPIC_CONFIGS:
            raise KafkaError(ErrorCode.INVALID_CONFIG, f"Unknown topic config name: {c.name}")
        op = c.config_operation if incremental else SET
        if op == SET:
            if c.value is None:
                raise KafkaError(ErrorCode.INVALID_REQUEST, f"Null value not supported for : {c.name}")
            overrides[c.name] = c.value
        elif op == DELETE:
            overrides.pop(c.name, None)
        elif op in (APPEND, SUBTRACT):
            cd = TOPIC_CONFIGS[c.name]
            if cd.type != "LIST":
                verb = "append" if op == APPEND else "subtract"
                raise KafkaError(ErrorCode.INVALID_CONFIG,
                                 f"Config value {verb} is not allowed for config key: {c.name}")
            current = overrides.get(c.name, cd.default or "")
            items = [v.strip() for v in current.split(",") if v.strip()]
            given = [v.strip() for v in (c.value or "").split(",") if v.strip()]
            if op == APPEND:
                items += [v for v in given if v not in items]
            else:
                items = [v for v in items if v not in given]
            overrides[c.name] = ",".join(items)
        else:
            raise KafkaError(ErrorCode.INVALID_REQUEST, f"Unknown config operation {op}")
    validate_topic_configs(overrides)
    if not validate_only:
        logs.alter_topic_configs(info.name, overrides)
