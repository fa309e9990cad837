"""Long fuzz run against pykafka-broker: crashes, hangs, peak RSS, invalid batches stored, frames/s.

    python benchmarks/fuzz.py --frames 1000000 [--seconds 7200] [--seed N] [--concurrency 8]

The engine is the one the CI test uses (tests/fuzz/): seeded mutations of request frames captured from
real clients, each on a fresh connection followed by a sentinel request; see tests/fuzz/engine.py for
the oracle. The run stops by itself at --frames or --seconds, whichever comes first, and keeps only
counters and a few examples per failure category (its own memory stays bounded). Unlike the CI test,
a crashed or hung broker is restarted on the same data dir and counted, and the run goes on.
Goal: 0 crashes, 0 hangs, peak RSS < 256 MiB, 0 invalid batches stored (and acknowledged).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "fuzz"))

from engine import Settings, format_report, replay, run  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=1_000_000)
    ap.add_argument("--seconds", type=float, default=4 * 3600, help="wall-clock limit of the fuzzing phase")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--concurrency", type=int, default=8, help="connections in flight")
    ap.add_argument("--rss-limit-mib", type=float, default=256.0)
    ap.add_argument("--no-bombs", action="store_true", help="skip the decompression-bomb cases")
    ap.add_argument("--work-dir", type=Path, default=None,
                    help="keep the data dir, broker log and failing cases here (default: a temp dir)")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures as JSON")
    ap.add_argument("--replay", type=Path, nargs="+", default=None, metavar="CASE.bin",
                    help="instead of fuzzing, send saved failing cases to a fresh broker and print outcomes")
    args = ap.parse_args(argv)
    if args.replay:
        with tempfile.TemporaryDirectory(prefix="pykafka-fuzz-replay-") as tmp:
            settings = Settings(seed=0, frames=0, seconds=0, work_dir=Path(tmp))
            for line in replay(args.replay, args.work_dir or Path(tmp), settings):
                print(line)
        return 0
    with tempfile.TemporaryDirectory(prefix="pykafka-fuzz-") as tmp:
        work = args.work_dir or Path(tmp)
        settings = Settings(seed=args.seed, frames=args.frames, seconds=args.seconds, work_dir=work,
                            concurrency=args.concurrency, rss_limit_mib=args.rss_limit_mib, restart=True,
                            bombs=not args.no_bombs, progress_every=30.0)
        report = run(settings)
    print(format_report(report))
    scan = report.scan
    figures = {"seed": report.seed, "frames": report.frames, "seconds": round(report.seconds, 1),
               "frames_per_s": round(report.frames_per_s), "crashes": report.crashes, "hangs": report.hangs,
               "peak_rss_mib": round(report.peak_rss_mib), "acked_invalid": report.acked_invalid,
               "invalid_stored": scan.invalid if scan else None, "outcomes": dict(report.outcomes),
               "scan": {**vars(scan), "reasons": dict(scan.reasons)} if scan else None,
               "served": vars(report.served) if report.served else None,
               "broker_exceptions": dict(report.broker_errors), "examples": report.examples,
               "failures": report.failures()}
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    print("RESULT " + ("PASS" if not report.failures() else "FAIL: " + "; ".join(report.failures())))
    return 0 if not report.failures() else 1


if __name__ == "__main__":
    sys.exit(main())
