"""Binary formats of the classic-group records in ``__consumer_offsets``, byte for byte as Kafka writes them.

Every key and value starts with an int16 schema version; the fields follow in the non-flexible encoding
(int16-length strings, -1 for null; int32-length bytes; int32-count arrays). Schemas:
group-coordinator/src/main/resources/common/message/*.json.

- ``OffsetCommitKey`` v0/v1 (we write v1, like ``CoordinatorRecordHelpers.newOffsetCommitRecord``):
  group, topic, partition int32.
- ``OffsetCommitValue`` v3 (v1 when the commit carries an explicit expire timestamp): offset int64,
  [v3+] leaderEpoch int32, metadata, commitTimestamp int64, [v1 only] expireTimestamp int64.
- ``GroupMetadataKey`` v2: group.
- ``GroupMetadataValue`` v3: protocolType, generation int32, protocol?, leader?, [v2+]
  currentStateTimestamp int64, members[]: memberId, [v3+] groupInstanceId?, clientId, clientHost,
  [v1+] rebalanceTimeout int32, sessionTimeout int32, subscription bytes, assignment bytes.

A key whose version is 3 or more belongs to the new (KIP-848) group types, which are not served here; the
decoder reports it as ``None`` so replay skips it. Flexible value versions (4+) are not written by Kafka
yet and are refused.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from pykafka_broker.protocol.binary import BinaryReader as _Reader
from pykafka_broker.protocol.binary import RecordFormatError

OFFSET_COMMIT_KEY_VERSION = 1
GROUP_METADATA_KEY_VERSION = 2
GROUP_METADATA_VALUE_VERSION = 3
OFFSET_COMMIT_VALUE_VERSION = 3
OFFSET_COMMIT_VALUE_VERSION_WITH_EXPIRY = 1


@dataclass(frozen=True, slots=True)
class OffsetCommitKey:
    group_id: str
    topic: str
    partition: int


@dataclass(frozen=True, slots=True)
class GroupMetadataKey:
    group_id: str


@dataclass(frozen=True, slots=True)
class OffsetAndMetadata:
    """One committed offset (Kafka ``OffsetAndMetadata``); ``expire_timestamp_ms`` only from old clients."""

    offset: int
    leader_epoch: int
    metadata: str
    commit_timestamp_ms: int
    expire_timestamp_ms: int | None = None


@dataclass(frozen=True, slots=True)
class MemberMetadata:
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    rebalance_timeout_ms: int
    session_timeout_ms: int
    subscription: bytes
    assignment: bytes


@dataclass(frozen=True, slots=True)
class GroupMetadataValue:
    protocol_type: str
    generation: int
    protocol: str | None
    leader: str | None
    current_state_timestamp_ms: int
    members: tuple[MemberMetadata, ...]


# -- writing -------------------------------------------------------------------------------------


def _str(out: bytearray, value: str | None) -> None:
    if value is None:
        out += b"\xff\xff"
        return
    raw = value.encode()
    out += struct.pack(">h", len(raw))
    out += raw


def _bytes(out: bytearray, value: bytes | None) -> None:
    if value is None:
        out += b"\xff\xff\xff\xff"
        return
    out += struct.pack(">i", len(value))
    out += value


def offset_commit_key(group_id: str, topic: str, partition: int) -> bytes:
    out = bytearray(struct.pack(">h", OFFSET_COMMIT_KEY_VERSION))
    _str(out, group_id)
    _str(out, topic)
    out += struct.pack(">i", partition)
    return bytes(out)


def offset_commit_value(value: OffsetAndMetadata) -> bytes:
    if value.expire_timestamp_ms is not None:
        out = bytearray(struct.pack(">hq", OFFSET_COMMIT_VALUE_VERSION_WITH_EXPIRY, value.offset))
        _str(out, value.metadata)
        out += struct.pack(">qq", value.commit_timestamp_ms, value.expire_timestamp_ms)
        return bytes(out)
    out = bytearray(struct.pack(">hqi", OFFSET_COMMIT_VALUE_VERSION, value.offset, value.leader_epoch))
    _str(out, value.metadata)
    out += struct.pack(">q", value.commit_timestamp_ms)
    return bytes(out)


def group_metadata_key(group_id: str) -> bytes:
    out = bytearray(struct.pack(">h", GROUP_METADATA_KEY_VERSION))
    _str(out, group_id)
    return bytes(out)


def group_metadata_value(value: GroupMetadataValue) -> bytes:
    out = bytearray(struct.pack(">h", GROUP_METADATA_VALUE_VERSION))
    _str(out, value.protocol_type)
    out += struct.pack(">i", value.generation)
    _str(out, value.protocol)
    _str(out, value.leader)
    out += struct.pack(">qi", value.current_state_timestamp_ms, len(value.members))
    for m in value.members:
        _str(out, m.member_id)
        _str(out, m.group_instance_id)
        _str(out, m.client_id)
        _str(out, m.client_host)
        out += struct.pack(">ii", m.rebalance_timeout_ms, m.session_timeout_ms)
        _bytes(out, m.subscription)
        _bytes(out, m.assignment)
    return bytes(out)


# -- reading -------------------------------------------------------------------------------------


def decode_key(key: bytes | bytearray | memoryview) -> OffsetCommitKey | GroupMetadataKey | None:
    """The key of a ``__consumer_offsets`` record; ``None`` for record types this coordinator ignores."""
    r = _Reader(key)
    version = r.int16()
    if version in (0, 1):
        return OffsetCommitKey(r.str(), r.str(), r.int32())
    if version == 2:
        return GroupMetadataKey(r.str())
    return None


def decode_offset_commit_value(value: bytes | bytearray | memoryview) -> OffsetAndMetadata:
    r = _Reader(value)
    version = r.int16()
    if not 0 <= version <= 3:
        raise RecordFormatError(f"unsupported OffsetCommitValue version {version}")
    offset = r.int64()
    leader_epoch = r.int32() if version >= 3 else -1
    metadata = r.str()
    commit_ts = r.int64()
    expire_ts = r.int64() if version == 1 else -1
    expire = None if expire_ts == -1 else expire_ts
    return OffsetAndMetadata(offset, leader_epoch, metadata, commit_ts, expire)


def decode_group_metadata_value(value: bytes | bytearray | memoryview) -> GroupMetadataValue:
    r = _Reader(value)
    version = r.int16()
    if not 0 <= version <= 3:
        raise RecordFormatError(f"unsupported GroupMetadataValue version {version}")
    protocol_type = r.str()
    generation = r.int32()
    protocol = r.nullable_str()
    leader = r.nullable_str()
    state_ts = r.int64() if version >= 2 else -1
    members = []
    for _ in range(r.int32()):
        member_id = r.str()
        instance_id = r.nullable_str() if version >= 3 else None
        client_id = r.str()
        client_host = r.str()
        rebalance_timeout = r.int32() if version >= 1 else -1
        session_timeout = r.int32()
        subscription = r.nullable_bytes() or b""
        assignment = r.nullable_bytes() or b""
        members.append(MemberMetadata(member_id, instance_id, client_id, client_host, rebalance_timeout,
                                      session_timeout, subscription, assignment))
    return GroupMetadataValue(protocol_type, generation, protocol, leader, state_ts, tuple(members))


def subscription_topics(metadata: bytes) -> list[str]:
    """Topics of a ``ConsumerProtocolSubscription`` (any version: v0 is the prefix of all of them, which
    is how Kafka's ``ClassicGroup.computeSubscribedTopics`` reads it). Raises RecordFormatError."""
    r = _Reader(metadata)
    r.int16()  # version: v0-3 share the leading fields
    count = r.int32()
    if count < 0 or count > r.remaining():
        raise RecordFormatError(f"bad topic count {count} in consumer subscription")
    return [r.str() for _ in range(count)]


def encode_subscription(topics: Sequence[str], version: int = 0, user_data: bytes | None = None) -> bytes:
    """A ``ConsumerProtocolSubscription`` v0 (tests and tools use it to build JoinGroup metadata)."""
    out = bytearray(struct.pack(">hi", version, len(topics)))
    for topic in topics:
        _str(out, topic)
    _bytes(out, user_data)
    return bytes(out)
