"""Offsets, admin APIs, retention, replay, and bad input leaving the group untouched."""

from __future__ import annotations

import struct

from pykafka_broker.broker.groups import (
    DeleteGroups,
    DescribeGroups,
    GroupCoordinator,
    GroupState,
    Heartbeat,
    ListGroups,
    OffsetDelete,
    OffsetFetch,
)
from pykafka_broker.broker.groups import records as rec
from pykafka_broker.protocol.errors import ErrorCode as E

S = GroupState


def _errors(result) -> dict[tuple[str, int], E]:
    return {(t.name, p.partition): p.error_code for t in result.response.topics for p in t.partitions}


def _fetch(h, topics, group="g"):
    return h.coord.offset_fetch(h.now, OffsetFetch([(group, topics)])).response.groups[0]


def test_simple_consumer_commit_creates_empty_group_and_fetch(h) -> None:
    result = h.commit({"t": [(0, 42, 3, "meta"), (1, 7, -1, None)]})
    assert set(_errors(result).values()) == {E.NONE} and len(result.records) == 2
    assert h.group().state is S.EMPTY and h.group().protocol_type is None
    fetched = _fetch(h, [("t", [0, 1, 2])])
    assert [(p.partition, p.offset, p.leader_epoch, p.metadata) for p in fetched.topics[0].partitions] == [
        (0, 42, 3, "meta"),
        (1, 7, -1, ""),
        (2, -1, -1, ""),
    ]
    all_topics = _fetch(h, None)
    assert [(t.name, len(t.partitions)) for t in all_topics.topics] == [("t", 2)]
    missing = _fetch(h, [("t", [0])], group="nope")
    assert missing.error_code is E.NONE and missing.topics[0].partitions[0].offset == -1
    assert _fetch(h, None, group="nope").topics == ()


def test_commit_with_stale_generation_and_unknown_group(h) -> None:
    a, _ = h.form(2)
    before = h.snapshot()
    stale = h.commit({"t": [(0, 1, -1, "")]}, generation=0, member_id=a)
    assert _errors(stale) == {("t", 0): E.ILLEGAL_GENERATION} and stale.records == ()
    nobody = h.commit({"t": [(0, 1, -1, "")]})  # generation -1 into a live group
    assert _errors(nobody) == {("t", 0): E.UNKNOWN_MEMBER_ID}
    assert h.snapshot() == before
    assert _errors(h.commit({"t": [(0, 1, -1, "")]}, group="x", generation=3, version=8)) == {
        ("t", 0): E.ILLEGAL_GENERATION
    }
    assert _errors(h.commit({"t": [(0, 1, -1, "")]}, group="x", generation=3)) == {
        ("t", 0): E.GROUP_ID_NOT_FOUND
    }
    assert "x" not in h.coord.groups
    ok = h.commit({"t": [(0, 9, 1, "")]}, generation=1, member_id=a)
    assert _errors(ok) == {("t", 0): E.NONE} and _fetch(h, [("t", [0])]).topics[0].partitions[0].offset == 9


def test_commit_during_completing_rebalance_is_refused(h) -> None:
    a, b = (h.new_member() for _ in range(2))
    h.join(a), h.join(b)
    h.advance(0)
    assert _errors(h.commit({"t": [(0, 1, -1, "")]}, generation=1, member_id=b)) == {
        ("t", 0): E.REBALANCE_IN_PROGRESS
    }


def test_metadata_too_large_fails_only_that_partition(h) -> None:
    result = h.commit({"t": [(0, 1, -1, "x" * 4097), (1, 2, -1, "x" * 4096)]})
    assert _errors(result) == {("t", 0): E.OFFSET_METADATA_TOO_LARGE, ("t", 1): E.NONE}
    assert len(result.records) == 1
    assert [p.offset for p in _fetch(h, [("t", [0, 1])]).topics[0].partitions] == [-1, 2]


def test_record_bytes_follow_kafka_schemas(h) -> None:
    result = h.commit({"t": [(0, 42, 5, "m")]})
    key, value = result.records[0]
    assert key == struct.pack(">hh", 1, 1) + b"g" + struct.pack(">h", 1) + b"t" + struct.pack(">i", 0)
    assert value == struct.pack(">hqi", 3, 42, 5) + struct.pack(">h", 1) + b"m" + struct.pack(">q", h.now)
    expiring = h.commit({"t": [(0, 1, 5, "")]}, retention=500).records[0][1]
    assert rec.decode_offset_commit_value(expiring) == rec.OffsetAndMetadata(1, -1, "", h.now, h.now + 500)
    assert rec.group_metadata_key("g") == struct.pack(">hh", 2, 1) + b"g"


def test_delete_list_describe(h) -> None:
    h.form(2)
    h.commit({"t": [(0, 1, -1, "")]}, group="simple")
    deleted = h.apply(h.coord.delete_groups(h.now, DeleteGroups(["g", "simple", "ghost"])))
    assert deleted.response.results == (
        ("g", E.NON_EMPTY_GROUP),
        ("simple", E.NONE),
        ("ghost", E.GROUP_ID_NOT_FOUND),
    )
    keys = [(rec.decode_key(k), v) for k, v in deleted.records]
    assert keys == [(rec.OffsetCommitKey("simple", "t", 0), None), (rec.GroupMetadataKey("simple"), None)]
    assert "simple" not in h.coord.groups and _fetch(h, None, group="simple").topics == ()

    h.commit({"t": [(0, 1, -1, "")]}, group="other")
    listed = h.coord.list_groups(h.now, ListGroups()).response.groups
    assert {(g.group_id, g.state, g.protocol_type, g.group_type) for g in listed} == {
        ("g", "Stable", "consumer", "classic"),
        ("other", "Empty", "", "classic"),
    }
    assert [g.group_id for g in h.coord.list_groups(h.now, ListGroups(["empty"])).response.groups] == [
        "other"
    ]
    assert h.coord.list_groups(h.now, ListGroups((), ["consumer"])).response.groups == ()
    assert len(h.coord.list_groups(h.now, ListGroups((), ["Classic"])).response.groups) == 2

    stable, ghost = h.coord.describe_groups(h.now, DescribeGroups(["g", "ghost"])).response.groups
    assert (stable.state, stable.protocol_type, stable.protocol_data) == ("Stable", "consumer", "range")
    assert all(m.metadata and m.assignment.startswith(b"assign-") and m.client_host for m in stable.members)
    assert (ghost.error_code, ghost.state, ghost.members) == (E.NONE, "Dead", ())
    v6 = h.coord.describe_groups(h.now, DescribeGroups(["ghost"], api_version=6)).response.groups[0]
    assert v6.error_code is E.GROUP_ID_NOT_FOUND


def test_describe_hides_metadata_while_rebalancing(h) -> None:
    a, b = h.form(2)
    h.join(a)
    group = h.coord.describe("g")
    assert group.state == "PreparingRebalance" and group.protocol_data == ""
    assert all(m.metadata == b"" for m in group.members)


def test_offset_delete(h) -> None:
    a, _ = h.form(2)
    h.commit({"orders": [(0, 1, -1, "")], "old": [(0, 2, -1, "")]}, generation=1, member_id=a)
    result = h.apply(h.coord.offset_delete(h.now, OffsetDelete("g", [("orders", [0]), ("old", [0, 1])])))
    assert _errors(result) == {
        ("orders", 0): E.GROUP_SUBSCRIBED_TO_TOPIC,
        ("old", 0): E.NONE,
        ("old", 1): E.NONE,
    }
    assert [(rec.decode_key(k), v) for k, v in result.records] == [(rec.OffsetCommitKey("g", "old", 0), None)]
    assert _fetch(h, [("old", [0])]).topics[0].partitions[0].offset == -1
    missing = h.coord.offset_delete(h.now, OffsetDelete("nope", [("t", [0])])).response
    assert missing.error_code is E.GROUP_ID_NOT_FOUND


def test_offset_delete_in_non_consumer_group_that_is_not_empty(h) -> None:
    h.form(1, protocol_type="connect")
    assert (
        h.coord.offset_delete(h.now, OffsetDelete("g", [("t", [0])])).response.error_code is E.NON_EMPTY_GROUP
    )


def test_retention_expires_offsets_then_the_empty_group(harness_factory) -> None:
    h = harness_factory(offsets_retention_ms=60_000, offsets_retention_check_interval_ms=10_000)
    h.apply(h.coord.on_loaded(h.now))
    h.commit({"t": [(0, 1, -1, "")]}, group="simple")
    a = h.form(1)[0]
    h.commit({"orders": [(0, 5, -1, "")]}, generation=1, member_id=a)
    for _ in range(14):
        h.advance(5_000)
        assert h.heartbeat(a, 1) is E.NONE
    assert "simple" not in h.coord.groups  # offsets expired 60 s after the commit, then the group
    assert _fetch(h, [("orders", [0])]).topics[0].partitions[0].offset == 5  # subscribed: kept
    assert (rec.GroupMetadataKey("simple"), None) in [(rec.decode_key(k), v) for k, v in h.log]


def test_replay_rebuilds_offsets_and_group(h) -> None:
    a, b = h.form(2)
    h.commit({"orders": [(0, 10, 2, "m"), (1, 11, 2, "")]}, generation=1, member_id=a)
    h.commit({"gone": [(0, 1, -1, "")]}, group="tmp")
    h.apply(h.coord.delete_groups(h.now, DeleteGroups(["tmp"])))

    fresh = GroupCoordinator()
    for key, value in h.log:
        fresh.replay(key, value)
    assert set(fresh.groups) == {"g"}
    group = fresh.groups["g"]
    assert (group.state, group.generation_id, group.leader_id, group.protocol_name) == (
        S.STABLE,
        1,
        a,
        "range",
    )
    assert {m: v.assignment for m, v in group.members.items()} == {
        a: f"assign-{a}".encode(),
        b: f"assign-{b}".encode(),
    }
    assert group.subscribed_topics == {"orders"}
    fetched = fresh.offset_fetch(0, OffsetFetch([("g", None)])).response.groups[0]
    assert [(p.partition, p.offset, p.leader_epoch, p.metadata) for p in fetched.topics[0].partitions] == [
        (0, 10, 2, "m"),
        (1, 11, 2, ""),
    ]

    loaded = fresh.on_loaded(h.now)
    assert {k.member for k, _ in loaded.schedule if k.kind == "heartbeat"} == {a, b}
    assert fresh.heartbeat(h.now + 1, Heartbeat("g", 1, a)).response.error_code is E.NONE
    for key, deadline in sorted(fresh.pending_timers().items(), key=lambda kv: kv[1]):
        if key.kind == "heartbeat" and key.member == b:
            fresh.fire_timer(deadline, key)
    assert b not in fresh.groups["g"].members and fresh.groups["g"].state is S.PREPARING_REBALANCE


def test_bad_join_requests_leave_the_group_alone(h) -> None:
    a, b = h.form(2)
    before = h.snapshot()
    assert h.join(protocols=[]).response.error_code is E.INCONSISTENT_GROUP_PROTOCOL
    assert h.join(protocol_type="connect").response.error_code is E.INCONSISTENT_GROUP_PROTOCOL
    assert h.join(a, protocols=[("roundrobin", b"")]).response.error_code is E.INCONSISTENT_GROUP_PROTOCOL
    assert h.join(session=5_999).response.error_code is E.INVALID_SESSION_TIMEOUT
    assert h.join(session=1_800_001).response.error_code is E.INVALID_SESSION_TIMEOUT
    assert h.join("ghost").response.error_code is E.UNKNOWN_MEMBER_ID
    assert h.join("ghost", group="nogroup").response.error_code is E.UNKNOWN_MEMBER_ID
    assert h.join(group="").response.error_code is E.INVALID_GROUP_ID
    assert h.snapshot() == before and "nogroup" not in h.coord.groups


def test_empty_protocol_list_for_a_new_group(h) -> None:
    # Kafka creates the (empty) group before it checks the protocols.
    assert h.join(group="n", protocols=[]).response.error_code is E.INCONSISTENT_GROUP_PROTOCOL
    assert h.coord.groups["n"].state is S.EMPTY and h.coord.member_count("n") == 0


def test_bad_sync_and_heartbeat_requests_leave_the_group_alone(h) -> None:
    a, b = h.form(2)
    before = h.snapshot()
    assert h.sync("ghost", 1).response.error_code is E.UNKNOWN_MEMBER_ID
    assert h.sync(a, 1, group="nogroup").response.error_code is E.UNKNOWN_MEMBER_ID
    assert h.sync(a, 7).response.error_code is E.ILLEGAL_GENERATION
    assert h.sync(a, 1, protocol_type="connect").response.error_code is E.INCONSISTENT_GROUP_PROTOCOL
    assert h.sync(a, 1, protocol_name="roundrobin").response.error_code is E.INCONSISTENT_GROUP_PROTOCOL
    assert h.heartbeat(a, 7) is E.ILLEGAL_GENERATION
    assert h.heartbeat("ghost", 1) is E.UNKNOWN_MEMBER_ID
    assert h.heartbeat(a, 1, group="nogroup") is E.UNKNOWN_MEMBER_ID
    assert h.leave("ghost").response.members[0].error_code is E.UNKNOWN_MEMBER_ID
    assert h.snapshot() == before
