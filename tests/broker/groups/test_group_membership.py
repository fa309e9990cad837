"""JoinGroup / SyncGroup / Heartbeat / LeaveGroup and the rebalance timers, against Kafka's rules."""

from __future__ import annotations

import pytest

from pykafka_broker.broker.groups import GroupState, LeaveGroup
from pykafka_broker.broker.groups.records import GroupMetadataKey, decode_group_metadata_value, decode_key
from pykafka_broker.protocol.errors import ErrorCode as E

S = GroupState


def test_valid_previous_states_match_kafka() -> None:
    assert S.EMPTY.valid_previous == {S.PREPARING_REBALANCE}
    assert S.PREPARING_REBALANCE.valid_previous == {S.STABLE, S.COMPLETING_REBALANCE, S.EMPTY}
    assert S.COMPLETING_REBALANCE.valid_previous == {S.PREPARING_REBALANCE}
    assert S.STABLE.valid_previous == {S.COMPLETING_REBALANCE}
    assert S.DEAD.valid_previous == set(S)


def test_illegal_transition_is_refused(h) -> None:
    h.form(1)
    with pytest.raises(AssertionError):
        h.group().transition_to(S.EMPTY, h.now)


def test_member_id_required_then_full_lifecycle(h) -> None:
    first = h.join(client="app").response
    assert first.error_code is E.MEMBER_ID_REQUIRED and first.member_id == "app-u1"
    assert h.group().state is S.EMPTY and h.group().pending_join == {"app-u1"}
    assert isinstance(decode_key(h.log[0][0]), GroupMetadataKey)  # the new group is made durable

    join = h.join("app-u1", client="app")
    assert join.response is None and join.handle is not None
    assert h.group().state is S.PREPARING_REBALANCE
    h.advance(0)  # group.initial.rebalance.delay.ms = 0
    reply = h.reply(join)
    assert (reply.error_code, reply.generation_id, reply.leader, reply.protocol_name) == (
        E.NONE,
        1,
        "app-u1",
        "range",
    )
    assert [m.member_id for m in reply.members] == ["app-u1"]
    assert h.group().state is S.COMPLETING_REBALANCE

    assert h.heartbeat("app-u1", 1) is E.NONE  # heartbeats are fine between join and sync
    sync = h.sync("app-u1", 1, assignments=[("app-u1", b"A")])
    assert sync.response.error_code is E.NONE and sync.response.assignment == b"A"
    assert h.group().state is S.STABLE
    value = decode_group_metadata_value(sync.records[0][1])
    assert (value.generation, value.protocol, value.leader) == (1, "range", "app-u1")
    assert [(m.member_id, m.assignment) for m in value.members] == [("app-u1", b"A")]

    left = h.leave("app-u1").response
    assert left.members[0].error_code is E.NONE
    assert h.group().state is S.EMPTY and h.group().generation_id == 2
    assert decode_group_metadata_value(h.log[-1][1]).members == ()


def test_pending_member_expires_after_session_timeout(h) -> None:
    member_id = h.new_member()
    h.advance(10_000)
    assert h.group().pending_join == set()
    assert h.join(member_id).response.error_code is E.UNKNOWN_MEMBER_ID


def test_protocol_selection_most_votes_among_common_protocols(h) -> None:
    a, b, c = (h.new_member() for _ in range(3))
    joins = [
        h.join(a, protocols=[("roundrobin", b"1"), ("range", b"1")]),
        h.join(b, protocols=[("range", b"2"), ("roundrobin", b"2")]),
        h.join(c, protocols=[("sticky", b"3"), ("range", b"3"), ("roundrobin", b"3")]),
    ]
    h.advance(0)
    assert {h.reply(j).protocol_name for j in joins} == {"range"}
    leader = h.reply(joins[0])
    assert {m.member_id: m.metadata for m in leader.members} == {a: b"1", b: b"2", c: b"3"}
    assert h.reply(joins[1]).members == ()


def test_followers_missing_from_leader_assignment_get_empty_bytes(h) -> None:
    a, b = (h.new_member() for _ in range(2))
    ja, jb = h.join(a), h.join(b)
    h.advance(0)
    gen = h.reply(ja).generation_id
    parked = h.sync(b, gen)
    assert parked.response is None
    done = h.sync(a, gen, assignments=[(a, b"mine")])
    assert done.response.assignment == b"mine"
    assert dict(done.completed)[parked.handle].assignment == b""
    assert h.group().state is S.STABLE
    assert h.reply(jb).leader == a


def test_session_expiry_removes_member_and_rebalances(h) -> None:
    a, b = h.form(2)
    for _ in range(2):
        h.advance(4_000)
        assert h.heartbeat(a, 1) is E.NONE
    h.advance(4_000)
    assert b not in h.group().members  # b's 10 s session ran out
    assert h.group().state is S.PREPARING_REBALANCE
    assert h.heartbeat(a, 1) is E.REBALANCE_IN_PROGRESS
    rejoin = h.join(a)
    reply = h.reply(rejoin)
    assert (reply.error_code, reply.generation_id, [m.member_id for m in reply.members]) == (E.NONE, 2, [a])
    assert h.group().state is S.COMPLETING_REBALANCE


def test_rebalance_timeout_drops_members_that_did_not_rejoin(h) -> None:
    a, b = h.form(2)
    rejoin = h.join(a)  # the leader's join always starts a rebalance
    assert rejoin.response is None and h.group().state is S.PREPARING_REBALANCE
    assert h.sync(b, 1).response.error_code is E.REBALANCE_IN_PROGRESS
    for _ in range(5):  # b heartbeats but never rejoins
        h.advance(5_000)
        assert h.heartbeat(b, 1) is E.REBALANCE_IN_PROGRESS
        assert h.reply(rejoin) is None
    h.advance(5_000)  # 30 s rebalance timeout
    reply = h.reply(rejoin)
    assert reply.generation_id == 2 and [m.member_id for m in reply.members] == [a]
    assert list(h.group().members) == [a]
    assert h.heartbeat(b, 1) is E.UNKNOWN_MEMBER_ID


def test_leader_leaving_mid_rebalance_hands_leadership_over(h) -> None:
    a, b, c = h.form(3)
    ja = h.join(a)
    assert h.group().state is S.PREPARING_REBALANCE
    h.leave(a)
    assert h.reply(ja).error_code is E.UNKNOWN_MEMBER_ID
    assert h.group().leader_id == b
    jb, jc = h.join(b), h.join(c)
    rb, rc = h.reply(jb), h.reply(jc)
    assert rb.leader == rc.leader == b and rb.generation_id == 2
    assert {m.member_id for m in rb.members} == {b, c} and rc.members == ()


def test_leader_that_does_not_rejoin_is_replaced_by_a_joined_member(h) -> None:
    a, b = h.form(2)
    jb = h.join(b, protocols=[("range", b"changed")])  # changed metadata: rebalance without the leader
    assert h.group().state is S.PREPARING_REBALANCE and h.reply(jb) is None
    h.advance(10_000)  # the leader neither heartbeats nor rejoins: its session expires
    assert a not in h.group().members
    reply = h.reply(jb)
    assert reply.leader == b and reply.generation_id == 2 and [m.member_id for m in reply.members] == [b]


def test_pending_sync_expiry_removes_members_that_never_synced(h) -> None:
    a, b = (h.new_member() for _ in range(2))
    h.join(a), h.join(b)
    h.advance(0)
    h.sync(a, 1, assignments=[(a, b"x"), (b, b"y")])
    assert h.group().state is S.STABLE and h.group().pending_sync == {b}
    for _ in range(6):  # both stay alive, but b never sends SyncGroup
        h.advance(5_000)
        assert h.heartbeat(a, 1) is E.NONE or h.group().state is S.PREPARING_REBALANCE
        h.heartbeat(b, 1)
    assert b not in h.group().members  # dropped at the 30 s rebalance timeout
    assert h.group().state is S.PREPARING_REBALANCE and h.group().generation_id == 1


def test_static_member_rejoin_keeps_assignment_without_rebalance(h) -> None:
    first = h.join(instance="i-a")  # static members skip MEMBER_ID_REQUIRED
    h.advance(0)
    old = h.reply(first).member_id
    assert old == "i-a-u1"
    other = h.new_member()
    jo = h.join(other)
    jold = h.join(old, instance="i-a")
    h.advance(0)
    gen = h.reply(jold).generation_id
    h.sync(other, gen)
    h.sync(old, gen, instance="i-a", assignments=[(old, b"static"), (other, b"dyn")])
    assert h.group().state is S.STABLE and h.reply(jo).error_code is E.NONE

    again = h.join(instance="i-a").response  # restarted: same instance, no member id
    assert again.error_code is E.NONE and again.generation_id == gen
    new = again.member_id
    assert new != old and h.group().state is S.STABLE and h.group().generation_id == gen
    assert again.skip_assignment is (h.group().leader_id == new)
    assert h.sync(new, gen, instance="i-a").response.assignment == b"static"
    assert h.heartbeat(old, gen, instance="i-a") is E.FENCED_INSTANCE_ID
    assert h.sync(old, gen, instance="i-a").response.error_code is E.FENCED_INSTANCE_ID
    assert h.heartbeat(other, gen) is E.NONE


def test_static_member_replacement_fences_parked_join(h) -> None:
    j = h.join(instance="i-a")
    h.advance(0)
    old = h.reply(j).member_id
    other = h.new_member()
    jo = h.join(other)
    h.join(old, instance="i-a")
    h.advance(0)
    h.sync(other, 2)
    h.sync(old, 2, instance="i-a", assignments=[(old, b"x")])
    assert h.group().state is S.STABLE and h.reply(jo).generation_id == 2
    parked = h.join(old, instance="i-a")  # the leader's rejoin parks until `other` rejoins
    assert parked.response is None
    replaced = h.join(instance="i-a")
    assert h.replies[parked.handle].error_code is E.FENCED_INSTANCE_ID
    assert h.group().static_members == {"i-a": "i-a-u3"}
    assert h.group().state is S.PREPARING_REBALANCE
    h.join(other)
    assert h.reply(replaced).member_id == "i-a-u3" and h.reply(replaced).generation_id == 3


def test_initial_rebalance_delay_waits_for_more_members(harness_factory) -> None:
    h = harness_factory(initial_rebalance_delay_ms=3_000)
    a, b = h.new_member(), h.new_member()
    ja = h.join(a)
    h.advance(2_000)
    jb = h.join(b)
    h.advance(1_000)
    assert h.reply(ja) is None  # b extended the delay
    h.advance(3_000)
    assert h.reply(ja).generation_id == h.reply(jb).generation_id == 1
    assert len(h.reply(ja).members) == 2


def test_heartbeat_in_empty_group_and_unknown_group(h) -> None:
    assert h.heartbeat("nobody", 0, group="missing") is E.UNKNOWN_MEMBER_ID
    h.new_member()
    assert h.heartbeat("nobody", 0) is E.UNKNOWN_MEMBER_ID


def test_leave_by_instance_id_and_unknown_members(h) -> None:
    j = h.join(instance="i-a")
    h.advance(0)
    h.sync(h.reply(j).member_id, 1, instance="i-a")
    leave = LeaveGroup("g", [("", "i-a", "bye"), ("x", None, None)])
    result = h.apply(h.coord.leave_group(h.now, leave))
    assert [m.error_code for m in result.response.members] == [E.NONE, E.UNKNOWN_MEMBER_ID]
    assert h.group().state is S.EMPTY
    assert h.leave("x", group="missing").response.error_code is E.UNKNOWN_MEMBER_ID


def test_second_member_joins_a_stable_group_as_kafkajs_does(h) -> None:
    """Issue 12's sequence (kafkajs: JoinGroup v5, heartbeats between fetches): the new member's join
    waits for the leader to learn of the rebalance by heartbeat and rejoin; one generation holds both."""
    (a,) = h.form(1)
    b = h.new_member()  # MEMBER_ID_REQUIRED: b is pending, the group stays Stable
    assert h.group().state is S.STABLE and h.heartbeat(a, 1) is E.NONE
    jb = h.join(b)
    assert h.group().state is S.PREPARING_REBALANCE and h.reply(jb) is None
    h.advance(5_000)  # kafkajs heartbeats after its 5 s fetch wait; the 30 s rebalance timeout is far
    assert h.reply(jb) is None
    assert h.heartbeat(a, 1) is E.REBALANCE_IN_PROGRESS
    ja = h.join(a)
    ra, rb = h.reply(ja), h.reply(jb)
    assert (ra.generation_id, rb.generation_id, ra.leader, rb.leader) == (2, 2, a, a)
    assert [m.member_id for m in ra.members] == [a, b] and rb.members == ()
    # Kafka answers heartbeats in CompletingRebalance NONE (members may heartbeat between join and
    # sync), an older generation ILLEGAL_GENERATION.
    assert h.heartbeat(b, 2) is E.NONE and h.heartbeat(a, 1) is E.ILLEGAL_GENERATION
    assert h.sync(b, 1).response.error_code is E.ILLEGAL_GENERATION
    sb = h.sync(b, 2)
    assert sb.response is None
    h.sync(a, 2, assignments=[(a, b"A"), (b, b"B")])
    assert h.reply(sb).assignment == b"B" and h.group().state is S.STABLE
    assert h.heartbeat(a, 2) is E.NONE and h.heartbeat(b, 2) is E.NONE
