"""CreatePartitions (key 37), versions 0-3.

Grows a topic to ``count`` partitions; new partitions start empty and are led by this node.
Shrinking or keeping the count is INVALID_PARTITIONS with Kafka's messages; explicit assignments
must name only this broker, one replica each (INVALID_REPLICA_ASSIGNMENT otherwise); a topic named
twice is INVALID_REQUEST. ``validate_only`` checks and changes nothing. Ignored: ``timeout_ms``.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from pykafka_broker.broker.dispatch import RequestContext, handler
from pykafka_broker.protocol import messages
from pykafka_broker.protocol.api_keys import ApiKey
from pykafka_broker.protocol.errors import ErrorCode, KafkaError


@handler(ApiKey.CREATE_PARTITIONS, 0, 3)
def handle_create_partitions(ctx: RequestContext, req: Any) -> Any:
    cls = messages.response_type(ApiKey.CREATE_PARTITIONS)
    counts = Counter(t.name for t in req.topics)
    results = []
    for t in req.topics:
        code, message = ErrorCode.NONE, None
        try:
            if counts[t.name] > 1:
                raise KafkaError(ErrorCode.INVALID_REQUEST, "Duplicate topic in request.")
            _grow(ctx, t, bool(req.validate_only))
        except KafkaError as exc:
            code, message = exc.code, exc.message
        results.append(cls.CreatePartitionsTopicResult(name=t.name, error_code=int(code),
                                                       error_message=message))
    return messages.new_response(ApiKey.CREATE_PARTITIONS, ctx.api_version, throttle_time_ms=0,
                                 results=results)


def _grow(ctx: RequestContext, t: Any, validate_only: bool) -> None:
    broker = ctx.broker
    info = broker.logs.topics.get(t.name)
    if info is None:
        raise KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"The topic '{t.name}' does not exist.")
    if t.count < info.partitions:
        raise KafkaError(ErrorCode.INVALID_PARTITIONS,
                         f"Topic currently has {info.partitions} partitions, which is higher than the "
                         f"requested {t.count}.")
    if t.count == info.partitions:
        raise KafkaError(ErrorCode.INVALID_PARTITIONS, f"Topic already has {info.partitions} partitions.")
    if t.assignments is not None:
        if len(t.assignments) != t.count - info.partitions:
            raise KafkaError(ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                             f"Increasing the number of partitions by {t.count - info.partitions} but "
                             f"{len(t.assignments)} assignments provided.")
        for a in t.assignments:
            if list(a.broker_ids) != [broker.node_id]:
                raise KafkaError(ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                                 f"Replica assignment {list(a.broker_ids)} names brokers other than the "
                                 f"only one, {broker.node_id}")
    if not validate_only:
        broker.logs.add_partitions(t.name, t.count)
