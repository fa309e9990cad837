"""Admin requests that ask for too much, over real sockets; and atomic partition creation in process.

CreateTopics / CreatePartitions adding more than 10,000 partitions in one request answer
POLICY_VIOLATION (Kafka's ReplicationControlManager limit) at once, change nothing (topics.json,
the data dir), and other clients keep being served while a large legitimate create runs.
"""

from __future__ import annotations

import itertools
import os
import struct
import time
from pathlib import Path
from typing import Any

import pytest
from kafka.protocol.admin import (
    CreatePartitionsRequest,
    CreatePartitionsResponse,
    CreateTopicsRequest,
    CreateTopicsResponse,
)
from kafka.protocol.metadata import MetadataRequest, MetadataResponse
from kafka_wire import Wire

from pykafka_broker.broker import topic_creation
from pykafka_broker.protocol.errors import ErrorCode, KafkaError
from pykafka_broker.storage import manager as manager_module
from pykafka_broker.storage.manager import LogManager

INT32_MAX = 2**31 - 1
POLICY_VIOLATION, INVALID_PARTITIONS = 44, 37
EXCESSIVE = "Excessively large number of partitions per request."
QUICK_S = 5.0  # generous: the refusal itself takes milliseconds; the old code ran for minutes


def create_topics(w: Wire, topics: list[tuple[str, int]], validate_only: bool = False,
                  assignments: dict[str, int] | None = None) -> list[tuple[str, int, str | None]]:
    ct = CreateTopicsRequest.CreatableTopic
    items = []
    for name, count in topics:
        n_assign = (assignments or {}).get(name, 0)
        items.append(ct(name=name, num_partitions=-1 if n_assign else count,
                        replication_factor=-1 if n_assign else 1, configs=[],
                        assignments=[ct.CreatableReplicaAssignment(partition_index=i, broker_ids=[1])
                                     for i in range(n_assign)]))
    resp = w.request(CreateTopicsRequest(timeout_ms=30_000, validate_only=validate_only, topics=items),
                     CreateTopicsResponse, 7)
    return [(t.name, t.error_code, t.error_message) for t in resp.topics]


def create_partitions(w: Wire, name: str, count: int) -> tuple[int, str | None]:
    cp = CreatePartitionsRequest.CreatePartitionsTopic
    resp = w.request(CreatePartitionsRequest(topics=[cp(name=name, count=count, assignments=None)],
                                             timeout_ms=30_000, validate_only=False),
                     CreatePartitionsResponse, 3)
    [r] = resp.results
    return r.error_code, r.error_message


def metadata_partitions(w: Wire, name: str) -> int:
    resp = w.request(MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name=name, topic_id=None)],
                                     allow_auto_topic_creation=False,
                                     include_topic_authorized_operations=False), MetadataResponse, 12)
    return len(resp.topics[0].partitions)


def snapshot(data_dir: Path) -> tuple[bytes, list[str]]:
    return (data_dir / "topics.json").read_bytes(), sorted(os.listdir(data_dir))


def test_create_partitions_int32_max_is_refused_at_once_and_changes_nothing(broker_factory: Any) -> None:
    b = broker_factory("auto.create.topics.enable=false")
    with Wire(b.bootstrap) as w:
        assert create_topics(w, [("t", 2)]) == [("t", 0, None)]
        before = snapshot(b.data_dir)
        started = time.monotonic()
        assert create_partitions(w, "t", INT32_MAX) == (POLICY_VIOLATION, EXCESSIVE)
        assert create_partitions(w, "t", 10_003) == (POLICY_VIOLATION, EXCESSIVE)  # 10,001 new
        assert time.monotonic() - started < QUICK_S
        assert snapshot(b.data_dir) == before
        assert metadata_partitions(w, "t") == 2
        # Kafka's INVALID_PARTITIONS messages for counts that are not an increase.
        assert create_partitions(w, "t", 2) == (INVALID_PARTITIONS, "Topic already has 2 partition(s).")
        assert create_partitions(w, "t", 1) == (
            INVALID_PARTITIONS, "The topic t currently has 2 partition(s); 1 would not be an increase.")
        assert create_partitions(w, "t", 5) == (0, None)
        assert metadata_partitions(w, "t") == 5
    assert "Traceback" not in b.log_text()


@pytest.mark.parametrize("validate_only", [False, True])
def test_create_topics_over_the_limit_is_policy_violation_for_every_topic(
        broker_factory: Any, validate_only: bool) -> None:
    b = broker_factory("auto.create.topics.enable=false")
    with Wire(b.bootstrap) as w:
        assert create_topics(w, [("keep", 1)]) == [("keep", 0, None)]
        before = snapshot(b.data_dir)
        started = time.monotonic()
        cases = [
            [("huge", INT32_MAX)],
            [("a", 5000), ("b", 5000), ("c", 1)],  # ReplicationControlManagerTest's case
            [("assigned", 0)],
        ]
        got = [create_topics(w, cases[0], validate_only), create_topics(w, cases[1], validate_only),
               create_topics(w, cases[2], validate_only, assignments={"assigned": 10_001})]
        assert time.monotonic() - started < QUICK_S
        for case, result in zip(cases, got, strict=True):
            assert result == [(name, POLICY_VIOLATION, EXCESSIVE) for name, _ in case]
        assert snapshot(b.data_dir) == before


def test_other_clients_are_served_while_a_large_create_runs(broker_factory: Any) -> None:
    """The directory work runs off the event loop: a Metadata request sent after a 3,000-partition
    CreateTopics is answered before it (the old code blocked the loop for the whole create)."""
    b = broker_factory("auto.create.topics.enable=false")
    with Wire(b.bootstrap) as creator, Wire(b.bootstrap) as other:
        assert create_topics(other, [("small", 1)]) == [("small", 0, None)]
        ct = CreateTopicsRequest.CreatableTopic
        req = CreateTopicsRequest(timeout_ms=60_000, validate_only=False, topics=[
            ct(name="big", num_partitions=3000, replication_factor=1, assignments=[], configs=[])])
        req.with_header(correlation_id=1, client_id="creator")
        creator.sock.settimeout(120)
        creator.send_raw(bytes(req.encode(version=7, header=True, framed=True)))
        time.sleep(0.05)  # let the broker start on it; nothing to wait on from outside
        started = time.monotonic()
        assert metadata_partitions(other, "small") == 1
        metadata_s = time.monotonic() - started
        frame = creator.read_frame()
        create_s = time.monotonic() - started
        assert struct.unpack_from(">i", frame)[0] == 1
        resp = CreateTopicsResponse.decode(frame[5:], version=7)
        assert resp.topics[0].error_code == 0
        assert metadata_s < create_s, (metadata_s, create_s)
        assert metadata_partitions(other, "big") == 3000
    assert b.stop() == 0
    b2 = broker_factory(data_dir=b.data_dir)
    with Wire(b2.bootstrap) as w:
        assert metadata_partitions(w, "big") == 3000


# --- atomic creation, in process ------------------------------------------------------------------

def _failing_open(fail_at: int) -> Any:
    real_open = manager_module.PartitionLog.create  # how a new partition's log is made
    calls = {"n": 0}

    def open_(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] > fail_at:
            raise OSError(24, "Too many open files")
        return real_open(*args, **kwargs)
    return open_


@pytest.mark.parametrize("grow", [False, True])
async def test_a_failure_mid_create_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          grow: bool) -> None:
    logs = LogManager(tmp_path, now_ms=0)
    logs.load({})
    logs.create_topic("t", 2, {})
    before = snapshot(tmp_path)
    monkeypatch.setattr(manager_module.PartitionLog, "create", staticmethod(_failing_open(25)))
    with pytest.raises(KafkaError) as info:
        async with topic_creation.admin_lock(logs):
            if grow:
                await topic_creation.add_partitions(logs, "t", 100)
            else:
                await topic_creation.create_topic(logs, "new", 100, {})
    assert info.value.code == ErrorCode.UNKNOWN_SERVER_ERROR
    assert "Nothing was created" in (info.value.message or "")
    assert snapshot(tmp_path) == before
    assert logs.topics["t"].partitions == 2 and "new" not in logs.topics
    assert sorted(key for key in logs.logs) == [("t", 0), ("t", 1)]
    assert not logs.creating
    monkeypatch.undo()
    async with topic_creation.admin_lock(logs):  # and the same create works once the fault is gone
        info2 = await (topic_creation.add_partitions(logs, "t", 100) if grow
                       else topic_creation.create_topic(logs, "new", 100, {}))
    assert info2.partitions == 100
    assert len(logs.logs) == (100 if grow else 102)
    logs.close()


async def test_metadata_auto_create_of_a_name_being_created_is_refused(tmp_path: Path) -> None:
    logs = LogManager(tmp_path, now_ms=0)
    logs.load({})
    logs.creating.add("busy")
    with pytest.raises(manager_module.TopicCreationInProgress):
        logs.create_topic("busy", 1, {})
    logs.close()


def test_partition_counts_are_checked_before_anything_is_reserved() -> None:
    topic_creation.check_total([5000, 5000])
    with pytest.raises(KafkaError) as info:
        topic_creation.check_total([5000, 5000, 1])
    assert (info.value.code, info.value.message) == (ErrorCode.POLICY_VIOLATION, EXCESSIVE)
    with pytest.raises(KafkaError):
        topic_creation.check_total(itertools.repeat(INT32_MAX))  # stops at the first excess
