"""The asyncio server: bind, serve, shut down gracefully.

Binding ``localhost`` listens on every address it resolves to (127.0.0.1 and ::1 on most hosts:
librdkafka may pick either). With ``--port 0`` the first bind picks the port and the others reuse it.
SIGINT/SIGTERM stop accepting, give in-flight requests a bounded time to finish, flush and close
the logs, and write the clean-shutdown marker.

Each listening socket has its own accept loop (``loop.sock_accept`` + ``connect_accepted_socket``)
rather than ``create_server``, so that at ``max.connections`` the broker stops accepting, as Kafka's
Acceptor does (``ConnectionQuotas.waitForConnectionSlot``): new clients wait in the listen backlog.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import sys
import time
from pathlib import Path

from pykafka_broker import __version__
from pykafka_broker.broker import handlers  # noqa: F401  (registers every handler)
from pykafka_broker.broker.clock import now_ms
from pykafka_broker.broker.config import BrokerConfig
from pykafka_broker.broker.connection import KafkaConnection
from pykafka_broker.broker.connection_quotas import ConnectionQuotas
from pykafka_broker.broker.context import Broker
from pykafka_broker.broker.dynamic_configs import load_dynamic_configs
from pykafka_broker.broker.flusher import Flusher
from pykafka_broker.broker.group_driver import GroupDriver
from pykafka_broker.broker.log_cleaner import LogCleaner
from pykafka_broker.broker.log_lifecycle import LogLifecycle
from pykafka_broker.broker.producer_expiration import ProducerExpiration
from pykafka_broker.broker.producer_ids import ProducerIdAllocator
from pykafka_broker.broker.topics import log_properties
from pykafka_broker.broker.txn_driver import TxnDriver
from pykafka_broker.broker.waiters import FetchWaiters
from pykafka_broker.storage.manager import LogManager

log = logging.getLogger("pykafka_broker.server")

SHUTDOWN_GRACE_S = 5.0
WILDCARDS = {"", "0.0.0.0", "::"}


def open_broker(config: BrokerConfig) -> Broker:
    data_dir = Path(config.data_dir).resolve()
    logs = LogManager(data_dir, now_ms=now_ms())
    load_dynamic_configs(config, data_dir)  # before the logs: dynamic defaults shape their configs
    logs.load(log_properties(config, {}))
    flusher, waiters = Flusher(), FetchWaiters()
    groups = GroupDriver(config, logs, flusher, waiters)
    groups.load()  # replays __consumer_offsets; timers are armed by groups.start() on the loop
    producer_ids = ProducerIdAllocator(data_dir)
    txns = TxnDriver(config, logs, flusher, waiters, producer_ids, groups)
    txns.load()  # replays __transaction_state (after the groups: markers complete their pending offsets)
    return Broker(config=config, logs=logs, producer_ids=producer_ids, txns=txns,
                  flusher=flusher, groups=groups, waiters=waiters, lifecycle=LogLifecycle(config, logs))


class Listener:
    """One listening socket and the task accepting on it."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.task: asyncio.Task[None] | None = None

    def start(self, broker: Broker, quotas: ConnectionQuotas) -> None:
        self.task = asyncio.get_running_loop().create_task(_accept_loop(self.sock, broker, quotas))

    def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
        self.sock.close()


async def _accept_loop(sock: socket.socket, broker: Broker, quotas: ConnectionQuotas) -> None:
    loop = asyncio.get_running_loop()
    while True:
        await quotas.wait_for_slot()
        try:
            conn, _addr = await loop.sock_accept(sock)
        except OSError as exc:  # EMFILE and friends: back off instead of spinning
            log.warning("accept failed: %s", exc)
            await asyncio.sleep(0.1)
            continue
        try:
            await loop.connect_accepted_socket(lambda: KafkaConnection(broker, quotas), sock=conn)
        except OSError as exc:
            log.info("connection failed before it was set up: %s", exc)
            conn.close()
        except Exception:  # a bug of ours must not stop the acceptor
            log.exception("could not set up a connection")
            conn.close()


def _listen(addr: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((addr, port))
        sock.listen(1024)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


async def _bind(broker: Broker) -> list[Listener]:
    loop = asyncio.get_running_loop()
    cfg = broker.config
    host = cfg.host
    if host in WILDCARDS:
        addrs = [host or "0.0.0.0"]
    else:
        infos = await loop.getaddrinfo(host, cfg.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        addrs = list(dict.fromkeys(info[4][0] for info in infos))
    listeners: list[Listener] = []
    port = cfg.port
    for i, addr in enumerate(addrs):
        try:
            sock = _listen(addr, port)
        except OSError:
            if i == 0:
                raise
            log.info("could not also bind %s:%s; continuing without it", addr, port)
            continue
        if port == 0:
            port = sock.getsockname()[1]
        listeners.append(Listener(sock))
    broker.advertised_port = port
    if cfg.advertised_host:
        broker.advertised_host = cfg.advertised_host
    elif host in WILDCARDS:
        broker.advertised_host = socket.gethostname()
    else:
        broker.advertised_host = host
    return listeners


async def serve(config: BrokerConfig, *, stop: asyncio.Event | None = None,
                ready: asyncio.Future[Broker] | None = None) -> None:
    started = time.perf_counter()
    broker = open_broker(config)
    try:
        servers = await _bind(broker)
    except OSError:
        broker.logs.close()
        raise
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError, ValueError):
            pass
    broker.flusher.start(broker)
    if broker.lifecycle is not None:
        broker.lifecycle.start()  # retention checks
    broker.log_cleaner = LogCleaner(broker.config, broker.logs)
    broker.log_cleaner.start()  # compaction, when log.cleaner.enable
    broker.groups.start()
    broker.txns.start()  # markers of prepared transactions, timeouts of open ones
    producer_expiration = ProducerExpiration(broker.config, broker.logs)
    producer_expiration.start()  # producer.id.expiration.ms
    quotas = ConnectionQuotas(broker.config)
    for listener in servers:
        listener.start(broker, quotas)
    addrs = ", ".join(str(s.sock.getsockname()[0]) for s in servers)
    print(f"pykafka-broker {__version__} listening on {broker.advertised_host}:{broker.advertised_port} "
          f"({addrs}) data-dir {Path(config.data_dir).resolve()} "
          f"ready in {(time.perf_counter() - started) * 1000:.0f} ms", flush=True)
    if ready is not None and not ready.done():
        ready.set_result(broker)
    try:
        await stop.wait()
    finally:
        producer_expiration.stop()
        await _shutdown(broker, servers)


async def _shutdown(broker: Broker, servers: list[Listener]) -> None:
    for srv in servers:
        srv.close()
    broker.waiters.wake_all()  # long-polls answer now with what they have
    broker.groups.stop()  # parked joins/syncs answer NOT_COORDINATOR; no timer fires any more
    broker.txns.stop()  # no transaction timeout fires any more
    pending = [f for c in broker.connections for f in c.pending_futures()]
    if pending:
        _done, late = await asyncio.wait(pending, timeout=SHUTDOWN_GRACE_S)
        if late:
            log.warning("%d requests did not finish within %.0f s of shutdown", len(late), SHUTDOWN_GRACE_S)
    for conn in list(broker.connections):
        conn.close()
    if broker.log_cleaner is not None:
        await broker.log_cleaner.stop()  # the running step stops and discards its files
    if broker.lifecycle is not None:
        await broker.lifecycle.stop()
    await broker.flusher.stop()
    broker.logs.close()
    print("pykafka-broker stopped cleanly", file=sys.stderr, flush=True)
