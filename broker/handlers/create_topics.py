"""CreateTopics (key 19), versions 2-7.

Creates each topic with its configs (validated: unknown names and bad values are INVALID_CONFIG),
``num_partitions``/``replication_factor`` -1 meaning the broker defaults. A replication factor
above 1 cannot be met on a single node: INVALID_REPLICATION_FACTOR with a message saying so.
``validate_only`` checks everything and creates nothing. v5+ answers the resulting configs, v7+
the topic id. Ignored: ``timeout_ms`` (the answer comes when the topics exist), explicit
assignments beyond checking that they name only this broker.

Bounds (ReplicationControlManager.validateTotalNumberOfPartitions): when the topics of one request
add up to more than 10,000 partitions (``num_partitions``, the default for -1, or the number of
assignments), every topic but the duplicates answers POLICY_VIOLATION "Excessively large number of
partitions per request." and nothing is created, validate-only or not. Each topic is created
atomically with its directory work off the event loop (broker/topic_creation.py).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from pykafka_broker.broker import topic_creation
from pykafka_broker.broker.dispatch import RequestContext, handler
from pykafka_broker.broker.topics import (
    effective_topic_configs,
    validate_topic_configs,
    validate_topic_name,
)
from pykafka_broker.protocol import messages
from pykafka_broker.protocol.api_keys import ApiKey
from pykafka_broker.protocol.errors import ErrorCode, KafkaError


@handler(ApiKey.CREATE_TOPICS, 2, 7)
def handle_create_topics(ctx: RequestContext, req: Any) -> Any:
    cls = messages.response_type(ApiKey.CREATE_TOPICS)
    counts = Counter(t.name for t in req.topics)
    default_partitions = ctx.broker.config.get_int("num.partitions")
    results: list[Any] = []
    todo: list[tuple[int, Any]] = []  # (index in results, validated plan)
    try:
        topic_creation.check_total(
            len(t.assignments) if t.assignments else default_partitions if t.num_partitions == -1
            else t.num_partitions for t in req.topics if counts[t.name] == 1)
        too_many: KafkaError | None = None
    except KafkaError as exc:
        too_many = exc
    for t in req.topics:
        if counts[t.name] > 1:
            results.append(_result(cls, t.name, ErrorCode.INVALID_REQUEST,
                                   f"Create topics request from client `{ctx.header.client_id}` contains "
                                   f"multiple entries for the following topics: {t.name}"))
            continue
        if too_many is not None:
            results.append(_result(cls, t.name, too_many.code, too_many.message))
            continue
        try:
            plan = _validate(ctx, t)
        except KafkaError as exc:
            results.append(_result(cls, t.name, exc.code, exc.message))
            continue
        results.append(None)
        todo.append((len(results) - 1, plan))
    if req.validate_only or not todo:
        for i, plan in todo:
            results[i] = _success(ctx, cls, plan, None)
        return _response(ctx, results)
    return asyncio.ensure_future(_create_all(ctx, cls, results, todo))


async def _create_all(ctx: RequestContext, cls: Any, results: list[Any], todo: list[tuple[int, Any]]) -> Any:
    logs = ctx.broker.logs
    async with topic_creation.admin_lock(logs):
        made = await topic_creation.create_topics(logs, [(name, partitions, configs)
                                                         for _, (name, partitions, _rf, configs) in todo])
    for (i, plan), outcome in zip(todo, made, strict=True):
        if isinstance(outcome, KafkaError):
            results[i] = _result(cls, plan[0], outcome.code, outcome.message)
        else:
            results[i] = _success(ctx, cls, plan, outcome.topic_id)
    return _response(ctx, results)


def _response(ctx: RequestContext, results: list[Any]) -> Any:
    return messages.new_response(ApiKey.CREATE_TOPICS, ctx.api_version, throttle_time_ms=0, topics=results)


def _result(cls: Any, name: str, code: ErrorCode, message: str | None) -> Any:
    return cls.CreatableTopicResult(name=name, error_code=int(code), error_message=message,
                                    num_partitions=-1, replication_factor=-1, configs=None)


def _validate(ctx: RequestContext, t: Any) -> tuple[str, int, int, dict[str, str]]:
    """(name, partitions, replication factor, configs) of a topic that may be created."""
    broker = ctx.broker
    validate_topic_name(t.name)
    if t.name in broker.logs.topics:
        raise KafkaError(ErrorCode.TOPIC_ALREADY_EXISTS, f"Topic '{t.name}' already exists.")
    partitions = t.num_partitions
    rf = t.replication_factor
    if t.assignments:
        if partitions != -1 or rf != -1:
            raise KafkaError(ErrorCode.INVALID_REQUEST, "Both numPartitions or replicationFactor and "
                             "replicasAssignments were set. Both cannot be used at the same time.")
        for a in t.assignments:
            if any(b != broker.node_id for b in a.broker_ids) or len(a.broker_ids) != 1:
                raise KafkaError(ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                                 f"Replica assignment {list(a.broker_ids)} for partition {a.partition_index} "
                                 f"names brokers other than the only one, {broker.node_id}")
        indexes = sorted(a.partition_index for a in t.assignments)
        if indexes != list(range(len(indexes))):
            raise KafkaError(ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                             "Partitions should be a consecutive 0-based integer sequence")
        partitions, rf = len(indexes), 1
    if partitions == -1:
        partitions = broker.config.get_int("num.partitions")
    if rf == -1:
        rf = broker.config.get_int("default.replication.factor")
    if partitions <= 0:
        raise KafkaError(ErrorCode.INVALID_PARTITIONS,
                         "Number of partitions was set to an invalid non-positive value.")
    if rf <= 0:
        raise KafkaError(ErrorCode.INVALID_REPLICATION_FACTOR,
                         "Replication factor must be larger than 0, or -1 to use the default value.")
    if rf > 1:
        raise KafkaError(ErrorCode.INVALID_REPLICATION_FACTOR,
                         f"Unable to replicate the partition {rf} time(s): The target replication factor "
                         f"of {rf} cannot be reached because only 1 broker(s) are registered "
                         "(pykafka-broker is a single node).")
    configs = {c.name: c.value for c in t.configs if c.value is not None}
    validate_topic_configs(configs)
    return t.name, partitions, rf, configs


def _success(ctx: RequestContext, cls: Any, plan: tuple[str, int, int, dict[str, str]], topic_id: Any) -> Any:
    name, partitions, rf, configs = plan
    return cls.CreatableTopicResult(
        name=name, topic_id=topic_id, error_code=0, error_message=None, num_partitions=partitions,
        replication_factor=rf, configs=[
            cls.CreatableTopicResult.CreatableTopicConfigs(
                name=cname, value=value, read_only=False, config_source=source, is_sensitive=False)
            for cname, (value, source) in sorted(effective_topic_configs(ctx.broker.config, configs).items())
        ])
