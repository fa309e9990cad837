"""``producer-perf-test`` and ``consumer-perf-test``: Kafka's ProducerPerformance and
ConsumerPerformance, with their output formats.

Producer: a progress line every 5 s, ``N records sent, X records/sec (Y MB/sec), A ms avg latency,
M ms max latency.``, and a final line adding the 50th/95th/99th/99.9th latency percentiles.
Consumer: the header ``start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg,
nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec`` and one result line.
Without ``--group`` the consumer assigns itself all partitions (no group coordinator needed).
"""

from __future__ import annotations

import random
import threading
import time
from datetime import datetime
from typing import Any

import click

from pykafka_broker.cli.common import (
    client_config,
    consumer_defaults,
    fail,
    handle_errors,
    make_consumer,
    make_producer,
    parse_props,
    producer_defaults,
)

_CTX = {"help_option_names": ["-h", "--help"], "ignore_unknown_options": True, "allow_extra_args": True}
REPORTING_INTERVAL_MS = 5000
MB = 1024.0 * 1024.0


class ProducerStats:
    """Kafka's ProducerPerformance.Stats: whole-run and 5-second-window latency bookkeeping."""

    def __init__(self, num_records: int, reporting_interval_ms: int = REPORTING_INTERVAL_MS) -> None:
        self.start = self.window_start = time.monotonic()
        self.sampling = max(1, num_records // min(max(num_records, 1), 500000))
        self.latencies: list[int] = []
        self.interval = reporting_interval_ms / 1000.0
        self.count = self.bytes = self.total_latency = self.max_latency = 0
        self.window_count = self.window_bytes = self.window_total = self.window_max = 0
        self.iteration = 0
        self.lock = threading.Lock()

    def record(self, latency_ms: int, size: int, now: float) -> None:
        with self.lock:
            self.count += 1
            self.bytes += size
            self.total_latency += latency_ms
            self.max_latency = max(self.max_latency, latency_ms)
            self.window_count += 1
            self.window_bytes += size
            self.window_total += latency_ms
            self.window_max = max(self.window_max, latency_ms)
            if self.iteration % self.sampling == 0:
                self.latencies.append(latency_ms)
            self.iteration += 1
            if now - self.window_start >= self.interval:
                self._print_window(now)
                self.window_start = now
                self.window_count = self.window_bytes = self.window_total = self.window_max = 0

    def _print_window(self, now: float) -> None:
        elapsed = max(now - self.window_start, 1e-9)
        click.echo(
            f"{self.window_count} records sent, {self.window_count / elapsed:.1f} records/sec "
            f"({self.window_bytes / elapsed / MB:.2f} MB/sec), "
            f"{self.window_total / max(self.window_count, 1):.1f} ms avg latency, "
            f"{float(self.window_max):.1f} ms max latency."
        )

    def print_total(self) -> None:
        elapsed = max(time.monotonic() - self.start, 1e-9)
        lat = sorted(self.latencies)

        def pct(p: float) -> int:
            return lat[min(int(p * len(lat)), len(lat) - 1)] if lat else 0

        click.echo(
            f"{self.count} records sent, {self.count / elapsed:.1f} records/sec "
            f"({self.bytes / elapsed / MB:.2f} MB/sec), "
            f"{self.total_latency / max(self.count, 1):.2f} ms avg latency, "
            f"{float(self.max_latency):.2f} ms max latency, {pct(0.5)} ms 50th, {pct(0.95)} ms 95th, "
            f"{pct(0.99)} ms 99th, {pct(0.999)} ms 99.9th."
        )


def _print_metrics(metrics: dict[str, Any]) -> None:
    click.echo("\nMetric Name" + " " * 60 + "Value")
    for group, values in sorted(metrics.items()):
        if isinstance(values, dict):
            for name, value in sorted(values.items()):
                click.echo(f"{group}:{name:<60} : {value}")


def _payloads(record_size: int | None, payload_file: str | None, delimiter: str) -> list[bytes]:
    if (record_size is None) == (payload_file is None):
        raise click.UsageError("Exactly one of --record-size or --payload-file must be specified.")
    if record_size is not None:
        if record_size < 0:
            raise click.UsageError("--record-size must be non-negative")
        rnd = random.Random(0)
        return [bytes(rnd.randint(65, 90) for _ in range(record_size))]
    assert payload_file is not None
    with open(payload_file, encoding="utf-8") as fh:
        text = fh.read()
    sep = delimiter.encode("utf-8").decode("unicode_escape")
    items = [p.encode("utf-8") for p in text.split(sep) if p]
    if not items:
        raise fail(f"File {payload_file} contains no payloads")
    click.echo(f"Reading payloads from: {payload_file}")
    click.echo(f"Number of messages read: {len(items)}")
    return items


@click.command("producer-perf-test", context_settings=_CTX)
@click.option("--topic", required=True, metavar="TOPIC", help="produce messages to this topic")
@click.option(
    "--num-records",
    required=True,
    type=click.IntRange(min=1),
    metavar="NUM-RECORDS",
    help="number of messages to produce",
)
@click.option(
    "--record-size",
    type=int,
    metavar="RECORD-SIZE",
    help="message size in bytes. Note that you must provide exactly one of --record-size or --payload-file.",
)
@click.option(
    "--payload-file",
    metavar="PAYLOAD-FILE",
    help="file to read the message payloads from. This works only for UTF-8 encoded text files. "
    "Payloads will be read from this file and a payload will be randomly selected when sending "
    "messages.",
)
@click.option(
    "--payload-delimiter",
    default="\\n",
    show_default=True,
    metavar="PAYLOAD-DELIMITER",
    help="provides delimiter to be used when --payload-file is provided.",
)
@click.option(
    "--throughput",
    required=True,
    type=float,
    metavar="THROUGHPUT",
    help="throttle maximum message throughput to *approximately* THROUGHPUT messages/sec. Set this "
    "to -1 to disable throttling.",
)
@click.option(
    "--producer-props",
    multiple=True,
    metavar="PROP-NAME=PROP-VALUE",
    help="kafka producer related configuration properties like bootstrap.servers,client.id etc. "
    "Several may follow one --producer-props, as in Kafka.",
)
@click.option(
    "--bootstrap-server",
    default=None,
    metavar="HOST:PORT",
    help="The Kafka server(s) to connect to (overrides bootstrap.servers in --producer-props).",
)
@click.option("--print-metrics", is_flag=True, help="print out metrics at the end of the test.")
@click.pass_context
@handle_errors
def producer_perf_test(
    ctx: click.Context,
    topic: str,
    num_records: int,
    record_size: int | None,
    payload_file: str | None,
    payload_delimiter: str,
    throughput: float,
    producer_props: tuple[str, ...],
    bootstrap_server: str | None,
    print_metrics: bool,
) -> None:
    """A tool to verify the producer performance."""
    extra = [a for a in ctx.args if "=" in a and not a.startswith("-")]
    if len(extra) != len(ctx.args):
        raise click.UsageError(f"Unrecognized arguments: {' '.join(a for a in ctx.args if a not in extra)}")
    props = parse_props([*producer_props, *extra], "producer property")
    bootstrap = bootstrap_server or props.pop("bootstrap.servers", None)
    props.pop("bootstrap.servers", None)
    if not bootstrap:
        raise click.UsageError(
            "Either --bootstrap-server or bootstrap.servers in --producer-props must be specified."
        )
    payloads = _payloads(record_size, payload_file, payload_delimiter)
    producer = make_producer(bootstrap, client_config(props, producer_defaults()))
    stats = ProducerStats(num_records)
    failures: list[BaseException] = []
    rnd = random.Random()
    start = time.monotonic()
    try:
        for i in range(num_records):
            payload = payloads[0] if len(payloads) == 1 else payloads[rnd.randrange(len(payloads))]
            sent_at = time.monotonic()
            fut = producer.send(topic, value=payload)
            size = len(payload)

            def done(_md: Any, sent_at: float = sent_at, size: int = size) -> None:
                now = time.monotonic()
                stats.record(int((now - sent_at) * 1000), size, now)

            fut.add_callback(done)
            fut.add_errback(failures.append)
            if failures:
                break
            if throughput > 0:  # Kafka's ThroughputThrottler: sleep once ahead of the target rate
                ahead = (i + 1) / throughput - (time.monotonic() - start)
                if ahead > 0:
                    time.sleep(ahead)
        producer.flush()
        if failures:
            from pykafka_broker.cli.common import describe_error

            raise fail(f"Error when sending message to topic {topic}: {describe_error(failures[0])}")
        stats.print_total()
        if print_metrics:
            _print_metrics(producer.metrics())
    finally:
        producer.close()


_JAVA_DATE = [("yyyy", "%Y"), ("MM", "%m"), ("dd", "%d"), ("HH", "%H"), ("mm", "%M"), ("ss", "%S")]


def _format_ms(ms: float, java_format: str) -> str:
    """The subset of java.text.SimpleDateFormat the default 'yyyy-MM-dd HH:mm:ss:SSS' needs."""
    fmt = java_format
    for java, py in _JAVA_DATE:
        fmt = fmt.replace(java, py)
    stamp = datetime.fromtimestamp(ms / 1000.0)
    return stamp.strftime(fmt.replace("SSS", f"{int(ms) % 1000:03d}"))


@click.command("consumer-perf-test", context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--bootstrap-server", required=True, metavar="HOST:PORT", help="REQUIRED: The server(s) to connect to."
)
@click.option("--topic", required=True, metavar="TOPIC", help="REQUIRED: The topic to consume from.")
@click.option(
    "--messages",
    required=True,
    type=click.IntRange(min=1),
    metavar="COUNT",
    help="REQUIRED: The number of messages to consume.",
)
@click.option(
    "--group",
    default=None,
    metavar="GROUP",
    help="The group id to consume on. Without it the consumer assigns itself every partition.",
)
@click.option(
    "--from-latest",
    is_flag=True,
    help="If the consumer does not already have an established offset to consume from, start with "
    "the latest message present in the log rather than the earliest message.",
)
@click.option(
    "--fetch-size",
    type=int,
    default=1024 * 1024,
    show_default=True,
    metavar="SIZE",
    help="The amount of data to fetch in a single request.",
)
@click.option(
    "--timeout",
    type=int,
    default=10000,
    show_default=True,
    metavar="MILLISECONDS",
    help="The maximum allowed time in milliseconds between returned records.",
)
@click.option(
    "--reporting-interval",
    type=click.IntRange(min=1),
    default=5000,
    show_default=True,
    metavar="INTERVAL_MS",
    help="Interval in milliseconds at which to print progress info.",
)
@click.option(
    "--show-detailed-stats",
    is_flag=True,
    help="If set, stats are reported for each reporting interval as configured by reporting-interval.",
)
@click.option(
    "--date-format",
    default="yyyy-MM-dd HH:mm:ss:SSS",
    show_default=True,
    metavar="FORMAT",
    help="The date format to use for formatting the time field.",
)
@click.option("--hide-header", is_flag=True, help="If set, skips printing the header for the stats.")
@click.option(
    "--consumer-property",
    "consumer_properties",
    multiple=True,
    metavar="K=V",
    help="Consumer config properties in the form key=value. Repeatable.",
)
@click.option("--print-metrics", is_flag=True, help="Print out the metrics.")
@handle_errors
def consumer_perf_test(
    bootstrap_server: str,
    topic: str,
    messages: int,
    group: str | None,
    from_latest: bool,
    fetch_size: int,
    timeout: int,
    reporting_interval: int,
    show_detailed_stats: bool,
    date_format: str,
    hide_header: bool,
    consumer_properties: tuple[str, ...],
    print_metrics: bool,
) -> None:
    """A tool to verify the consumer performance."""
    cfg: dict[str, Any] = {
        "max_partition_fetch_bytes": fetch_size,
        "auto_offset_reset": "latest" if from_latest else "earliest",
    }
    if group:
        cfg["group_id"] = group
    cfg.update(client_config(parse_props(consumer_properties, "consumer property"), consumer_defaults()))
    consumer = make_consumer(bootstrap_server, cfg)
    if not hide_header:
        fields = "time, threadId" if show_detailed_stats else "start.time, end.time"
        click.echo(
            f"{fields}, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, "
            "fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec"
        )
    start_ms = time.time() * 1000
    read = nbytes = 0
    try:
        if group:
            consumer.subscribe(topics=[topic])
        else:
            from kafka import TopicPartition

            parts = consumer.partitions_for_topic(topic)
            if not parts:
                raise fail(f"Topic '{topic}' does not exist")
            tps = [TopicPartition(topic, p) for p in sorted(parts)]
            consumer.assign(tps)
            (consumer.seek_to_end if from_latest else consumer.seek_to_beginning)(*tps)
        last_record = last_report = time.monotonic()
        last_read = last_bytes = 0
        while read < messages and (time.monotonic() - last_record) * 1000 < timeout:
            for records in consumer.poll(timeout_ms=100, max_records=messages - read).values():
                for rec in records:
                    read += 1
                    nbytes += len(rec.value or b"") + len(rec.key or b"")
                    last_record = time.monotonic()
            if show_detailed_stats and (time.monotonic() - last_report) * 1000 >= reporting_interval:
                now = time.monotonic()
                span = max(now - last_report, 1e-9)
                mb = nbytes / MB
                click.echo(
                    f"{_format_ms(time.time() * 1000, date_format)}, 0, {mb:.4f}, "
                    f"{(nbytes - last_bytes) / MB / span:.4f}, {read}, {(read - last_read) / span:.4f}, "
                    f"0, {int(span * 1000)}, {(nbytes - last_bytes) / MB / span:.4f}, "
                    f"{(read - last_read) / span:.4f}"
                )
                last_report, last_read, last_bytes = now, read, nbytes
        if read < messages:
            click.echo(
                f"WARNING: Exiting before consuming the expected number of messages: timeout ({timeout} ms) "
                "exceeded. You can use the --timeout option to increase the timeout."
            )
        end_ms = time.time() * 1000
        metrics = consumer.metrics() if print_metrics else None
    finally:
        consumer.close(autocommit=False)
    elapsed = max((end_ms - start_ms) / 1000.0, 1e-9)
    mb = nbytes / MB
    if not show_detailed_stats:
        click.echo(
            f"{_format_ms(start_ms, date_format)}, {_format_ms(end_ms, date_format)}, {mb:.4f}, "
            f"{mb / elapsed:.4f}, {read}, {read / elapsed:.4f}, 0, {int(end_ms - start_ms)}, "
            f"{mb / elapsed:.4f}, {read / elapsed:.4f}"
        )
    if metrics:
        _print_metrics(metrics)
