"""OffsetDelete (key 47), version 0 (KIP-496).

Deletes committed offsets of an empty group, or of topics a live group is not subscribed to
(GROUP_SUBSCRIBED_TO_TOPIC per partition otherwise); tombstones reach ``__consumer_offsets`` before
the answer. Group errors: INVALID_GROUP_ID (empty id), GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP for a
live group that does not use the consumer protocol. Partitions of topics this broker does not have
are UNKNOWN_TOPIC_OR_PARTITION, as in Kafka's ``KafkaApis.handleOffsetDeleteRequest``.
"""

from __future__ import annotations

from typing import Any

from pykafka_broker.broker.dispatch import RequestContext, handler, map_reply
from pykafka_broker.broker.groups import OffsetDelete
from pykafka_broker.broker.groups.api import OffsetDeleteResponse
from pykafka_broker.protocol import messages
from pykafka_broker.protocol.api_keys import ApiKey
from pykafka_broker.protocol.errors import ErrorCode


@handler(ApiKey.OFFSET_DELETE, 0, 0)
def handle_offset_delete(ctx: RequestContext, req: Any) -> Any:
    logs = ctx.broker.logs
    order: list[tuple[str, int]] = []
    unknown: set[tuple[str, int]] = set()
    valid: dict[str, list[int]] = {}
    for t in req.topics or []:
        info = logs.topics.get(t.name)
        for p in t.partitions or []:
            order.append((t.name, p.partition_index))
            if info is None or not 0 <= p.partition_index < info.partitions:
                unknown.add((t.name, p.partition_index))
            else:
                valid.setdefault(t.name, []).append(p.partition_index)
    delete = OffsetDelete(req.group_id, list(valid.items()))
    return map_reply(ctx.broker.groups.offset_delete(delete), lambda r: _response(order, unknown, r))


def _response(order: list[tuple[str, int]], unknown: set[tuple[str, int]], r: OffsetDeleteResponse) -> Any:
    cls = messages.response_type(ApiKey.OFFSET_DELETE)
    if r.error_code != ErrorCode.NONE:
        return messages.new_response(ApiKey.OFFSET_DELETE, 0, error_code=int(r.error_code),
                                     throttle_time_ms=0, topics=[])
    errors = {(t.name, p.partition): p.error_code for t in r.topics for p in t.partitions}
    topics: dict[str, list[Any]] = {}
    for name, partition in order:
        code = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION if (name, partition) in unknown else \
            errors.get((name, partition), ErrorCode.NONE)
        topics.setdefault(name, []).append(
            cls.OffsetDeleteResponseTopic.OffsetDeleteResponsePartition(partition_index=partition,
                                                                        error_code=int(code)))
    return messages.new_response(ApiKey.OFFSET_DELETE, 0, error_code=0, throttle_time_ms=0, topics=[
        cls.OffsetDeleteResponseTopic(name=name, partitions=parts) for name, parts in topics.items()])
