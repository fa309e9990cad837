"""What every coordinator state machine returns, and the helpers it builds that with (I/O-free).

Modelled on Kafka's ``coordinator-common``: ``CoordinatorResult`` (response + records) and
``CoordinatorTimer`` (timers are keyed data; scheduling a key again replaces its deadline). A state
machine gathers one call's side effects in an ``Effects``, then ``TimerTable.finish`` turns them into a
frozen ``CoordinatorResult`` for the runtime (runtime.py), which appends the records and applies the rest
only once they are durable.

Two ways to change state, and a result says which (``replay``):

- ``replay=True`` (validate, then commit — Kafka's ``ProducerStateManager.prepareUpdate/update``): the
  call computes records without touching its state; the runtime feeds them to ``replay`` (the path used
  at startup) after the append succeeded, so a failed append changes nothing.
- ``replay=False``: the call changed its state eagerly (classic group membership, transaction metadata,
  as Kafka's ``CoordinatorResult.replayRecords=false``) and registered an undo with ``Effects.keep`` for
  each entry it touches; on a failed append the runtime runs the undos, newest first.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Hashable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from pykafka_broker.protocol.errors import ErrorCode

R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
Record = tuple[bytes, bytes | None]


@dataclass(frozen=True, slots=True)
class TimerKey:
    """A coordinator timer: ``kind`` names the job, ``key`` the entity (group or transactional id),
    ``member`` a group member for per-member timers (Kafka's ``classicGroupHeartbeatKey``)."""

    kind: str
    key: str = ""
    member: str = ""


# Every coordinator's periodic clean-up job (offset expiry, transactional-id expiry) uses this key.
EXPIRATION = "expiration"
EXPIRATION_KEY = TimerKey(EXPIRATION)


class FailsWith(Protocol[R_co]):
    """A request that can answer with an error on its own (Kafka's ``AbstractRequest.getErrorResponse``):
    the runtime uses it while loading and when an append fails."""

    def error_response(self, code: ErrorCode) -> R_co: ...


@dataclass(frozen=True, slots=True)
class CoordinatorResult(Generic[R]):
    """``response`` is None exactly when the request was parked under ``handle``; the runtime answers it
    when a later result lists ``(handle, reply)`` in ``completed``. The runtime appends ``records`` and,
    once they are durable, replays them (when ``replay``), sends ``response`` and the ``completed``
    replies and hands ``actions`` to its owner (e.g. transaction markers to write). Timer commands
    (absolute deadlines) apply at once; ``undo`` reverts an eager change when the append fails."""

    response: R | None
    handle: int | None = None
    completed: tuple[tuple[int, Any], ...] = ()
    records: tuple[Record, ...] = ()
    actions: tuple[Any, ...] = ()
    schedule: tuple[tuple[TimerKey, int], ...] = ()
    cancel: tuple[TimerKey, ...] = ()
    replay: bool = True
    undo: tuple[Callable[[], None], ...] = ()


@dataclass(slots=True)
class Effects:
    """The side effects gathered while one call runs (mutable; ``TimerTable.finish`` freezes them).
    Timer commands are netted per key so a result never both schedules and cancels the same key."""

    now_ms: int
    replay: bool = True
    completed: list[tuple[int, Any]] = field(default_factory=list)
    records: list[Record] = field(default_factory=list)
    actions: list[Any] = field(default_factory=list)
    timers: dict[TimerKey, int | None] = field(default_factory=dict)  # deadline, or None = cancel
    undo: list[Callable[[], None]] = field(default_factory=list)
    _kept: set[tuple[int, Hashable]] = field(default_factory=set)

    def schedule(self, key: TimerKey, delay_ms: int) -> None:
        self.schedule_at(key, self.now_ms + max(delay_ms, 0))

    def schedule_at(self, key: TimerKey, deadline_ms: int) -> None:
        self.timers.pop(key, None)
        self.timers[key] = deadline_ms

    def cancel(self, key: TimerKey) -> None:
        self.timers.pop(key, None)
        self.timers[key] = None

    def complete(self, handle: int, reply: Any) -> None:
        self.completed.append((handle, reply))

    def keep(self, table: MutableMapping[K, V], key: K,
             snapshot: Callable[[V], V] = copy.deepcopy) -> None:
        """Snapshot ``table[key]`` (absent too) before this call changes it, so a failed append can put
        it back. Once per entry per call; call it before the first change. ``snapshot`` copies an entry
        (a cheaper copy than ``deepcopy`` where the entry's type knows what it mutates)."""
        if (id(table), key) in self._kept:
            return
        self._kept.add((id(table), key))
        if key in table:
            old = snapshot(table[key])

            def restore() -> None:
                table[key] = old
        else:
            def restore() -> None:
                table.pop(key, None)
        self.undo.append(restore)


class TimerTable:
    """The deadlines a state machine has armed: what ``fire_timer`` checks a firing key against (a key
    cancelled or rescheduled since is stale) and what a test harness drives with a fake clock."""

    def __init__(self) -> None:
        self._deadlines: dict[TimerKey, int] = {}

    def due(self, fx: Effects, key: TimerKey) -> bool:
        """Whether ``key`` is armed and due at ``fx.now_ms``; a due key is consumed (through ``fx``, so
        a failed append re-arms it)."""
        deadline = self._deadlines.get(key)
        if deadline is None or deadline > fx.now_ms:
            return False
        fx.cancel(key)
        return True

    def finish(self, fx: Effects, response: R | None, handle: int | None = None) -> CoordinatorResult[R]:
        """Apply the call's timer commands here (with an undo) and freeze its effects into a result."""
        previous = {key: self._deadlines.get(key) for key in fx.timers}
        self._restore(fx.timers)
        if previous:
            fx.undo.append(lambda: self._restore(previous))
        completed = fx.completed
        if response is None and handle is not None:
            # The call completed its own parked request: answer it directly.
            own = [reply for h, reply in completed if h == handle]
            if own:
                response = own[0]
                completed = [(h, reply) for h, reply in completed if h != handle]
        return CoordinatorResult(
            response=response,
            handle=handle if response is None else None,
            completed=tuple(completed),
            records=tuple(fx.records),
            actions=tuple(fx.actions),
            schedule=tuple((k, d) for k, d in fx.timers.items() if d is not None),
            cancel=tuple(k for k, d in fx.timers.items() if d is None),
            replay=fx.replay,
            undo=tuple(fx.undo),
        )

    def _restore(self, previous: Mapping[TimerKey, int | None]) -> None:
        for key, deadline in previous.items():
            if deadline is None:
                self._deadlines.pop(key, None)
            else:
                self._deadlines[key] = deadline

    def get(self, key: TimerKey) -> int | None:
        return self._deadlines.get(key)

    def pending(self) -> dict[TimerKey, int]:
        return dict(self._deadlines)


def int_property(props: Mapping[str, object], name: str, default: int) -> int:
    """A coordinator config value from the broker properties (Kafka's names), or its default."""
    value = props.get(name)
    return default if value is None else int(str(value))
