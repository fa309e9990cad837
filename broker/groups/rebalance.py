"""The rebalance protocol's engine: preparing and completing rebalances, propagating assignments, and the
timers that drive them (member session, join/rebalance timeout, initial delay, pending sync).

Mirrors the classic-group half of Kafka's ``GroupMetadataManager`` (``prepareRebalance``,
``completeClassicGroupJoin``, ``expireClassicGroupMemberHeartbeat``, ``expirePendingSync``, ...).
The request entry points (JoinGroup, SyncGroup, Heartbeat, LeaveGroup) live in ``membership.py``.
"""

from __future__ import annotations

from pykafka_broker.broker.coordinator.result import Effects, Record, TimerKey
from pykafka_broker.broker.groups import records as rec
from pykafka_broker.broker.groups.api import (
    HEARTBEAT,
    JOIN,
    SYNC,
    GroupConfig,
    JoinGroupMember,
    JoinGroupResponse,
    SyncGroupResponse,
)
from pykafka_broker.broker.groups.state import ClassicGroup, GroupState, Member
from pykafka_broker.protocol.errors import ErrorCode

S = GroupState


def heartbeat_key(group_id: str, member_id: str) -> TimerKey:
    return TimerKey(HEARTBEAT, group_id, member_id)


def join_key(group_id: str) -> TimerKey:
    return TimerKey(JOIN, group_id)


def sync_key(group_id: str) -> TimerKey:
    return TimerKey(SYNC, group_id)


def group_record(group: ClassicGroup, assignment: dict[str, bytes]) -> Record:
    """The GroupMetadata record of ``group`` with the given assignment (Kafka ``newGroupMetadataRecord``)."""
    members = tuple(
        rec.MemberMetadata(m.member_id, m.group_instance_id, m.client_id, m.client_host,
                           m.rebalance_timeout_ms, m.session_timeout_ms, m.metadata(group.protocol_name),
                           assignment.get(m.member_id, b""))
        for m in group.members.values()
    )
    ts = group.state_timestamp_ms if group.state_timestamp_ms is not None else -1
    value = rec.GroupMetadataValue(group.protocol_type or "", group.generation_id, group.protocol_name,
                                   group.leader_id, ts, members)
    return rec.group_metadata_key(group.group_id), rec.group_metadata_value(value)


def empty_group_record(group: ClassicGroup) -> Record:
    """Written when JoinGroup creates a group (Kafka ``newEmptyGroupMetadataRecord``)."""
    ts = group.state_timestamp_ms if group.state_timestamp_ms is not None else -1
    value = rec.GroupMetadataValue("", 0, None, None, ts, ())
    return rec.group_metadata_key(group.group_id), rec.group_metadata_value(value)


def member_list(group: ClassicGroup) -> tuple[JoinGroupMember, ...]:
    return tuple(JoinGroupMember(m.member_id, m.group_instance_id, m.metadata(group.protocol_name))
                 for m in group.members.values())


def generation_response(group: ClassicGroup, member_id: str, with_members: bool) -> JoinGroupResponse:
    return JoinGroupResponse(ErrorCode.NONE, member_id, group.generation_id, group.protocol_type,
                             group.protocol_name, group.leader_id or "", False,
                             member_list(group) if with_members else ())


class Rebalancer:
    def __init__(self, config: GroupConfig, groups: dict[str, ClassicGroup]) -> None:
        self.cfg = config
        self.groups = groups

    # -- parked requests -----------------------------------------------------------------------

    @staticmethod
    def release(fx: Effects, member: Member, error: ErrorCode) -> None:
        """Answer whatever ``member`` has parked with ``error`` (it is leaving or being replaced)."""
        if member.join_handle is not None:
            member_id = member.member_id if error is ErrorCode.FENCED_INSTANCE_ID else ""
            fx.complete(member.join_handle, JoinGroupResponse(error, member_id))
            member.join_handle = None
        if member.sync_handle is not None:
            fx.complete(member.sync_handle, SyncGroupResponse(error))
            member.sync_handle = None

    def drop(self, fx: Effects, group: ClassicGroup, member_id: str) -> None:
        member = group.members.get(member_id)
        if member is not None:
            self.release(fx, member, ErrorCode.UNKNOWN_MEMBER_ID)
        group.remove(member_id)
        fx.cancel(heartbeat_key(group.group_id, member_id))

    def reschedule_heartbeat(self, fx: Effects, group: ClassicGroup, member: Member,
                             timeout_ms: int | None = None) -> None:
        timeout = member.session_timeout_ms if timeout_ms is None else timeout_ms
        fx.schedule(heartbeat_key(group.group_id, member.member_id), timeout)

    # -- rebalance -----------------------------------------------------------------------------

    def maybe_prepare_rebalance_or_complete_join(self, fx: Effects, group: ClassicGroup) -> None:
        if group.can_rebalance():
            self.prepare_rebalance(fx, group)
        else:
            self.maybe_complete_join_phase(fx, group)

    def prepare_rebalance(self, fx: Effects, group: ClassicGroup) -> None:
        if group.state is S.COMPLETING_REBALANCE:
            # Followers waiting for the leader's assignment must rejoin instead.
            for m in group.members.values():
                m.assignment = b""
            self.propagate_assignment(fx, group, ErrorCode.REBALANCE_IN_PROGRESS)
        group.pending_sync.clear()
        fx.cancel(sync_key(group.group_id))
        initial = group.state is S.EMPTY
        if initial:
            # A new group waits group.initial.rebalance.delay.ms for more members (KIP-134).
            delay = self.cfg.initial_rebalance_delay_ms
            group.initial_delay = (delay, max(group.rebalance_timeout_ms() - delay, 0))
            fx.schedule(join_key(group.group_id), delay)
        group.transition_to(S.PREPARING_REBALANCE, fx.now_ms)
        if not initial:
            if group.has_all_members_joined():
                self.complete_join(fx, group)
            else:
                group.initial_delay = None
                fx.schedule(join_key(group.group_id), group.rebalance_timeout_ms())

    def maybe_complete_join_phase(self, fx: Effects, group: ClassicGroup) -> None:
        if group.state is not S.PREPARING_REBALANCE or group.previous_state is S.EMPTY:
            return  # the initial-delay timer completes a new group's first join
        if group.has_all_members_joined():
            self.complete_join(fx, group)

    def complete_join(self, fx: Effects, group: ClassicGroup) -> None:
        fx.cancel(join_key(group.group_id))
        group.initial_delay = None
        for m in group.not_yet_rejoined():
            if m.group_instance_id is None:  # static members keep their place across a missed round
                self.drop(fx, group, m.member_id)
        if group.state is S.DEAD:
            return
        if not group.maybe_elect_new_joined_leader() and group.members:
            # Nobody rejoined: wait another rebalance timeout for session expiry to clear the group.
            fx.schedule(join_key(group.group_id), group.rebalance_timeout_ms())
            return
        group.init_next_generation(fx.now_ms)
        if group.state is S.EMPTY:
            fx.records.append(group_record(group, {}))
            return
        members = member_list(group)
        for m in group.members.values():
            is_leader = group.is_leader(m.member_id)
            if m.join_handle is not None:
                fx.complete(m.join_handle, JoinGroupResponse(
                    ErrorCode.NONE, m.member_id, group.generation_id, group.protocol_type,
                    group.protocol_name, group.leader_id or "", False, members if is_leader else ()))
                m.join_handle = None
            self.reschedule_heartbeat(fx, group, m)
            m.is_new = False
            group.pending_sync.add(m.member_id)
        group.sync_generation = group.generation_id
        fx.schedule(sync_key(group.group_id), group.rebalance_timeout_ms())

    def propagate_assignment(self, fx: Effects, group: ClassicGroup, error: ErrorCode) -> None:
        ok = error is ErrorCode.NONE
        for m in group.members.values():
            if m.sync_handle is not None:
                fx.complete(m.sync_handle, SyncGroupResponse(
                    error, group.protocol_type if ok else None, group.protocol_name if ok else None,
                    m.assignment))
                m.sync_handle = None
                # Parked members were immune to expiry; restart their session now.
                self.reschedule_heartbeat(fx, group, m)

    def remove_member_and_update(self, fx: Effects, group: ClassicGroup, member: Member) -> None:
        self.drop(fx, group, member.member_id)
        if group.state in (S.STABLE, S.COMPLETING_REBALANCE):
            self.maybe_prepare_rebalance_or_complete_join(fx, group)
        elif group.state is S.PREPARING_REBALANCE and group.has_all_members_joined():
            self.complete_join(fx, group)

    # -- timers --------------------------------------------------------------------------------

    def on_timer(self, fx: Effects, key: TimerKey) -> None:
        group = self.groups.get(key.key)
        if group is None or group.state is S.DEAD:
            return
        if key.kind == HEARTBEAT:
            self._expire_heartbeat(fx, group, key.member)
        elif key.kind == JOIN and group.state is S.PREPARING_REBALANCE:
            if group.initial_delay is not None:
                self._try_complete_initial_rebalance(fx, group)
            else:
                self.complete_join(fx, group)
        elif key.kind == SYNC:
            self._expire_pending_sync(fx, group)

    def _expire_heartbeat(self, fx: Effects, group: ClassicGroup, member_id: str) -> None:
        if member_id in group.pending_join:
            # A MEMBER_ID_REQUIRED id that never came back.
            group.remove(member_id)
            if group.state is S.PREPARING_REBALANCE and group.has_all_members_joined():
                self.complete_join(fx, group)
            return
        member = group.members.get(member_id)
        if member is not None and not member.has_satisfied_heartbeat():
            self.remove_member_and_update(fx, group, member)

    def _try_complete_initial_rebalance(self, fx: Effects, group: ClassicGroup) -> None:
        assert group.initial_delay is not None
        delay, remaining = group.initial_delay
        if group.new_member_added and remaining != 0:
            # Someone joined during the delay: wait again, within the rebalance timeout.
            group.new_member_added = False
            new_delay = min(self.cfg.initial_rebalance_delay_ms, remaining)
            group.initial_delay = (new_delay, max(remaining - delay, 0))
            fx.schedule(join_key(group.group_id), new_delay)
        else:
            self.complete_join(fx, group)

    def _expire_pending_sync(self, fx: Effects, group: ClassicGroup) -> None:
        if group.sync_generation != group.generation_id:
            return
        if group.state in (S.COMPLETING_REBALANCE, S.STABLE) and group.pending_sync:
            for member_id in sorted(group.pending_sync):
                self.drop(fx, group, member_id)
            self.prepare_rebalance(fx, group)
