"""The fuzz run: cases over concurrent connections, a monitor, and the checks after the run.

Used by tests/fuzz/test_fuzz.py (bounded to about a minute) and benchmarks/fuzz.py (a million frames).
While cases run, a monitor samples the broker's VmRSS and, every ``health_every`` seconds, checks that
a fresh connection still gets ApiVersions and Metadata answered within ``t_health``. A dead process
is a crash, a failed health check a hang; with ``restart`` the broker is restarted on the same data
dir and the run goes on, otherwise it stops. After the run the broker is stopped, every stored batch
in the data dir is checked by the oracle (``scan``), and the broker is restarted on that data dir to
check that it still starts and answers.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import re
import struct
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from broker_proc import BrokerProc
from cases import Result, run_case
from mutators import Mutator, load_corpus
from scan import ScanReport, scan_data_dir
from served import ServedReport, check_served

MAX_REQUEST = 104857600  # socket.request.max.bytes default: the broker runs with Kafka's defaults
EXAMPLES = 5  # examples kept per failure category (memory stays bounded however long the run)


@dataclass(slots=True)
class Settings:
    seed: int
    frames: int
    seconds: float
    work_dir: Path
    concurrency: int = 8
    t_resp: float = 5.0
    t_close: float = 10.0
    t_health: float = 10.0
    health_every: float = 2.0
    rss_limit_mib: float = 256.0
    restart: bool = False
    bombs: bool = True
    save_failures: int = 50  # failing cases written to work_dir/failures/ for replay
    replay_only: bool = False  # the control run: unmodified client frames, which must pass every check
    progress_every: float = 0.0  # seconds between progress lines on stderr (0: none)


@dataclass
class Report:
    seed: int = 0
    frames: int = 0
    seconds: float = 0.0
    outcomes: collections.Counter[str] = field(default_factory=collections.Counter)
    kinds_failed: collections.Counter[str] = field(default_factory=collections.Counter)
    acked_invalid: int = 0
    crashes: int = 0
    hangs: int = 0  # failed health checks
    peak_rss_mib: float = 0.0
    rss_over_limit: bool = False
    examples: dict[str, list[str]] = field(default_factory=dict)
    scan: ScanReport | None = None
    served: ServedReport | None = None
    served_error: str = ""
    clean_shutdown: bool = True
    restart_ok: bool = True
    broker_errors: collections.Counter[str] = field(default_factory=collections.Counter)
    broker_cpu_s: float = 0.0

    @property
    def frames_per_s(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0

    def failures(self) -> list[str]:
        """Every oracle violation, one line each (empty when the broker passed)."""
        out = []
        for cat in ("hang", "malformed", "bad_size_not_closed"):
            if self.outcomes[cat]:
                out.append(f"{self.outcomes[cat]} cases {cat}")
        if self.acked_invalid:
            out.append(f"{self.acked_invalid} invalid batches acknowledged")
        if self.crashes:
            out.append(f"{self.crashes} broker crashes")
        if self.hangs:
            out.append(f"{self.hangs} failed health checks")
        if self.rss_over_limit:
            out.append(f"peak RSS {self.peak_rss_mib:.0f} MiB over the limit")
        if self.scan is not None and self.scan.invalid:
            out.append(f"{self.scan.invalid} invalid batches stored")
        if self.served is not None and self.served.invalid:
            out.append(f"{self.served.invalid} invalid batches served by Fetch")
        if self.served_error:
            out.append(f"Fetch of the stored data failed: {self.served_error}")
        if not self.clean_shutdown:
            out.append("broker did not shut down cleanly")
        errors = sum(self.broker_errors.values())
        if errors:
            out.append(f"{errors} unexpected exceptions logged by the broker")
        if not self.restart_ok:
            out.append("broker did not restart on the fuzzed data dir")
        return out

    def note(self, category: str, line: str) -> None:
        lst = self.examples.setdefault(category, [])
        if len(lst) < EXAMPLES:
            lst.append(line)


def _describe(case: Any, res: Result) -> str:
    acked = "; ".join(res.acked_invalid)
    return f"#{case.index} {case.kind}: {res.detail} {acked} head={case.data[:48].hex()}"


async def _run(settings: Settings, broker: BrokerProc, mutator: Mutator, report: Report) -> None:
    counter = itertools.count()
    stop = asyncio.Event()
    ready = asyncio.Event()  # cleared while the monitor restarts the broker
    ready.set()
    deadline = time.monotonic() + settings.seconds
    in_flight: dict[int, Any] = {}
    fail_dir = settings.work_dir / "failures"
    saved = 0

    async def worker() -> None:
        nonlocal saved
        while not stop.is_set() and time.monotonic() < deadline:
            await ready.wait()
            if stop.is_set():
                return
            i = next(counter)
            if i >= settings.frames:
                return
            case = mutator.case(i)
            in_flight[i] = case
            try:
                res = await run_case(case, broker.port, MAX_REQUEST, settings.t_resp, settings.t_close)
            finally:
                in_flight.pop(i, None)
            report.outcomes[res.outcome] += 1
            if res.outcome == "connect_failed":
                await asyncio.sleep(0.1)  # the broker is gone or not accepting: the monitor decides
                continue
            report.frames += 1
            failed = res.outcome in ("hang", "malformed", "bad_size_not_closed") or res.acked_invalid
            if res.acked_invalid:
                report.acked_invalid += len(res.acked_invalid)
                report.note("acked_invalid", _describe(case, res))
            elif failed:
                report.note(res.outcome, _describe(case, res))
            if failed:
                report.kinds_failed[case.kind.split("+")[0]] += 1
                if saved < settings.save_failures:
                    saved += 1
                    fail_dir.mkdir(exist_ok=True)
                    (fail_dir / f"{settings.seed}-{case.index}.bin").write_bytes(case.data)

    async def monitor() -> None:
        next_health = time.monotonic() + settings.health_every
        next_progress = time.monotonic() + settings.progress_every
        while not stop.is_set():
            if settings.progress_every and time.monotonic() >= next_progress:
                next_progress = time.monotonic() + settings.progress_every
                print(f"[fuzz] {report.frames} frames, RSS {broker.rss_kib() / 1024:.0f} MiB "
                      f"(peak {report.peak_rss_mib:.0f}), crashes {report.crashes}, hangs {report.hangs}, "
                      f"acked invalid {report.acked_invalid}, {dict(report.outcomes)}", file=sys.stderr,
                      flush=True)
            await asyncio.sleep(0.2)
            hwm_before = broker.peak_rss_kib / 1024
            rss = broker.rss_kib() / 1024
            if hwm_before and broker.peak_rss_kib / 1024 > hwm_before + 24:  # a jump: who was in flight?
                recent = ", ".join(f"#{c.index} {c.kind}" for c in list(in_flight.values())[:8])
                report.note("rss_jump", f"peak {hwm_before:.0f} -> {broker.peak_rss_kib / 1024:.0f} MiB; "
                                        f"in flight: {recent}")
            report.peak_rss_mib = max(report.peak_rss_mib, broker.peak_rss_kib / 1024, rss)
            problem = ""
            if not broker.alive():
                report.crashes += 1
                problem = f"crash (exit {broker.proc.returncode if broker.proc else '?'})"
            elif time.monotonic() >= next_health:
                next_health = time.monotonic() + settings.health_every
                if not await asyncio.to_thread(broker.health, settings.t_health):
                    report.hangs += 1
                    problem = "health check failed"
            if problem:
                recent = ", ".join(f"#{c.index} {c.kind}" for c in list(in_flight.values())[:8])
                report.note("crash_or_hang", f"{problem}; in flight: {recent}")
                if not settings.restart:
                    stop.set()
                    ready.set()
                    return
                ready.clear()
                broker.kill()
                try:
                    await asyncio.to_thread(broker.start)
                except RuntimeError as exc:
                    report.note("crash_or_hang", f"restart failed: {exc}")
                    report.restart_ok = False
                    stop.set()
                    ready.set()
                    return
                next_health = time.monotonic() + settings.health_every
                ready.set()

    workers = [asyncio.create_task(worker()) for _ in range(settings.concurrency)]
    mon = asyncio.create_task(monitor())
    await asyncio.gather(*workers)
    stop.set()
    await mon


def run(settings: Settings) -> Report:
    settings.work_dir.mkdir(parents=True, exist_ok=True)
    data_dir = settings.work_dir / "data"
    log_file = settings.work_dir / "broker.log"
    mutator = Mutator(settings.seed, load_corpus(), bombs=settings.bombs, replay_only=settings.replay_only)
    if settings.bombs and not settings.replay_only:
        from mutators import bomb
        for codec in ("zstd", "gzip"):  # build once, before the clock starts
            bomb(codec, False)
        bomb("zstd", True)
    report = Report(seed=settings.seed)
    broker = BrokerProc(data_dir, log_file).start()
    started = time.monotonic()
    try:
        asyncio.run(_run(settings, broker, mutator, report))
    finally:
        report.seconds = time.monotonic() - started
        broker.rss_kib()
        report.broker_cpu_s = broker.cpu_before + broker.cpu_seconds()
        report.peak_rss_mib = max(report.peak_rss_mib, broker.peak_rss_kib / 1024)
        code = broker.stop()
        report.clean_shutdown = code == 0
    report.rss_over_limit = report.peak_rss_mib > settings.rss_limit_mib
    report.broker_errors = _broker_errors(log_file)
    report.scan = scan_data_dir(data_dir)
    again = BrokerProc(data_dir, log_file)
    try:
        again.start()
        report.restart_ok = again.health(settings.t_health) and report.restart_ok
        if report.restart_ok:
            try:
                report.served = check_served(again.port, data_dir, timeout=settings.t_health)
            except (OSError, ConnectionError, ValueError, IndexError, struct.error) as exc:
                report.served_error = repr(exc)[:200]
    except RuntimeError:
        report.restart_ok = False
    finally:
        again.stop()
    return report


_ERR = re.compile(r"ERROR \S+: (error handling api_key=(-?\d+) v(-?\d+)|.*)")
_FILE = re.compile(r'File ".*/([^/]+\.py)", line (\d+)')


def _broker_errors(log_file: Path) -> collections.Counter[str]:
    """Exceptions the broker logged at ERROR ("a bug of ours" in connection.py), keyed by exception
    type, innermost project frame and API key; bounded to 20 kinds."""
    out: collections.Counter[str] = collections.Counter()
    api, where = "", ""
    try:
        with open(log_file, errors="replace") as f:
            for line in f:
                m = _ERR.search(line)
                if m:
                    api = f"api_key={m.group(2)} v{m.group(3)}" if m.group(2) else m.group(1)[:60]
                    where = ""
                    continue
                fm = _FILE.search(line)
                if fm and "site-packages" not in line and "/lib/python" not in line:
                    where = f"{fm.group(1)}:{fm.group(2)}"
                elif api and line[:1].isalpha() and ":" in line and not line.startswith("Traceback"):
                    key = f"{line.split(':', 1)[0]} at {where} ({api})"
                    if key in out or len(out) < 20:
                        out[key] += 1
                    api = ""
    except OSError:
        pass
    return out


def replay(files: list[Path], work_dir: Path, settings: Settings) -> list[str]:
    """Run saved cases (``failures/<seed>-<index>.bin``) one by one against a fresh broker."""
    from mutators import Case
    from wire import framed
    work_dir.mkdir(parents=True, exist_ok=True)
    broker = BrokerProc(work_dir / "data", work_dir / "broker.log").start()
    judge = Mutator(0, load_corpus(), bombs=False)
    lines = []

    async def go() -> None:
        for n, frame in enumerate(judge.corpus):  # the captured session first: topics, groups, ...
            await run_case(Case(n, "setup", framed(frame)), broker.port, MAX_REQUEST, settings.t_resp,
                           settings.t_close)
        for n, f in enumerate(files):
            data = f.read_bytes()
            case = Case(n, f.name, data, judge._info_if_produce(data[4:]))
            res = await run_case(case, broker.port, MAX_REQUEST, settings.t_resp, settings.t_close)
            lines.append(f"{f.name}: {res.outcome} {res.detail} {'; '.join(res.acked_invalid)} "
                         f"(broker alive: {broker.alive()}, RSS {broker.rss_kib() / 1024:.0f} MiB, "
                         f"peak {broker.peak_rss_kib / 1024:.0f} MiB)")
    try:
        asyncio.run(go())
    finally:
        broker.stop()
    return lines


def format_report(r: Report) -> str:
    scan = r.scan
    lines = [
        f"seed {r.seed}: {r.frames} frames in {r.seconds:.1f} s ({r.frames_per_s:.0f} frames/s; "
        f"broker CPU {r.broker_cpu_s:.1f} s)",
        f"outcomes: {dict(r.outcomes)}",
        f"crashes: {r.crashes}  hangs (failed health checks): {r.hangs}  peak RSS: {r.peak_rss_mib:.0f} MiB",
        f"invalid batches acknowledged: {r.acked_invalid}",
    ]
    if scan is not None:
        lines.append(f"stored batches: {scan.batches} in {scan.partitions} partitions; invalid stored: "
                     f"{scan.invalid}; bombs stored: {scan.bombs}; not decodable by kafka-python: "
                     f"{scan.client_undecodable}; non-consecutive offset deltas: {scan.nonconsecutive}; "
                     f"torn tails: {scan.torn}")
        for reason, n in scan.reasons.most_common(8):
            lines.append(f"  stored invalid: {n} x {reason}")
    if r.served is not None:
        lines.append(f"served after restart: {r.served.batches} batches from {r.served.partitions} "
                     f"partitions; invalid served: {r.served.invalid}; partition errors: {r.served.errors}")
        for e in r.served.examples:
            lines.append(f"  [served_invalid] {e}")
    if r.served_error:
        lines.append(f"served check failed: {r.served_error}")
    lines.append(f"clean shutdown: {r.clean_shutdown}  restart on fuzzed data: {r.restart_ok}")
    if r.kinds_failed:
        lines.append(f"failing cases by mutator: {dict(r.kinds_failed.most_common(12))}")
    if r.broker_errors:
        for kind, n in r.broker_errors.most_common(10):
            lines.append(f"  broker exception: {n} x {kind}")
    for cat, ex in r.examples.items():
        for e in ex:
            lines.append(f"  [{cat}] {e[:300]}")
    return "\n".join(lines)
