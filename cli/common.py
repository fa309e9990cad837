"""Shared plumbing of the client-side commands (Kafka's bin/ tools): the --bootstrap-server option,
``key=value`` property lists, kafka-python clients that fail fast when no broker answers, and one
error path: every expected failure becomes ONE line on stderr and exit code 1, never a traceback.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import sys
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import click

DEFAULT_BOOTSTRAP = "localhost:9092"
# How long a command waits for the first broker to answer before giving up (Kafka's tools wait for
# much longer; a command line tool that hangs for a minute on a typo'd port helps nobody).
CONNECT_TIMEOUT_MS = 8000
REQUEST_TIMEOUT_MS = 10000

F = TypeVar("F", bound=Callable[..., Any])

_ERROR_MESSAGE = re.compile(r"error_message=(['\"])(.+?)\1")


def quiet_client_logging() -> None:
    """kafka-python logs connection retries at WARNING/ERROR; the command reports failures itself."""
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    logging.getLogger("kafka").addHandler(logging.NullHandler())


def describe_error(exc: BaseException) -> str:
    """A one-line, human message for an exception raised by kafka-python or the OS."""
    from kafka import errors as kerr

    name = type(exc).__name__
    if isinstance(exc, kerr.KafkaError):
        text = str(exc.args[0]) if exc.args else ""
        m = _ERROR_MESSAGE.search(text)
        if m and m.group(2) not in ("None", ""):
            return f"{name}: {m.group(2)}"
        if text.startswith("Request '") or len(text) > 300:
            desc = getattr(exc, "description", "") or getattr(exc, "message", "")
            return f"{name}: {desc}" if desc else name
        return f"{name}: {text}" if text else name
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}" + (f": {exc.filename}" if exc.filename else "")
    return str(exc) or name


def fail(message: str) -> click.ClickException:
    """The exception a command raises for an expected failure (click prints ``Error: message``)."""
    return click.ClickException(" ".join(message.split("\n")))


def handle_errors(fn: F) -> F:
    """Turn kafka-python, OS and value errors into one ``Error: ...`` line and exit code 1."""
    from kafka import errors as kerr

    unreachable = tuple(c for c in (getattr(kerr, "NoBrokersAvailable", None), kerr.KafkaTimeoutError) if c)

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        quiet_client_logging()
        try:
            return fn(*args, **kwargs)
        except click.ClickException:
            raise
        except BrokenPipeError:
            # The reader of our stdout went away (`| head`): stop quietly, as Unix tools do.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(0)
        except KeyboardInterrupt:
            sys.exit(130)
        except unreachable as exc:
            raise fail(f"{describe_error(exc)} (is a broker running at the bootstrap server?)") from None
        except (kerr.KafkaError, OSError, ValueError, KeyError, TypeError) as exc:
            raise fail(describe_error(exc)) from None
        except Exception as exc:  # noqa: BLE001 - a command line tool reports, it does not dump a trace
            raise fail(f"unexpected {type(exc).__name__}: {exc}") from None

    return wrapper  # type: ignore[return-value]


def bootstrap_option(*, broker_list_alias: bool = False) -> Callable[[F], F]:
    """``--bootstrap-server`` (default localhost:9092); ``--broker-list`` too where Kafka had it."""
    names = ["--bootstrap-server"] + (["--broker-list"] if broker_list_alias else [])
    return click.option(
        *names,
        "bootstrap_server",
        default=DEFAULT_BOOTSTRAP,
        show_default=True,
        metavar="HOST1:PORT1,HOST2:PORT2",
        help="The Kafka server(s) to connect to.",
    )


def parse_props(items: Iterable[str], what: str = "property") -> dict[str, str]:
    """``["k=v", ...]`` to a dict; values may contain '='."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise fail(f"Invalid {what} '{item}': expected the form key=value")
        out[key.strip()] = value
    return out


def _coerce(name: str, value: str, default: Any) -> Any:
    if isinstance(default, bool):
        if value.lower() not in ("true", "false"):
            raise fail(f"Invalid value {value} for configuration {name}: expected true or false")
        return value.lower() == "true"
    if isinstance(default, int | float) or default is None:
        try:
            return int(value)
        except ValueError:
            try:
                return float(value)
            except ValueError:
                if isinstance(default, int | float):
                    raise fail(f"Invalid value {value} for configuration {name}: expected a number") from None
    return value


def client_config(props: dict[str, str], defaults: dict[str, Any]) -> dict[str, Any]:
    """Kafka's Java property names (``linger.ms``) to kafka-python keyword arguments (``linger_ms``),
    with values converted to the type of kafka-python's default."""
    out: dict[str, Any] = {}
    for name, value in props.items():
        key = name.replace(".", "_").replace("-", "_")
        if key == "bootstrap_servers":
            out[key] = value
            continue
        if key not in defaults:
            raise fail(f"Unknown client configuration {name}")
        out[key] = "all" if key == "acks" and value in ("all", "-1") else _coerce(name, value, defaults[key])
    return out


def _base(bootstrap: str) -> dict[str, Any]:
    return {
        "bootstrap_servers": bootstrap.split(","),
        "client_id": "pykafka-broker-cli",
        "request_timeout_ms": REQUEST_TIMEOUT_MS,
        "bootstrap_timeout_ms": CONNECT_TIMEOUT_MS,
    }


def make_admin(bootstrap: str) -> Any:
    from kafka import KafkaAdminClient

    return KafkaAdminClient(**_base(bootstrap))


def make_producer(bootstrap: str, overrides: dict[str, Any] | None = None) -> Any:
    from kafka import KafkaProducer

    cfg = {**_base(bootstrap), "max_block_ms": CONNECT_TIMEOUT_MS, **(overrides or {})}
    return KafkaProducer(**cfg)


def make_consumer(bootstrap: str, overrides: dict[str, Any] | None = None) -> Any:
    """A KafkaConsumer that has already reached a broker (or raised within CONNECT_TIMEOUT_MS)."""
    from kafka import KafkaConsumer

    cfg = {**_base(bootstrap), "enable_auto_commit": False, **(overrides or {})}
    consumer = KafkaConsumer(**cfg)
    try:
        consumer.bootstrap(timeout_ms=CONNECT_TIMEOUT_MS)
    except BaseException:
        consumer.close(autocommit=False)
        raise
    return consumer


def producer_defaults() -> dict[str, Any]:
    from kafka import KafkaProducer

    return dict(KafkaProducer.DEFAULT_CONFIG)


def consumer_defaults() -> dict[str, Any]:
    from kafka import KafkaConsumer

    return dict(KafkaConsumer.DEFAULT_CONFIG)


def topic_filter(pattern: str | None) -> Callable[[str], bool]:
    """Kafka's IncludeList: a Java regex matched against the whole topic name, ',' meaning '|'
    and surrounding quotes ignored."""
    if pattern is None:
        return lambda _name: True
    cleaned = pattern.strip().strip("'\"").replace(",", "|")
    try:
        rx = re.compile(cleaned)
    except re.error as exc:
        raise fail(f"Invalid topic regular expression '{pattern}': {exc}") from None
    return lambda name: rx.fullmatch(name) is not None


INTERNAL_TOPICS = ("__consumer_offsets", "__transaction_state", "__share_group_state")
