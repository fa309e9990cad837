"""CPU cost of produce validation per record (protocol/validation.py), in process, no sockets.

    python benchmarks/validation.py [--records 10000] [--value-bytes 100] [--rounds 20]

For an uncompressed and a zstd batch of keyless records (what librdkafka sends by default), times
``validate_batch`` with the C summary walk (protocol/_recordwalk.c), with aiokafka's C record reader
and with the pure-Python walker, next to the
cost of the CRC check every produce already paid. Broker-level figures (throughput, broker CPU per
record, against the peers) come from bench.py: ``--brokers pykafka,pykafka@<ref>,tansu,noida``.
"""

from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Callable

from pykafka_broker.protocol import record_walk, validation
from pykafka_broker.protocol.compression import NONE, ZSTD
from pykafka_broker.protocol.records import build_batch, crc_matches, read_batch_header
from pykafka_broker.protocol.validation import AppendPolicy, validate_batch


def per_record_ns(fn: Callable[[], object], records: int, rounds: int, repeats: int = 5) -> float:
    """Best of ``repeats`` of the process CPU time per record over ``rounds`` calls (CPU time, and
    the best repeat, so that other processes on a shared machine count as little as they can)."""
    fn()  # warm-up (lazy imports, scratch buffers)
    gc.collect()
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        for _ in range(rounds):
            fn()
        best = min(best, (time.process_time() - start) / rounds / records * 1e9)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=10_000, help="records per batch")
    ap.add_argument("--value-bytes", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=20)
    args = ap.parse_args()
    now = int(time.time() * 1000)
    value = b"x" * args.value_bytes
    policy = AppendPolicy()
    print(f"{args.records} keyless records of {args.value_bytes} B per batch; ns per record")
    for codec, name in ((NONE, "none"), (ZSTD, "zstd")):
        batch = memoryview(build_batch([(None, value, [], now + i // 100) for i in range(args.records)],
                                       codec=codec))
        header = read_batch_header(batch)
        n, rounds = args.records, args.rounds
        row = {"crc": per_record_ns(lambda b=batch, h=header: crc_matches(b, 0, h), n, rounds)}
        summarize = validation._summarize
        for walker, summary, setting in (("C summary", True, None), ("aiokafka C walk", False, None),
                                         ("Python walk", False, False)):
            if summary and summarize is None:
                continue
            validation._summarize = summarize if summary else None
            record_walk._C_BATCH = setting
            if setting is None and not record_walk._c_batch_class():
                continue
            r = rounds if setting is None else max(1, rounds // 5)
            row[walker] = per_record_ns(
                lambda b=batch, h=header: validate_batch(b, h, policy, now, "t-0"), n, r)
        record_walk._C_BATCH = None
        validation._summarize = summarize
        print(f"  {name:<5} " + "  ".join(f"{k}: {v:7.1f}" for k, v in row.items()))


if __name__ == "__main__":
    main()
