"""An in-process broker for the driver and runtime tests: its logs and coordinators, no sockets."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from pykafka_broker.broker.config import BrokerConfig
from pykafka_broker.broker.context import Broker
from pykafka_broker.broker.server import open_broker

WAIT_S = 5.0


def opened(data_dir: Path, **props: str) -> Broker:
    """The broker of ``data_dir`` (coordinators loaded and started; three partitions per new topic)."""
    broker = open_broker(BrokerConfig(data_dir=data_dir, props={"num.partitions": "3", **props}))
    broker.groups.start()
    broker.txns.start()
    return broker


def close(broker: Broker) -> None:
    broker.txns.stop()
    broker.groups.stop()
    broker.logs.close()


async def settle(reply: Any) -> Any:
    """A driver reply: immediate, or a Future (parked join/sync, or a wait for fsync)."""
    if isinstance(reply, asyncio.Future):
        return await asyncio.wait_for(reply, WAIT_S)
    return reply
