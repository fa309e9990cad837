"""JoinGroup, SyncGroup, Heartbeat and LeaveGroup for classic groups.

Each entry point validates, answers at once with an error or the current generation, or parks the
request under a handle for ``Rebalancer`` to complete. Mirrors ``classicGroupJoinToClassicGroup``,
``classicGroupSyncToClassicGroup``, ``classicGroupHeartbeatToClassicGroup`` and
``classicGroupLeaveToClassicGroup`` of Kafka's ``GroupMetadataManager`` and the request checks of
``GroupCoordinatorService`` (group id, session timeout bounds).
"""

from __future__ import annotations

from collections.abc import Callable

from pykafka_broker.broker.coordinator.result import Effects
from pykafka_broker.broker.groups.api import (
    GroupConfig,
    Heartbeat,
    HeartbeatResponse,
    JoinGroup,
    JoinGroupResponse,
    LeaveGroup,
    LeaveGroupMemberResponse,
    LeaveGroupResponse,
    SyncGroup,
    SyncGroupResponse,
)
from pykafka_broker.broker.groups.rebalance import (
    Rebalancer,
    empty_group_record,
    generation_response,
    group_record,
    heartbeat_key,
    member_list,
    sync_key,
)
from pykafka_broker.broker.groups.state import ClassicGroup, GroupState, Member
from pykafka_broker.protocol.errors import ErrorCode, KafkaError

S = GroupState
E = ErrorCode
# JoinGroup v4 (KIP-394) makes a new dynamic member rejoin with an assigned id; v9 (KIP-814) lets a
# rejoining static leader skip the assignment.
MEMBER_ID_REQUIRED_VERSION = 4
SKIP_ASSIGNMENT_VERSION = 9


def _inconsistent(protocol: str | None, current: str | None) -> bool:
    return protocol is not None and current is not None and protocol != current


class Membership:
    def __init__(self, config: GroupConfig, groups: dict[str, ClassicGroup], rebalancer: Rebalancer,
                 new_uuid: Callable[[], str]) -> None:
        self.cfg = config
        self.groups = groups
        self.rb = rebalancer
        self._uuid = new_uuid

    # -- JoinGroup -----------------------------------------------------------------------------

    def join(self, fx: Effects, req: JoinGroup, handle: int) -> JoinGroupResponse | None:
        """The response, or None when parked (or completed) under ``handle``."""
        if not req.group_id:
            return JoinGroupResponse(E.INVALID_GROUP_ID, req.member_id)
        if not self.cfg.min_session_timeout_ms <= req.session_timeout_ms <= self.cfg.max_session_timeout_ms:
            return JoinGroupResponse(E.INVALID_SESSION_TIMEOUT, req.member_id)
        group = self.groups.get(req.group_id)
        is_new_group = group is None
        if group is None:
            if req.member_id:
                return JoinGroupResponse(E.UNKNOWN_MEMBER_ID, req.member_id)
            group = ClassicGroup(req.group_id, S.EMPTY, fx.now_ms)
            self.groups[req.group_id] = group
        n_records = len(fx.records)
        response: JoinGroupResponse | None
        if not self._accept_joining_member(group, req.member_id):
            if req.member_id in group.members:
                self.rb.drop(fx, group, req.member_id)
            group.pending_join.discard(req.member_id)
            response = JoinGroupResponse(E.GROUP_MAX_SIZE_REACHED)
        elif not req.member_id:
            response = self._join_new_member(fx, req, group, handle)
        else:
            response = self._join_existing_member(fx, req, group, handle)
        if is_new_group and len(fx.records) == n_records:
            fx.records.append(empty_group_record(group))  # makes the new group durable
        return response

    def _accept_joining_member(self, group: ClassicGroup, member_id: str) -> bool:
        member = group.members.get(member_id)
        if group.state is S.PREPARING_REBALANCE:
            if member is not None and member.awaiting_join:
                return True
            return group.awaiting_join_count() < self.cfg.max_size
        if group.state in (S.COMPLETING_REBALANCE, S.STABLE):
            return member is not None or len(group.members) < self.cfg.max_size
        return True

    def _join_new_member(self, fx: Effects, req: JoinGroup, group: ClassicGroup,
                         handle: int) -> JoinGroupResponse | None:
        if group.state is S.DEAD:
            return JoinGroupResponse(E.COORDINATOR_NOT_AVAILABLE)
        if not group.supports_protocols(req.protocol_type, [name for name, _ in req.protocols]):
            return JoinGroupResponse(E.INCONSISTENT_GROUP_PROTOCOL)
        new_id = f"{req.group_instance_id or req.client_id}-{self._uuid()}"
        if req.group_instance_id is not None:
            existing = group.static_members.get(req.group_instance_id)
            if existing is not None:
                return self._replace_static_member(fx, req, group, existing, new_id, handle)
            return self._add_member(fx, req, group, new_id, handle)
        if req.api_version >= MEMBER_ID_REQUIRED_VERSION:
            group.pending_join.add(new_id)
            fx.schedule(heartbeat_key(group.group_id, new_id), req.session_timeout_ms)
            return JoinGroupResponse(E.MEMBER_ID_REQUIRED, new_id)
        return self._add_member(fx, req, group, new_id, handle)

    def _join_existing_member(self, fx: Effects, req: JoinGroup, group: ClassicGroup,
                              handle: int) -> JoinGroupResponse | None:
        member_id = req.member_id
        if group.state is S.DEAD:
            return JoinGroupResponse(E.COORDINATOR_NOT_AVAILABLE, member_id)
        if not group.supports_protocols(req.protocol_type, [name for name, _ in req.protocols]):
            return JoinGroupResponse(E.INCONSISTENT_GROUP_PROTOCOL, member_id)
        if member_id in group.pending_join:
            if req.group_instance_id is not None:  # pending ids are only handed to dynamic members
                return JoinGroupResponse(E.UNKNOWN_SERVER_ERROR, member_id)
            return self._add_member(fx, req, group, member_id, handle)
        try:
            group.validate_member(member_id, req.group_instance_id)
        except KafkaError as exc:
            return JoinGroupResponse(exc.code, member_id)
        member = group.members[member_id]
        if group.state is S.PREPARING_REBALANCE:
            return self._update_member(fx, req, group, member, handle)
        if group.state is S.COMPLETING_REBALANCE:
            if member.matches(req.protocols):
                # It missed the join response: send the current generation again.
                return generation_response(group, member_id, with_members=group.is_leader(member_id))
            return self._update_member(fx, req, group, member, handle)
        if group.state is S.STABLE:
            if group.is_leader(member_id) or not member.matches(req.protocols):
                # The leader's join always rebalances (topic metadata may have changed).
                return self._update_member(fx, req, group, member, handle)
            return generation_response(group, member_id, with_members=False)
        return JoinGroupResponse(E.UNKNOWN_MEMBER_ID, member_id)  # Empty: reset and rejoin

    def _add_member(self, fx: Effects, req: JoinGroup, group: ClassicGroup, member_id: str,
                    handle: int) -> JoinGroupResponse | None:
        member = Member(member_id, req.group_instance_id, req.client_id, req.client_host,
                        _rebalance_timeout(req), req.session_timeout_ms, req.protocol_type,
                        [(n, bytes(m)) for n, m in req.protocols], join_handle=handle, is_new=True)
        if group.state is S.PREPARING_REBALANCE and group.previous_state is S.EMPTY:
            group.new_member_added = True  # extends the initial delay
        group.add(member)
        # A parked new member cannot heartbeat; bound its wait instead of its session.
        self.rb.reschedule_heartbeat(fx, group, member, self.cfg.new_member_join_timeout_ms)
        self.rb.maybe_prepare_rebalance_or_complete_join(fx, group)
        return None

    def _update_member(self, fx: Effects, req: JoinGroup, group: ClassicGroup, member: Member,
                       handle: int) -> JoinGroupResponse | None:
        if member.join_handle is not None:  # a retried join supersedes the parked one
            fx.complete(member.join_handle, JoinGroupResponse(E.REBALANCE_IN_PROGRESS, member.member_id))
        group.update_member(member, req.protocols, _rebalance_timeout(req), req.session_timeout_ms, handle)
        self.rb.maybe_prepare_rebalance_or_complete_join(fx, group)
        return None

    def _replace_static_member(self, fx: Effects, req: JoinGroup, group: ClassicGroup, old_id: str,
                               new_id: str, handle: int) -> JoinGroupResponse | None:
        """A known group.instance.id came back without a member id (KIP-345)."""
        assert req.group_instance_id is not None
        current_leader = group.leader_id
        old, new = group.replace_static_member(req.group_instance_id, old_id, new_id)
        self.rb.release(fx, old, E.FENCED_INSTANCE_ID)
        fx.cancel(heartbeat_key(group.group_id, old_id))
        self.rb.reschedule_heartbeat(fx, group, new)
        group.update_member(new, req.protocols, _rebalance_timeout(req), req.session_timeout_ms, handle)
        if group.state is S.STABLE:
            if group.protocol_name == group.select_protocol():
                # Same protocol: no rebalance; the member gets its old assignment on SyncGroup.
                fx.records.append(group_record(group, group.assignments()))
                new.join_handle = None
                if req.api_version >= SKIP_ASSIGNMENT_VERSION:
                    is_leader = group.is_leader(new_id)
                    return JoinGroupResponse(E.NONE, new_id, group.generation_id, group.protocol_type,
                                             group.protocol_name, group.leader_id or "", is_leader,
                                             member_list(group) if is_leader else ())
                return JoinGroupResponse(E.NONE, new_id, group.generation_id, group.protocol_type,
                                         group.protocol_name, current_leader or "")
            self.rb.maybe_prepare_rebalance_or_complete_join(fx, group)
        elif group.state is S.COMPLETING_REBALANCE:
            # The leader may be assigning to the old id: run a new round.
            self.rb.prepare_rebalance(fx, group)
        else:
            self.rb.maybe_complete_join_phase(fx, group)
        return None

    # -- SyncGroup -----------------------------------------------------------------------------

    def sync(self, fx: Effects, req: SyncGroup, handle: int) -> SyncGroupResponse | None:
        if not req.group_id:
            return SyncGroupResponse(E.INVALID_GROUP_ID)
        group = self.groups.get(req.group_id)
        if group is None or group.state is S.EMPTY:
            return SyncGroupResponse(E.UNKNOWN_MEMBER_ID)
        if group.state is S.DEAD:
            return SyncGroupResponse(E.COORDINATOR_NOT_AVAILABLE)
        try:
            group.validate_member(req.member_id, req.group_instance_id)
        except KafkaError as exc:
            return SyncGroupResponse(exc.code)
        if req.generation_id != group.generation_id:
            return SyncGroupResponse(E.ILLEGAL_GENERATION)
        if (_inconsistent(req.protocol_type, group.protocol_type)
                or _inconsistent(req.protocol_name, group.protocol_name)):
            return SyncGroupResponse(E.INCONSISTENT_GROUP_PROTOCOL)
        if group.state is S.PREPARING_REBALANCE:
            return SyncGroupResponse(E.REBALANCE_IN_PROGRESS)
        member = group.members[req.member_id]
        if group.state is S.STABLE:
            self._remove_pending_sync(fx, group, req.member_id)
            return SyncGroupResponse(E.NONE, group.protocol_type, group.protocol_name, member.assignment)
        # CompletingRebalance: park until the leader's assignment arrives.
        if member.sync_handle is not None:
            fx.complete(member.sync_handle, SyncGroupResponse(E.REBALANCE_IN_PROGRESS))
        member.sync_handle = handle
        self._remove_pending_sync(fx, group, req.member_id)
        if group.is_leader(req.member_id):
            assignment = {member_id: bytes(data) for member_id, data in req.assignments}
            for member_id in group.members:
                assignment.setdefault(member_id, b"")  # members the leader left out get nothing
            fx.records.append(group_record(group, assignment))
            for m in group.members.values():
                m.assignment = assignment[m.member_id]
            self.rb.propagate_assignment(fx, group, E.NONE)
            group.transition_to(S.STABLE, fx.now_ms)
        return None

    def _remove_pending_sync(self, fx: Effects, group: ClassicGroup, member_id: str) -> None:
        group.pending_sync.discard(member_id)
        if not group.pending_sync or group.state not in (S.COMPLETING_REBALANCE, S.STABLE):
            fx.cancel(sync_key(group.group_id))

    # -- Heartbeat -----------------------------------------------------------------------------

    def heartbeat(self, fx: Effects, req: Heartbeat) -> HeartbeatResponse:
        if not req.group_id:
            return HeartbeatResponse(E.INVALID_GROUP_ID)
        group = self.groups.get(req.group_id)
        if group is None:
            return HeartbeatResponse(E.UNKNOWN_MEMBER_ID)
        if group.state is S.DEAD:
            return HeartbeatResponse(E.COORDINATOR_NOT_AVAILABLE)
        try:
            group.validate_member(req.member_id, req.group_instance_id)
        except KafkaError as exc:
            return HeartbeatResponse(exc.code)
        if req.generation_id != group.generation_id:
            return HeartbeatResponse(E.ILLEGAL_GENERATION)
        if group.state is S.EMPTY:
            return HeartbeatResponse(E.UNKNOWN_MEMBER_ID)
        self.rb.reschedule_heartbeat(fx, group, group.members[req.member_id])
        if group.state is S.PREPARING_REBALANCE:
            return HeartbeatResponse(E.REBALANCE_IN_PROGRESS)
        # CompletingRebalance too: members heartbeat between their join and sync responses.
        return HeartbeatResponse(E.NONE)

    # -- LeaveGroup ----------------------------------------------------------------------------

    def leave(self, fx: Effects, req: LeaveGroup) -> LeaveGroupResponse:
        if not req.group_id:
            return LeaveGroupResponse(E.INVALID_GROUP_ID)
        group = self.groups.get(req.group_id)
        if group is None:
            return LeaveGroupResponse(E.UNKNOWN_MEMBER_ID)
        if group.state is S.DEAD:
            return LeaveGroupResponse(E.COORDINATOR_NOT_AVAILABLE)
        results: list[LeaveGroupMemberResponse] = []
        for member_id, instance_id, _reason in req.members:
            error = E.NONE
            if not member_id:
                # Administrative removal by group.instance.id (KIP-345).
                if instance_id is not None and instance_id in group.static_members:
                    self.rb.drop(fx, group, group.static_members[instance_id])
                else:
                    error = E.UNKNOWN_MEMBER_ID
            elif member_id in group.pending_join:
                group.remove(member_id)
                fx.cancel(heartbeat_key(group.group_id, member_id))
            else:
                try:
                    group.validate_member(member_id, instance_id)
                    self.rb.drop(fx, group, member_id)
                except KafkaError as exc:
                    error = exc.code
            results.append(LeaveGroupMemberResponse(member_id, instance_id, error))
        if any(r.error_code is E.NONE for r in results):
            if group.state in (S.STABLE, S.COMPLETING_REBALANCE):
                self.rb.maybe_prepare_rebalance_or_complete_join(fx, group)
            elif group.state is S.PREPARING_REBALANCE:
                self.rb.maybe_complete_join_phase(fx, group)
        return LeaveGroupResponse(E.NONE, tuple(results))


def _rebalance_timeout(req: JoinGroup) -> int:
    return req.rebalance_timeout_ms if req.rebalance_timeout_ms >= 0 else req.session_timeout_ms
