"""Retention and file deletion on the event loop (Kafka's LogManager.cleanupLogs and deleteLogs).

Every ``log.retention.check.interval.ms`` (Kafka: 300000) each partition's retention is applied with
the topic's live configs (``retention.ms``, ``retention.bytes``, ``cleanup.policy``; see
storage/retention.py): segments leave the log and their files are renamed to ``*.deleted`` on the
loop, which is fast and keeps every read consistent. The renamed files are unlinked
``file.delete.delay.ms`` later (Kafka: 60000) in the default executor, so removing big files never
blocks the loop. DeleteRecords applies the log-start-offset rule at once through ``apply_retention``.
A deleted topic's partition directories are renamed to ``<topic>-<partition>.<uuid>-delete`` on the
loop and removed the same way after the broker's ``log.segment.delete.delay.ms``.

Checkpoints after a retention pass are written in the executor too (two fsyncs per file).
On shutdown pending removals are dropped: the next start removes leftover ``*.deleted`` files and
``*-delete`` directories (storage/log_loader.py clean_directory, LogManager._remove_deleted_dirs), as Kafka
does. The first check runs one interval after start.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from pykafka_broker.broker.clock import now_ms
from pykafka_broker.broker.topics import log_properties
from pykafka_broker.storage.files import remove_files
from pykafka_broker.storage.retention import RetentionConfig, delete_old_segments

if TYPE_CHECKING:
    from pykafka_broker.broker.config import BrokerConfig
    from pykafka_broker.storage.log import PartitionLog
    from pykafka_broker.storage.manager import LogManager

log = logging.getLogger("pykafka_broker.log_lifecycle")


class LogLifecycle:
    def __init__(self, config: BrokerConfig, logs: LogManager, *, clock: Callable[[], int] = now_ms,
                 file_delete_delay_ms: int | None = None) -> None:
        self.config = config
        self.logs = logs
        self.clock = clock
        self.check_interval_ms = config.get_int("log.retention.check.interval.ms")
        self._delay_override = file_delete_delay_ms  # tests: 0 removes files at once
        self._task: asyncio.Task[None] | None = None
        self._timers: set[asyncio.TimerHandle] = set()
        self._jobs: set[asyncio.Future[None]] = set()

    # -- the periodic task ---------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._periodic())

    async def stop(self) -> None:
        """Stop checking, drop removals not yet due (the next start removes them), and wait for
        the ones already running."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        await self.drain()

    async def drain(self) -> None:
        """Wait until every removal handed to the executor has finished."""
        while self._jobs:
            await asyncio.gather(*list(self._jobs), return_exceptions=True)

    async def _periodic(self) -> None:
        while True:
            await asyncio.sleep(self.check_interval_ms / 1000)
            try:
                self.check_retention()
            except Exception:  # a failing pass must not end retention for good
                log.exception("retention check failed")

    # -- retention -----------------------------------------------------------------------------

    def retention_config(self, topic: str) -> RetentionConfig:
        """The topic's effective configs now (overrides, then broker synonyms, then defaults)."""
        info = self.logs.topics.get(topic)
        overrides = dict(info.configs) if info is not None else {}
        return RetentionConfig.from_topic_configs(log_properties(self.config, overrides))

    def check_retention(self) -> int:
        """One pass over every partition (LogManager.cleanupLogs); the number of segments deleted."""
        now = self.clock()
        configs: dict[str, RetentionConfig] = {}
        total = 0
        for plog in self.logs.all_logs():
            config = configs.get(plog.topic)
            if config is None:
                config = configs[plog.topic] = self.retention_config(plog.topic)
            total += self._apply(plog, config, now)
        if total:
            self._checkpoint()  # the advanced log start offsets
        return total

    def _checkpoint(self) -> None:
        """Write the checkpoints off the loop when there is one (two fsyncs per file)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # called from a test or tool without a loop
            self.logs.checkpoint()
            return
        snapshot = self.logs.checkpoint_snapshot()
        self._submit(loop, lambda: self.logs.write_checkpoints(snapshot), "writing checkpoints")

    def apply_retention(self, plog: PartitionLog) -> int:
        """Apply retention to one partition now (DeleteRecords); the number of segments deleted."""
        return self._apply(plog, self.retention_config(plog.topic), self.clock())

    def _apply(self, plog: PartitionLog, config: RetentionConfig, now: int) -> int:
        if plog.offline is not None:  # an I/O error took it offline: its files stay as they are
            return 0
        result = delete_old_segments(plog, config, now)
        if result.segments:
            log.info("%s-%d: deleted %d segment(s) (%s); log start offset now %d", plog.topic,
                     plog.partition, result.segments, ", ".join(result.reasons), plog.log_start_offset)
            self._remove_later(result.renamed, self._delay(config.file_delete_delay_ms), remove_files)
        return result.segments

    # -- topic deletion ------------------------------------------------------------------------

    def delete_topic(self, name: str) -> None:
        """Forget the topic and rename its directories now; remove their files off the loop."""
        doomed = self.logs.delete_topic(name, remove_files=False)
        delay = RetentionConfig.from_topic_configs(log_properties(self.config, {})).file_delete_delay_ms
        self._remove_later(doomed, self._delay(delay), _remove_dirs)

    # -- delayed removal -----------------------------------------------------------------------

    def _delay(self, configured_ms: int) -> int:
        return configured_ms if self._delay_override is None else self._delay_override

    def _remove_later(self, paths: Sequence[Path], delay_ms: int,
                      remove: Callable[[Sequence[Path]], None]) -> None:
        if not paths:
            return
        loop = asyncio.get_running_loop()
        if delay_ms <= 0:
            self._submit(loop, partial(remove, list(paths)), f"removing {list(paths)}")
            return
        timer: asyncio.TimerHandle

        def due() -> None:
            self._timers.discard(timer)
            self._submit(loop, partial(remove, list(paths)), f"removing {list(paths)}")

        timer = loop.call_later(delay_ms / 1000, due)
        self._timers.add(timer)

    def _submit(self, loop: asyncio.AbstractEventLoop, job_fn: Callable[[], None], what: str) -> None:
        job = loop.run_in_executor(None, job_fn)
        self._jobs.add(job)

        def done(f: asyncio.Future[None]) -> None:
            self._jobs.discard(f)
            if not f.cancelled() and f.exception() is not None:
                log.error("%s failed: %r", what, f.exception())

        job.add_done_callback(done)


def _remove_dirs(paths: Sequence[Path]) -> None:
    for path in paths:
        shutil.rmtree(path, ignore_errors=True)
