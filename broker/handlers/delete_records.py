"""DeleteRecords (key 21), versions 0-2.

Per partition, moves the log start offset up to the requested offset (-1: the high watermark), as
Kafka's ``ReplicaManager.deleteRecords`` and ``UnifiedLog.maybeIncrementLogStartOffset`` do. The
offset may fall inside a batch: reads below it get OFFSET_OUT_OF_RANGE, while a fetch at it still
gets the whole batch holding it. Segments wholly below the new start are deleted at once (renamed
to ``*.deleted``; the files go after ``file.delete.delay.ms``, off the event loop), and the new start
is checkpointed. A lower offset than the current start changes nothing. The answer's
``low_watermark`` is the partition's log start offset afterwards.

Errors per partition: UNKNOWN_TOPIC_OR_PARTITION; OFFSET_OUT_OF_RANGE for an offset beyond the high
watermark or below -1; POLICY_VIOLATION when ``cleanup.policy`` lacks ``delete``;
INVALID_TOPIC_EXCEPTION for internal topics. v2 is the flexible encoding. Ignored: ``timeout_ms``
(no followers to wait for: the deletion is done when the response is sent).
"""

from __future__ import annotations

from typing import Any

from pykafka_broker.broker.dispatch import RequestContext, handler
from pykafka_broker.broker.topics import INTERNAL_TOPICS, log_properties
from pykafka_broker.protocol import messages
from pykafka_broker.protocol.api_keys import ApiKey
from pykafka_broker.protocol.errors import ErrorCode, KafkaError
from pykafka_broker.storage.retention import RetentionConfig

HIGH_WATERMARK = -1


@handler(ApiKey.DELETE_RECORDS, 0, 2)
def handle_delete_records(ctx: RequestContext, req: Any) -> Any:
    cls = messages.response_type(ApiKey.DELETE_RECORDS)
    part_cls = cls.DeleteRecordsTopicResult.DeleteRecordsPartitionResult
    topics = []
    changed = False
    for t in req.topics:
        parts = []
        for p in t.partitions:
            try:
                low, moved = _delete(ctx, t.name, p.partition_index, p.offset)
                changed |= moved
                error = ErrorCode.NONE
            except KafkaError as exc:
                low, error = -1, exc.code
            parts.append(part_cls(partition_index=p.partition_index, low_watermark=low,
                                  error_code=int(error)))
        topics.append(cls.DeleteRecordsTopicResult(name=t.name, partitions=parts))
    if changed:
        ctx.broker.logs.checkpoint()  # the new log start offsets survive a crash
    return messages.new_response(ApiKey.DELETE_RECORDS, ctx.api_version, throttle_time_ms=0, topics=topics)


def _delete(ctx: RequestContext, topic: str, partition: int, offset: int) -> tuple[int, bool]:
    """(low watermark after the deletion, whether the log start offset moved)."""
    broker = ctx.broker
    if topic in INTERNAL_TOPICS:
        raise KafkaError(ErrorCode.INVALID_TOPIC_EXCEPTION,
                         f"Cannot delete records of internal topic {topic}")
    info = broker.logs.topics.get(topic)
    plog = broker.logs.get_log(topic, partition) if info is not None else None
    if plog is None:
        raise KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
    if not RetentionConfig.from_topic_configs(log_properties(broker.config, info.configs)).delete:
        raise KafkaError(ErrorCode.POLICY_VIOLATION, f"Records of partition {topic}-{partition} can not be "
                         "deleted due to the configured policy")
    target = plog.log_end_offset if offset == HIGH_WATERMARK else offset
    if target < 0:
        raise KafkaError(ErrorCode.OFFSET_OUT_OF_RANGE)
    moved = plog.increment_log_start_offset(target)
    if moved and broker.lifecycle is not None:
        broker.lifecycle.apply_retention(plog)
    return plog.log_start_offset, moved
