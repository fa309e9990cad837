"""Injected write, truncate and fsync failures in one partition log (Kafka's I/O error policy,
LogDirFailureChannel): no acknowledged record is ever lost, a failed write never leaves the log
appending after bytes it does not know, and a log that cannot be made consistent goes offline
(KAFKA_STORAGE_ERROR) while its neighbours keep serving."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from fault_helpers import EIO, ENOSPC, NOW, FaultyIO, append, batch, open_log, read_all, values

from pykafka_broker.protocol.errors import ErrorCode, KafkaError
from pykafka_broker.storage.files import use_io
from pykafka_broker.storage.log import LogConfig
from pykafka_broker.storage.manager import CLEAN_SHUTDOWN_MARKER, LogManager


def _storage_error(call: object) -> KafkaError:
    with pytest.raises(KafkaError) as info:
        call()  # type: ignore[operator]
    assert info.value.code == ErrorCode.KAFKA_STORAGE_ERROR
    return info.value


@pytest.mark.parametrize("code", [ENOSPC, EIO])
def test_short_write_then_error_is_truncated_away_and_later_acks_survive_restart(tmp_path: Path,
                                                                               code: int) -> None:
    plog = open_log(tmp_path / "t-0")
    acked = [batch(0), batch(1)]
    for b in acked:
        append(plog, b)
    size_before = plog.active.log_path.stat().st_size
    faults = FaultyIO(match="t-0")
    faults.short_write = (17, code)  # 17 bytes of the batch reach the file, then the error
    with use_io(faults):
        _storage_error(lambda: append(plog, batch(2)))
    assert plog.active.log_path.stat().st_size == size_before  # the partial batch is gone
    assert plog.offline is None and plog.log_end_offset == 6
    third = batch(3)
    assert append(plog, third) == 6  # acknowledged after the failure
    acked.append(third)
    plog.close()
    reopened = open_log(tmp_path / "t-0", recovery_point=None)  # rescan everything
    assert values(read_all(reopened)) == values([bytes(b) for b in acked])
    assert reopened.log_end_offset == 9
    reopened.close()


def test_failed_truncate_takes_the_log_offline_and_restart_keeps_every_ack(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    manager = LogManager(tmp_path, now_ms=NOW)
    manager.load({})
    manager.create_topic("a", 1, {})
    manager.create_topic("b", 1, {})
    a, b = manager.get_log("a", 0), manager.get_log("b", 0)
    assert a is not None and b is not None
    acked = [batch(0), batch(1)]
    for x in acked:
        append(a, x)
    manager.checkpoint()
    faults = FaultyIO(match="/a-0/")
    faults.short_write = (30, EIO)
    faults.truncate_errno = EIO
    with use_io(faults), caplog.at_level(logging.ERROR):
        _storage_error(lambda: append(a, batch(2)))
        assert a.offline is not None
        # Every later call answers KAFKA_STORAGE_ERROR; the transition was logged once, with the path.
        _storage_error(lambda: append(a, batch(3)))
        _storage_error(lambda: a.read(0, 1 << 20))
        _storage_error(lambda: a.offset_for_timestamp(0))
        _storage_error(a.check_online)
        # The neighbour keeps serving.
        assert append(b, batch(9)) == 0 and values(read_all(b))
    offline_lines = [r for r in caplog.records if "is now offline" in r.getMessage()]
    assert len(offline_lines) == 1 and str(a.dir) in offline_lines[0].getMessage()
    assert manager.offline_logs() == [a]
    manager.close()
    assert not (tmp_path / CLEAN_SHUTDOWN_MARKER).exists()  # next start rescans the offline log

    again = LogManager(tmp_path, now_ms=NOW)
    again.load({})
    a2 = again.get_log("a", 0)
    assert a2 is not None and a2.offline is None
    assert values(read_all(a2)) == values([bytes(x) for x in acked])  # garbage truncated at recovery
    assert append(a2, batch(4)) == 6
    again.close()


def test_failed_fsync_takes_the_log_offline_and_never_advances_the_recovery_point(tmp_path: Path) -> None:
    plog = open_log(tmp_path / "t-0", LogConfig(flush_interval_messages=1))
    append(plog, batch(0))
    plog.flush()
    assert plog.recovery_point == 3
    append(plog, batch(1))
    faults = FaultyIO(match="t-0")
    faults.fsync_errno = EIO
    with use_io(faults):
        _storage_error(plog.flush)
    assert plog.offline is not None and plog.recovery_point == 3
    # No retry: a second flush does not "succeed" on pages the kernel may have dropped.
    _storage_error(plog.flush)
    assert plog.recovery_point == 3
    assert not plog.needs_flush(NOW + 10**9)
    plog.close()  # writes nothing: no snapshot, no fsync
    assert plog.recovery_point == 3


@pytest.mark.parametrize("stage", ["entry", "roll"])
def test_index_write_or_trim_failure_loses_no_ack(tmp_path: Path, stage: str) -> None:
    """Index entries are written as they are made (the file is preallocated and trimmed at roll, as
    Kafka's mmapped indexes): a failed trim at roll takes the log offline, a failed entry write
    refuses the batch and keeps the log (test_index_write_faults.py); nothing acknowledged is lost."""
    size = len(batch(0))
    plog = open_log(tmp_path / "t-0", LogConfig(segment_bytes=size * 2, index_interval_bytes=1))
    kept = 2 if stage == "roll" else 1
    for i in range(kept):
        append(plog, batch(i))
    faults = FaultyIO(match=".index")
    if stage == "roll":
        faults.truncate_errno = ENOSPC  # rolls first: the old index cannot be trimmed
    else:
        faults.pwrite_errno = ENOSPC  # the second batch makes the segment's first index entry
    with use_io(faults):
        _storage_error(lambda: append(plog, batch(kept)))
    assert (plog.offline is not None) == (stage == "roll")
    plog.close()
    reopened = open_log(tmp_path / "t-0", recovery_point=0)
    got = values(read_all(reopened))
    acked = values([bytes(batch(i)) for i in range(kept)])
    assert got[: len(acked)] == acked
    reopened.close()


def test_roll_fsyncs_rolled_segment_snapshot_and_dir_but_not_the_active_segment(tmp_path: Path) -> None:
    size = len(batch(0))
    plog = open_log(tmp_path / "t-0", LogConfig(segment_bytes=size * 2))
    ticket = plog.begin_flush()  # the new partition's directory entries
    ticket.sync()
    plog.complete_flush(ticket)
    for i in range(3):
        append(plog, batch(i))  # the third rolls: segments 0 and 6
    assert plog.has_unsynced_rolls and plog.recovery_point == 0
    ticket = plog.begin_flush(rolled_only=True)
    active = os.stat(plog.active.log_path)
    assert not any(os.path.samestat(os.fstat(fd), active) for fd in ticket.fds)
    synced = FaultyIO()
    with use_io(synced):
        ticket.sync()
    plog.complete_flush(ticket)
    # .log, .index, .timeindex of segment 0, the snapshot at 6, the partition directory
    assert synced.fsyncs == 5
    assert plog.recovery_point == 6 and not plog.has_unsynced_rolls
    assert plog.log_end_offset == 9 and plog._unflushed_messages == 9  # the active part stays unflushed
    plog.close()
