"""Side-by-side benchmark of pykafka-broker against peer Kafka-compatible brokers.

    python benchmarks/bench.py --brokers pykafka,tansu,noida --records 1000000 --json out.json

Each broker runs in turn, on 127.0.0.1 on a free port with a fresh temp data dir, measured by a worker
subprocess (a fresh confluent-kafka client per broker). The parent bounds each worker with a timeout and
kills the worker's process group (worker + the broker it started) if it overruns, so a broken broker
fails its own row and the run goes on. See benchmarks/README.md for what each number means.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from brokers import (  # noqa: E402
    LAUNCHERS,
    BrokerUnavailable,
    cpu_seconds,
    free_port,
    launcher,
    memory_kib,
    wait_for_api_versions,
)

TOPIC_ACKS1, TOPIC_ACKSALL, TOPIC_LATENCY = "bench-acks1", "bench-acksall", "bench-latency"
TOPIC_DEFAULT, DEFAULT_PARTITIONS = "bench-default", 3  # the default-consumer workload
WORKLOADS = ("all", "standard", "default-consumer")


# --- worker: one broker ---------------------------------------------------------------------------


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _log_tail(path: Path, chars: int = 400) -> str:
    try:
        return path.read_text(errors="replace")[-chars:].strip()
    except OSError:
        return ""


def run_worker(args: argparse.Namespace) -> dict[str, Any]:
    import default_consumer  # confluent-kafka is needed only in the worker
    import workload

    name: str = args.worker
    row: dict[str, Any] = {"broker": name}
    tmp = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
    data_dir = tmp / "data"
    data_dir.mkdir()
    log_path = tmp / "broker.log"
    proc: subprocess.Popen[bytes] | None = None
    phase = "install"
    try:
        port = free_port()
        spec = launcher(name)(port, data_dir)  # type: ignore[misc]
        row["command"] = spec.description
        phase = "start"
        with log_path.open("wb") as log:
            started = time.monotonic()
            proc = subprocess.Popen(spec.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    cwd=tmp, preexec_fn=_pin(args.pin_broker))
        row["start_to_api_versions_ms"] = round(wait_for_api_versions(proc, port, started, args.timeout), 1)
        time.sleep(1.0)  # let start-up allocations settle before reading idle memory
        row["idle_rss_mib"] = round(memory_kib(proc.pid, "VmRSS") / 1024, 1)
        bootstrap = f"127.0.0.1:{port}"

        phase = "create topics"
        standard = args.workload in ("all", "standard")
        default = args.workload in ("all", "default-consumer")
        if standard:
            workload.create_topics(bootstrap, [TOPIC_ACKS1, TOPIC_ACKSALL, TOPIC_LATENCY], args.partitions,
                                   args.timeout)
        if default:
            workload.create_topics(bootstrap, [TOPIC_DEFAULT], DEFAULT_PARTITIONS, args.timeout)

        def measured(key: str, fn: Any, *fn_args: Any) -> None:
            nonlocal phase
            phase = key
            print(f"[bench] {name}: {key} ...", file=sys.stderr, flush=True)
            cpu0 = cpu_seconds(proc.pid)  # type: ignore[union-attr]
            result = fn(*fn_args)
            out = result if isinstance(result, dict) else result.as_dict()
            cpu = cpu_seconds(proc.pid) - cpu0  # type: ignore[union-attr]
            out["broker_cpu_s"] = round(cpu, 2)
            out["broker_cpu_us_per_record"] = round(cpu * 1e6 / args.records, 2)
            row[key] = out

        n, size, p, t = args.records, args.record_size, args.partitions, args.timeout
        if standard:
            measured("produce_acks1", workload.produce, bootstrap, TOPIC_ACKS1, n, size, "1", t)
            measured("produce_acksall", workload.produce, bootstrap, TOPIC_ACKSALL, n, size, "all", t)
            measured("consume", workload.consume, bootstrap, TOPIC_ACKS1, p, n, size, t)
            measured("latency", workload.end_to_end_latency, bootstrap, TOPIC_LATENCY, p,
                     args.latency_rate, args.latency_seconds, size, t)
        if default:
            measured("produce_default", default_consumer.produce_batched, bootstrap, TOPIC_DEFAULT, n,
                     size, t)
            measured("consume_default", default_consumer.consume_default, bootstrap, TOPIC_DEFAULT,
                     DEFAULT_PARTITIONS, n, size, t)
            measured("fetch_probe", default_consumer.probe_fetch_limits, bootstrap, TOPIC_DEFAULT,
                     DEFAULT_PARTITIONS, t)
    except BrokerUnavailable as exc:
        row["error"] = f"unavailable: {exc}"
    except BaseException as exc:  # any failure becomes this broker's row, never a crash of the run
        detail = f"{type(exc).__name__}: {exc}"
        if proc is not None and proc.poll() is not None:
            detail += f" (broker exited {proc.returncode}; log tail: {_log_tail(log_path)})"
        row["error"] = f"{phase}: {detail}"
        if args.verbose:
            traceback.print_exc()
    finally:
        if proc is not None:
            if proc.poll() is None:
                row["peak_rss_mib"] = round(memory_kib(proc.pid, "VmHWM") / 1024, 1)
                row["total_broker_cpu_s"] = round(cpu_seconds(proc.pid), 2)
            _stop(proc)
        if args.keep_logs and log_path.exists():
            print(f"[bench] {name}: broker log kept at {log_path}", file=sys.stderr)
            shutil.rmtree(data_dir, ignore_errors=True)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return row


def _pin(cpu: int | None) -> Any:
    if cpu is None:
        return None
    return lambda: os.sched_setaffinity(0, {cpu})


# --- parent: run every broker, report ------------------------------------------------------------


def run_one(args: argparse.Namespace, name: str) -> dict[str, Any]:
    argv = [sys.executable, str(Path(__file__).resolve()), "--worker", name,
            "--records", str(args.records), "--record-size", str(args.record_size),
            "--partitions", str(args.partitions), "--latency-rate", str(args.latency_rate),
            "--latency-seconds", str(args.latency_seconds), "--timeout", str(args.timeout),
            "--workload", args.workload]
    if args.keep_logs:
        argv.append("--keep-logs")
    if args.verbose:
        argv.append("--verbose")
    if args.pin:
        argv += ["--pin-broker", "1"]
    budget = 7 * args.timeout + args.latency_seconds + 120  # every phase bounded by --timeout
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, start_new_session=True,
                             preexec_fn=_pin(0) if args.pin else None)
    try:
        out, _ = child.communicate(timeout=budget)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)  # the worker and the broker it started, nothing else
        child.communicate()
        return {"broker": name, "error": f"worker exceeded {budget:.0f} s and was killed"}
    except BaseException:  # Ctrl-C: leave no broker behind
        os.killpg(child.pid, signal.SIGKILL)
        raise
    lines = out.decode(errors="replace").strip().splitlines()
    try:
        return dict(json.loads(lines[-1]))
    except (IndexError, ValueError):
        return {"broker": name, "error": f"worker exited {child.returncode} without a result"}


# (label, path in the row, which direction is better)
METRICS: list[tuple[str, tuple[str, ...], str]] = [
    ("start -> ApiVersions (ms)", ("start_to_api_versions_ms",), "lower"),
    ("idle RSS (MiB)", ("idle_rss_mib",), "lower"),
    ("produce acks=1 (rec/s)", ("produce_acks1", "records_per_s"), "higher"),
    ("produce acks=1 (MB/s)", ("produce_acks1", "mb_per_s"), "higher"),
    ("produce acks=1 broker CPU (s)", ("produce_acks1", "broker_cpu_s"), "lower"),
    ("produce acks=1 CPU/record (us)", ("produce_acks1", "broker_cpu_us_per_record"), "lower"),
    ("produce acks=all (rec/s)", ("produce_acksall", "records_per_s"), "higher"),
    ("produce acks=all (MB/s)", ("produce_acksall", "mb_per_s"), "higher"),
    ("produce acks=all broker CPU (s)", ("produce_acksall", "broker_cpu_s"), "lower"),
    ("produce acks=all CPU/record (us)", ("produce_acksall", "broker_cpu_us_per_record"), "lower"),
    ("consume (rec/s)", ("consume", "records_per_s"), "higher"),
    ("consume (MB/s)", ("consume", "mb_per_s"), "higher"),
    ("consume first batch (ms)", ("consume", "first_batch_ms"), "lower"),
    ("consume broker CPU (s)", ("consume", "broker_cpu_s"), "lower"),
    ("e2e latency p50 (ms)", ("latency", "p50_ms"), "lower"),
    ("e2e latency p99 (ms)", ("latency", "p99_ms"), "lower"),
    ("e2e latency max (ms)", ("latency", "max_ms"), "lower"),
    ("e2e records received", ("latency", "received"), "higher"),
    ("e2e broker CPU (s)", ("latency", "broker_cpu_s"), "lower"),
    ("default consumer (rec/s)", ("consume_default", "records_per_s"), "higher"),
    ("default consumer broker CPU (s)", ("consume_default", "broker_cpu_s"), "lower"),
    ("default consumer Fetch round trips", ("consume_default", "fetch_responses"), "lower"),
    ("default consumer bytes per Fetch", ("consume_default", "bytes_per_fetch"), "higher"),
    # One Fetch with librdkafka's default limits (1 MiB per partition, 50 MiB per response): what a
    # broker keeping to them answers at most (~1 MiB and ~3.1 MB here). Not a goal to maximise.
    ("probe: largest partition answer (B)", ("fetch_probe", "largest_partition_bytes"), "lower"),
    ("probe: Fetch response (B)", ("fetch_probe", "response_bytes"), "lower"),
    ("peak RSS (MiB)", ("peak_rss_mib",), "lower"),
]


def _get(row: dict[str, Any], path: tuple[str, ...]) -> float | None:
    cur: Any = row
    for key in path:
        if not isinstance(cur, dict) or key not in cur:
            return None
        cur = cur[key]
    return float(cur)


def _fmt(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:g}"


def print_broker_table(row: dict[str, Any]) -> None:
    print(f"\n== {row['broker']} ==  {row.get('command', '')}")
    for label, path, _ in METRICS:
        v = _get(row, path)
        if v is not None:
            print(f"  {label:<34} {_fmt(v):>12}")
    if "error" in row:
        print(f"  ERROR: {row['error']}")


def print_comparison(rows: list[dict[str, Any]], ours: str = "pykafka") -> None:
    names = [r["broker"] for r in rows]
    # pykafka@<ref> rows are our own broker at another commit, not peers
    peers = [r for r in rows if not r["broker"].startswith(ours)]
    our_row = next((r for r in rows if r["broker"] == ours), None)
    width = max(12, *(len(n) + 2 for n in names))
    header = f"{'metric':<34}" + "".join(f"{n:>{width}}" for n in names)
    if our_row and peers:
        header += f"{'ours/best peer':>16}  better"
    print("\n" + header)
    print("-" * len(header))
    for label, path, better in METRICS:
        values = [_get(r, path) for r in rows]
        line = f"{label:<34}" + "".join(f"{_fmt(v):>{width}}" for v in values)
        if our_row and peers:
            mine = _get(our_row, path)
            peer_values = [v for v in (_get(r, path) for r in peers) if v is not None]
            ratio = "-"
            if mine is not None and peer_values:
                best = max(peer_values) if better == "higher" else min(peer_values)
                ratio = f"{mine / best:.2f}x" if best else "-"
            line += f"{ratio:>16}  {better}"
        print(line)
    for r in rows:
        if "error" in r:
            print(f"{r['broker']}: ERROR {r['error']}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--brokers", default="pykafka,tansu,noida",
                    help=f"comma-separated, from: {', '.join(LAUNCHERS)}, or pykafka@<git ref> for our "
                         "broker as of that commit (default: all)")
    ap.add_argument("--records", type=int, default=1_000_000, help="records per produce/consume phase")
    ap.add_argument("--record-size", type=int, default=100, help="value bytes per record (no key)")
    ap.add_argument("--partitions", type=int, default=1, help="partitions per topic (default 1)")
    ap.add_argument("--latency-rate", type=int, default=2000, help="records/s in the latency phase")
    ap.add_argument("--latency-seconds", type=float, default=10.0, help="length of the latency phase")
    ap.add_argument("--workload", choices=WORKLOADS, default="all",
                    help="standard: produce/consume/latency phases on --partitions partitions; "
                         "default-consumer: 3 partitions, producer linger.ms=5 batch.size=1 MiB, consumer "
                         "with librdkafka defaults; all (default): both")
    ap.add_argument("--rounds", type=int, default=1,
                    help="run the brokers side by side this many times (alternating order) and report "
                         "each round and the median")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds allowed per phase")
    ap.add_argument("--pin", action="store_true",
                    help="pin the client to CPU 0 and the broker to CPU 1 (default: share both)")
    ap.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    ap.add_argument("--keep-logs", action="store_true", help="keep each broker's log in its temp dir")
    ap.add_argument("--verbose", action="store_true", help="print tracebacks of failed phases")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--pin-broker", type=int, help=argparse.SUPPRESS)
    return ap.parse_args(argv)


def main() -> None:
    args = parse_args()
    if args.worker:
        if args.pin_broker is not None:
            os.sched_setaffinity(0, {0})
        print(json.dumps(run_worker(args)), flush=True)
        return
    names = [n.strip() for n in args.brokers.split(",") if n.strip()]
    unknown = [n for n in names if launcher(n) is None]
    if unknown:
        sys.exit(f"unknown broker(s): {', '.join(unknown)}; known: {', '.join(LAUNCHERS)}")
    print(f"[bench] {args.records:,} records x {args.record_size} B, {args.partitions} partition(s), "
          f"latency {args.latency_rate}/s for {args.latency_seconds:g} s; {os.cpu_count()} CPUs"
          f"{', client/broker pinned' if args.pin else ', client and broker share CPUs'}", file=sys.stderr)
    rounds: list[list[dict[str, Any]]] = []
    for r in range(max(1, args.rounds)):
        order = names if r % 2 == 0 else names[::-1]  # alternate who runs first on a shared machine
        by_name = {}
        for name in order:
            print(f"[bench] round {r + 1}: {name}: starting", file=sys.stderr, flush=True)
            by_name[name] = run_one(args, name)
            print_broker_table(by_name[name])
        rows = [by_name[n] for n in names]
        rounds.append(rows)
        if args.rounds > 1:
            print(f"\n== round {r + 1} of {args.rounds} ==")
        print_comparison(rows)
    if len(rounds) > 1:
        print(f"\n== median of {len(rounds)} rounds ==")
        print_comparison([median_row(name, [rows[i] for rows in rounds]) for i, name in enumerate(names)])
    if args.json:
        config = {k: v for k, v in vars(args).items() if k not in ("worker", "pin_broker", "json")}
        report = {"config": config, "host": {"cpus": os.cpu_count(), "platform": platform.platform(),
                                              "python": platform.python_version()},
                  "results": rounds[0] if len(rounds) == 1 else rounds}
        args.json.write_text(json.dumps(report, indent=2, default=str))
        print(f"\n[bench] wrote {args.json}", file=sys.stderr)


def median_row(name: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """A row holding, for every metric, the median over the rounds that measured it."""
    out: dict[str, Any] = {"broker": name}
    for _, path, _ in METRICS:
        values = sorted(v for v in (_get(r, path) for r in rows) if v is not None)
        if not values:
            continue
        cur = out
        for key in path[:-1]:
            cur = cur.setdefault(key, {})
        mid = len(values) // 2
        cur[path[-1]] = values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2
    errors = [r["error"] for r in rows if "error" in r]
    if errors:
        out["error"] = f"{len(errors)} of {len(rows)} rounds failed, first: {errors[0]}"
    return out


if __name__ == "__main__":
    main()
