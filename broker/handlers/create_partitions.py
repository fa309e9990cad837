"""CreatePartitions (key 37), versions 0-3.

Grows a topic to ``count`` partitions; new partitions start empty and are led by this node.
Errors as Kafka's controller (ReplicationControlManager.createPartitions): an unknown topic is
UNKNOWN_TOPIC_OR_PARTITION, keeping or shrinking the count INVALID_PARTITIONS ("Topic already has N
partition(s)." / "The topic T currently has N partition(s); M would not be an increase."), a wrong
number of assignments or one naming another broker INVALID_REPLICA_ASSIGNMENT, a topic named twice
INVALID_REQUEST (ControllerApis). More than 10,000 new partitions in one request is POLICY_VIOLATION
for every topic, before anything is created (broker/topic_creation.py: bounded, atomic, the
directory work off the event loop). ``validate_only`` checks and changes nothing. Ignored:
``timeout_ms`` (the answer comes when the partitions exist).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from pykafka_broker.broker import topic_creation
from pykafka_broker.broker.dispatch import RequestContext, handler
from pykafka_broker.protocol import messages
from pykafka_broker.protocol.api_keys import ApiKey
from pykafka_broker.protocol.errors import ErrorCode, KafkaError


@handler(ApiKey.CREATE_PARTITIONS, 0, 3)
def handle_create_partitions(ctx: RequestContext, req: Any) -> Any:
    counts = Counter(t.name for t in req.topics)
    logs = ctx.broker.logs
    unique = [t for t in req.topics if counts[t.name] == 1]
    duplicate = (ErrorCode.INVALID_REQUEST, "Duplicate topic in request.")
    errors: dict[str, tuple[ErrorCode, str | None]] = {
        t.name: duplicate for t in req.topics if counts[t.name] > 1}
    try:
        topic_creation.check_total(
            t.count - logs.topics[t.name].partitions for t in unique if t.name in logs.topics)
    except KafkaError as exc:
        errors.update((t.name, (exc.code, exc.message)) for t in unique)
        return _response(ctx, req, errors)
    for t in unique:
        try:
            _validate(ctx, t)
        except KafkaError as exc:
            errors[t.name] = (exc.code, exc.message)
    todo = [t for t in unique if t.name not in errors]
    if req.validate_only or not todo:
        return _response(ctx, req, errors)
    return asyncio.ensure_future(_grow_all(ctx, req, todo, errors))


async def _grow_all(ctx: RequestContext, req: Any, todo: list[Any],
                    errors: dict[str, tuple[ErrorCode, str | None]]) -> Any:
    logs = ctx.broker.logs
    async with topic_creation.admin_lock(logs):
        for t in todo:
            try:
                _validate(ctx, t)  # again: an earlier request may have changed the topic meanwhile
                await topic_creation.add_partitions(logs, t.name, t.count)
            except KafkaError as exc:
                errors[t.name] = (exc.code, exc.message)
    return _response(ctx, req, errors)


def _response(ctx: RequestContext, req: Any, errors: dict[str, tuple[ErrorCode, str | None]]) -> Any:
    cls = messages.response_type(ApiKey.CREATE_PARTITIONS)
    results = []
    for t in req.topics:
        code, message = errors.get(t.name, (ErrorCode.NONE, None))
        results.append(cls.CreatePartitionsTopicResult(name=t.name, error_code=int(code),
                                                       error_message=message))
    return messages.new_response(ApiKey.CREATE_PARTITIONS, ctx.api_version, throttle_time_ms=0,
                                 results=results)


def _validate(ctx: RequestContext, t: Any) -> None:
    broker = ctx.broker
    info = broker.logs.topics.get(t.name)
    if info is None:
        raise KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, None)
    if t.count == info.partitions:
        raise KafkaError(ErrorCode.INVALID_PARTITIONS, f"Topic already has {info.partitions} partition(s).")
    if t.count < info.partitions:
        raise KafkaError(ErrorCode.INVALID_PARTITIONS,
                         f"The topic {t.name} currently has {info.partitions} partition(s); {t.count} "
                         "would not be an increase.")
    additional = t.count - info.partitions
    if t.assignments is not None:
        if len(t.assignments) != additional:
            raise KafkaError(ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                             f"Attempted to add {additional} additional partition(s), but only "
                             f"{len(t.assignments)} assignment(s) were specified.")
        for a in t.assignments:
            if list(a.broker_ids) != [broker.node_id]:
                raise KafkaError(ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                                 f"Replica assignment {list(a.broker_ids)} names brokers other than the "
                                 f"only one, {broker.node_id}")
