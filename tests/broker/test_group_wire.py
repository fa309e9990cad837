"""Group APIs over a raw socket with kafka-python's message classes: one full group life cycle at every
version each API serves, and bad input answered with Kafka's error codes without disturbing the group.
"""

from __future__ import annotations

from typing import Any

import pytest
from kafka.protocol.admin import (
    CreateTopicsRequest,
    CreateTopicsResponse,
    DeleteGroupsRequest,
    DeleteGroupsResponse,
    DescribeGroupsRequest,
    DescribeGroupsResponse,
    ListGroupsRequest,
    ListGroupsResponse,
)
from kafka.protocol.consumer import (
    HeartbeatRequest,
    HeartbeatResponse,
    JoinGroupRequest,
    JoinGroupResponse,
    LeaveGroupRequest,
    LeaveGroupResponse,
    OffsetCommitRequest,
    OffsetCommitResponse,
    OffsetDeleteRequest,
    OffsetDeleteResponse,
    OffsetFetchRequest,
    OffsetFetchResponse,
    SyncGroupRequest,
    SyncGroupResponse,
)
from kafka.protocol.metadata import FindCoordinatorRequest, FindCoordinatorResponse
from test_bad_input import CREATE_TOPICS_V, Wire

from pykafka_broker.broker.groups.records import encode_subscription
from pykafka_broker.protocol.errors import ErrorCode as E

TOPIC = "wire-orders"
META = encode_subscription([TOPIC])
JG = JoinGroupRequest.JoinGroupRequestProtocol


@pytest.fixture
def bootstrap(broker_factory: Any) -> str:
    broker = broker_factory("offsets.topic.num.partitions=3")
    with Wire(broker.bootstrap) as w:
        ct = CreateTopicsRequest.CreatableTopic
        resp = w.request(CreateTopicsRequest(topics=[ct(name=TOPIC, num_partitions=2, replication_factor=1,
                                                         assignments=[], configs=[])],
                                             timeout_ms=10_000, validate_only=False),
                         CreateTopicsResponse, CREATE_TOPICS_V)
        assert resp.topics[0].error_code == 0
    return str(broker.bootstrap)


def clip(version: int, lo: int, hi: int) -> int:
    return max(lo, min(hi, version))


def join(w: Wire, group: str, v: int, member_id: str = "", protocols: list[Any] | None = None,
         protocol_type: str = "consumer") -> Any:
    req = JoinGroupRequest(group_id=group, session_timeout_ms=10_000, rebalance_timeout_ms=10_000,
                           member_id=member_id, group_instance_id=None, protocol_type=protocol_type,
                           protocols=[JG(name="range", metadata=META)] if protocols is None else protocols,
                           reason=None)
    return w.request(req, JoinGroupResponse, v)


def joined_member(w: Wire, group: str, v: int = 9) -> Any:
    """Join as the only member (MEMBER_ID_REQUIRED first from v4) and sync; the join response."""
    resp = join(w, group, v)
    if v >= 4:
        assert resp.error_code == E.MEMBER_ID_REQUIRED
        resp = join(w, group, v, resp.member_id)
    assert resp.error_code == 0 and resp.leader == resp.member_id, resp
    assert resp.protocol_name == "range"
    sv = clip(v, 0, 5)
    sa = SyncGroupRequest.SyncGroupRequestAssignment
    sync = w.request(SyncGroupRequest(group_id=group, generation_id=resp.generation_id,
                                      member_id=resp.member_id,
                                      group_instance_id=None, protocol_type="consumer", protocol_name="range",
                                      assignments=[sa(member_id=resp.member_id, assignment=b"A")]),
                     SyncGroupResponse, sv)
    assert sync.error_code == 0 and sync.assignment == b"A"
    return resp


def heartbeat(w: Wire, group: str, generation: int, member_id: str, v: int = 4) -> int:
    return w.request(HeartbeatRequest(group_id=group, generation_id=generation, member_id=member_id,
                                      group_instance_id=None), HeartbeatResponse, v).error_code


def commit(w: Wire, group: str, generation: int, member_id: str, offsets: dict[int, tuple[int, str]],
           v: int = 9, topic: str = TOPIC) -> dict[int, int]:
    ot = OffsetCommitRequest.OffsetCommitRequestTopic
    req = OffsetCommitRequest(group_id=group, generation_id_or_member_epoch=generation, member_id=member_id,
                              group_instance_id=None, retention_time_ms=-1,
                              topics=[ot(name=topic, partitions=[
                                  ot.OffsetCommitRequestPartition(partition_index=p, committed_offset=o,
                                                                  committed_leader_epoch=-1,
                                                                  committed_metadata=m)
                                  for p, (o, m) in offsets.items()])])
    resp = w.request(req, OffsetCommitResponse, v)
    return {p.partition_index: p.error_code for t in resp.topics for p in t.partitions}


def fetch(w: Wire, group: str, v: int = 9) -> dict[int, tuple[int, str | None]]:
    if v >= 8:
        g = OffsetFetchRequest.OffsetFetchRequestGroup
        req = OffsetFetchRequest(groups=[g(group_id=group, topics=[g.OffsetFetchRequestTopics(
            name=TOPIC, partition_indexes=[0, 1])])], require_stable=True)
        resp = w.request(req, OffsetFetchResponse, v)
        (grp,) = resp.groups
        assert grp.error_code == 0
        topics = grp.topics
    else:
        t = OffsetFetchRequest.OffsetFetchRequestTopic
        req = OffsetFetchRequest(group_id=group, topics=[t(name=TOPIC, partition_indexes=[0, 1])],
                                 require_stable=False)
        topics = w.request(req, OffsetFetchResponse, v).topics
    return {p.partition_index: (p.committed_offset, p.metadata) for t in topics for p in t.partitions}


def test_group_life_cycle_at_every_version(bootstrap: str) -> None:
    """v is the version used for every API, clipped to the range each one serves."""
    for v in range(10):
        try:
            life_cycle(bootstrap, v)
        except AssertionError as exc:
            raise AssertionError(f"at version {v}: {exc}") from exc


def life_cycle(bootstrap: str, v: int) -> None:
    group = f"life-{v}"
    with Wire(bootstrap) as w:
        fv = clip(v, 0, 6)
        found = w.request(FindCoordinatorRequest(key=group, key_type=0, coordinator_keys=[group]),
                          FindCoordinatorResponse, fv)
        if fv >= 4:
            (c,) = found.coordinators
            assert (c.key, c.error_code, c.node_id, c.port) == (group, 0, 1, int(bootstrap.rsplit(":", 1)[1]))
        else:
            assert (found.error_code, found.node_id) == (0, 1)
        member = joined_member(w, group, v)
        assert heartbeat(w, group, member.generation_id, member.member_id, clip(v, 0, 4)) == 0
        cv = clip(v, 2, 9)
        offsets = {0: (3, "m0"), 1: (5, "")}
        assert commit(w, group, member.generation_id, member.member_id, offsets, cv) == {0: 0, 1: 0}
        assert fetch(w, group, clip(v, 1, 9)) == {0: (3, "m0"), 1: (5, "")}
        listed = w.request(ListGroupsRequest(states_filter=["stable"], types_filter=["classic"]),
                           ListGroupsResponse, clip(v, 0, 5))
        assert group in [g.group_id for g in listed.groups]
        dv = clip(v, 0, 5)
        described = w.request(DescribeGroupsRequest(groups=[group], include_authorized_operations=True),
                              DescribeGroupsResponse, dv)
        (d,) = described.groups
        assert (d.error_code, d.group_state, d.protocol_type, d.protocol_data) == (
            0, "Stable", "consumer", "range")
        assert [(m.member_id, m.client_id, m.member_metadata, m.member_assignment) for m in d.members] == [
            (member.member_id, "bad-input-test", META, b"A")]
        lv = clip(v, 0, 5)
        mi = LeaveGroupRequest.MemberIdentity
        left = w.request(LeaveGroupRequest(group_id=group, member_id=member.member_id,
                                           members=[mi(member_id=member.member_id, group_instance_id=None,
                                                       reason="done")]), LeaveGroupResponse, lv)
        assert left.error_code == 0 and all(m.error_code == 0 for m in getattr(left, "members", None) or [])
        ot = OffsetDeleteRequest.OffsetDeleteRequestTopic
        deleted = w.request(OffsetDeleteRequest(group_id=group, topics=[ot(name=TOPIC, partitions=[
            ot.OffsetDeleteRequestPartition(partition_index=1)])]), OffsetDeleteResponse, 0)
        assert deleted.error_code == 0 and deleted.topics[0].partitions[0].error_code == 0
        assert fetch(w, group) == {0: (3, "m0"), 1: (-1, "")}
        gone = w.request(DeleteGroupsRequest(groups_names=[group, "never-there"]), DeleteGroupsResponse,
                         clip(v, 0, 2))
        assert {r.group_id: r.error_code for r in gone.results} == {
            group: 0, "never-there": E.GROUP_ID_NOT_FOUND}


def test_bad_group_input_gets_kafka_error_codes(bootstrap: str) -> None:
    with Wire(bootstrap) as w:
        member = joined_member(w, "calm")
        # JoinGroup with no protocols, or with another protocol type than the group's.
        assert join(w, "calm", 9, protocols=[]).error_code == E.INCONSISTENT_GROUP_PROTOCOL
        assert join(w, "fresh", 9, protocols=[]).error_code == E.INCONSISTENT_GROUP_PROTOCOL
        assert join(w, "calm", 9, protocol_type="connect").error_code == E.INCONSISTENT_GROUP_PROTOCOL
        assert join(w, "", 9).error_code == E.INVALID_GROUP_ID
        # SyncGroup from a member the group does not know.
        sync = w.request(SyncGroupRequest(group_id="calm", generation_id=member.generation_id,
                                          member_id="intruder", group_instance_id=None,
                                          protocol_type="consumer", protocol_name="range",
                                          assignments=[]), SyncGroupResponse, 5)
        assert sync.error_code == E.UNKNOWN_MEMBER_ID
        # Heartbeats for an unknown group, an unknown member, a stale generation.
        assert heartbeat(w, "no-such-group", 1, "m") == E.UNKNOWN_MEMBER_ID
        assert heartbeat(w, "calm", member.generation_id, "intruder") == E.UNKNOWN_MEMBER_ID
        assert heartbeat(w, "calm", member.generation_id + 7, member.member_id) == E.ILLEGAL_GENERATION
        # Commit metadata over offset.metadata.max.bytes (4096) fails that partition only.
        errors = commit(w, "calm", member.generation_id, member.member_id, {0: (1, "x" * 4097), 1: (2, "ok")})
        assert errors == {0: E.OFFSET_METADATA_TOO_LARGE, 1: 0}
        assert fetch(w, "calm") == {0: (-1, ""), 1: (2, "ok")}
        # Stale generation, unknown topic and partition, empty group id.
        stale = commit(w, "calm", member.generation_id - 1, member.member_id, {0: (1, "")})
        assert stale == {0: E.ILLEGAL_GENERATION}
        assert commit(w, "calm", member.generation_id, member.member_id, {0: (1, "")}, topic="nope") == {
            0: E.UNKNOWN_TOPIC_OR_PARTITION}
        assert commit(w, "calm", member.generation_id, member.member_id, {9: (1, "")}) == {
            9: E.UNKNOWN_TOPIC_OR_PARTITION}
        assert commit(w, "", -1, "", {0: (1, "")}) == {0: E.INVALID_GROUP_ID}
        # Deleting a live group is refused; unknown coordinator key types are invalid.
        gone = w.request(DeleteGroupsRequest(groups_names=["calm"]), DeleteGroupsResponse, 2)
        assert gone.results[0].error_code == E.NON_EMPTY_GROUP
        found = w.request(FindCoordinatorRequest(key_type=7, coordinator_keys=["x"]),
                          FindCoordinatorResponse, 4)
        assert found.coordinators[0].error_code == E.INVALID_REQUEST
        # None of it disturbed the group.
        assert heartbeat(w, "calm", member.generation_id, member.member_id) == 0
        (d,) = w.request(DescribeGroupsRequest(groups=["calm"], include_authorized_operations=False),
                         DescribeGroupsResponse, 5).groups
        assert d.group_state == "Stable" and [m.member_id for m in d.members] == [member.member_id]
