"""``pykafka-broker serve``: run the broker (Kafka's ``kafka-server-start.sh``)."""

from __future__ import annotations

import asyncio
import errno
import logging
import sys
from pathlib import Path

import click

from pykafka_broker.broker.config import BrokerConfig
from pykafka_broker.broker.config_defs import ConfigError


@click.command()
@click.option("--host", default=None, help="Address to listen on (default: localhost, i.e. 127.0.0.1 and "
              "::1 where it resolves to both). Use 0.0.0.0 to listen on all interfaces.")
@click.option("--port", type=int, default=None, help="Port to listen on (default 9092; 0 picks a free one).")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Directory holding the logs (default ./kafka-data).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="YAML file of Kafka property names and values (log.segment.bytes: 1048576, ...).")
@click.option("--override", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Set a Kafka property, overriding the config file. Repeatable.")
@click.option("--advertised-host", default=None,
              help="Host name clients are told to connect to (default: the listen host).")
@click.option("--log-level", default="INFO", show_default=True,
              type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False))
def serve(host: str | None, port: int | None, data_dir: Path | None, config_file: Path | None,
          overrides: tuple[str, ...], advertised_host: str | None, log_level: str) -> None:
    """Start the broker and serve until SIGINT or SIGTERM."""
    logging.basicConfig(level=log_level.upper(), stream=sys.stderr,
                        format="[%(asctime)s] %(levelname)s %(name)s: %(message)s")
    try:
        config = BrokerConfig.load(config_file=config_file, overrides=overrides, host=host, port=port,
                                   data_dir=data_dir, advertised_host=advertised_host)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    if not 0 <= config.port <= 65535:
        raise click.UsageError(f"port {config.port} is out of range 0-65535")
    from pykafka_broker.broker.server import serve as run_server

    try:
        asyncio.run(run_server(config))
    except OSError as exc:
        if exc.errno in (errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES):
            click.echo(f"error: cannot listen on {config.host}:{config.port}: {exc.strerror}", err=True)
        else:
            click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        pass
