"""A fake-clock harness around the group coordinator: no sockets, no event loop."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import pytest

from pykafka_broker.broker.coordinator.result import CoordinatorResult
from pykafka_broker.broker.groups import (
    GroupConfig,
    GroupCoordinator,
    Heartbeat,
    JoinGroup,
    LeaveGroup,
    OffsetCommit,
    SyncGroup,
)
from pykafka_broker.broker.groups.api import Reply
from pykafka_broker.broker.groups.records import encode_subscription
from pykafka_broker.protocol.errors import ErrorCode

META = encode_subscription(["orders"])


class Harness:
    def __init__(self, **config: Any) -> None:
        self.now = 1_000
        ids = itertools.count(1)
        self.coord = GroupCoordinator(GroupConfig(**config), new_uuid=lambda: f"u{next(ids)}")
        self.log: list[tuple[bytes, bytes | None]] = []
        self.replies: dict[int, Reply] = {}

    def apply(self, result: CoordinatorResult[Any], producer_id: int = -1) -> CoordinatorResult[Any]:
        """Play the runtime: the records are durable at once, so they are replayed now."""
        self.log.extend(result.records)
        if result.replay:
            for key, value in result.records:
                self.coord.replay(key, value, producer_id)
        for handle, reply in result.completed:
            assert handle not in self.replies, "a parked request was answered twice"
            self.replies[handle] = reply
        return result

    def advance(self, ms: int) -> None:
        """Move the clock, firing every timer that falls due on the way, in deadline order."""
        target = self.now + ms
        while True:
            due = [(d, k) for k, d in self.coord.pending_timers().items() if d <= target]
            if not due:
                break
            deadline, key = min(due, key=lambda item: item[0])
            self.now = max(self.now, deadline)
            self.apply(self.coord.fire_timer(self.now, key))
        self.now = target

    def reply(self, result: CoordinatorResult[Any]) -> Any:
        """The answer to a request: immediate, or the reply its handle received since."""
        if result.response is not None:
            return result.response
        assert result.handle is not None
        return self.replies.get(result.handle)

    # -- requests --------------------------------------------------------------------------------

    def join(
        self,
        member_id: str = "",
        group: str = "g",
        protocols: Sequence[tuple[str, bytes]] | None = None,
        instance: str | None = None,
        session: int = 10_000,
        rebalance: int = 30_000,
        protocol_type: str = "consumer",
        client: str = "c",
        version: int = 9,
    ) -> CoordinatorResult[Any]:
        req = JoinGroup(
            group,
            member_id,
            instance,
            protocol_type,
            list(protocols) if protocols is not None else [("range", META)],
            session,
            rebalance,
            None,
            client,
            "/127.0.0.1",
            version,
        )
        return self.apply(self.coord.join_group(self.now, req))

    def sync(
        self,
        member_id: str,
        generation: int,
        group: str = "g",
        assignments: Sequence[tuple[str, bytes]] = (),
        instance: str | None = None,
        protocol_type: str | None = "consumer",
        protocol_name: str | None = None,
    ) -> CoordinatorResult[Any]:
        req = SyncGroup(
            group, generation, member_id, instance, protocol_type, protocol_name, list(assignments)
        )
        return self.apply(self.coord.sync_group(self.now, req))

    def heartbeat(
        self, member_id: str, generation: int, group: str = "g", instance: str | None = None
    ) -> ErrorCode:
        result = self.apply(self.coord.heartbeat(self.now, Heartbeat(group, generation, member_id, instance)))
        return result.response.error_code

    def leave(self, *member_ids: str, group: str = "g") -> CoordinatorResult[Any]:
        return self.apply(
            self.coord.leave_group(self.now, LeaveGroup(group, [(m, None, None) for m in member_ids]))
        )

    def commit(
        self,
        topics: dict[str, list[tuple[int, int, int, str | None]]],
        group: str = "g",
        generation: int = -1,
        member_id: str = "",
        instance: str | None = None,
        version: int = 9,
        retention: int = -1,
    ) -> CoordinatorResult[Any]:
        req = OffsetCommit(group, generation, member_id, instance, retention, topics, version)
        return self.apply(self.coord.offset_commit(self.now, req))

    def new_member(self, group: str = "g", **kw: Any) -> str:
        first = self.join(group=group, **kw).response
        assert first.error_code is ErrorCode.MEMBER_ID_REQUIRED
        return str(first.member_id)

    def form(self, n: int, group: str = "g", **kw: Any) -> list[str]:
        """n dynamic members joined and synced: a Stable group of generation 1 led by the first."""
        ids = [self.new_member(group, **kw) for _ in range(n)]
        joins = [self.join(member_id, group=group, **kw) for member_id in ids]
        self.advance(0)
        replies = [self.reply(j) for j in joins]
        assert all(r.error_code is ErrorCode.NONE for r in replies), replies
        leader = replies[0].leader
        assert leader == ids[0]
        gen = replies[0].generation_id
        for member_id in ids[1:]:
            assert self.sync(member_id, gen, group=group).response is None
        self.sync(leader, gen, group=group, assignments=[(m, f"assign-{m}".encode()) for m in ids])
        return ids

    def group(self, group_id: str = "g") -> Any:
        return self.coord.groups[group_id]

    def snapshot(self, group_id: str = "g") -> Any:
        """Everything a bad request must leave alone."""
        g = self.coord.groups.get(group_id)
        state = (
            None
            if g is None
            else (
                g.state,
                g.generation_id,
                g.leader_id,
                g.protocol_type,
                g.protocol_name,
                {m: (v.protocols, v.assignment) for m, v in g.members.items()},
                set(g.pending_join),
                set(g.pending_sync),
            )
        )
        return (
            state,
            self.coord.describe(group_id),
            self.coord.pending_timers(),
            dict(self.coord.offsets.topics(group_id)),
        )


@pytest.fixture
def h() -> Harness:
    return Harness()


@pytest.fixture
def harness_factory() -> type[Harness]:
    return Harness
