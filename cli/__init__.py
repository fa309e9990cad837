"""The ``pykafka-broker`` command: a click group whose subcommands mirror Kafka's bin/ tools."""

from __future__ import annotations

import click

from pykafka_broker import __version__
from pykafka_broker.cli.configs import configs
from pykafka_broker.cli.console_consumer import console_consumer
from pykafka_broker.cli.console_producer import console_producer
from pykafka_broker.cli.consumer_groups import consumer_groups
from pykafka_broker.cli.dump_log import dump_log
from pykafka_broker.cli.perf import consumer_perf_test, producer_perf_test
from pykafka_broker.cli.serve import serve
from pykafka_broker.cli.topics import topics


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pykafka-broker")
def cli() -> None:
    """A single-node, Kafka-compatible broker. Point any Kafka client at it."""


cli.add_command(serve)
for _command in (topics, console_producer, console_consumer, consumer_groups, configs, producer_perf_test,
                 consumer_perf_test, dump_log):
    cli.add_command(_command)


def main() -> None:
    cli()
