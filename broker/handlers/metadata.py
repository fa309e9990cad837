"""Metadata (key 3), versions 0-12.

One broker (this node) leads every partition; replicas and ISR are [this node]. Topic IDs from v10.
Unknown topics are created when ``auto.create.topics.enable`` is true and the request allows it
(v4+ ``allow_auto_topic_creation``; always allowed before v4), with ``num.partitions`` partitions:
creation is synchronous here, so the new topic is answered without LEADER_NOT_AVAILABLE.
Ignored: authorized operations (answered as "not requested": INT32_MIN), topic-id lookups of
unknown ids answer UNKNOWN_TOPIC_ID.

Each topic's entry is kept encoded, per response version, between changes: the cache key holds
what the entry is made of (version, name, topic id, partition count, node), so a topic deleted and
recreated, or given more partitions, simply gets a new entry (the cache is dropped whole when it
grows past a bound). A response is the library encoding of the same response without topics, with
the topics array (its count, then the cached entries) spliced in where the empty array was; the
fields after the array (cluster authorized operations v8-10, tagged fields v9+) have a fixed size.
tests/broker/test_metadata_encoding.py checks the splice byte for byte against the library.
"""

from __future__ import annotations

import struct
import uuid
from typing import Any

from pykafka_broker.broker.dispatch import Body, RequestContext, _unsupported_version, handler
from pykafka_broker.broker.topics import INTERNAL_TOPICS, validate_topic_name
from pykafka_broker.protocol import messages
from pykafka_broker.protocol.api_keys import ApiKey
from pykafka_broker.protocol.errors import ErrorCode, KafkaError
from pykafka_broker.protocol.records import uvarint_bytes
from pykafka_broker.storage.manager import TopicCreationInProgress

ZERO_UUID = uuid.UUID(int=0)
_partition_entries: dict[tuple[Any, int], list[Any]] = {}  # (class, node) -> entries 0, 1, ...
_ENCODED_MAX = 200_000  # encoded topic entries kept (all versions together)
_encoded: dict[tuple[Any, ...], bytes] = {}


@handler(ApiKey.METADATA, 0, 12, raw=True)
def handle_metadata_raw(ctx: RequestContext, body: memoryview) -> Body:
    v = ctx.api_version
    if not 0 <= v <= 12:
        return _unsupported_version(ctx.header)
    req = messages.decode_request(ApiKey.METADATA, v, body)
    response = handle_metadata(ctx, req)
    topics = response.topics
    response.topics = []
    empty = messages.encode_response(ApiKey.METADATA, v, response)
    tail = _tail_size(v)
    head = empty[: len(empty) - tail - _count_size(v, 0)]
    entries = [_encoded_topic(v, response, t, len(empty)) for t in topics]
    return [head, _count(v, len(entries)), *entries, empty[len(empty) - tail:]]


def _tail_size(v: int) -> int:
    """Bytes after the topics array: cluster authorized operations (v8-10), tagged fields (v9+)."""
    return (4 if 8 <= v <= 10 else 0) + (1 if v >= 9 else 0)


def _count(v: int, n: int) -> bytes:
    if v < 9:
        return struct.pack(">i", n)
    return uvarint_bytes(n + 1)  # compact array: unsigned varint of length + 1


def _count_size(v: int, n: int) -> int:
    return len(_count(v, n))


def _encoded_topic(v: int, response: Any, topic: Any, empty_size: int) -> bytes:
    """One topic entry encoded at version ``v``: cached for existing topics, made for errors.
    ``response`` has no topics and encodes to ``empty_size`` bytes."""
    key = None
    if topic.error_code == 0:
        # Everything the entry is made of (_topic_entry): add to the key whatever it starts to vary.
        key = (v, topic.name, topic.topic_id, len(topic.partitions), topic.is_internal,
               topic.authorized_operations, topic.partitions[0].leader_id if topic.partitions else None)
        cached = _encoded.get(key)
        if cached is not None:
            return cached
    response.topics = [topic]
    one = messages.encode_response(ApiKey.METADATA, v, response)
    response.topics = []
    tail = _tail_size(v)
    start = empty_size - tail - _count_size(v, 0) + _count_size(v, 1)
    entry = bytes(one[start: len(one) - tail])
    if key is not None:
        if len(_encoded) >= _ENCODED_MAX:
            _encoded.clear()
        _encoded[key] = entry
    return entry


def handle_metadata(ctx: RequestContext, req: Any) -> Any:
    """The Metadata response as an object (``handle_metadata_raw`` encodes it)."""
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
                try:
                    info = broker.logs.create_topic(name, broker.config.get_int("num.partitions"), {})
                except TopicCreationInProgress:  # a CreateTopics of this name is running
                    error = ErrorCode.LEADER_NOT_AVAILABLE
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
