"""The DEBUG trace of membership requests (broker/group_driver.py): request and answer, with the
generation, also for a join answered later."""

from __future__ import annotations

import asyncio
import logging

import pytest

from pykafka_broker.broker.group_driver import _traced
from pykafka_broker.broker.groups import Heartbeat, JoinGroup
from pykafka_broker.broker.groups.api import HeartbeatResponse, JoinGroupMember, JoinGroupResponse
from pykafka_broker.protocol.errors import ErrorCode as E


def test_heartbeat_and_parked_join_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="pykafka_broker.groups")
    beat = Heartbeat("g", 1, "a", None)
    answer = HeartbeatResponse(E.REBALANCE_IN_PROGRESS)
    assert _traced("Heartbeat", beat, answer) is answer
    join = JoinGroup("g", "b", None, "consumer", [("range", b"")], 10_000, 10_000, None, "c", "/h", 5)

    async def parked() -> None:
        fut: asyncio.Future[JoinGroupResponse] = asyncio.get_running_loop().create_future()
        assert _traced("JoinGroup", join, fut) is fut
        fut.set_result(JoinGroupResponse(E.NONE, "b", 2, "consumer", "range", "a", False,
                                         (JoinGroupMember("a", None, b""),)))
        await asyncio.sleep(0)  # done callbacks run on the next loop turn

    asyncio.run(parked())
    assert [r.getMessage() for r in caplog.records] == [
        "Heartbeat group=g member=a generation=1",
        "Heartbeat group=g member=a -> REBALANCE_IN_PROGRESS",
        "JoinGroup group=g member=b",
        "JoinGroup group=g member=b -> NONE generation=2 leader=a members=['a']",
    ]


def test_nothing_is_formatted_without_debug(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="pykafka_broker.groups")
    _traced("Heartbeat", Heartbeat("g", 1, "a", None), HeartbeatResponse(E.NONE))
    assert caplog.records == []
