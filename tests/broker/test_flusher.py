"""fsync-before-ack with group commit (log.flush.interval.messages=1), driven in-process."""

from __future__ import annotations

from pathlib import Path

from pykafka_broker.broker.clock import now_ms
from pykafka_broker.broker.config import BrokerConfig
from pykafka_broker.broker.server import open_broker
from pykafka_broker.protocol.records import build_batch, read_batch_header


def _append(plog: object, n: int) -> None:
    batch = build_batch([(b"k", b"v%d" % i, [], 1000 + i) for i in range(n)])
    plog.append(batch, read_batch_header(batch), now_ms())  # type: ignore[attr-defined]


async def test_flush_messages_1_makes_acks_wait_for_fsync_and_groups_requests(tmp_path: Path) -> None:
    broker = open_broker(BrokerConfig(data_dir=tmp_path, props={"log.flush.interval.messages": "1"}))
    broker.flusher.start(broker)
    try:
        info = broker.logs.create_topic("t", 2, {})
        assert info.partitions == 2
        a, b = broker.logs.get_log("t", 0), broker.logs.get_log("t", 1)
        _append(a, 3)
        first = broker.flusher.after_append(a)
        assert first is not None and a.recovery_point == 0
        # While the first fsync runs, two more partitions' appends join one next round.
        _append(a, 2)
        second = broker.flusher.after_append(a)
        _append(b, 1)
        third = broker.flusher.after_append(b)
        assert second is not None and third is not None and second is not first
        assert not second.done() and not third.done()  # both wait for the next round
        await first
        await second
        assert (a.recovery_point, b.recovery_point) == (5, 1)
        assert broker.flusher.after_append(a) is None  # nothing unflushed
    finally:
        await broker.flusher.stop()
        broker.logs.close()


async def test_default_policy_never_waits_for_fsync(tmp_path: Path) -> None:
    broker = open_broker(BrokerConfig(data_dir=tmp_path))
    try:
        broker.logs.create_topic("t", 1, {})
        plog = broker.logs.get_log("t", 0)
        _append(plog, 10)
        assert broker.flusher.after_append(plog) is None
    finally:
        broker.logs.close()
