"""ListOffsets (key 2), versions 1-10.

Per partition: -2 earliest (log start offset), -1 latest (high watermark; for read_committed, v2+, the last
stable offset: the first offset of the earliest open transaction), -3 max timestamp (KIP-734: the batch
holding the largest timestamp, answered with that batch's last offset), -4 earliest local (KIP-1005:
the log start offset, nothing is tiered), otherwise the first record whose timestamp is at or after
the target (the one place this API decodes a batch's records), or offset -1 when there is none.
Answers carry leader epoch 0 (v4+). Ignored: replica_id (no followers), timeout_ms (v10).
"""

from __future__ import annotations

from typing import Any

from pykafka_broker.broker.dispatch import RequestContext, handler
from pykafka_broker.protocol import messages
from pykafka_broker.protocol.api_keys import ApiKey
from pykafka_broker.protocol.errors import ErrorCode, KafkaError

LATEST, EARLIEST, MAX_TIMESTAMP, EARLIEST_LOCAL = -1, -2, -3, -4
READ_COMMITTED = 1


@handler(ApiKey.LIST_OFFSETS, 1, 10)
def handle_list_offsets(ctx: RequestContext, req: Any) -> Any:
    cls = messages.response_type(ApiKey.LIST_OFFSETS)
    part_cls = cls.ListOffsetsTopicResponse.ListOffsetsPartitionResponse
    committed = ctx.api_version >= 2 and req.isolation_level == READ_COMMITTED
    topics = []
    for t in req.topics:
        parts = []
        for p in t.partitions:
            try:
                offset, ts = _lookup(ctx, t.name, p.partition_index, p.timestamp, committed)
                error = ErrorCode.NONE
            except KafkaError as exc:
                offset, ts, error = -1, -1, exc.code
            parts.append(part_cls(partition_index=p.partition_index, error_code=int(error), timestamp=ts,
                                  offset=offset, leader_epoch=0 if offset >= 0 else -1))
        topics.append(cls.ListOffsetsTopicResponse(name=t.name, partitions=parts))
    return messages.new_response(ApiKey.LIST_OFFSETS, ctx.api_version, throttle_time_ms=0, topics=topics)


def _lookup(ctx: RequestContext, topic: str, partition: int, timestamp: int,
            committed: bool = False) -> tuple[int, int]:
    plog = ctx.broker.logs.get_log(topic, partition)
    if plog is None:
        raise KafkaError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
    plog.check_online()  # KAFKA_STORAGE_ERROR for a log taken offline by an I/O error
    if timestamp == LATEST:
        return (plog.last_stable_offset if committed else plog.log_end_offset), -1
    if timestamp in (EARLIEST, EARLIEST_LOCAL):
        return plog.log_start_offset, -1
    if timestamp == MAX_TIMESTAMP:
        found = plog.max_timestamp_offset()
        return found if found is not None else (-1, -1)
    if timestamp < 0:
        raise KafkaError(ErrorCode.UNSUPPORTED_VERSION)  # -5 latest-tiered etc. are not served
    found = plog.offset_for_timestamp(timestamp)
    return (found[0], found[1]) if found is not None else (-1, -1)
