"""Broker-wide connection limits, shared by every connection of one broker.

Mirrors Kafka's ``ConnectionQuotas`` (kafka.network.SocketServer) and the idle expiry of its
``Selector``:

- ``max.connections`` (dynamic): when the broker holds that many connections the acceptor stops
  accepting (Kafka's ``waitForConnectionSlot``); new clients wait in the listen backlog until a
  connection closes or the limit is raised.
- ``max.connections.per.ip`` / ``max.connections.per.ip.overrides`` (dynamic): a connection from an
  address that already has its maximum is accepted and closed at once (Kafka's
  ``TooManyConnectionsException``).
- ``connections.max.idle.ms``: a connection with no bytes in or out and no request in progress for
  that long is closed. As in Kafka's ``IdleExpiryManager`` the connections are kept in
  least-recently-active order and one timer is armed for the oldest, so activity costs one
  ``move_to_end`` and there is no periodic scan.
- ``queued.max.requests``: the broker-wide number of requests read off sockets and not yet answered
  (long-poll Fetches included). When reached, no connection cuts its next frame until a response is
  written; connections wait here and resume in arrival order.

It also owns the one receive scratch buffer of the broker: every socket read lands in it and is cut
into frames at once (the event loop runs one read at a time), so an idle connection holds no buffer;
and the broker-wide budget of frame bytes reserved before they arrive (``EAGER_RESERVE_BYTES``).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import time
from collections import OrderedDict
from typing import Any

from pykafka_broker.broker.config import BrokerConfig

log = logging.getLogger("pykafka_broker.connection")

SCRATCH_SIZE = 65536  # one socket read at most; shared by every connection of the broker
# Bytes of partly received frames that may be reserved before they arrive, broker-wide. Within it a
# frame gets a plain bytearray of its size (fast: ~60 us per MiB); beyond it, a lazily backed mapping
# (~540 us per MiB of page faults) whose memory follows the bytes that really arrive.
EAGER_RESERVE_BYTES = 64 << 20
SLOT_RECHECK_S = 1.0  # the blocked acceptor re-reads max.connections this often (dynamic raises)


def parse_ip_overrides(value: str | None) -> dict[str, int]:
    """``host:count,host:count`` (Kafka's max.connections.per.ip.overrides) by resolved address."""
    out: dict[str, int] = {}
    for item in (value or "").split(","):
        item = item.strip()
        if not item:
            continue
        host, _sep, count = item.rpartition(":")
        host = host.strip().strip("[]")
        try:
            addr = str(ipaddress.ip_address(host))
        except ValueError:
            try:
                addr = socket.gethostbyname(host)
            except OSError:
                log.warning("max.connections.per.ip.overrides: cannot resolve %r; ignored", host)
                continue
        try:
            out[addr] = int(count)
        except ValueError:
            log.warning("max.connections.per.ip.overrides: bad count in %r; ignored", item)
    return out


class ConnectionQuotas:
    def __init__(self, config: BrokerConfig) -> None:
        self.config = config
        self.count = 0
        self._per_ip: dict[str, int] = {}
        self._overrides_raw: str | None = None
        self._overrides: dict[str, int] = {}
        # Read-only in Kafka (not dynamically updatable): read once.
        self.idle_ms = _int(config, "connections.max.idle.ms", 600000)
        self.max_queued = max(1, _int(config, "queued.max.requests", 500))
        self.pending = 0  # broker-wide requests read and not yet answered
        self._blocked: OrderedDict[Any, None] = OrderedDict()  # connections waiting on ``pending``
        self._lru: OrderedDict[Any, float] = OrderedDict()  # connection -> last activity (monotonic)
        self._idle_timer: asyncio.TimerHandle | None = None
        self._slot_freed: asyncio.Event | None = None
        self.eager_left = EAGER_RESERVE_BYTES
        self.scratch = bytearray(SCRATCH_SIZE)
        self.scratch_view = memoryview(self.scratch)

    # -- limits (read on every use, so dynamic updates apply at once) ---------------------------
    def max_connections(self) -> int:
        return _int(self.config, "max.connections", 2147483647)

    def max_for_ip(self, ip: str) -> int:
        raw = self.config.get("max.connections.per.ip.overrides")
        if raw != self._overrides_raw:
            self._overrides_raw, self._overrides = raw, parse_ip_overrides(raw)
        limit = self._overrides.get(ip)
        return limit if limit is not None else _int(self.config, "max.connections.per.ip", 2147483647)

    async def wait_for_slot(self) -> None:
        """Return once the broker holds fewer than ``max.connections`` connections."""
        while self.count >= self.max_connections():
            if self._slot_freed is None:
                self._slot_freed = asyncio.Event()
                log.info("max.connections=%d reached: not accepting until a connection closes",
                         self.max_connections())
            self._slot_freed.clear()
            try:
                await asyncio.wait_for(self._slot_freed.wait(), SLOT_RECHECK_S)
            except TimeoutError:
                pass
        self._slot_freed = None

    def admit(self, conn: Any, ip: str) -> str | None:
        """Count a new connection; the reason it must be closed instead, if any."""
        limit = self.max_for_ip(ip)
        have = self._per_ip.get(ip, 0)
        if have >= limit:
            return (f"Rejected connection from {ip}, address already has the configured maximum of "
                    f"{limit} connections (max.connections.per.ip)")
        self._per_ip[ip] = have + 1
        self.count += 1
        self.touch(conn)
        return None

    def release(self, conn: Any, ip: str) -> None:
        self.count -= 1
        left = self._per_ip.get(ip, 1) - 1
        if left > 0:
            self._per_ip[ip] = left
        else:
            self._per_ip.pop(ip, None)
        self._lru.pop(conn, None)
        self._blocked.pop(conn, None)
        if self._slot_freed is not None:
            self._slot_freed.set()

    # -- idle expiry ---------------------------------------------------------------------------
    def touch(self, conn: Any) -> None:
        lru = self._lru
        lru[conn] = time.monotonic()
        lru.move_to_end(conn)
        if self._idle_timer is None and self.idle_ms >= 0:
            self._arm(self.idle_ms / 1000.0)

    def _arm(self, delay: float) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._idle_timer = loop.call_later(max(delay, 0.001), self._expire_idle)

    def _expire_idle(self) -> None:
        self._idle_timer = None
        limit = self.idle_ms / 1000.0
        now = time.monotonic()
        lru = self._lru
        while lru:
            conn, last = next(iter(lru.items()))
            if now - last < limit:
                self._arm(last + limit - now)
                return
            lru.move_to_end(conn)
            lru[conn] = now
            if conn.busy():
                continue  # a request is in progress (a long poll): not idle, look again later
            lru.pop(conn, None)
            conn.expire_idle(self.idle_ms)

    # -- queued.max.requests ------------------------------------------------------------------
    def queue_full(self) -> bool:
        return self.pending >= self.max_queued

    def block(self, conn: Any) -> None:
        self._blocked[conn] = None

    def request_done(self) -> None:
        self.pending -= 1
        while self._blocked and self.pending < self.max_queued:
            conn, _ = self._blocked.popitem(last=False)
            conn.unblock()


def _int(config: BrokerConfig, name: str, default: int) -> int:
    value = config.get(name)
    return default if value in (None, "") else int(value)  # type: ignore[arg-type]
