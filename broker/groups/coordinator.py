"""The classic group coordinator: an I/O-free state machine, ``(now_ms, request) -> CoordinatorResult``.

Shaped like Kafka's ``GroupCoordinatorShard``: every call returns its response (or a handle for a parked
JoinGroup/SyncGroup), replies completed for earlier parked requests, the ``__consumer_offsets`` records
to append, and timer commands; ``fire_timer`` runs an expired timer; ``replay`` rebuilds the state from
the log at startup, and ``on_loaded`` then arms the timers (as ``GroupMetadataManager.onLoaded``).
Committed offsets and tombstones change memory only through ``replay``, which the runtime
(broker/coordinator/runtime.py) calls once their append is durable (the same path as at recovery), so a
failed append leaves no offset behind. Membership changes are made in memory at once (Kafka's classic
groups do the same, ``replayRecords=false``): those calls snapshot the group first (``Effects.keep``) and
the runtime restores it when their GroupMetadata record cannot be appended.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from pykafka_broker.broker.coordinator.result import (
    EXPIRATION,
    EXPIRATION_KEY,
    CoordinatorResult,
    Effects,
    R,
    TimerKey,
    TimerTable,
)
from pykafka_broker.broker.groups import offsets as off
from pykafka_broker.broker.groups import records as rec
from pykafka_broker.broker.groups.api import (
    DeleteGroups,
    DeleteGroupsResponse,
    DescribedGroup,
    DescribedMember,
    DescribeGroups,
    DescribeGroupsResponse,
    GroupConfig,
    Heartbeat,
    HeartbeatResponse,
    JoinGroup,
    JoinGroupResponse,
    LeaveGroup,
    LeaveGroupResponse,
    ListedGroup,
    ListGroups,
    ListGroupsResponse,
    OffsetCommit,
    OffsetCommitResponse,
    OffsetDelete,
    OffsetDeleteResponse,
    OffsetFetch,
    OffsetFetchGroup,
    OffsetFetchResponse,
    SyncGroup,
    SyncGroupResponse,
    TxnOffsetCommit,
)
from pykafka_broker.broker.groups.membership import Membership
from pykafka_broker.broker.groups.rebalance import Rebalancer
from pykafka_broker.broker.groups.state import ClassicGroup, GroupState, Member
from pykafka_broker.broker.groups.txn_offsets import PendingTxnOffsets
from pykafka_broker.protocol.errors import ErrorCode, KafkaError

S = GroupState
E = ErrorCode
GROUP_ID_NOT_FOUND_DESCRIBE_VERSION = 6  # DescribeGroups v6 (KIP-1043) reports unknown groups as errors
GROUP_ID_NOT_FOUND_COMMIT_VERSION = 9  # OffsetCommit v9 answers GROUP_ID_NOT_FOUND, not ILLEGAL_GENERATION


class GroupCoordinator:
    def __init__(self, config: GroupConfig | None = None, new_uuid: Callable[[], str] | None = None,
                 partition_of: Callable[[str], int] = lambda group_id: 0) -> None:
        self.config = config or GroupConfig()
        self._partition_of = partition_of  # the __consumer_offsets partition of a group
        self.groups: dict[str, ClassicGroup] = {}
        self.offsets = off.OffsetStore()
        self.pending = PendingTxnOffsets()
        self._rebalancer = Rebalancer(self.config, self.groups)
        self._membership = Membership(self.config, self.groups, self._rebalancer,
                                      new_uuid or (lambda: str(uuid.uuid4())))
        self.timers = TimerTable()
        self._next_handle = 0

    # -- group membership ----------------------------------------------------------------------

    def join_group(self, now_ms: int, req: JoinGroup) -> CoordinatorResult[JoinGroupResponse]:
        fx, handle = self._membership_effects(now_ms, req.group_id), self._handle()
        return self._finish(fx, self._membership.join(fx, req, handle), handle)

    def sync_group(self, now_ms: int, req: SyncGroup) -> CoordinatorResult[SyncGroupResponse]:
        fx, handle = self._membership_effects(now_ms, req.group_id), self._handle()
        return self._finish(fx, self._membership.sync(fx, req, handle), handle)

    def heartbeat(self, now_ms: int, req: Heartbeat) -> CoordinatorResult[HeartbeatResponse]:
        fx = Effects(now_ms, replay=False)  # writes no record: nothing to snapshot
        return self._finish(fx, self._membership.heartbeat(fx, req))

    def leave_group(self, now_ms: int, req: LeaveGroup) -> CoordinatorResult[LeaveGroupResponse]:
        fx = self._membership_effects(now_ms, req.group_id)
        return self._finish(fx, self._membership.leave(fx, req))

    def fire_timer(self, now_ms: int, key: TimerKey) -> CoordinatorResult[None]:
        """Run an expired timer. A key that was cancelled or rescheduled later is ignored."""
        if key.kind == EXPIRATION:
            fx = Effects(now_ms)  # tombstones only: they reach memory by replay
            if self.timers.due(fx, key):
                self._cleanup_group_metadata(fx)
        else:
            fx = self._membership_effects(now_ms, key.key)
            if self.timers.due(fx, key):
                self._rebalancer.on_timer(fx, key)
        return self._finish(fx, None)

    def _membership_effects(self, now_ms: int, group_id: str) -> Effects:
        """Effects of a call that changes ``group_id``'s membership in memory (undone on a failed append)."""
        fx = Effects(now_ms, replay=False)
        fx.keep(self.groups, group_id, ClassicGroup.snapshot)
        return fx

    # -- offsets -------------------------------------------------------------------------------

    def offset_commit(self, now_ms: int, req: OffsetCommit) -> CoordinatorResult[OffsetCommitResponse]:
        fx = Effects(now_ms)
        group = self.groups.get(req.group_id)
        if group is None:
            if req.generation_id >= 0:
                error = (E.GROUP_ID_NOT_FOUND if req.api_version >= GROUP_ID_NOT_FOUND_COMMIT_VERSION
                         else E.ILLEGAL_GENERATION)
                return self._finish(fx, req.error_response(error))
            group = self._simple_group(fx, req.group_id)
        try:
            _validate_offset_commit(group, req)
        except KafkaError as exc:
            return self._finish(fx, req.error_response(exc.code))
        member = group.members.get(req.member_id)
        if member is not None and group.state in (S.STABLE, S.PREPARING_REBALANCE):
            self._rebalancer.reschedule_heartbeat(fx, group, member)  # a commit keeps the session alive
        topics, records = off.commit_records(req.group_id, req.topics, now_ms, req.retention_time_ms,
                                             self.config.offset_metadata_max_bytes)
        fx.records.extend(records)
        return self._finish(fx, OffsetCommitResponse(topics))

    def txn_offset_commit(self, now_ms: int, req: TxnOffsetCommit) -> CoordinatorResult[OffsetCommitResponse]:
        """The group half of TxnOffsetCommit (``OffsetMetadataManager.commitTransactionalOffset``): the
        records go in the producer's transactional batch and the offsets stay pending until its marker."""
        fx = Effects(now_ms)
        group = self.groups.get(req.group_id)
        if group is None:
            if req.generation_id >= 0:
                return self._finish(fx, req.error_response(E.ILLEGAL_GENERATION))
            group = self._simple_group(fx, req.group_id)
        try:
            _validate_offset_commit(group, req, transactional=True)
        except KafkaError as exc:
            return self._finish(fx, req.error_response(exc.code))
        # Written in the producer's transactional batch; replayed as pending offsets of that producer.
        topics, records = off.commit_records(req.group_id, req.topics, now_ms, off.DEFAULT_RETENTION_TIME,
                                             self.config.offset_metadata_max_bytes)
        fx.records.extend(records)
        return self._finish(fx, OffsetCommitResponse(topics))

    def _simple_group(self, fx: Effects, group_id: str) -> ClassicGroup:
        """A consumer without group management (or the admin client) commits: a "simple" group."""
        fx.keep(self.groups, group_id, ClassicGroup.snapshot)
        group = self.groups[group_id] = ClassicGroup(group_id, S.EMPTY, fx.now_ms)
        return group

    def complete_txn(self, producer_id: int, committed: bool, in_partition: Callable[[str], bool]) -> int:
        """A COMMIT/ABORT marker of ``producer_id`` reached the offsets partition holding the groups
        ``in_partition`` selects (live, or replayed at startup): materialise or drop its pending offsets.
        Returns how many offsets were completed."""
        taken = self.pending.complete(producer_id, in_partition)
        if committed:
            for group_id, topic, partition, value in taken:
                if group_id not in self.groups:
                    self.groups[group_id] = ClassicGroup(group_id, S.EMPTY, None)
                self.offsets.put(group_id, topic, partition, value)
        return len(taken)

    def offset_fetch(self, now_ms: int, req: OffsetFetch) -> CoordinatorResult[OffsetFetchResponse]:
        results = []
        for group_id, topics in req.groups:
            group = self.groups.get(group_id)
            known = group is not None and group.state is not S.DEAD
            unstable = None
            if req.require_stable and self.pending.has_group(group_id):
                def unstable(t: str, p: int, g: str = group_id) -> bool:
                    return self.pending.is_pending(g, t, p)
            fetched = off.fetch(self.offsets, group_id, known, topics, unstable)
            results.append(OffsetFetchGroup(group_id, E.NONE, fetched))
        return self._finish(Effects(now_ms), OffsetFetchResponse(tuple(results)))

    def offset_delete(self, now_ms: int, req: OffsetDelete) -> CoordinatorResult[OffsetDeleteResponse]:
        fx = Effects(now_ms)
        if not req.group_id:
            return self._finish(fx, OffsetDeleteResponse(E.INVALID_GROUP_ID))
        group = self.groups.get(req.group_id)
        if group is None or group.state is S.DEAD:
            return self._finish(fx, OffsetDeleteResponse(E.GROUP_ID_NOT_FOUND))
        if group.state is not S.EMPTY and not group.uses_consumer_protocol():
            return self._finish(fx, OffsetDeleteResponse(E.NON_EMPTY_GROUP))
        topics, records = off.delete_records(self.offsets, group, req.topics)
        fx.records.extend(records)
        return self._finish(fx, OffsetDeleteResponse(E.NONE, topics))

    # -- admin ---------------------------------------------------------------------------------

    def list_groups(self, now_ms: int, req: ListGroups) -> CoordinatorResult[ListGroupsResponse]:
        states = {s.strip().lower() for s in req.states_filter}
        types = {t.strip().lower() for t in req.types_filter}
        listed = tuple(
            ListedGroup(g.group_id, g.protocol_type or "", g.state.value)
            for g in self.groups.values()
            if (not states or g.state.value.lower() in states) and (not types or "classic" in types)
        )
        return self._finish(Effects(now_ms), ListGroupsResponse(E.NONE, listed))

    def describe_groups(self, now_ms: int, req: DescribeGroups) -> CoordinatorResult[DescribeGroupsResponse]:
        described = []
        for group_id in req.group_ids:
            group = self.groups.get(group_id)
            if group is None:
                v6 = req.api_version >= GROUP_ID_NOT_FOUND_DESCRIBE_VERSION
                error = E.GROUP_ID_NOT_FOUND if v6 else E.NONE
                described.append(DescribedGroup(error, group_id, S.DEAD.value, "", "", ()))
            else:
                described.append(describe(group))
        return self._finish(Effects(now_ms), DescribeGroupsResponse(tuple(described)))

    def delete_groups(self, now_ms: int, req: DeleteGroups) -> CoordinatorResult[DeleteGroupsResponse]:
        fx = Effects(now_ms)
        results = []
        for group_id in req.group_ids:
            group = self.groups.get(group_id)
            if group is None or group.state is S.DEAD:
                results.append((group_id, E.GROUP_ID_NOT_FOUND))
            elif group.state is not S.EMPTY:
                results.append((group_id, E.NON_EMPTY_GROUP))
            else:
                fx.records.extend(off.all_tombstones(self.offsets, group_id))
                fx.records.append((rec.group_metadata_key(group_id), None))
                results.append((group_id, E.NONE))
        return self._finish(fx, DeleteGroupsResponse(tuple(results)))

    def _cleanup_group_metadata(self, fx: Effects) -> None:
        """The periodic job: expire offsets (offsets.retention.minutes) and drop empty groups left
        without any (``GroupCoordinatorShard.cleanupGroupMetadata``)."""
        for group in list(self.groups.values()):
            tombstones, all_expired = off.expired_tombstones(self.offsets, group, fx.now_ms,
                                                             self.config.offsets_retention_ms)
            fx.records.extend(tombstones)
            if all_expired and group.state is S.EMPTY:
                fx.records.append((rec.group_metadata_key(group.group_id), None))
        fx.schedule(EXPIRATION_KEY, self.config.offsets_retention_check_interval_ms)

    # -- loading -------------------------------------------------------------------------------

    def replay(self, key: bytes, value: bytes | None, producer_id: int = -1) -> None:
        """Apply one ``__consumer_offsets`` record (startup, and our own offset records and tombstones once
        durable); a record of a transactional batch (``producer_id`` >= 0) is a pending offset until that
        producer's marker."""
        k = rec.decode_key(key)
        if isinstance(k, rec.OffsetCommitKey):
            if value is None:
                if producer_id < 0:
                    self.offsets.remove(k.group_id, k.topic, k.partition)
                return
            if k.group_id not in self.groups:
                self.groups[k.group_id] = ClassicGroup(k.group_id, S.EMPTY, None)  # a simple group
            decoded = rec.decode_offset_commit_value(value)
            if producer_id >= 0:
                self.pending.put(producer_id, k.group_id, k.topic, k.partition, decoded)
            else:
                self.offsets.put(k.group_id, k.topic, k.partition, decoded)
        elif isinstance(k, rec.GroupMetadataKey):
            if value is None:
                self.groups.pop(k.group_id, None)
            else:
                self.groups[k.group_id] = _loaded_group(k.group_id, rec.decode_group_metadata_value(value))

    def replay_marker(self, partition: int, producer_id: int, committed: bool) -> None:
        """A COMMIT/ABORT marker of ``producer_id`` is in ``__consumer_offsets-<partition>``."""
        self.complete_txn(producer_id, committed, lambda group_id: self._partition_of(group_id) == partition)

    def record_owner(self, key: bytes) -> str:
        k = rec.decode_key(key)
        return k.group_id if k is not None else ""

    def on_loaded(self, now_ms: int) -> CoordinatorResult[None]:
        """After replay: loaded members must heartbeat within their session timeout, and the retention
        job starts. Loaded groups with members are Stable, as in Kafka after a coordinator failover."""
        fx = Effects(now_ms, replay=False)
        for group in self.groups.values():
            for member in group.members.values():
                self._rebalancer.reschedule_heartbeat(fx, group, member)
            if len(group.members) > self.config.max_size:
                self._rebalancer.prepare_rebalance(fx, group)
        fx.schedule(EXPIRATION_KEY, self.config.offsets_retention_check_interval_ms)
        return self._finish(fx, None)

    # -- inspection ----------------------------------------------------------------------------

    def member_count(self, group_id: str) -> int:
        group = self.groups.get(group_id)
        return 0 if group is None else len(group.members)

    def describe(self, group_id: str) -> DescribedGroup | None:
        group = self.groups.get(group_id)
        return None if group is None else describe(group)

    def pending_timers(self) -> dict[TimerKey, int]:
        """Armed timers and their deadlines (what the driver should hold after applying every result)."""
        return self.timers.pending()

    # -- internals -----------------------------------------------------------------------------

    def _handle(self) -> int:
        self._next_handle += 1
        return self._next_handle

    def _finish(self, fx: Effects, response: R | None, handle: int | None = None) -> CoordinatorResult[R]:
        return self.timers.finish(fx, response, handle if response is None else None)


def _validate_offset_commit(group: ClassicGroup, req: OffsetCommit | TxnOffsetCommit,
                            transactional: bool = False) -> None:
    """``ClassicGroup.validateOffsetCommit``: a transactional commit without member and generation
    (TxnOffsetCommit v0-2 carry none) is accepted in any state, and not refused in CompletingRebalance."""
    if group.state is S.DEAD:
        raise KafkaError(E.COORDINATOR_NOT_AVAILABLE)
    if req.generation_id < 0 and group.state is S.EMPTY:
        return  # admin client or a consumer without group management
    if req.generation_id >= 0 or req.member_id or req.group_instance_id is not None:
        group.validate_member(req.member_id, req.group_instance_id)
        if req.generation_id != group.generation_id:
            raise KafkaError(E.ILLEGAL_GENERATION)
    elif not transactional and group.state is not S.EMPTY:
        raise KafkaError(E.UNKNOWN_MEMBER_ID)
    if not transactional and group.state is S.COMPLETING_REBALANCE:
        raise KafkaError(E.REBALANCE_IN_PROGRESS)


def _describe_member(m: Member, protocol: str | None) -> DescribedMember:
    return DescribedMember(m.member_id, m.group_instance_id, m.client_id, m.client_host,
                           m.metadata(protocol) if protocol is not None else b"", m.assignment)


def describe(group: ClassicGroup) -> DescribedGroup:
    """DescribeGroups for one group: member metadata and the protocol only once Stable, as Kafka."""
    protocol = group.protocol_name if group.state is S.STABLE else None
    members = tuple(_describe_member(m, protocol) for m in group.members.values())
    return DescribedGroup(E.NONE, group.group_id, group.state.value, group.protocol_type or "",
                          protocol or "", members)


def _loaded_group(group_id: str, value: rec.GroupMetadataValue) -> ClassicGroup:
    group = ClassicGroup(
        group_id, S.STABLE if value.members else S.EMPTY,
        None if value.current_state_timestamp_ms == -1 else value.current_state_timestamp_ms,
        generation_id=value.generation, protocol_type=value.protocol_type or None,
        protocol_name=value.protocol, leader_id=value.leader,
    )
    for m in value.members:
        rebalance_timeout = m.session_timeout_ms if m.rebalance_timeout_ms == -1 else m.rebalance_timeout_ms
        group.add(Member(m.member_id, m.group_instance_id, m.client_id, m.client_host, rebalance_timeout,
                         m.session_timeout_ms, value.protocol_type, [(value.protocol or "", m.subscription)],
                         m.assignment))
    group.subscribed_topics = group.compute_subscribed_topics()
    return group
