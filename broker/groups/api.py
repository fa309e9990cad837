"""What goes in and out of the group coordinator: plain requests, responses and timer kinds.

The coordinator never sees wire objects: a handler turns a decoded request into one of the request
dataclasses below and the response dataclass back into the versioned wire response. Every request can
answer with an error on its own (``error_response``: while loading, or when its records could not be
appended). Every call returns the shared ``CoordinatorResult`` (broker/coordinator/result.py): the
response (or, for a parked JoinGroup/SyncGroup, a ``handle``), the replies to earlier parked requests
that this call completed, the ``__consumer_offsets`` records to append, and timer commands.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pykafka_broker.broker.coordinator.result import int_property as get
from pykafka_broker.protocol.errors import ErrorCode

# topic -> (partition, offset, leader epoch, metadata)
Commits = Mapping[str, Sequence[tuple[int, int, int, str | None]]]


@dataclass(frozen=True, slots=True)
class GroupConfig:
    """The broker properties the coordinator obeys (Kafka names; defaults as this broker ships them)."""

    initial_rebalance_delay_ms: int = 0  # group.initial.rebalance.delay.ms (Kafka 3000; 0 single node)
    min_session_timeout_ms: int = 6000  # group.min.session.timeout.ms
    max_session_timeout_ms: int = 1800000  # group.max.session.timeout.ms
    max_size: int = 2**31 - 1  # group.max.size
    new_member_join_timeout_ms: int = 300000  # Kafka's fixed classicGroupNewMemberJoinTimeoutMs
    offsets_retention_ms: int = 10080 * 60 * 1000  # offsets.retention.minutes
    offsets_retention_check_interval_ms: int = 600000  # offsets.retention.check.interval.ms
    offset_metadata_max_bytes: int = 4096  # offset.metadata.max.bytes

    @classmethod
    def from_properties(cls, p: Mapping[str, object]) -> GroupConfig:
        d = cls()
        return cls(
            initial_rebalance_delay_ms=get(p, "group.initial.rebalance.delay.ms",
                                           d.initial_rebalance_delay_ms),
            min_session_timeout_ms=get(p, "group.min.session.timeout.ms", d.min_session_timeout_ms),
            max_session_timeout_ms=get(p, "group.max.session.timeout.ms", d.max_session_timeout_ms),
            max_size=get(p, "group.max.size", d.max_size),
            offsets_retention_ms=get(p, "offsets.retention.minutes", 10080) * 60 * 1000,
            offsets_retention_check_interval_ms=get(p, "offsets.retention.check.interval.ms",
                                                    d.offsets_retention_check_interval_ms),
            offset_metadata_max_bytes=get(p, "offset.metadata.max.bytes", d.offset_metadata_max_bytes),
        )


# -- requests ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JoinGroup:
    group_id: str
    member_id: str
    group_instance_id: str | None
    protocol_type: str
    protocols: Sequence[tuple[str, bytes]]
    session_timeout_ms: int
    rebalance_timeout_ms: int = -1  # JoinGroup v0 has none: the session timeout is used
    reason: str | None = None
    client_id: str = ""
    client_host: str = ""
    api_version: int = 9

    def error_response(self, code: ErrorCode) -> JoinGroupResponse:
        return JoinGroupResponse(code)  # GroupCoordinatorService sets only the error code


@dataclass(frozen=True, slots=True)
class SyncGroup:
    group_id: str
    generation_id: int
    member_id: str
    group_instance_id: str | None = None
    protocol_type: str | None = None
    protocol_name: str | None = None
    assignments: Sequence[tuple[str, bytes]] = ()
    api_version: int = 5

    def error_response(self, code: ErrorCode) -> SyncGroupResponse:
        return SyncGroupResponse(code)


@dataclass(frozen=True, slots=True)
class Heartbeat:
    group_id: str
    generation_id: int
    member_id: str
    group_instance_id: str | None = None

    def error_response(self, code: ErrorCode) -> HeartbeatResponse:
        return HeartbeatResponse(code)


@dataclass(frozen=True, slots=True)
class LeaveGroup:
    group_id: str
    members: Sequence[tuple[str, str | None, str | None]]  # (member_id, group_instance_id, reason)
    api_version: int = 5

    def error_response(self, code: ErrorCode) -> LeaveGroupResponse:
        return LeaveGroupResponse(code)


@dataclass(frozen=True, slots=True)
class OffsetCommit:
    group_id: str
    generation_id: int
    member_id: str
    group_instance_id: str | None
    retention_time_ms: int
    topics: Commits
    api_version: int = 9

    def error_response(self, code: ErrorCode) -> OffsetCommitResponse:
        return failed_commit(self.topics, code)


@dataclass(frozen=True, slots=True)
class TxnOffsetCommit:
    """TxnOffsetCommit's group half: the offsets stay pending until the transaction's marker (the
    transaction coordinator has already checked that the producer added this group's partition)."""

    group_id: str
    producer_id: int
    producer_epoch: int
    topics: Commits
    generation_id: int = -1  # v3+ (KIP-447); -1 with an empty member id: no group management
    member_id: str = ""
    group_instance_id: str | None = None

    def error_response(self, code: ErrorCode) -> OffsetCommitResponse:
        return failed_commit(self.topics, code)


@dataclass(frozen=True, slots=True)
class OffsetFetch:
    groups: Sequence[tuple[str, Sequence[tuple[str, Sequence[int]]] | None]]  # topics None = all
    require_stable: bool = False

    def error_response(self, code: ErrorCode) -> OffsetFetchResponse:
        def failed(topics: Sequence[tuple[str, Sequence[int]]] | None) -> tuple[FetchedTopic, ...]:
            return tuple(FetchedTopic(t, tuple(FetchedOffset(p, -1, -1, "", code) for p in ps))
                         for t, ps in topics or ())
        return OffsetFetchResponse(tuple(OffsetFetchGroup(g, code, failed(ts)) for g, ts in self.groups))


@dataclass(frozen=True, slots=True)
class ListGroups:
    states_filter: Sequence[str] = ()
    types_filter: Sequence[str] = ()

    def error_response(self, code: ErrorCode) -> ListGroupsResponse:
        return ListGroupsResponse(code, ())


@dataclass(frozen=True, slots=True)
class DescribeGroups:
    group_ids: Sequence[str]
    api_version: int = 5

    def error_response(self, code: ErrorCode) -> DescribeGroupsResponse:
        return DescribeGroupsResponse(tuple(DescribedGroup(code, g, "", "", "", ()) for g in self.group_ids))


@dataclass(frozen=True, slots=True)
class DeleteGroups:
    group_ids: Sequence[str]

    def error_response(self, code: ErrorCode) -> DeleteGroupsResponse:
        return DeleteGroupsResponse(tuple((g, code) for g in self.group_ids))


@dataclass(frozen=True, slots=True)
class OffsetDelete:
    group_id: str
    topics: Sequence[tuple[str, Sequence[int]]]

    def error_response(self, code: ErrorCode) -> OffsetDeleteResponse:
        return OffsetDeleteResponse(code)


# -- responses -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JoinGroupMember:
    member_id: str
    group_instance_id: str | None
    metadata: bytes


@dataclass(frozen=True, slots=True)
class JoinGroupResponse:
    error_code: ErrorCode
    member_id: str = ""
    generation_id: int = -1
    protocol_type: str | None = None
    protocol_name: str | None = None
    leader: str = ""
    skip_assignment: bool = False
    members: tuple[JoinGroupMember, ...] = ()


@dataclass(frozen=True, slots=True)
class SyncGroupResponse:
    error_code: ErrorCode
    protocol_type: str | None = None
    protocol_name: str | None = None
    assignment: bytes = b""


@dataclass(frozen=True, slots=True)
class HeartbeatResponse:
    error_code: ErrorCode


@dataclass(frozen=True, slots=True)
class LeaveGroupMemberResponse:
    member_id: str
    group_instance_id: str | None
    error_code: ErrorCode


@dataclass(frozen=True, slots=True)
class LeaveGroupResponse:
    error_code: ErrorCode
    members: tuple[LeaveGroupMemberResponse, ...] = ()


@dataclass(frozen=True, slots=True)
class PartitionError:
    partition: int
    error_code: ErrorCode


@dataclass(frozen=True, slots=True)
class TopicErrors:
    name: str
    partitions: tuple[PartitionError, ...]


@dataclass(frozen=True, slots=True)
class OffsetCommitResponse:
    topics: tuple[TopicErrors, ...]


def failed_commit(topics: Commits, error: ErrorCode) -> OffsetCommitResponse:
    """Every partition of a commit refused with ``error``."""
    return OffsetCommitResponse(tuple(TopicErrors(t, tuple(PartitionError(p[0], error) for p in ps))
                                      for t, ps in topics.items()))


@dataclass(frozen=True, slots=True)
class FetchedOffset:
    partition: int
    offset: int
    leader_epoch: int
    metadata: str
    error_code: ErrorCode = ErrorCode.NONE


@dataclass(frozen=True, slots=True)
class FetchedTopic:
    name: str
    partitions: tuple[FetchedOffset, ...]


@dataclass(frozen=True, slots=True)
class OffsetFetchGroup:
    group_id: str
    error_code: ErrorCode
    topics: tuple[FetchedTopic, ...]


@dataclass(frozen=True, slots=True)
class OffsetFetchResponse:
    groups: tuple[OffsetFetchGroup, ...]


@dataclass(frozen=True, slots=True)
class ListedGroup:
    group_id: str
    protocol_type: str
    state: str
    group_type: str = "classic"


@dataclass(frozen=True, slots=True)
class ListGroupsResponse:
    error_code: ErrorCode
    groups: tuple[ListedGroup, ...]


@dataclass(frozen=True, slots=True)
class DescribedMember:
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    metadata: bytes
    assignment: bytes


@dataclass(frozen=True, slots=True)
class DescribedGroup:
    error_code: ErrorCode
    group_id: str
    state: str
    protocol_type: str
    protocol_data: str
    members: tuple[DescribedMember, ...]


@dataclass(frozen=True, slots=True)
class DescribeGroupsResponse:
    groups: tuple[DescribedGroup, ...]


@dataclass(frozen=True, slots=True)
class DeleteGroupsResponse:
    results: tuple[tuple[str, ErrorCode], ...]


@dataclass(frozen=True, slots=True)
class OffsetDeleteResponse:
    error_code: ErrorCode
    topics: tuple[TopicErrors, ...] = ()


# -- timers ------------------------------------------------------------------------------------

# TimerKey kinds (Kafka's ``classicGroupHeartbeatKey`` / ``JoinKey`` / ``SyncKey``): ``key`` is the group
# id, ``member`` the member id of a heartbeat timer. The offset-expiration job is ``EXPIRATION_KEY``.
HEARTBEAT, JOIN, SYNC = "heartbeat", "join", "sync"

Reply = JoinGroupResponse | SyncGroupResponse
