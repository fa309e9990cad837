"""Metadata (key 3), versions 0-12.

One broker (this node) leads every partition; replicas and ISR are [this node]. Topic IDs from v10.
Unknown topics are created when ``auto.create.topics.enable`` is true and the request allows it
(v4+ ``allow_auto_topic_creation``; always allowed before v4), with ``num.partitions`` partitions:
creation is synchronous here, so the new topic is answered without LEADER_NOT_AVAILABLE.
Ignored: authorized operations (answered as "not requested": INT32_MIN), topic-id lookups of
unknown ids answer UNKNOWN_TOPIC_ID.

A partition's entry depends only on its index (every partition is led by this node), so one list
of entries, as long as the largest topic, is built once and every topic answers with a slice of
it: a Metadata request builds one object per topic, not one per partition, and the cache stays as
small as the largest topic whatever the number of topics. Nothing needs invalidating: a topic given
more partitions takes a longer slice.
"""

from __future__ import annotations

import uuid
from typing import Any

from pykafka_broker.broker.dispatch import RequestContext, handler
from pykafka_broker.broker.topics import INTERNAL_TOPICS, validate_topic_name
from pykafka_broker.protocol import messages
from pykafka_broker.protocol.api_keys import ApiKey
from pykafka_broker.protocol.errors import ErrorCode, KafkaError

ZERO_UUID = uuid.UUID(int=0)
_partition_entries: dict[tuple[Any, int], list[Any]] = {}  # (class, node) -> entries 0, 1, ...


@handler(ApiKey.METADATA, 0, 12)
def handle_metadata(ctx: RequestContext, req: Any) -> Any:
    broker = ctx.broker
    cls = messages.response_type(ApiKey.METADATA)
    v = ctx.api_version
    if req.topics is None or (v == 0 and not req.topics):
        wanted = sorted(broker.logs.topics)
        requested_ids: dict[str, uuid.UUID] = {}
    else:
        wanted, requested_ids = [], {}
        for t in req.topics:
            name = t.name
            tid = getattr(t, "topic_id", None)
            if not name and tid is not None and tid != ZERO_UUID:
                name = broker.logs.topic_name(tid)
                if name is None:
                    requested_ids[str(tid)] = tid
                    continue
            wanted.append(name)
    allow_auto = v < 4 or bool(req.allow_auto_topic_creation)
    topics = []
    for name in wanted:
        topics.append(_topic_entry(ctx, cls, name, allow_auto))
    for _key, tid in requested_ids.items():
        topics.append(cls.MetadataResponseTopic(error_code=int(ErrorCode.UNKNOWN_TOPIC_ID), name=None,
                                                topic_id=tid, is_internal=False, partitions=[],
                                                authorized_operations=None))
    brokers = [cls.MetadataResponseBroker(node_id=broker.node_id, host=broker.advertised_host,
                                          port=broker.advertised_port, rack=None)]
    return messages.new_response(ApiKey.METADATA, v, throttle_time_ms=0, brokers=brokers,
                                 cluster_id=broker.cluster_id, controller_id=broker.node_id,
                                 topics=topics, authorized_operations=None)


def _topic_entry(ctx: RequestContext, cls: Any, name: str | None, allow_auto: bool) -> Any:
    broker = ctx.broker
    info = broker.logs.topics.get(name) if name else None
    if info is None:
        error = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
        try:
            validate_topic_name(name)
        except KafkaError as exc:
            error = exc.code
        else:
            if allow_auto and broker.config.get_bool("auto.create.topics.enable") \
                    and name not in INTERNAL_TOPICS:
                info = broker.logs.create_topic(name, broker.config.get_int("num.partitions"), {})
        if info is None:
            return cls.MetadataResponseTopic(error_code=int(error), name=name, topic_id=ZERO_UUID,
                                             is_internal=False, partitions=[], authorized_operations=None)
    node = broker.node_id
    return cls.MetadataResponseTopic(error_code=0, name=info.name, topic_id=info.topic_id,
                                     is_internal=info.name in INTERNAL_TOPICS,
                                     partitions=_partitions(cls, node, info.partitions),
                                     authorized_operations=None)


def _partitions(cls: Any, node: int, count: int) -> list[Any]:
    entries = _partition_entries.setdefault((cls, node), [])
    for p in range(len(entries), count):
        entries.append(cls.MetadataResponseTopic.MetadataResponsePartition(
            error_code=0, partition_index=p, leader_id=node, leader_epoch=0, replica_nodes=[node],
            isr_nodes=[node], offline_replicas=[]))
    return entries[:count]
