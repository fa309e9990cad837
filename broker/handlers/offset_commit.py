"""OffsetCommit (key 8), versions 2-9 (Kafka 4.0's range).

Partitions of topics or partitions this broker does not have get UNKNOWN_TOPIC_OR_PARTITION and are
not committed, as in Kafka's ``KafkaApis.handleOffsetCommitRequest``; an empty group id fails every
partition with INVALID_GROUP_ID. The rest go to the coordinator, which checks generation, member and
instance id (a consumer without group management commits with generation -1 to an empty group),
refuses metadata over ``offset.metadata.max.bytes`` per partition (OFFSET_METADATA_TOO_LARGE), and
returns the records; they are in ``__consumer_offsets`` before the reply is sent.
Version notes: v2-4 retention_time_ms (-1: the broker's ``offsets.retention.minutes``; dropped in
v5), v3 throttle_time_ms, v6 committed_leader_epoch, v7 (KIP-345) group_instance_id, v8 flexible, v9
(KIP-848) names the generation field ``GenerationIdOrMemberEpoch`` and answers GROUP_ID_NOT_FOUND for
an unknown group committed to with a generation; the consumer-protocol member epochs do not apply to
classic groups.
"""

from __future__ import annotations

from typing import Any

from pykafka_broker.broker.dispatch import RequestContext, handler, map_reply
from pykafka_broker.broker.groups import OffsetCommit
from pykafka_broker.broker.groups.api import OffsetCommitResponse
from pykafka_broker.protocol import messages
from pykafka_broker.protocol.api_keys import ApiKey
from pykafka_broker.protocol.errors import ErrorCode

Commit = tuple[int, int, int, str | None]  # (partition, offset, leader epoch, metadata)


@handler(ApiKey.OFFSET_COMMIT, 2, 9)
def handle_offset_commit(ctx: RequestContext, req: Any) -> Any:
    v = ctx.api_version
    logs = ctx.broker.logs
    order: list[tuple[str, int]] = []
    failed: dict[tuple[str, int], ErrorCode] = {}
    valid: dict[str, list[Commit]] = {}
    for t in req.topics or []:
        info = logs.topics.get(t.name)
        for p in t.partitions or []:
            order.append((t.name, p.partition_index))
            if not req.group_id:
                failed[(t.name, p.partition_index)] = ErrorCode.INVALID_GROUP_ID
            elif info is None or not 0 <= p.partition_index < info.partitions:
                failed[(t.name, p.partition_index)] = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            else:
                epoch = p.committed_leader_epoch if v >= 6 else -1
                valid.setdefault(t.name, []).append(
                    (p.partition_index, p.committed_offset, epoch, p.committed_metadata))
    if not valid:
        return _response(v, order, failed, OffsetCommitResponse(()))
    commit = OffsetCommit(
        group_id=req.group_id,
        generation_id=req.generation_id_or_member_epoch,
        member_id=req.member_id or "",
        group_instance_id=req.group_instance_id if v >= 7 else None,
        retention_time_ms=req.retention_time_ms if v <= 4 else -1,
        topics=valid,
        api_version=v,
    )
    return map_reply(ctx.broker.groups.offset_commit(commit), lambda r: _response(v, order, failed, r))


def _response(v: int, order: list[tuple[str, int]], failed: dict[tuple[str, int], ErrorCode],
              r: OffsetCommitResponse) -> Any:
    """Per-partition results in request order (coordinator results merged with the pre-checks)."""
    errors = dict(failed)
    for topic in r.topics:
        for p in topic.partitions:
            errors[(topic.name, p.partition)] = p.error_code
    cls = messages.response_type(ApiKey.OFFSET_COMMIT)
    topics: dict[str, list[Any]] = {}
    for name, partition in order:
        topics.setdefault(name, []).append(cls.OffsetCommitResponseTopic.OffsetCommitResponsePartition(
            partition_index=partition, error_code=int(errors.get((name, partition), ErrorCode.NONE))))
    return messages.new_response(ApiKey.OFFSET_COMMIT, v, throttle_time_ms=0, topics=[
        cls.OffsetCommitResponseTopic(name=name, partitions=parts) for name, parts in topics.items()])
