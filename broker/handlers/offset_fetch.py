"""OffsetFetch (key 9), versions 1-9.

Committed offsets per partition (-1 and empty metadata where nothing is committed), or with a null
topic list (v2+) every offset the group has. An empty group id is INVALID_GROUP_ID, as in Kafka's
``GroupCoordinatorService.fetchOffsets``. ``require_stable`` (v7+, KIP-447) fails partitions
with pending transactional offsets (TxnOffsetCommit whose transaction has no marker yet) with
UNSTABLE_OFFSET_COMMIT and offset -1; without it those partitions show the last committed offset.
Version notes: v2 null topics = all and a top-level error_code (v1 puts a group error on each
partition), v3 throttle_time_ms, v5 committed_leader_epoch, v6 flexible, v7 require_stable, v8
(KIP-709) several groups per request, v9 (KIP-848) member id/epoch, ignored for classic groups.
"""

from __future__ import annotations

from typing import Any

from pykafka_broker.broker.dispatch import RequestContext, handler, map_reply
from pykafka_broker.broker.groups import OffsetFetch
from pykafka_broker.broker.groups.api import (
    FetchedOffset,
    FetchedTopic,
    OffsetFetchGroup,
    OffsetFetchResponse,
)
from pykafka_broker.protocol import messages
from pykafka_broker.protocol.api_keys import ApiKey
from pykafka_broker.protocol.errors import ErrorCode

MULTI_GROUP_VERSION = 8


@handler(ApiKey.OFFSET_FETCH, 1, 9)
def handle_offset_fetch(ctx: RequestContext, req: Any) -> Any:
    v = ctx.api_version
    if v >= MULTI_GROUP_VERSION:
        groups = [(g.group_id, _topics(g.topics)) for g in req.groups or []]
    else:
        groups = [(req.group_id, _topics(req.topics))]
    valid = [(gid, topics) for gid, topics in groups if gid]
    fetch = OffsetFetch(valid, require_stable=bool(req.require_stable) if v >= 7 else False)
    return map_reply(ctx.broker.groups.offset_fetch(fetch), lambda r: _response(v, groups, r))


def _topics(topics: Any) -> list[tuple[str, list[int]]] | None:
    return None if topics is None else [(t.name, list(t.partition_indexes or [])) for t in topics]


def _response(v: int, asked: list[tuple[str, Any]], r: OffsetFetchResponse) -> Any:
    by_id = {g.group_id: g for g in r.groups}
    results = [by_id.get(gid) or _invalid_group(gid, topics) for gid, topics in asked]
    cls = messages.response_type(ApiKey.OFFSET_FETCH)
    if v >= MULTI_GROUP_VERSION:
        gcls = cls.OffsetFetchResponseGroup
        tcls = gcls.OffsetFetchResponseTopics
        return messages.new_response(ApiKey.OFFSET_FETCH, v, throttle_time_ms=0, groups=[
            gcls(group_id=g.group_id, error_code=int(g.error_code), topics=[
                tcls(name=t.name, partitions=[tcls.OffsetFetchResponsePartitions(
                    partition_index=p.partition, committed_offset=p.offset,
                    committed_leader_epoch=p.leader_epoch,
                    metadata=p.metadata, error_code=int(p.error_code)) for p in t.partitions])
                for t in g.topics]) for g in results])
    g = results[0]
    # v1 has no top-level error code: a group error goes on every partition.
    on_partition = g.error_code if v < 2 else ErrorCode.NONE
    tcls = cls.OffsetFetchResponseTopic
    topics = [tcls(name=t.name, partitions=[tcls.OffsetFetchResponsePartition(
        partition_index=p.partition, committed_offset=p.offset, committed_leader_epoch=p.leader_epoch,
        metadata=p.metadata, error_code=int(p.error_code or on_partition)) for p in t.partitions])
        for t in g.topics]
    return messages.new_response(ApiKey.OFFSET_FETCH, v, throttle_time_ms=0, topics=topics,
                                 error_code=int(g.error_code))


def _invalid_group(group_id: str, topics: Any) -> OffsetFetchGroup:
    fetched = tuple(FetchedTopic(name, tuple(FetchedOffset(p, -1, -1, "", ErrorCode.INVALID_GROUP_ID)
                                             for p in parts)) for name, parts in topics or [])
    return OffsetFetchGroup(group_id, ErrorCode.INVALID_GROUP_ID, fetched)
