"""Issue 11: a new partition is its directory and partition.metadata only; the segment files come
with the first append, and closing a log nothing touched writes nothing. Restarts of such logs
must neither rescan nor lose anything, and a crash in the middle of a big creation must leave
either the whole topic or none of it."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
from storage_helpers import NOW, append, batches_of, make_batch
from waiting import wait_until

from pykafka_broker.storage.files import INDEX_SUFFIX, LOG_SUFFIX, TIME_INDEX_SUFFIX, offset_file_name
from pykafka_broker.storage.manager import CLEAN_SHUTDOWN_MARKER, PARTITION_METADATA, LogManager, TopicInfo

SEGMENT_FILES = [offset_file_name(0, s) for s in (INDEX_SUFFIX, LOG_SUFFIX, TIME_INDEX_SUFFIX)]


def _files(directory: Path) -> dict[str, tuple[int, int]]:
    """name -> (size, mtime_ns) of every file in ``directory``."""
    return {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in directory.iterdir()}


def _load(data_dir: Path) -> LogManager:
    logs = LogManager(data_dir, now_ms=NOW)
    logs.load({})
    return logs


def test_a_new_partition_is_its_directory_and_metadata_until_the_first_append(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    logs = _load(tmp_path)
    logs.create_topic("t", 2, {})
    assert sorted(os.listdir(tmp_path / "t-0")) == [PARTITION_METADATA]
    logs.close()
    assert sorted(os.listdir(tmp_path / "t-0")) == [PARTITION_METADATA]  # closing wrote nothing
    assert (tmp_path / CLEAN_SHUTDOWN_MARKER).exists()

    with caplog.at_level(logging.INFO, logger="pykafka_broker.storage"):
        logs = _load(tmp_path)  # a never-written partition restarts as it was, with no rescan
    assert "recovering" not in caplog.text
    plog = logs.get_log("t", 0)
    assert plog is not None and (plog.log_start_offset, plog.log_end_offset) == (0, 0)
    assert sorted(os.listdir(tmp_path / "t-0")) == [PARTITION_METADATA]

    append(plog, make_batch(3))  # the first append makes the .log
    assert (tmp_path / "t-0" / offset_file_name(0, LOG_SUFFIX)).exists()
    assert [h.base_offset for h in batches_of(plog.read(0, 1 << 20))] == [0]
    logs.close()
    assert set(SEGMENT_FILES) <= set(os.listdir(tmp_path / "t-0"))
    assert sorted(os.listdir(tmp_path / "t-1")) == [PARTITION_METADATA]

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="pykafka_broker.storage"):
        logs = _load(tmp_path)
    assert "recovering" not in caplog.text
    assert logs.get_log("t", 0).log_end_offset == 3  # type: ignore[union-attr]
    assert logs.get_log("t", 1).log_end_offset == 0  # type: ignore[union-attr]
    logs.close()


def test_a_never_written_partition_survives_an_unclean_restart(tmp_path: Path) -> None:
    logs = _load(tmp_path)
    logs.create_topic("t", 1, {})
    plog = logs.get_log("t", 0)
    assert plog is not None
    del logs  # no close: the next load is unclean
    logs = _load(tmp_path)
    plog = logs.get_log("t", 0)
    assert plog is not None and plog.log_end_offset == 0
    append(plog, make_batch(2))
    plog.flush()  # fsyncs the partition directory and the data dir: the lazily made .log is reachable
    assert plog.recovery_point == 2
    logs.close()
    assert _load(tmp_path).get_log("t", 0).log_end_offset == 2  # type: ignore[union-attr]


def test_closing_an_untouched_log_writes_nothing(tmp_path: Path) -> None:
    logs = _load(tmp_path)
    logs.create_topic("t", 1, {})
    append(logs.get_log("t", 0), make_batch(5))  # type: ignore[arg-type]
    logs.close()
    before = _files(tmp_path / "t-0")
    logs = _load(tmp_path)  # opened after a clean shutdown, then closed with no append
    logs.close()
    assert _files(tmp_path / "t-0") == before  # no new producer snapshot, no index trimmed
    logs = _load(tmp_path)
    assert logs.get_log("t", 0).log_end_offset == 5  # type: ignore[union-attr]
    append(logs.get_log("t", 0), make_batch(1))  # type: ignore[arg-type]
    logs.close()
    assert _files(tmp_path / "t-0") != before  # a touched log is written as before


def test_uncommitted_partitions_neither_appear_nor_break_startup(tmp_path: Path) -> None:
    logs = _load(tmp_path)
    prepared = logs.prepare_partitions("t", uuid.uuid4(), range(3), logs.config_for({}))
    assert len(prepared) == 3 and (tmp_path / "t-2").is_dir()
    del logs, prepared  # a crash before commit_partitions wrote topics.json
    logs = _load(tmp_path)
    assert "t" not in logs.topics and not logs.logs
    topic_id = uuid.uuid4()
    again = logs.prepare_partitions("t", topic_id, range(2), logs.config_for({}))  # leftovers replaced
    logs.commit_partitions(TopicInfo("t", topic_id, 2, {}), again)
    assert sorted(os.listdir(tmp_path / "t-0")) == [PARTITION_METADATA]
    logs.close()
    assert _load(tmp_path).topics["t"].partitions == 2


_CREATOR = textwrap.dedent("""
    import sys, uuid
    from pathlib import Path
    from pykafka_broker.storage.manager import LogManager, TopicInfo
    logs = LogManager(Path(sys.argv[1]), now_ms=0)
    logs.load({})
    for i in range(1000):  # bounded; the test kills it long before
        name, topic_id = f"big-{i}", uuid.uuid4()
        prepared = logs.prepare_partitions(name, topic_id, range(500), logs.config_for({}))
        logs.commit_partitions(TopicInfo(name, topic_id, 500, {}), prepared)
""")


def test_kill_9_during_a_big_create_leaves_whole_topics_only(tmp_path: Path) -> None:
    data = tmp_path / "data"
    proc = subprocess.Popen([sys.executable, "-c", _CREATOR, str(data)])
    try:
        # Killed while the partitions of a topic after the first committed one are being made.
        wait_until(lambda: (data / "big-1-10").exists() or proc.poll() is not None, timeout=60)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    logs = _load(data)
    assert logs.topics, "the first topic was committed before the kill"
    for name, info in logs.topics.items():
        assert info.partitions == 500
        for partition in range(500):
            plog = logs.get_log(name, partition)
            assert plog is not None and plog.log_end_offset == 0
    topic_id = uuid.uuid4()  # a name whose partitions were cut short can be created again
    unfinished = [f"big-{i}" for i in range(1000) if f"big-{i}" not in logs.topics][0]
    prepared = logs.prepare_partitions(unfinished, topic_id, range(500), logs.config_for({}))
    logs.commit_partitions(TopicInfo(unfinished, topic_id, 500, {}), prepared)
    logs.close()
