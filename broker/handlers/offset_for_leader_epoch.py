"""OffsetForLeaderEpoch (key 23), versions 2-4.

This node has led every partition since its creation with leader epoch 0, and stamps epoch 0 on
every batch it appends. So epoch 0 ends at the log end offset; an epoch above ours is unknown
(UNDEFINED -1/-1, as Kafka answers for an epoch it has not seen). A client whose current leader epoch
is newer than ours gets UNKNOWN_LEADER_EPOCH, older gets FENCED_LEADER_EPOCH (KIP-320).
"""

from __future__ import annotations

from typing import Any

from pykafka_broker.broker.dispatch import RequestContext, handler
from pykafka_broker.protocol import messages
from pykafka_broker.protocol.api_keys import ApiKey
from pykafka_broker.protocol.errors import ErrorCode

LEADER_EPOCH = 0


@handler(ApiKey.OFFSET_FOR_LEADER_EPOCH, 2, 4)
def handle_offset_for_leader_epoch(ctx: RequestContext, req: Any) -> Any:
    cls = messages.response_type(ApiKey.OFFSET_FOR_LEADER_EPOCH)
    part_cls = cls.OffsetForLeaderTopicResult.EpochEndOffset
    topics = []
    for t in req.topics:
        parts = []
        for p in t.partitions:
            plog = ctx.broker.logs.get_log(t.topic, p.partition)
            error, epoch, end = ErrorCode.NONE, -1, -1
            if plog is None:
                error = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            elif p.current_leader_epoch > LEADER_EPOCH:
                error = ErrorCode.UNKNOWN_LEADER_EPOCH
            elif 0 <= p.current_leader_epoch < LEADER_EPOCH:
                error = ErrorCode.FENCED_LEADER_EPOCH
            elif p.leader_epoch <= LEADER_EPOCH:
                epoch, end = LEADER_EPOCH, plog.log_end_offset
            parts.append(part_cls(error_code=int(error), partition=p.partition, leader_epoch=epoch,
                                  end_offset=end))
        topics.append(cls.OffsetForLeaderTopicResult(topic=t.topic, partitions=parts))
    return messages.new_response(ApiKey.OFFSET_FOR_LEADER_EPOCH, ctx.api_version, throttle_time_ms=0,
                                 topics=topics)
