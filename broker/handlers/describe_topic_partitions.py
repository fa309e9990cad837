"""DescribeTopicPartitions (key 75), version 0 (KIP-966; Kafka 3.8+ admin clients prefer it to
Metadata for describeTopics).

Topics sorted by name (all topics when the request names none), each partition led by this node
with replicas and ISR [this node]; no eligible-leader-replica sets (ELR needs several replicas), so
those lists are empty. Pagination: at most ``response_partition_limit`` partitions (capped at 2000,
Kafka's ``max.request.partition.size.limit``) per response, starting at the request's cursor; when
more remain, ``next_cursor`` names the first partition not returned. A cursor topic that is not
among the requested ones is INVALID_REQUEST. Unknown topics come back with
UNKNOWN_TOPIC_OR_PARTITION. Ignored: authorized operations (INT32_MIN: not requested).
"""

from __future__ import annotations

import uuid
from typing import Any

from pykafka_broker.broker.dispatch import RequestContext, handler
from pykafka_broker.broker.topics import INTERNAL_TOPICS
from pykafka_broker.protocol import messages
from pykafka_broker.protocol.api_keys import ApiKey
from pykafka_broker.protocol.errors import ErrorCode

MAX_PARTITIONS = 2000
NOT_REQUESTED = -2147483648


@handler(ApiKey.DESCRIBE_TOPIC_PARTITIONS, 0, 0)
def handle_describe_topic_partitions(ctx: RequestContext, req: Any) -> Any:
    logs = ctx.broker.logs
    cls = messages.response_type(ApiKey.DESCRIBE_TOPIC_PARTITIONS)
    names = sorted({t.name for t in req.topics}) if req.topics else sorted(logs.topics)
    cursor = req.cursor
    if cursor is not None:
        if cursor.topic_name not in names:
            return messages.new_response(
                ApiKey.DESCRIBE_TOPIC_PARTITIONS, ctx.api_version, throttle_time_ms=0, next_cursor=None,
                topics=[cls.DescribeTopicPartitionsResponseTopic(
                    error_code=int(ErrorCode.INVALID_REQUEST), name=cursor.topic_name,
                    topic_id=uuid.UUID(int=0), is_internal=False, partitions=[],
                    topic_authorized_operations=NOT_REQUESTED)])
        names = names[names.index(cursor.topic_name):]
    limit = min(req.response_partition_limit if req.response_partition_limit > 0 else MAX_PARTITIONS,
                MAX_PARTITIONS)
    topics, budget, next_cursor = [], limit, None
    for name in names:
        info = logs.topics.get(name)
        if info is None:
            topics.append(cls.DescribeTopicPartitionsResponseTopic(
                error_code=int(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION), name=name, topic_id=uuid.UUID(int=0),
                is_internal=False, partitions=[], topic_authorized_operations=NOT_REQUESTED))
            continue
        first = cursor.partition_index if cursor is not None and name == cursor.topic_name else 0
        if budget <= 0:
            next_cursor = cls.Cursor(topic_name=name, partition_index=first)
            break
        last = min(info.partitions, first + budget)
        budget -= last - first
        topics.append(cls.DescribeTopicPartitionsResponseTopic(
            error_code=0, name=name, topic_id=info.topic_id, is_internal=name in INTERNAL_TOPICS,
            partitions=[_partition(cls, ctx.broker.node_id, p) for p in range(first, last)],
            topic_authorized_operations=NOT_REQUESTED))
        if last < info.partitions:
            next_cursor = cls.Cursor(topic_name=name, partition_index=last)
            break
    return messages.new_response(ApiKey.DESCRIBE_TOPIC_PARTITIONS, ctx.api_version, throttle_time_ms=0,
                                 topics=topics, next_cursor=next_cursor)


def _partition(cls: Any, node: int, index: int) -> Any:
    return cls.DescribeTopicPartitionsResponseTopic.DescribeTopicPartitionsResponsePartition(
        error_code=0, partition_index=index, leader_id=node, leader_epoch=0, replica_nodes=[node],
        isr_nodes=[node], eligible_leader_replicas=[], last_known_elr=[], offline_replicas=[])
