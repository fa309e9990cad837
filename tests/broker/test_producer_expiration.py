"""producer.id.expiration.ms (ProducerStateManager.removeExpiredProducers) with a fake clock, and
segment.jitter.ms in the roll decision."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "storage"))
from storage_helpers import NOW, append, make_batch, open_log  # noqa: E402

from pykafka_broker.broker.config import BrokerConfig  # noqa: E402
from pykafka_broker.broker.producer_expiration import ProducerExpiration  # noqa: E402
from pykafka_broker.protocol.errors import ErrorCode, KafkaError  # noqa: E402
from pykafka_broker.storage.log import LogConfig  # noqa: E402

PID, OTHER = 1000, 2000
HOUR = 3_600_000


class FakeLogs:
    def __init__(self, *logs: object) -> None:
        self.logs = list(logs)

    def all_logs(self) -> list[object]:
        return self.logs


def idem(seq: int, ts: int, pid: int = PID) -> bytearray:
    return make_batch(2, ts=ts, producer_id=pid, epoch=0, seq=seq)


def test_idle_producers_expire_after_producer_id_expiration_ms(tmp_path: Path) -> None:
    plog = open_log(tmp_path / "t-0")
    append(plog, idem(0, ts=NOW))  # last timestamp NOW + 1 (the batch's max)
    append(plog, idem(0, ts=NOW + HOUR, pid=OTHER))
    clock = {"now": NOW}
    config = BrokerConfig(props={"producer.id.expiration.ms": str(HOUR)})
    expiration = ProducerExpiration(config, FakeLogs(plog), clock=lambda: clock["now"])  # type: ignore[arg-type]

    clock["now"] = NOW + HOUR  # PID idle for one hour minus 1 ms: kept
    assert expiration.check() == 0
    with pytest.raises(KafkaError) as info:  # still known: a sequence gap is refused
        append(plog, idem(7, ts=NOW + 5))
    assert info.value.code == ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER

    clock["now"] = NOW + HOUR + 1  # exactly producer.id.expiration.ms since its last batch
    assert expiration.check() == 1
    assert set(plog.producer_state.producers) == {OTHER}
    append(plog, idem(7, ts=NOW + 6))  # forgotten: any first sequence is accepted again (KIP-360)

    config.dynamic_broker["producer.id.expiration.ms"] = str(24 * HOUR)  # dynamic: read at every pass
    clock["now"] = NOW + 3 * HOUR
    assert expiration.check() == 0


def test_a_producer_with_an_open_transaction_never_expires(tmp_path: Path) -> None:
    from kafka.record.default_records import DefaultRecordBatchBuilder

    builder = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=True,
                                        producer_id=PID, producer_epoch=0, base_sequence=0,
                                        batch_size=1 << 20)
    builder.append(0, timestamp=NOW, key=None, value=b"v", headers=[])
    plog = open_log(tmp_path / "t-0")
    append(plog, bytearray(builder.build()))
    assert plog.producer_state.remove_expired(NOW + 10 * HOUR, HOUR) == 0
    assert PID in plog.producer_state.producers


def test_expiration_time_survives_a_restart_through_the_snapshot(tmp_path: Path) -> None:
    plog = open_log(tmp_path / "t-0")
    append(plog, idem(0, ts=NOW))
    plog.close()
    plog = open_log(tmp_path / "t-0", recovery_point=2)
    assert plog.producer_state.remove_expired(NOW + HOUR, HOUR) == 0
    assert plog.producer_state.remove_expired(NOW + HOUR + 1, HOUR) == 1


def test_segment_jitter_ms_shortens_the_roll_age(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import random

    monkeypatch.setattr(random, "randrange", lambda n: n - 1)  # the largest jitter the config allows
    config = LogConfig(segment_ms=10 * HOUR, segment_jitter_ms=4 * HOUR)
    plog = open_log(tmp_path / "t-0", config)
    append(plog, make_batch(1, ts=NOW))
    append(plog, make_batch(1, ts=NOW + 6 * HOUR + 2))  # past segment.ms - jitter: rolls
    assert len(plog.segments) == 2
    plain = open_log(tmp_path / "u-0", LogConfig(segment_ms=10 * HOUR))
    append(plain, make_batch(1, ts=NOW))
    append(plain, make_batch(1, ts=NOW + 6 * HOUR + 2))  # no jitter: not yet
    assert len(plain.segments) == 1
