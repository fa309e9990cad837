"""Issue 11: the topics of one CreateTopics request are made in one executor job and recorded with
one topics.json write; each topic is still all or nothing."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from pykafka_broker.broker import topic_creation
from pykafka_broker.protocol.errors import ErrorCode, KafkaError
from pykafka_broker.storage import manager as manager_module
from pykafka_broker.storage.manager import LogManager


def _count_topic_writes(logs: LogManager, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    writes: list[int] = []
    real = logs.write_topics_snapshot

    def counted(snapshot: Any) -> None:
        writes.append(snapshot.seq)
        real(snapshot)
    monkeypatch.setattr(logs, "write_topics_snapshot", counted)
    return writes


async def test_one_topics_json_write_per_request(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    logs = LogManager(tmp_path, now_ms=0)
    logs.load({})
    writes = _count_topic_writes(logs, monkeypatch)
    async with topic_creation.admin_lock(logs):
        made = await topic_creation.create_topics(logs, [(f"t{i}", 3, {}) for i in range(20)])
    assert [m.name for m in made if not isinstance(m, KafkaError)] == [f"t{i}" for i in range(20)]
    assert len(writes) == 1 and len(logs.logs) == 60 and not logs.creating
    logs.close()
    again = LogManager(tmp_path, now_ms=0)
    again.load({})
    assert sorted(again.topics) == sorted(f"t{i}" for i in range(20))
    again.close()


async def test_a_failing_topic_leaves_the_others_created(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    logs = LogManager(tmp_path, now_ms=0)
    logs.load({})
    real = manager_module.PartitionLog.create

    def create(directory: Path, topic: str, *args: Any, **kwargs: Any) -> Any:
        if topic == "bad" and directory.name == "bad-2":
            raise OSError(28, "No space left on device")
        return real(directory, topic, *args, **kwargs)
    monkeypatch.setattr(manager_module.PartitionLog, "create", staticmethod(create))
    async with topic_creation.admin_lock(logs):
        made = await topic_creation.create_topics(logs, [("a", 3, {}), ("bad", 3, {}), ("b", 3, {})])
    assert isinstance(made[1], KafkaError) and made[1].code == ErrorCode.UNKNOWN_SERVER_ERROR
    assert "Nothing was created" in (made[1].message or "")
    assert sorted(logs.topics) == ["a", "b"]
    assert not any(name.startswith("bad") for name in os.listdir(tmp_path))
    logs.close()


async def test_a_failed_topics_json_write_creates_none(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    logs = LogManager(tmp_path, now_ms=0)
    logs.load({})

    def fail(snapshot: Any) -> None:
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(logs, "write_topics_snapshot", fail)
    async with topic_creation.admin_lock(logs):
        made = await topic_creation.create_topics(logs, [("a", 2, {}), ("b", 2, {})])
    assert all(isinstance(m, KafkaError) and m.code == ErrorCode.UNKNOWN_SERVER_ERROR for m in made)
    assert not logs.topics and not logs.logs and not logs.creating
    assert not any(name.startswith(("a-", "b-")) for name in os.listdir(tmp_path))
    monkeypatch.undo()
    logs.close()
