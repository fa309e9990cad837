"""What goes in and out of the group coordinator: plain requests, responses, timer keys and results.

The coordinator never sees wire objects: a handler turns a decoded request into one of the request
dataclasses below and the response dataclass back into the versioned wire response. Every call returns a
``CoordinatorResult``: the response (or, for a parked JoinGroup/SyncGroup, a ``handle``), the replies to
earlier parked requests that this call completed, the ``__consumer_offsets`` records to append (before
any of those replies is sent), and timer commands. Modelled on Kafka's ``CoordinatorResult`` and
``CoordinatorTimer`` (timers are keyed data; scheduling a key again replaces its deadline).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from pykafka_broker.protocol.errors import ErrorCode


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
    def from_properties(cls, props: Mapping[str, object]) -> GroupConfig:
        def get(name: str, default: int) -> int:
            value = props.get(name)
            return default if value is None else int(str(value))

        d = cls()
        return cls(
            initial_rebalance_delay_ms=get("group.initial.rebalance.delay.ms", d.initial_rebalance_delay_ms),
            min_session_timeout_ms=get("group.min.session.timeout.ms", d.min_session_timeout_ms),
            max_session_timeout_ms=get("group.max.session.timeout.ms", d.max_session_timeout_ms),
            max_size=get("group.max.size", d.max_size),
            offsets_retention_ms=get("offsets.retention.minutes", 10080) * 60 * 1000,
            offsets_retention_check_interval_ms=get("offsets.retention.check.interval.ms",
                                                    d.offsets_retention_check_interval_ms),
            offset_metadata_max_bytes=get("offset.metadata.max.bytes", d.offset_metadata_max_bytes),
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


@dataclass(frozen=True, slots=True)
class Heartbeat:
    group_id: str
    generation_id: int
    member_id: str
    group_instance_id: str | None = None


@dataclass(frozen=True, slots=True)
class LeaveGroup:
    group_id: str
    members: Sequence[tuple[str, str | None, str | None]]  # (member_id, group_instance_id, reason)
    api_version: int = 5


@dataclass(frozen=True, slots=True)
class OffsetCommit:
    group_id: str
    generation_id: int
    member_id: str
    group_instance_id: str | None
    retention_time_ms: int
    topics: Mapping[str, Sequence[tuple[int, int, int, str | None]]]  # (partition, offset, epoch, meta)
    api_version: int = 9


@dataclass(frozen=True, slots=True)
class TxnOffsetCommit:
    """TxnOffsetCommit's group half: the offsets stay pending until the transaction's marker (the
    transaction coordinator has already checked that the producer added this group's partition)."""

    group_id: str
    producer_id: int
    producer_epoch: int
    topics: Mapping[str, Sequence[tuple[int, int, int, str | None]]]  # (partition, offset, epoch, meta)
    generation_id: int = -1  # v3+ (KIP-447); -1 with an empty member id: no group management
    member_id: str = ""
    group_instance_id: str | None = None


@dataclass(frozen=True, slots=True)
class OffsetFetch:
    groups: Sequence[tuple[str, Sequence[tuple[str, Sequence[int]]] | None]]  # topics None = all
    require_stable: bool = False


@dataclass(frozen=True, slots=True)
class ListGroups:
    states_filter: Sequence[str] = ()
    types_filter: Sequence[str] = ()


@dataclass(frozen=True, slots=True)
class DescribeGroups:
    group_ids: Sequence[str]
    api_version: int = 5


@dataclass(frozen=True, slots=True)
class DeleteGroups:
    group_ids: Sequence[str]


@dataclass(frozen=True, slots=True)
class OffsetDelete:
    group_id: str
    topics: Sequence[tuple[str, Sequence[int]]]


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


# -- results -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TimerKey:
    """A coordinator timer (Kafka's ``classicGroupHeartbeatKey`` / ``JoinKey`` / ``SyncKey`` and the
    group-expiration job). ``kind`` is one of HEARTBEAT, JOIN, SYNC, EXPIRATION."""

    kind: str
    group_id: str = ""
    member_id: str = ""


HEARTBEAT, JOIN, SYNC, EXPIRATION = "heartbeat", "join", "sync", "expiration"
EXPIRATION_KEY = TimerKey(EXPIRATION)

Reply = JoinGroupResponse | SyncGroupResponse
Record = tuple[bytes, bytes | None]
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class CoordinatorResult(Generic[R]):
    """``response`` is None exactly when the request was parked under ``handle``; the driver then sends
    the reply when a later result lists ``(handle, reply)`` in ``completed``. Append ``records`` first,
    then send ``response`` and the ``completed`` replies, then apply ``cancel`` and ``schedule``."""

    response: R | None
    handle: int | None = None
    completed: tuple[tuple[int, Reply], ...] = ()
    records: tuple[Record, ...] = ()
    schedule: tuple[tuple[TimerKey, int], ...] = ()
    cancel: tuple[TimerKey, ...] = ()


@dataclass(slots=True)
class Effects:
    """The side effects gathered while one call runs (mutable; turned into a frozen result at the end).
    Timer commands are netted per key so a result never both schedules and cancels the same key."""

    now_ms: int
    completed: list[tuple[int, Reply]] = field(default_factory=list)
    records: list[Record] = field(default_factory=list)
    timers: dict[TimerKey, int | None] = field(default_factory=dict)  # deadline, or None = cancel

    def schedule(self, key: TimerKey, delay_ms: int) -> None:
        self.timers.pop(key, None)
        self.timers[key] = self.now_ms + max(delay_ms, 0)

    def cancel(self, key: TimerKey) -> None:
        self.timers.pop(key, None)
        self.timers[key] = None

    def complete(self, handle: int, reply: Reply) -> None:
        self.completed.append((handle, reply))

    def result(self, response: R | None, handle: int | None = None) -> CoordinatorResult[R]:
        completed = self.completed
        if response is None and handle is not None:
            # The call completed its own parked request: answer it directly.
            own = [reply for h, reply in completed if h == handle]
            if own:
                response = own[0]  # type: ignore[assignment]
                completed = [(h, reply) for h, reply in completed if h != handle]
                handle = None
        return CoordinatorResult(
            response=response,
            handle=handle if response is None else None,
            completed=tuple(completed),
            records=tuple(self.records),
            schedule=tuple((k, d) for k, d in self.timers.items() if d is not None),
            cancel=tuple(k for k, d in self.timers.items() if d is None),
        )
