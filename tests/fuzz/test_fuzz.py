"""Bounded fuzz run in CI: mutated real-client frames against a real broker process.

About a minute of wall clock: FUZZ_SECONDS (default 35) of cases on 4 connections, then the data-dir
scan and a restart. Seeded: the default seed is fixed; FUZZ_SEED=<n> reproduces another run, and
FUZZ_FRAMES bounds the number of cases (default 20000, more than fit in the time). The oracle
(tests/fuzz/engine.py): every connection is answered with well-formed, in-order responses or
closed; the broker stays alive and answers a health check on a fresh connection every 2 s; VmRSS
stays under 256 MiB; no Produce acknowledges a batch Kafka would refuse; no invalid batch is stored
(hence none is served); no unexpected exception is logged; the broker shuts down cleanly and restarts
on the fuzzed data dir. The long run is benchmarks/fuzz.py.
"""

from __future__ import annotations

import os
from pathlib import Path

from batches import Rec, build_batch, check_batch, encode_record
from engine import Settings, format_report, run
from mutators import Mutator, load_corpus
from wire import parse_produce

DEFAULT_SEED = 20261206


def test_corpus_holds_real_client_frames() -> None:
    frames = load_corpus()
    names = " ".join(p.name for p in (Path(__file__).parent / "corpus").glob("*.bin"))
    for client in ("kafka-python", "confluent", "aiokafka"):
        assert client in names
    for codec in ("none", "gzip", "snappy", "lz4", "zstd"):
        assert f"produce-v10-confluent-{codec}" in names
    assert "-txn" in names and "-idem" in names
    produces = [parse_produce(f) for f in frames if f[:2] == b"\x00\x00"]
    assert produces and all(check_batch(records or b"").valid
                            for p in produces for _, parts in p.topics for _, records in parts)
    assert sum(len(f) + 4 for f in frames) < 1 << 20


def test_oracle_tells_valid_from_invalid_batches() -> None:
    sec = b"".join(encode_record(Rec(b"k", b"v"), i) for i in range(3))
    assert check_batch(build_batch(sec, count=3)).valid
    assert check_batch(build_batch(sec, count=3, attributes=4)).valid
    assert not check_batch(build_batch(sec, count=4)).valid  # a record missing
    assert not check_batch(build_batch(sec, count=3, last_offset_delta=5)).valid
    assert not check_batch(build_batch(sec[:-1], count=3)).valid
    assert not check_batch(build_batch(sec, count=3, attributes=0x20)).valid  # control batch
    assert not check_batch(build_batch(sec, count=3, producer_id=7, producer_epoch=0)).valid  # seq -1
    bad_crc = bytearray(build_batch(sec, count=3))
    bad_crc[-1] ^= 1
    assert not check_batch(bytes(bad_crc)).valid


def test_cases_are_reproducible_from_seed_and_index() -> None:
    corpus = load_corpus()
    a, b = Mutator(5, corpus, bombs=False), Mutator(5, corpus, bombs=False)
    assert [a.case(i).data for i in range(200)] == [b.case(i).data for i in range(200)]
    for i in range(200, 6000):  # every mutator survives its own inputs
        a.case(i)


def test_harness_passes_unmodified_client_traffic(tmp_path: Path) -> None:
    """The control: the captured frames replayed as they are meet every check, so a failure of the
    fuzz test below is the broker's, not the harness's."""
    report = run(Settings(seed=DEFAULT_SEED, frames=300, seconds=20, work_dir=tmp_path, concurrency=4,
                          replay_only=True))
    assert report.frames == 300
    assert report.outcomes["answered"] == 300
    assert report.scan is not None and report.scan.batches > 0
    assert not report.failures(), format_report(report)


# On the pre-issue-10 broker (1a294bf) this fails: invalid batches acknowledged, stored and served,
# CreatePartitions counts that block the loop, RSS over 256 MiB, handler exceptions.
def test_fuzz_broker(tmp_path: Path) -> None:
    seed = int(os.environ.get("FUZZ_SEED", DEFAULT_SEED))
    settings = Settings(seed=seed, frames=int(os.environ.get("FUZZ_FRAMES", 20000)),
                        seconds=float(os.environ.get("FUZZ_SECONDS", 35)), work_dir=tmp_path,
                        concurrency=4, restart=False)
    report = run(settings)
    text = format_report(report)
    print(text)
    assert report.frames > 0
    assert not report.failures(), f"reproduce with FUZZ_SEED={seed}\n{text}"
