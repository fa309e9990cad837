"""``pykafka-broker console-consumer``: Kafka's kafka-console-consumer.sh (ConsoleConsumer with its
DefaultMessageFormatter) printing records to stdout.

Without ``--group`` the consumer assigns itself every partition of the topic (or ``--partition``) and
needs no group coordinator; with ``--group`` it subscribes and commits like Kafka's tool. On exit
(``--max-messages`` reached, ``--timeout-ms`` with nothing to read, SIGINT or SIGTERM) it prints
``Processed a total of N messages`` on stderr, as Kafka does.
"""

from __future__ import annotations

import signal
import sys
import time
from dataclasses import dataclass
from typing import Any, BinaryIO

import click

from pykafka_broker.cli.common import (
    bootstrap_option,
    client_config,
    consumer_defaults,
    fail,
    handle_errors,
    make_consumer,
    parse_props,
    topic_filter,
)

_PROPERTY_HELP = (
    "The properties to initialize the message formatter. Default properties include: "
    "print.timestamp=true|false, print.key=true|false, print.offset=true|false, print.partition=true|false, "
    "print.headers=true|false, print.value=true|false, key.separator=<key.separator>, "
    "line.separator=<line.separator>, headers.separator=<line.separator>, null.literal=<null.literal>. "
    "Repeatable."
)
_TIMESTAMP_TYPES = {0: "CreateTime", 1: "LogAppendTime"}


def _unescape(value: str) -> bytes:
    return (value.encode("utf-8").decode("unicode_escape") if "\\" in value else value).encode("utf-8")


@dataclass(slots=True)
class MessageFormatter:
    """Kafka's DefaultMessageFormatter: timestamp, partition, offset, headers, key, value in that order,
    joined by key.separator and ended by line.separator."""

    print_timestamp: bool = False
    print_key: bool = False
    print_value: bool = True
    print_partition: bool = False
    print_offset: bool = False
    print_headers: bool = False
    key_separator: bytes = b"\t"
    line_separator: bytes = b"\n"
    headers_separator: bytes = b","
    null_literal: bytes = b"null"

    @classmethod
    def from_props(cls, props: dict[str, str]) -> MessageFormatter:
        f = cls()
        for name in ("timestamp", "key", "value", "partition", "offset", "headers"):
            raw = props.get(f"print.{name}")
            if raw is not None:
                setattr(f, f"print_{name}", raw.strip().lower() == "true")
        for name in ("key.separator", "line.separator", "headers.separator", "null.literal"):
            if name in props:
                setattr(f, name.replace(".", "_"), _unescape(props[name]))
        return f

    def format(self, rec: Any) -> bytes:
        fields: list[bytes] = []
        if self.print_timestamp:
            ts_type = _TIMESTAMP_TYPES.get(getattr(rec, "timestamp_type", None) or 0)
            ts = rec.timestamp
            fields.append(b"NO_TIMESTAMP" if ts is None or ts < 0 else f"{ts_type}:{ts}".encode())
        if self.print_partition:
            fields.append(f"Partition:{rec.partition}".encode())
        if self.print_offset:
            fields.append(f"Offset:{rec.offset}".encode())
        if self.print_headers:
            headers = list(rec.headers or [])
            if not headers:
                fields.append(b"NO_HEADERS")
            else:
                fields.append(
                    self.headers_separator.join(
                        k.encode("utf-8") + b":" + (self.null_literal if v is None else bytes(v))
                        for k, v in headers
                    )
                )
        if self.print_key:
            fields.append(self.null_literal if rec.key is None else bytes(rec.key))
        if self.print_value:
            fields.append(self.null_literal if rec.value is None else bytes(rec.value))
        if not fields:
            return b""
        return self.key_separator.join(fields) + self.line_separator


def _start_offset(offset: str | None, from_beginning: bool) -> str | int:
    if offset is None:
        return "earliest" if from_beginning else "latest"
    if offset in ("earliest", "latest"):
        return offset
    try:
        value = int(offset)
    except ValueError:
        value = -1
    if value < 0:
        raise click.UsageError(
            f"The provided offset value '{offset}' is incorrect. Valid values are "
            "'earliest', 'latest', or a non-negative long."
        )
    return value


def _assign(
    consumer: Any, topic: str | None, include: str | None, partition: int | None, start: str | int
) -> None:
    from kafka import TopicPartition

    if topic is not None:
        names = [topic]
    else:
        allowed = topic_filter(include)
        names = sorted(t for t in consumer.topics() if allowed(t))
    tps: list[Any] = []
    for name in names:
        parts = None
        deadline = time.monotonic() + 5
        while parts is None and time.monotonic() < deadline:  # first metadata may auto-create it
            parts = consumer.partitions_for_topic(name)
            if parts is None:
                time.sleep(0.1)
        if not parts:
            raise fail(f"Topic '{name}' does not exist")
        if partition is not None:
            if partition not in parts:
                raise fail(f"Partition {partition} of topic '{name}' does not exist")
            parts = {partition}
        tps += [TopicPartition(name, p) for p in sorted(parts)]
    consumer.assign(tps)
    if start == "earliest":
        consumer.seek_to_beginning(*tps)
    elif start == "latest":
        consumer.seek_to_end(*tps)
    else:
        for tp in tps:
            consumer.seek(tp, int(start))


def _run(
    consumer: Any,
    formatter: MessageFormatter,
    out: BinaryIO,
    max_messages: int | None,
    timeout_ms: int | None,
    counter: list[int],
) -> str | None:
    """Poll and print until a limit is hit, counting in ``counter[0]`` (still right after a Ctrl-C);
    returns the error line to log, or None."""
    last_record = time.monotonic()
    while max_messages is None or counter[0] < max_messages:
        batches = consumer.poll(
            timeout_ms=200 if timeout_ms is None else min(200, max(timeout_ms, 1)),
            max_records=None if max_messages is None else max_messages - counter[0],
        )
        chunk: list[bytes] = []
        for records in batches.values():
            for rec in records:
                counter[0] += 1  # counted before it is written, as Kafka's ConsoleConsumer does
                chunk.append(formatter.format(rec))
        if chunk:
            out.write(b"".join(chunk))
            out.flush()
            last_record = time.monotonic()
        elif timeout_ms is not None and (time.monotonic() - last_record) * 1000 >= timeout_ms:
            return (
                "Error processing message, terminating consumer process: "
                "org.apache.kafka.common.errors.TimeoutException"
            )
    return None


@click.command("console-consumer", context_settings={"help_option_names": ["-h", "--help"]})
@bootstrap_option()
@click.option("--topic", metavar="TOPIC", help="The topic to consume on.")
@click.option(
    "--include",
    metavar="REGEX",
    help="Regular expression specifying list of topics to include for consumption.",
)
@click.option(
    "--partition",
    type=click.IntRange(min=0),
    metavar="PARTITION",
    help="The partition to consume from. Consumption starts from the end of the partition unless "
    "'--offset' is specified.",
)
@click.option(
    "--offset",
    metavar="OFFSET",
    help="The offset to consume from (a non-negative number), or 'earliest' which means from "
    "beginning, or 'latest' which means from end.",
)
@click.option(
    "--from-beginning",
    is_flag=True,
    help="If the consumer does not already have an established offset to consume from, start with "
    "the earliest message present in the log rather than the latest message.",
)
@click.option("--group", metavar="GROUP", help="The consumer group id of the consumer.")
@click.option(
    "--max-messages",
    type=click.IntRange(min=1),
    metavar="NUM_MESSAGES",
    help="The maximum number of messages to consume before exiting. If not set, consumption is continual.",
)
@click.option(
    "--timeout-ms",
    type=click.IntRange(min=0),
    metavar="TIMEOUT_MS",
    help="If specified, exit if no message is available for consumption for the specified interval.",
)
@click.option(
    "--isolation-level",
    type=click.Choice(["read_committed", "read_uncommitted"]),
    default="read_uncommitted",
    show_default=True,
    help="Set to read_committed in order to filter out transactional messages which are not "
    "committed. Set to read_uncommitted to read all messages.",
)
@click.option("--property", "properties", multiple=True, metavar="PROP", help=_PROPERTY_HELP)
@click.option(
    "--consumer-property",
    "consumer_properties",
    multiple=True,
    metavar="CONSUMER_PROP",
    help="A mechanism to pass user-defined properties in the form key=value to the consumer. Repeatable.",
)
@handle_errors
def console_consumer(
    bootstrap_server: str,
    topic: str | None,
    include: str | None,
    partition: int | None,
    offset: str | None,
    from_beginning: bool,
    group: str | None,
    max_messages: int | None,
    timeout_ms: int | None,
    isolation_level: str,
    properties: tuple[str, ...],
    consumer_properties: tuple[str, ...],
) -> None:
    """Consume messages from Kafka topics and print them to standard output."""
    if (topic is None) == (include is None):
        raise click.UsageError("Exactly one of --include/--topic is required.")
    if partition is not None and topic is None:
        raise click.UsageError("The topic is required when partition is specified.")
    if offset is not None and partition is None:
        raise click.UsageError("The partition is required when offset is specified.")
    if from_beginning and offset is not None:
        raise click.UsageError("Options from-beginning and offset cannot be specified together.")
    if group is not None and partition is not None:
        raise click.UsageError("Options group and partition cannot be specified together.")
    formatter = MessageFormatter.from_props(parse_props(properties, "property"))
    start = _start_offset(offset, from_beginning)
    cfg: dict[str, Any] = {
        "isolation_level": isolation_level,
        "auto_offset_reset": "earliest" if from_beginning else "latest",
    }
    if group is not None:
        cfg.update(group_id=group, enable_auto_commit=True)
    cfg.update(client_config(parse_props(consumer_properties, "consumer property"), consumer_defaults()))

    # SIGTERM ends the run like SIGINT does (Kafka's shutdown hook); both land in KeyboardInterrupt.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    counter = [0]
    error: str | None = None
    consumer = None
    try:
        consumer = make_consumer(bootstrap_server, cfg)
        if group is None:
            _assign(consumer, topic, include, partition, start)
        elif topic is not None:
            consumer.subscribe(topics=[topic])
        else:
            consumer.subscribe(pattern=include)
        error = _run(consumer, formatter, sys.stdout.buffer, max_messages, timeout_ms, counter)
    except KeyboardInterrupt:
        pass
    except BrokenPipeError:
        sys.stderr.close()  # the reader went away (`| head`): stop quietly
        return
    finally:
        if consumer is not None:
            try:
                consumer.close(autocommit=group is not None)
            except Exception:  # noqa: BLE001 - closing is best effort on the way out
                pass
    if error:
        click.echo(f"ERROR {error}", err=True)
    click.echo(f"Processed a total of {counter[0]} messages", err=True)
