"""The ``pykafka-broker`` command: a click group whose subcommands mirror Kafka's bin/ tools."""

from __future__ import annotations

import click

from pykafka_broker import __version__
from pykafka_broker.cli.serve import serve


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pykafka-broker")
def cli() -> None:
    """A single-node, Kafka-compatible broker. Point any Kafka client at it."""


cli.add_command(serve)


def main() -> None:
    cli()
