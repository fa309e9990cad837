"""The log cleaner's driver on the event loop (Kafka's LogCleaner thread and LogCleanerManager).

Every ``log.cleaner.backoff.ms`` when idle (Kafka: 15000), and at once after a log was cleaned, it
picks the filthiest compacted log (``cleanup.policy`` with ``compact``): among the logs whose dirty
ratio exceeds ``min.cleanable.dirty.ratio`` or whose oldest dirty data passed
``max.compaction.lag.ms``, the highest ratio; when there is none, a log holding tombstones or
transaction markers whose delete horizon has passed (KIP-534), so they go even on a quiet log.

A log is cleaned by a :class:`~pykafka_broker.storage.cleaner.CleaningPass` in bounded steps, each
run in the cleaner's own thread (``log.cleaner.threads``: one) so it never waits behind fsyncs: build
the key map, then one group of segments (at most ``segment.bytes``) per step. Between steps the
loop checks that the group's segments are still the log's (retention or a topic deletion may have
changed it meanwhile; then the cleaned files are discarded and the pass ends) and installs the
cleaned segment: a few renames and an index load. Produce and fetch never wait for the cleaner.

The first offset not yet cleaned of each log is kept in ``cleaner-offset-checkpoint`` (Kafka's file
and format) in the data dir; a log without an entry is dirty from its log start offset. Delete
horizons are only known in memory: after a restart a log's expired tombstones go at its next
cleaning.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from pykafka_broker.broker.clock import now_ms
from pykafka_broker.broker.topics import log_properties
from pykafka_broker.storage import cleaner as sc
from pykafka_broker.storage.data_dir_files import read_offset_checkpoint, write_offset_checkpoint
from pykafka_broker.storage.files import remove_files

if TYPE_CHECKING:
    from pykafka_broker.broker.config import BrokerConfig
    from pykafka_broker.storage.log import PartitionLog
    from pykafka_broker.storage.manager import LogManager

log = logging.getLogger("pykafka_broker.log_cleaner")

CLEANER_CHECKPOINT = "cleaner-offset-checkpoint"
MAP_ENTRY_BYTES = 24  # Kafka's SkimpyOffsetMap: a 16-byte MD5 of the key and an 8-byte offset
T = TypeVar("T")


def last_stable_offset(plog: PartitionLog) -> int:
    """The hook for transactions: a log that tracks a last stable offset exposes it; otherwise
    every offset is stable (no transaction is open)."""
    value: Any = getattr(plog, "last_stable_offset", None)
    if callable(value):
        value = value()
    return plog.log_end_offset if value is None else min(int(value), plog.log_end_offset)


CLEANER_SWITCH_INTERVAL_S = 0.0005


class LogCleaner:
    def __init__(self, config: BrokerConfig, logs: LogManager, *, clock: Callable[[], int] = now_ms) -> None:
        self.config = config
        self.logs = logs
        self.clock = clock
        self.enabled = config.get_bool("log.cleaner.enable")
        self.backoff_ms = config.get_int("log.cleaner.backoff.ms")
        buffer = int(float(config.get("log.cleaner.dedupe.buffer.size") or 134217728))
        load_factor = float(config.get("log.cleaner.io.buffer.load.factor") or 0.9)
        self.max_map_entries = max(1, int(buffer * load_factor) // MAP_ENTRY_BYTES)
        self.checkpoint_path = logs.data_dir / CLEANER_CHECKPOINT
        self.checkpoints: dict[tuple[str, int], int] = read_offset_checkpoint(self.checkpoint_path)
        self.delete_horizons: dict[tuple[str, int], int] = {}
        self.passes = 0  # completed cleanings (tests, stats)
        self.bytes_cleaned = 0
        self._executor: ThreadPoolExecutor | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._stopping = False
        self._current: sc.CleaningPass | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        if not self.enabled:
            return
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="log-cleaner")
        # The cleaner thread is CPU-bound Python; with the default 5 ms switch interval every GIL
        # hand-back to the event loop (after each syscall) can wait 5 ms, which queues requests up
        # behind a running pass (the convoy effect). A short interval bounds that wait.
        sys.setswitchinterval(CLEANER_SWITCH_INTERVAL_S)
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Ask the running step to stop (it discards its partial files), wait for it, end."""
        self._stopping = True
        if self._current is not None:
            self._current.stop_requested = True
        self._wake.set()
        if self._task is not None:
            try:
                await self._task
            except Exception:  # already logged by _run; shutdown goes on
                pass
            self._task = None
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    async def _run(self) -> None:
        while not self._stopping:
            try:
                cleaned = await self.clean_once()
            except Exception:  # a failing pass must not end compaction for good
                log.exception("log cleaning failed")
                cleaned = False
            if not cleaned and not self._stopping:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), self.backoff_ms / 1000)
                except TimeoutError:
                    pass

    # -- choosing a log ------------------------------------------------------------------------

    def cleaner_config(self, topic: str) -> sc.CleanerConfig:
        info = self.logs.topics.get(topic)
        overrides = dict(info.configs) if info is not None else {}
        return sc.CleanerConfig.from_topic_configs(log_properties(self.config, overrides))

    def grab_filthiest(self, now: int) -> sc.CleaningPass | None:
        """The next log to clean as a prepared pass (on the loop: cheap, reads no file)."""
        configs: dict[str, sc.CleanerConfig] = {}
        best: tuple[float, PartitionLog, sc.CleanablePlan, list[sc.SegmentView]] | None = None
        expired: tuple[PartitionLog, sc.CleanablePlan, list[sc.SegmentView]] | None = None
        for plog in self.logs.all_logs():
            config = configs.get(plog.topic)
            if config is None:
                config = configs[plog.topic] = self.cleaner_config(plog.topic)
            if not config.compact or len(plog.segments) < 2:
                continue
            views = sc.non_active_views(plog)
            key = (plog.topic, plog.partition)
            plan = sc.plan_cleaning(views, active_base=plog.active.base_offset,
                                    log_start_offset=plog.log_start_offset,
                                    checkpoint=self.checkpoints.get(key), lso=last_stable_offset(plog),
                                    config=config, now_ms=now)
            if plan.due(config):
                rank = plan.ratio + (1.0 if plan.overdue_ms > 0 else 0.0)
                if best is None or rank > best[0]:
                    best = (rank, plog, plan, views)
            elif expired is None and self.delete_horizons.get(key, now + 1) <= now:
                expired = (plog, plan, views)
        if best is not None:
            _, plog, plan, views = best
        elif expired is not None:
            plog, plan, views = expired
        else:
            return None
        last_data = {pid: e.batches[-1].last_offset for pid, e in plog.producer_state.producers.items()
                     if e.batches}
        return sc.CleaningPass(plog.dir, views, plan, configs[plog.topic], now, last_data,
                               max_map_entries=self.max_map_entries, log=plog)

    # -- cleaning ------------------------------------------------------------------------------

    async def _off_loop(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    async def clean_once(self) -> bool:
        """Clean the filthiest log, if any is due; True when a log was cleaned."""
        cleaning = self.grab_filthiest(self.clock())
        if cleaning is None:
            return False
        plog = cleaning.log
        assert plog is not None
        key = (plog.topic, plog.partition)
        self._current = cleaning
        started = time.perf_counter()
        try:
            await self._off_loop(cleaning.build_map)
            bytes_in = bytes_out = 0
            for i in range(len(cleaning.groups)):
                if self._stopping:
                    return False
                cleaned = await self._off_loop(cleaning.clean_group, i)
                if self.logs.get_log(plog.topic, plog.partition) is not plog \
                        or not sc.still_installable(plog, cleaned):
                    sc.discard(cleaned)
                    log.info("%s-%d: log changed while being cleaned; will retry", plog.topic, plog.partition)
                    return True
                deleted = sc.install(plog, cleaned)
                self._submit(remove_files, deleted)
                bytes_in += cleaned.bytes_in
                bytes_out += cleaned.bytes_out
        except sc.CleaningAborted:
            return False
        finally:
            self._current = None
        assert cleaning.filter is not None
        self.checkpoints[key] = cleaning.end_offset
        if cleaning.filter.min_delete_horizon is None:
            self.delete_horizons.pop(key, None)
        else:
            self.delete_horizons[key] = cleaning.filter.min_delete_horizon
        self.checkpoints = {k: v for k, v in self.checkpoints.items() if k in self.logs.logs}
        await self._off_loop(write_offset_checkpoint, self.checkpoint_path, dict(self.checkpoints))
        self.passes += 1
        self.bytes_cleaned += bytes_in
        elapsed = time.perf_counter() - started
        log.info("%s-%d: cleaned %d segment group(s) up to offset %d: %d -> %d bytes, %d records removed, "
                 "%.1f MB/s (dirty ratio was %.2f)", plog.topic, plog.partition, len(cleaning.groups),
                 cleaning.end_offset, bytes_in, bytes_out, cleaning.filter.records_removed,
                 bytes_in / 1e6 / max(elapsed, 1e-6), cleaning.plan.ratio)
        return True

    def _submit(self, fn: Callable[..., Any], *args: Any) -> None:
        job = asyncio.get_running_loop().run_in_executor(None, fn, *args)

        def done(f: asyncio.Future[Any]) -> None:
            if not f.cancelled() and f.exception() is not None:
                log.error("removing cleaned-out files failed: %r", f.exception())
        job.add_done_callback(done)
