"""The logs of one data directory (Kafka's LogManager, one node, one log dir).

Files kept next to the partition directories, in Kafka's formats where Kafka has one:

- ``meta.properties``: ``version=1``, ``cluster.id`` (22-char URL-safe base64 UUID), ``node.id=1``.
- ``recovery-point-offset-checkpoint`` / ``log-start-offset-checkpoint``: ``0``, the entry count,
  then ``topic partition offset`` lines (OffsetCheckpointFile).
- ``.kafka_cleanshutdown``: written last by ``close()``, removed right after ``load()``.
- ``topics.json``: our own record of the topics (KRaft keeps this in the metadata log).

Creating a partition fsyncs nothing: its ``partition.metadata`` is rewritten at load when missing or
torn, and the log's first flush fsyncs the partition directory and the data directory (so data
made durable by ``flush.messages`` is reachable after a power loss). ``topics.json`` is written
atomically (fsynced) per topic. Checkpoints can be written from any thread (``write_checkpoints``)
from a ``checkpoint_snapshot`` taken on the loop; an older snapshot never overwrites a newer one.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .data_dir_files import (
    CheckpointSnapshot,
    TopicsSnapshot,
    _partition_metadata,
    read_offset_checkpoint,
    uuid_from_kafka,
    uuid_to_kafka,
    write_offset_checkpoint,
)
from .files import atomic_write, syncfs_path, write_all
from .log import LogConfig, PartitionLog

log = logging.getLogger(__name__)

__all__ = ["CheckpointSnapshot", "LogManager", "TopicCreationInProgress", "TopicInfo", "TopicsSnapshot",
           "read_offset_checkpoint", "uuid_from_kafka", "uuid_to_kafka", "write_offset_checkpoint"]

META_PROPERTIES = "meta.properties"
TOPICS_FILE = "topics.json"
RECOVERY_POINT_CHECKPOINT = "recovery-point-offset-checkpoint"
LOG_START_CHECKPOINT = "log-start-offset-checkpoint"
CLEAN_SHUTDOWN_MARKER = ".kafka_cleanshutdown"
PARTITION_METADATA = "partition.metadata"
NODE_ID = 1



class TopicCreationInProgress(Exception):
    """Another request is creating this topic's partitions right now (try again shortly)."""


@dataclass(frozen=True, slots=True)
class TopicInfo:
    name: str
    topic_id: uuid.UUID
    partitions: int
    configs: dict[str, str] = field(default_factory=dict)  # topic-level overrides only


class LogManager:
    def __init__(self, data_dir: Path, *, now_ms: int) -> None:
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.now_ms = now_ms
        self.topics: dict[str, TopicInfo] = {}
        self._names_by_id: dict[uuid.UUID, str] = {}  # topic id -> name (Fetch v13+, Metadata, DeleteTopics)
        self.logs: dict[tuple[str, int], PartitionLog] = {}
        self._defaults: dict[str, str] = {}
        self._checkpoint_lock = threading.Lock()
        self._topics_lock = threading.Lock()
        self._topics_seq = self._topics_written = 0
        self._checkpoint_seq = 0  # of the last snapshot taken (on the loop)
        self._checkpoint_written = 0  # of the last snapshot written (any thread)
        self.creating: set[str] = set()  # topics whose partition directories are being prepared
        self.cluster_id = self._load_or_create_meta()

    # -- meta.properties -----------------------------------------------------------------------

    def _load_or_create_meta(self) -> str:
        path = self.data_dir / META_PROPERTIES
        if path.exists():
            props = {}
            for line in path.read_text().splitlines():
                if line and not line.startswith("#") and "=" in line:
                    key, value = line.split("=", 1)
                    props[key.strip()] = value.strip()
            if props.get("cluster.id"):
                return props["cluster.id"]
        cluster_id = uuid_to_kafka(uuid.uuid4())
        text = f"#\nversion=1\ncluster.id={cluster_id}\nnode.id={NODE_ID}\n"
        atomic_write(path, text.encode())
        return cluster_id

    # -- loading -------------------------------------------------------------------------------

    def load(self, default_config: Mapping[str, str]) -> None:
        """Open every partition log. ``default_config`` holds topic-level names (segment.bytes, ...)
        already resolved from the broker's properties by the broker layer. After a clean shutdown the
        checkpointed recovery points are trusted; otherwise each log rescans from its recovery point
        (all of it if it has none)."""
        if self.logs:
            raise RuntimeError("LogManager.load called twice")
        self._defaults = dict(default_config)
        marker = self.data_dir / CLEAN_SHUTDOWN_MARKER
        clean = marker.exists()
        recovery_points = read_offset_checkpoint(self.data_dir / RECOVERY_POINT_CHECKPOINT)
        start_offsets = read_offset_checkpoint(self.data_dir / LOG_START_CHECKPOINT)
        if (self.data_dir / TOPICS_FILE).exists():
            log.info("loading logs from %s (%s shutdown)", self.data_dir, "clean" if clean else "unclean")
        else:
            log.info("new data dir %s", self.data_dir)
        self._remove_deleted_dirs()
        self.topics = self._read_topics()
        self._names_by_id = {info.topic_id: name for name, info in self.topics.items()}
        for info in self.topics.values():
            for partition in range(info.partitions):
                key = (info.name, partition)
                self.logs[key] = PartitionLog.open(
                    self._partition_dir(info.name, partition), info.name, partition,
                    self.effective_config(info.name), recovery_point=recovery_points.get(key),
                    now_ms=self.now_ms, log_start_offset=start_offsets.get(key))
                self._write_partition_metadata(info, partition)
        # From here on a crash must be detected as unclean.
        marker.unlink(missing_ok=True)
        self.checkpoint()

    def _remove_deleted_dirs(self) -> None:
        for name in os.listdir(self.data_dir):
            if name.endswith("-delete") and (self.data_dir / name).is_dir():
                shutil.rmtree(self.data_dir / name, ignore_errors=True)

    def _read_topics(self) -> dict[str, TopicInfo]:
        path = self.data_dir / TOPICS_FILE
        if not path.exists():
            return {}
        data = json.loads(path.read_text())
        return {t["name"]: TopicInfo(t["name"], uuid.UUID(t["topic_id"]), int(t["partitions"]),
                                     dict(t.get("configs", {})))
                for t in data["topics"]}

    def _write_topics(self) -> None:
        self.write_topics_snapshot(self.topics_snapshot())

    def topics_snapshot(self) -> TopicsSnapshot:
        """On the loop: the ``topics.json`` content for the topics as they are now."""
        data = {"version": 1, "topics": [
            {"name": t.name, "topic_id": str(t.topic_id), "partitions": t.partitions, "configs": t.configs}
            for t in self.topics.values()]}
        self._topics_seq += 1
        return TopicsSnapshot(self._topics_seq, json.dumps(data, indent=1, sort_keys=True).encode())

    def write_topics_snapshot(self, snapshot: TopicsSnapshot) -> None:
        """Write ``topics.json`` atomically (two fsyncs); safe from any thread, so CreateTopics can
        run it off the loop after ``create_topic(..., write_topics=False)``. An older snapshot never
        overwrites a newer one."""
        with self._topics_lock:
            if snapshot.seq <= self._topics_written:
                return
            atomic_write(self.data_dir / TOPICS_FILE, snapshot.data)
            self._topics_written = snapshot.seq

    def _partition_dir(self, topic: str, partition: int) -> Path:
        return self.data_dir / f"{topic}-{partition}"

    def _write_partition_metadata(self, info: TopicInfo, partition: int) -> None:
        """At load: rewrite the file when it is missing, torn or names another id (a new partition
        writes it in place, ``_new_partition``)."""
        path = self._partition_dir(info.name, partition) / PARTITION_METADATA
        text = _partition_metadata(info.topic_id).decode()
        try:
            current = path.read_text()
        except (FileNotFoundError, UnicodeDecodeError):
            current = None
        if current != text:
            atomic_write(path, text.encode())

    # -- topics --------------------------------------------------------------------------------

    def effective_config(self, topic: str) -> LogConfig:
        """Broker defaults overlaid with the topic's own overrides."""
        info = self.topics.get(topic)
        return self.config_for(info.configs if info is not None else {})

    def create_topic(self, name: str, partitions: int, configs: Mapping[str, str],
                     topic_id: uuid.UUID | None = None, *, write_topics: bool = True) -> TopicInfo:
        """Create the topic's partition logs (no fsync: see the module docstring) and record it in
        ``topics.json``, unless ``write_topics`` is False: then the caller writes
        ``topics_snapshot()`` with ``write_topics_snapshot`` (off the loop) before answering."""
        if name in self.topics:
            raise ValueError(f"topic {name!r} already exists")
        if name in self.creating:
            raise TopicCreationInProgress(name)
        info = TopicInfo(name, topic_id or uuid.uuid4(), partitions, dict(configs))
        self.topics[name] = info
        self._names_by_id[info.topic_id] = name
        config = self.effective_config(name)
        metadata = _partition_metadata(info.topic_id)
        for partition in range(partitions):
            self.logs[(name, partition)] = self._new_partition(name, partition, config, metadata)
        if write_topics:
            self._write_topics()
        return info

    def alter_topic_configs(self, name: str, configs: Mapping[str, str]) -> None:
        """Replace a topic's overrides, persist them, and apply them to its open logs at once."""
        info = self.topics[name] = dataclasses.replace(self.topics[name], configs=dict(configs))
        self._write_topics()
        config = self.effective_config(name)
        for partition in range(info.partitions):
            partition_log = self.logs.get((name, partition))
            if partition_log is not None:
                partition_log.config = config

    def set_default_config(self, default_config: Mapping[str, str]) -> None:
        """Replace the topic-level defaults (a dynamic broker config changed) and apply them at once
        to every open log; each topic's own overrides still win."""
        self._defaults = dict(default_config)
        for name, info in self.topics.items():
            config = self.effective_config(name)
            for partition in range(info.partitions):
                partition_log = self.logs.get((name, partition))
                if partition_log is not None:
                    partition_log.config = config

    def add_partitions(self, name: str, count: int, *, write_topics: bool = True) -> TopicInfo:
        """Grow a topic to ``count`` partitions (never shrink: the caller validates); ``write_topics``
        as for ``create_topic``."""
        if name in self.creating:
            raise TopicCreationInProgress(name)
        old = self.topics[name]
        info = self.topics[name] = dataclasses.replace(old, partitions=count)
        config = self.effective_config(name)
        metadata = _partition_metadata(info.topic_id)
        for partition in range(old.partitions, count):
            self.logs[(name, partition)] = self._new_partition(name, partition, config, metadata)
        if write_topics:
            self._write_topics()
        return info

    # -- creating many partitions atomically, their files off the event loop ------------------
    # The broker reserves the name in ``creating`` (so nothing else makes directories for it),
    # runs ``prepare_partitions`` in an executor, then on the loop either ``commit_partitions``
    # (fast: maps and topics.json only) or, on any failure, ``discard_partitions`` off the loop.
    # A crash before the commit leaves directories that topics.json does not name; they are
    # replaced when a topic of that name is created again.

    def config_for(self, overrides: Mapping[str, str]) -> LogConfig:
        """The LogConfig of a topic with these overrides (the broker defaults under them)."""
        return LogConfig.from_topic_configs({**self._defaults, **overrides})

    def prepare_partitions(self, name: str, topic_id: uuid.UUID, partitions: range,
                           config: LogConfig) -> list[PartitionLog]:
        """Thread-safe (touches no shared state): make the partitions' directories, each holding
        only its ``partition.metadata`` (the segment files come with the first append:
        ``PartitionLog.create``). Nothing is fsynced: until topics.json names the topic a crash
        leaves directories that the next creation of that name replaces, and the logs' first
        flush fsyncs their directories. On any failure everything made so far is removed and the
        error re-raised."""
        metadata = _partition_metadata(topic_id)
        opened: list[PartitionLog] = []
        try:
            for partition in partitions:
                opened.append(self._new_partition(name, partition, config, metadata))
        except BaseException:
            self.discard_partitions(opened, [self._partition_dir(name, p) for p in partitions])
            raise
        return opened

    def _new_partition(self, name: str, partition: int, config: LogConfig, metadata: bytes) -> PartitionLog:
        """Make the partition's directory, empty but for ``partition.metadata`` (no fsync: see
        ``prepare_partitions``), and its log, whose segment files come with the first append."""
        directory = self._partition_dir(name, partition)
        try:
            os.mkdir(directory)
        except FileExistsError:  # leftovers of a topic of that name that was never recorded
            shutil.rmtree(directory)
            os.mkdir(directory)
        # Written in place, not via tmp+rename: a torn file is rewritten at load.
        fd = os.open(directory / PARTITION_METADATA, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            write_all(fd, metadata)
        finally:
            os.close(fd)
        return PartitionLog.create(directory, name, partition, config, now_ms=self.now_ms)

    def commit_partitions(self, info: TopicInfo, prepared: list[PartitionLog]) -> None:
        """On the loop: make ``info`` (a new topic, or a grown one) and its prepared logs live and
        persist topics.json; if that write fails nothing is changed and the error is raised."""
        self.commit_topics([(info, prepared)])

    def commit_topics(self, created: Sequence[tuple[TopicInfo, list[PartitionLog]]]) -> None:
        """``commit_partitions`` of several topics with one topics.json write (a CreateTopics
        request): all of them or, when the write fails, none."""
        old = {info.name: self.topics.get(info.name) for info, _ in created}
        for info, _ in created:
            self.topics[info.name] = info
        try:
            self._write_topics()
        except BaseException:
            for name, previous in old.items():
                if previous is None:
                    del self.topics[name]
                else:
                    self.topics[name] = previous
            raise
        for info, prepared in created:
            self._names_by_id[info.topic_id] = info.name
            for plog in prepared:
                self.logs[(plog.topic, plog.partition)] = plog

    @staticmethod
    def discard_partitions(prepared: list[PartitionLog], directories: Sequence[Path] = ()) -> None:
        """Close prepared logs and remove their directories (and any of ``directories``)."""
        for plog in prepared:
            try:
                plog.delete(remove_files=True)
            except OSError as exc:
                log.warning("could not remove %s: %s", plog.dir, exc)
        for directory in directories:
            shutil.rmtree(directory, ignore_errors=True)

    def delete_topic(self, name: str, *, remove_files: bool = True) -> list[Path]:
        """Forget the topic and rename its partition directories to ``*-delete``; they are removed
        here, or by the caller off the event loop when ``remove_files`` is False. Returns them."""
        info = self.topics.pop(name)
        self._names_by_id.pop(info.topic_id, None)
        self._write_topics()
        doomed = []
        for partition in range(info.partitions):
            partition_log = self.logs.pop((name, partition), None)
            if partition_log is not None:
                doomed.append(partition_log.delete(remove_files=remove_files))
        return doomed

    def topic_name(self, topic_id: uuid.UUID) -> str | None:
        """The name of the topic with this id, or None when no such topic exists."""
        return self._names_by_id.get(topic_id)

    def get_log(self, topic: str, partition: int) -> PartitionLog | None:
        return self.logs.get((topic, partition))

    def all_logs(self) -> list[PartitionLog]:
        return list(self.logs.values())

    # -- checkpoints and shutdown --------------------------------------------------------------

    def offline_logs(self) -> list[PartitionLog]:
        return [lg for lg in self.logs.values() if lg.offline is not None]

    def checkpoint_snapshot(self) -> CheckpointSnapshot:
        """On the loop: the recovery points and log start offsets to checkpoint now."""
        self._checkpoint_seq += 1
        return CheckpointSnapshot(self._checkpoint_seq,
                                  {key: lg.recovery_point for key, lg in self.logs.items()},
                                  {key: lg.log_start_offset for key, lg in self.logs.items()})

    def write_checkpoints(self, snapshot: CheckpointSnapshot) -> None:
        """Write both checkpoint files (blocking: two fsyncs each); safe from any thread. Skipped
        when a newer snapshot was written already."""
        with self._checkpoint_lock:
            if snapshot.seq <= self._checkpoint_written:
                return
            write_offset_checkpoint(self.data_dir / RECOVERY_POINT_CHECKPOINT, snapshot.recovery_points)
            write_offset_checkpoint(self.data_dir / LOG_START_CHECKPOINT, snapshot.log_start_offsets)
            self._checkpoint_written = snapshot.seq

    def checkpoint(self) -> None:
        """Synchronous checkpoint (load, shutdown, tests); the broker writes them off the loop."""
        self.write_checkpoints(self.checkpoint_snapshot())

    def close(self) -> None:
        """Close every log and checkpoint. The clean-shutdown marker is written only when no log
        went offline, so the next start rescans those from their recovery points."""
        # Write every log out, then one syncfs for them all (Kafka fsyncs each log at shutdown;
        # per file that is ~4 fsyncs a partition, minutes at tens of thousands of partitions).
        for partition_log in self.logs.values():
            partition_log.close(sync=False)
        try:
            syncfs_path(self.data_dir)
        except OSError as exc:  # recovery points stay: the next start rescans what was unflushed
            log.error("syncing %s failed at shutdown, not marking it cleanly shut down: %s",
                      self.data_dir, exc)
            return
        for partition_log in self.logs.values():
            partition_log.closed_synced()
        try:
            self.checkpoint()
        except OSError as exc:  # a full or failing disk: the next start rescans from the old ones
            log.error("writing checkpoints in %s failed at shutdown, not marking it cleanly shut "
                      "down: %s", self.data_dir, exc)
            return
        offline = self.offline_logs()
        if offline:
            log.error("not marking %s cleanly shut down: %d offline log(s), e.g. %s", self.data_dir,
                      len(offline), offline[0].dir)
            return
        atomic_write(self.data_dir / CLEAN_SHUTDOWN_MARKER, b"")
