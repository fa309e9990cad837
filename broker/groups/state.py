"""Classic group state: the five states with their legal predecessors, members, and one group.

Mirrors Kafka's ``classic/ClassicGroupState.java`` (how each state answers requests is written on the
state), ``ClassicGroupMember.java`` and ``ClassicGroup.java``. Parked JoinGroup/SyncGroup requests are
integer handles on the member (Kafka keeps futures there); completing them is the coordinator's job.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import Enum

from pykafka_broker.broker.groups.records import RecordFormatError, subscription_topics
from pykafka_broker.protocol.errors import ErrorCode, KafkaError

CONSUMER_PROTOCOL_TYPE = "consumer"


class GroupState(Enum):
    # Empty: no members (or only offsets). Join from a new member -> PreparingRebalance; sync, heartbeat,
    #   leave and member commits -> UNKNOWN_MEMBER_ID; offsets expire after offsets.retention.minutes.
    EMPTY = "Empty"
    # PreparingRebalance: joins are parked until every known member rejoined or the rebalance timeout;
    #   heartbeat and sync -> REBALANCE_IN_PROGRESS; commits from the previous generation are allowed.
    PREPARING_REBALANCE = "PreparingRebalance"
    # CompletingRebalance: waiting for the leader's SyncGroup; followers' syncs are parked; commits ->
    #   REBALANCE_IN_PROGRESS; a new or changed join, a leave or a failure -> PreparingRebalance.
    COMPLETING_REBALANCE = "CompletingRebalance"
    # Stable: heartbeats normal, sync returns the assignment, the leader's join or changed metadata
    #   -> PreparingRebalance.
    STABLE = "Stable"
    # Dead: being removed; the coordinator drops dead groups, so it is only ever seen in transit.
    DEAD = "Dead"

    @property
    def valid_previous(self) -> frozenset[GroupState]:
        return _PREVIOUS[self]


_PREVIOUS: dict[GroupState, frozenset[GroupState]] = {
    GroupState.EMPTY: frozenset({GroupState.PREPARING_REBALANCE}),
    GroupState.PREPARING_REBALANCE: frozenset({GroupState.STABLE, GroupState.COMPLETING_REBALANCE,
                                               GroupState.EMPTY}),
    GroupState.COMPLETING_REBALANCE: frozenset({GroupState.PREPARING_REBALANCE}),
    GroupState.STABLE: frozenset({GroupState.COMPLETING_REBALANCE}),
    GroupState.DEAD: frozenset(GroupState),
}


@dataclass(slots=True)
class Member:
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    rebalance_timeout_ms: int
    session_timeout_ms: int
    protocol_type: str
    protocols: list[tuple[str, bytes]]
    assignment: bytes = b""
    join_handle: int | None = None  # a parked JoinGroup
    sync_handle: int | None = None  # a parked SyncGroup
    is_new: bool = False

    @property
    def awaiting_join(self) -> bool:
        return self.join_handle is not None

    @property
    def awaiting_sync(self) -> bool:
        return self.sync_handle is not None

    def has_satisfied_heartbeat(self) -> bool:
        # New members can expire while their join is parked; others are alive while parked.
        return not self.is_new and (self.awaiting_join or self.awaiting_sync)

    def metadata(self, protocol: str | None) -> bytes:
        return next((meta for name, meta in self.protocols if name == protocol), b"")

    def matches(self, protocols: Sequence[tuple[str, bytes]]) -> bool:
        return [(n, bytes(m)) for n, m in protocols] == self.protocols

    def vote(self, candidates: set[str]) -> str:
        return next(name for name, _ in self.protocols if name in candidates)


@dataclass(slots=True)
class ClassicGroup:
    group_id: str
    state: GroupState
    state_timestamp_ms: int | None
    generation_id: int = 0
    protocol_type: str | None = None
    protocol_name: str | None = None
    leader_id: str | None = None
    previous_state: GroupState = GroupState.DEAD
    members: dict[str, Member] = field(default_factory=dict)
    static_members: dict[str, str] = field(default_factory=dict)  # group.instance.id -> member id
    pending_join: set[str] = field(default_factory=set)  # ids handed out with MEMBER_ID_REQUIRED
    pending_sync: set[str] = field(default_factory=set)
    subscribed_topics: frozenset[str] | None = None
    new_member_added: bool = False
    initial_delay: tuple[int, int] | None = None  # (delay, remaining) while the initial delay runs
    sync_generation: int = -1  # the generation the pending-sync timer was armed for

    def snapshot(self) -> ClassicGroup:
        """A copy a failed append can restore: the containers and members are copied, the values in
        them are immutable or replaced whole (a member's protocols), so no deep copy is needed."""
        return replace(self, members={k: replace(m) for k, m in self.members.items()},
                       static_members=dict(self.static_members), pending_join=set(self.pending_join),
                       pending_sync=set(self.pending_sync))

    # -- state ---------------------------------------------------------------------------------

    def transition_to(self, state: GroupState, now_ms: int) -> None:
        if self.state not in state.valid_previous:
            raise AssertionError(
                f"group {self.group_id}: illegal transition {self.state.value} -> {state.value}")
        self.previous_state, self.state = self.state, state
        self.state_timestamp_ms = now_ms

    def can_rebalance(self) -> bool:
        return self.state in GroupState.PREPARING_REBALANCE.valid_previous

    def is_leader(self, member_id: str) -> bool:
        return self.leader_id == member_id

    def uses_consumer_protocol(self) -> bool:
        return self.protocol_type == CONSUMER_PROTOCOL_TYPE

    # -- membership ----------------------------------------------------------------------------

    def add(self, member: Member) -> None:
        if member.group_instance_id is not None:
            if member.group_instance_id in self.static_members:
                raise AssertionError(f"static member {member.group_instance_id} is already in the group")
            self.static_members[member.group_instance_id] = member.member_id
        if not self.members:
            self.protocol_type = member.protocol_type
        if self.leader_id is None:
            self.leader_id = member.member_id
        self.members[member.member_id] = member
        self.pending_join.discard(member.member_id)

    def remove(self, member_id: str) -> Member | None:
        removed = self.members.pop(member_id, None)
        if removed is not None and removed.group_instance_id is not None:
            self.static_members.pop(removed.group_instance_id, None)
        if self.is_leader(member_id):
            self.leader_id = next(iter(self.members), None)
        self.pending_join.discard(member_id)
        self.pending_sync.discard(member_id)
        return removed

    def replace_static_member(self, instance_id: str, old_id: str, new_id: str) -> tuple[Member, Member]:
        """Give a static member a new member id, keeping everything else (its assignment included).
        Returns (old, new); the caller fences whatever the old id had parked."""
        old = self.members.pop(old_id)
        new = Member(new_id, old.group_instance_id, old.client_id, old.client_host, old.rebalance_timeout_ms,
                     old.session_timeout_ms, old.protocol_type, list(old.protocols), old.assignment)
        self.members[new_id] = new
        if self.is_leader(old_id):
            self.leader_id = new_id
        self.static_members[instance_id] = new_id
        return old, new

    def update_member(self, member: Member, protocols: Sequence[tuple[str, bytes]], rebalance_timeout_ms: int,
                      session_timeout_ms: int, join_handle: int | None) -> None:
        member.protocols = [(n, bytes(m)) for n, m in protocols]
        member.rebalance_timeout_ms = rebalance_timeout_ms
        member.session_timeout_ms = session_timeout_ms
        member.join_handle = join_handle

    def validate_member(self, member_id: str, instance_id: str | None) -> None:
        """UNKNOWN_MEMBER_ID or FENCED_INSTANCE_ID, as ``ClassicGroup.validateMember``."""
        if instance_id is not None:
            existing = self.static_members.get(instance_id)
            if existing is None:
                raise KafkaError(ErrorCode.UNKNOWN_MEMBER_ID)
            if existing != member_id:
                raise KafkaError(ErrorCode.FENCED_INSTANCE_ID)
        if member_id not in self.members:
            raise KafkaError(ErrorCode.UNKNOWN_MEMBER_ID)

    def awaiting_join_count(self) -> int:
        return sum(1 for m in self.members.values() if m.awaiting_join)

    def has_all_members_joined(self) -> bool:
        return len(self.members) == self.awaiting_join_count() and not self.pending_join

    def not_yet_rejoined(self) -> list[Member]:
        return [m for m in self.members.values() if not m.awaiting_join]

    def rebalance_timeout_ms(self) -> int:
        return max((m.rebalance_timeout_ms for m in self.members.values()), default=0)

    def maybe_elect_new_joined_leader(self) -> bool:
        """Keep a leader that rejoined, else promote a member that did; False if nobody rejoined."""
        if self.leader_id is None:
            return False
        if self.members[self.leader_id].awaiting_join:
            return True
        joined = next((m.member_id for m in self.members.values() if m.awaiting_join), None)
        if joined is None:
            return False
        self.leader_id = joined
        return True

    # -- protocols -----------------------------------------------------------------------------

    def _protocol_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for m in self.members.values():
            for name, _ in m.protocols:
                counts[name] = counts.get(name, 0) + 1
        return counts

    def supports_protocols(self, protocol_type: str, names: Sequence[str]) -> bool:
        if self.state is GroupState.EMPTY:
            return bool(protocol_type) and bool(names)
        counts = self._protocol_counts()
        everyone = len(self.members)
        return self.protocol_type == protocol_type and any(counts.get(n, 0) == everyone for n in names)

    def select_protocol(self) -> str:
        """The protocol every member supports with the most first-choice votes (ties: first voted)."""
        counts = self._protocol_counts()
        candidates = {name for name, n in counts.items() if n == len(self.members)}
        votes: dict[str, int] = {}
        for m in self.members.values():
            choice = m.vote(candidates)
            votes[choice] = votes.get(choice, 0) + 1
        return max(votes, key=lambda name: votes[name])

    def init_next_generation(self, now_ms: int) -> None:
        self.generation_id += 1
        if self.members:
            self.protocol_name = self.select_protocol()
            self.subscribed_topics = self.compute_subscribed_topics()
            self.transition_to(GroupState.COMPLETING_REBALANCE, now_ms)
        else:
            self.protocol_name = None
            self.subscribed_topics = self.compute_subscribed_topics()
            self.transition_to(GroupState.EMPTY, now_ms)
        self.pending_sync.clear()

    def compute_subscribed_topics(self) -> frozenset[str] | None:
        """The consumer-protocol subscriptions of all members, or None when unknown."""
        if self.protocol_type != CONSUMER_PROTOCOL_TYPE:
            return None
        if not self.members:
            return frozenset()
        if self.protocol_name is None:
            return None
        topics: set[str] = set()
        try:
            for m in self.members.values():
                topics.update(subscription_topics(m.metadata(self.protocol_name)))
        except RecordFormatError:
            return None
        return frozenset(topics)

    def is_subscribed_to_topic(self, topic: str) -> bool:
        if self.subscribed_topics is None:
            return self.uses_consumer_protocol()
        return topic in self.subscribed_topics

    def assignments(self) -> dict[str, bytes]:
        return {m.member_id: m.assignment for m in self.members.values()}
