"""``pykafka-broker console-producer``: Kafka's kafka-console-producer.sh (ConsoleProducer with its
LineMessageReader): one record per line of stdin until EOF.

``--property`` configures the reader as Kafka's does: ``parse.key``/``key.separator`` (default TAB),
``parse.headers``/``headers.delimiter`` (TAB), ``headers.separator`` (","), ``headers.key.separator``
(":"), ``null.marker`` and ``ignore.error``. With both, a line reads ``h1:v1,h2:v2<TAB>key<TAB>value``.
The ">" prompt is printed only when stdin is a terminal.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import click

from pykafka_broker.cli.common import (
    bootstrap_option,
    client_config,
    describe_error,
    fail,
    handle_errors,
    make_producer,
    parse_props,
    producer_defaults,
)

CODECS = ("none", "gzip", "snappy", "lz4", "zstd")

_PROPERTY_HELP = (
    "A mechanism to pass user-defined properties in the form key=value to the message reader. Default "
    "properties include: parse.key=false, parse.headers=false, ignore.error=false, key.separator=\\t, "
    "headers.delimiter=\\t, headers.separator=',', headers.key.separator=':', null.marker= (when set, any "
    "fields (key, value and headers) equal to this will be replaced by null). Default parsing pattern when "
    'parse.headers=true and parse.key=true: "h1:v1,h2:v2...\\tkey\\tvalue"; parse.key=true: '
    '"key\\tvalue"; parse.headers=true: "h1:v1,h2:v2...\\tvalue". Repeatable.'
)


def _unescape(value: str) -> str:
    return value.encode("utf-8").decode("unicode_escape") if "\\" in value else value


@dataclass(slots=True)
class LineReader:
    """Kafka's LineMessageReader: split one line into (headers, key, value)."""

    parse_key: bool = False
    parse_headers: bool = False
    ignore_error: bool = False
    key_separator: str = "\t"
    headers_delimiter: str = "\t"
    headers_separator: str = ","
    headers_key_separator: str = ":"
    null_marker: str | None = None
    line_number: int = 0

    @classmethod
    def from_props(cls, props: dict[str, str]) -> LineReader:
        def flag(name: str) -> bool:
            return props.get(name, "false").strip().lower() == "true"

        r = cls(
            parse_key=flag("parse.key"),
            parse_headers=flag("parse.headers"),
            ignore_error=flag("ignore.error"),
            key_separator=_unescape(props.get("key.separator", "\t")),
            headers_delimiter=_unescape(props.get("headers.delimiter", "\t")),
            headers_separator=_unescape(props.get("headers.separator", ",")),
            headers_key_separator=_unescape(props.get("headers.key.separator", ":")),
            null_marker=props.get("null.marker") or None,
        )
        pairs = [
            ("headers.delimiter", r.headers_delimiter, "headers.separator", r.headers_separator),
            ("headers.delimiter", r.headers_delimiter, "headers.key.separator", r.headers_key_separator),
            ("headers.separator", r.headers_separator, "headers.key.separator", r.headers_key_separator),
        ]
        if r.null_marker is not None:
            pairs += [
                ("null.marker", r.null_marker, name, value)
                for name, value in (
                    ("key.separator", r.key_separator),
                    ("headers.separator", r.headers_separator),
                    ("headers.delimiter", r.headers_delimiter),
                    ("headers.key.separator", r.headers_key_separator),
                )
            ]
        for a, va, b, vb in pairs:
            if r.parse_headers and va == vb:
                raise fail(f"{a} and {b} may not be equal")
        return r

    def _cut(self, enabled: bool, line: str, start: int, sep: str, what: str) -> str | None:
        if not enabled:
            return None
        i = line.find(sep, start)
        if i < 0:
            if self.ignore_error:
                return None
            raise fail(f"No {what} found on line number {self.line_number}: '{line}'")
        return line[start:i]

    def _null(self, text: str | None) -> bytes | None:
        if text is None or text == self.null_marker:
            return None
        return text.encode("utf-8")

    def parse(self, line: str) -> tuple[list[tuple[str, bytes | None]], bytes | None, bytes | None]:
        self.line_number += 1
        headers_text = self._cut(self.parse_headers, line, 0, self.headers_delimiter, "headers delimiter")
        header_end = 0 if headers_text is None else len(headers_text) + len(self.headers_delimiter)
        key = self._cut(self.parse_key, line, header_end, self.key_separator, "key separator")
        key_end = 0 if key is None else len(key) + len(self.key_separator)
        value = line[header_end + key_end :]
        headers: list[tuple[str, bytes | None]] = []
        if headers_text is not None and headers_text != self.null_marker:
            for pair in headers_text.split(self.headers_separator):
                i = pair.find(self.headers_key_separator)
                if i < 0:
                    if self.ignore_error:
                        headers.append((pair, None))
                        continue
                    raise fail(
                        f"No header key separator found in pair '{pair}' on line number {self.line_number}"
                    )
                hkey = pair[:i]
                if hkey == self.null_marker:
                    raise fail(
                        f"Header keys should not be equal to the null marker '{self.null_marker}' "
                        "as they can't be null"
                    )
                headers.append((hkey, self._null(pair[i + len(self.headers_key_separator) :])))
        return headers, self._null(key), self._null(value)


def _acks(value: str) -> Any:
    if value in ("all", "-1"):
        return "all"
    if value in ("0", "1"):
        return int(value)
    raise fail(f"Invalid value {value} for --request-required-acks: expected all, -1, 0 or 1")


@click.command("console-producer", context_settings={"help_option_names": ["-h", "--help"]})
@bootstrap_option(broker_list_alias=True)
@click.option(
    "--topic", required=True, metavar="TOPIC", help="REQUIRED: The topic name to produce messages to."
)
@click.option(
    "--sync",
    is_flag=True,
    help="If set message send requests to the brokers are synchronously, one at a time as they arrive.",
)
@click.option(
    "--compression-codec",
    is_flag=False,
    flag_value="gzip",
    default=None,
    metavar="[CODEC]",
    type=click.Choice(CODECS),
    help="The compression codec: either 'none', 'gzip', 'snappy', 'lz4', or 'zstd'. If specified "
    "without value, then it defaults to 'gzip'.",
)
@click.option(
    "--batch-size",
    type=int,
    default=16384,
    show_default=True,
    metavar="SIZE",
    help="Number of bytes to send in a single batch if they are not being sent synchronously.",
)
@click.option(
    "--timeout",
    "linger_ms",
    type=int,
    default=1000,
    show_default=True,
    metavar="TIMEOUT_MS",
    help="If set and the producer is running in asynchronous mode, this gives the maximum amount of "
    "time a message will queue awaiting sufficient batch size. The value is given in ms. This is "
    "the option to control `linger.ms` in producer configs.",
)
@click.option(
    "--request-required-acks",
    default="-1",
    show_default=True,
    metavar="ACKS",
    help="The required `acks` of the producer requests.",
)
@click.option(
    "--request-timeout-ms",
    type=click.IntRange(min=1),
    default=1500,
    show_default=True,
    metavar="MS",
    help="The ack timeout of the producer requests. Value must be non-negative and non-zero.",
)
@click.option(
    "--message-send-max-retries",
    type=int,
    default=3,
    show_default=True,
    metavar="N",
    help="The number of retries before the producer gives up and drops a message (`retries`).",
)
@click.option("--property", "properties", multiple=True, metavar="PROP", help=_PROPERTY_HELP)
@click.option(
    "--producer-property",
    "producer_properties",
    multiple=True,
    metavar="PRODUCER_PROP",
    help="A mechanism to pass user-defined properties in the form key=value to the producer. "
    "Repeatable; takes precedence over the options above.",
)
@handle_errors
def console_producer(
    bootstrap_server: str,
    topic: str,
    sync: bool,
    compression_codec: str | None,
    batch_size: int,
    linger_ms: int,
    request_required_acks: str,
    request_timeout_ms: int,
    message_send_max_retries: int,
    properties: tuple[str, ...],
    producer_properties: tuple[str, ...],
) -> None:
    """Read data from standard input and publish it to Kafka, one record per line."""
    reader = LineReader.from_props(parse_props(properties, "property"))
    cfg: dict[str, Any] = {
        "acks": _acks(request_required_acks),
        "linger_ms": 0 if sync else linger_ms,
        "batch_size": batch_size,
        "retries": message_send_max_retries,
        "request_timeout_ms": request_timeout_ms,
    }
    if compression_codec and compression_codec != "none":
        cfg["compression_type"] = compression_codec
    cfg.update(client_config(parse_props(producer_properties, "producer property"), producer_defaults()))
    producer = make_producer(bootstrap_server, cfg)
    errors: list[BaseException] = []
    prompt = sys.stdin.isatty()
    stdin = sys.stdin.buffer
    try:
        while True:
            if prompt:
                sys.stdout.write(">")
                sys.stdout.flush()
            raw = stdin.readline()
            if not raw:
                break
            line = raw.decode("utf-8", errors="replace").rstrip("\n").rstrip("\r")
            headers, key, value = reader.parse(line)
            future = producer.send(topic, value=value, key=key, headers=headers or None)
            if sync:
                future.get()
            else:
                future.add_errback(errors.append)
            if errors:
                break
        producer.flush()
    except KeyboardInterrupt:
        producer.flush()
    finally:
        producer.close()
    if prompt:
        sys.stdout.write("\n")
    if errors:
        raise fail(f"Error when sending message to topic {topic}: {describe_error(errors[0])}")
