"""DescribeProducers (key 61), version 0 (KIP-664).

Per requested partition, the active producers of its log's producer state
(``ReplicaManager.activeProducerState``): producer id, epoch, the last sequence and timestamp of its
newest batch (-1 without one), the coordinator epoch of its last transaction marker, and the first
offset of its open transaction (-1 when none). An unknown topic or partition is
UNKNOWN_TOPIC_OR_PARTITION. Every partition is led by this node, so NOT_LEADER_OR_FOLLOWER never occurs.
"""

from __future__ import annotations

from typing import Any

from pykafka_broker.broker.dispatch import RequestContext, handler
from pykafka_broker.protocol import messages
from pykafka_broker.protocol.api_keys import ApiKey
from pykafka_broker.protocol.errors import ErrorCode


@handler(ApiKey.DESCRIBE_PRODUCERS, 0, 0)
def handle_describe_producers(ctx: RequestContext, req: Any) -> Any:
    cls = messages.response_type(ApiKey.DESCRIBE_PRODUCERS)
    pcls = cls.TopicResponse.PartitionResponse
    topics = []
    for t in req.topics or []:
        parts = []
        for index in t.partition_indexes or []:
            plog = ctx.broker.logs.get_log(t.name, index)
            if plog is None:
                parts.append(pcls(partition_index=index, error_code=int(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION),
                                  error_message=None, active_producers=[]))
                continue
            producers = [_state(pcls, entry) for entry in plog.producer_state.producers.values()]
            parts.append(pcls(partition_index=index, error_code=0, error_message=None,
                              active_producers=producers))
        topics.append(cls.TopicResponse(name=t.name, partitions=parts))
    return messages.new_response(ApiKey.DESCRIBE_PRODUCERS, ctx.api_version, throttle_time_ms=0,
                                 topics=topics)


def _state(pcls: Any, entry: Any) -> Any:
    last = entry.batches[-1] if entry.batches else None
    return pcls.ProducerState(
        producer_id=entry.producer_id, producer_epoch=entry.epoch,
        last_sequence=last.last_seq if last is not None else -1,
        last_timestamp=last.max_timestamp if last is not None else -1,
        coordinator_epoch=entry.coordinator_epoch, current_txn_start_offset=entry.current_txn_first_offset)
