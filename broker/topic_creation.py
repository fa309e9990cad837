"""Creating partitions for CreateTopics and CreatePartitions: bounded, atomic, off the event loop.

Kafka's controller bounds what one request may create: ``ReplicationControlManager`` refuses a
CreateTopics whose topics add up to more than ``MAX_PARTITIONS_PER_BATCH`` (10,000) partitions with
POLICY_VIOLATION "Excessively large number of partitions per request." for every topic, and every
controller operation is capped at ``QuorumController.MAX_RECORDS_PER_USER_OP`` (10,000 records, one
per new partition). We apply the same 10,000 to the new partitions of one CreatePartitions request,
answered the same way (Kafka itself has no explicit check there: its bounded record list or the
replica placer fails instead).

Validation happens before any state changes. Creation then runs like Kafka's single controller
thread — one partition-creating operation at a time (an asyncio lock per data dir), re-checking the
topic when its turn comes — with the directory work in the default executor, so the loop keeps
serving every other client, and the result applied on the loop in one step (maps + topics.json):
the topics of one CreateTopics request share one executor job and one topics.json write. A new
partition is its directory and ``partition.metadata`` only (storage/manager.py _new_partition);
its segment files come with its first append.
A failure at any point removes every directory made for the request and leaves topics.json as it
was. While a topic's partitions are being prepared its name is reserved in ``LogManager.creating``:
Metadata auto-creation of that name answers LEADER_NOT_AVAILABLE meanwhile.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
import weakref
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from pykafka_broker.protocol.errors import ErrorCode, KafkaError

if TYPE_CHECKING:
    from pykafka_broker.storage.log import LogConfig, PartitionLog
    from pykafka_broker.storage.manager import LogManager, TopicInfo

log = logging.getLogger("pykafka_broker.topic_creation")

MAX_PARTITIONS_PER_REQUEST = 10_000  # ReplicationControlManager.MAX_PARTITIONS_PER_BATCH
EXCESSIVE_PARTITIONS = "Excessively large number of partitions per request."

_locks: weakref.WeakKeyDictionary[LogManager, asyncio.Lock] = weakref.WeakKeyDictionary()


def check_total(counts: Iterable[int]) -> None:
    """POLICY_VIOLATION when one request would create more than MAX_PARTITIONS_PER_REQUEST."""
    total = 0
    for count in counts:
        total += max(count, 0)
        if total > MAX_PARTITIONS_PER_REQUEST:
            raise KafkaError(ErrorCode.POLICY_VIOLATION, EXCESSIVE_PARTITIONS)


def admin_lock(logs: LogManager) -> asyncio.Lock:
    """The one-operation-at-a-time lock of partition-creating admin requests on this data dir."""
    lock = _locks.get(logs)
    if lock is None:
        lock = _locks[logs] = asyncio.Lock()
    return lock


async def create_topic(logs: LogManager, name: str, partitions: int, configs: dict[str, str]) -> TopicInfo:
    """Create a topic with ``partitions`` partitions, or nothing at all. Call with admin_lock held
    and the name checked free."""
    from pykafka_broker.storage.manager import TopicInfo

    info = TopicInfo(name, uuid.uuid4(), partitions, dict(configs))
    await _create(logs, info, range(partitions), logs.config_for(configs),
                  still_valid=lambda: name not in logs.topics)
    return info


async def create_topics(logs: LogManager, plans: Sequence[tuple[str, int, dict[str, str]]]
                        ) -> list[TopicInfo | KafkaError]:
    """Create the topics of one CreateTopics request, each with all its partitions or not at all:
    every topic's directories in one executor job, then one topics.json write for every topic
    made (a failed write fails them all): at 50 topics a request that is 50 times fewer fsyncs,
    on the loop, and JSON encodings of the whole topic list. Per plan ``(name, partitions,
    configs)``, its TopicInfo or the KafkaError to answer. Call with admin_lock held."""
    from pykafka_broker.storage.manager import TopicInfo

    loop = asyncio.get_running_loop()
    results: list[TopicInfo | KafkaError] = []
    todo: list[tuple[int, TopicInfo, LogConfig]] = []
    for name, partitions, configs in plans:
        if name in logs.topics or name in logs.creating:  # created while this request waited
            results.append(KafkaError(ErrorCode.TOPIC_ALREADY_EXISTS, f"Topic '{name}' already exists."))
            continue
        logs.creating.add(name)
        todo.append((len(results), TopicInfo(name, uuid.uuid4(), partitions, dict(configs)),
                     logs.config_for(configs)))
        results.append(KafkaError(ErrorCode.UNKNOWN_SERVER_ERROR, "not created"))  # replaced below

    def prepare_all() -> list[list[PartitionLog] | OSError]:
        made: list[list[PartitionLog] | OSError] = []
        for _, info, config in todo:
            try:
                made.append(logs.prepare_partitions(info.name, info.topic_id, range(info.partitions), config))
            except OSError as exc:  # this topic only: prepare_partitions removed what it made
                made.append(exc)
        return made

    try:
        prepared = await loop.run_in_executor(None, prepare_all)
        created: list[tuple[TopicInfo, list[PartitionLog]]] = []
        for (i, info, _), made in zip(todo, prepared, strict=True):
            if isinstance(made, OSError):
                log.error("could not create the partitions of %s: %s", info.name, made)
                results[i] = KafkaError(ErrorCode.UNKNOWN_SERVER_ERROR,
                                        f"Could not create the partitions of topic '{info.name}': "
                                        f"{made.strerror or made}. Nothing was created.")
            elif info.name in logs.topics:  # made meanwhile by a path that ignores ``creating``
                await loop.run_in_executor(None, _discard_all, [made])
                results[i] = KafkaError(ErrorCode.TOPIC_ALREADY_EXISTS,
                                        f"Topic '{info.name}' already exists.")
            else:
                created.append((info, made))
                results[i] = info
        try:
            logs.commit_topics(created)
        except BaseException as exc:
            await loop.run_in_executor(None, _discard_all, [made for _, made in created])
            if not isinstance(exc, OSError):
                raise
            log.error("could not record topics %s: %s", [info.name for info, _ in created], exc)
            for (i, info, _) in todo:
                if results[i] is info:
                    results[i] = KafkaError(ErrorCode.UNKNOWN_SERVER_ERROR,
                                            f"Could not record topic '{info.name}': {exc.strerror or exc}. "
                                            "Nothing was created.")
    finally:
        for _, info, _ in todo:
            logs.creating.discard(info.name)
    return results


def _discard_all(prepared: list[list[PartitionLog]]) -> None:
    from pykafka_broker.storage.manager import LogManager as _LogManager

    for made in prepared:
        _LogManager.discard_partitions(made)


async def add_partitions(logs: LogManager, name: str, count: int) -> TopicInfo:
    """Grow ``name`` to ``count`` partitions, or leave it as it is. Call with admin_lock held and
    the count validated against the current one."""
    old = logs.topics[name]
    info = dataclasses.replace(old, partitions=count)
    await _create(logs, info, range(old.partitions, count), logs.effective_config(name),
                  still_valid=lambda: logs.topics.get(name) is old)
    return info


async def _create(logs: LogManager, info: TopicInfo, partitions: range, config: LogConfig,
                  still_valid: Callable[[], bool]) -> None:
    from pykafka_broker.storage.manager import LogManager as _LogManager

    loop = asyncio.get_running_loop()
    name = info.name
    if name in logs.creating:
        raise KafkaError(ErrorCode.UNKNOWN_SERVER_ERROR, f"Topic '{name}' is already being created.")
    logs.creating.add(name)
    try:
        try:
            prepared = await loop.run_in_executor(None, logs.prepare_partitions, name, info.topic_id,
                                                  partitions, config)
        except OSError as exc:
            log.error("could not create partitions %d..%d of %s: %s", partitions.start,
                      partitions.stop - 1, name, exc)
            raise KafkaError(ErrorCode.UNKNOWN_SERVER_ERROR,
                             f"Could not create the partitions of topic '{name}': {exc.strerror or exc}. "
                             "Nothing was created.") from None
        try:
            if not still_valid():
                raise KafkaError(ErrorCode.TOPIC_ALREADY_EXISTS if partitions.start == 0 else
                                 ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                                 f"Topic '{name}' changed while its partitions were being created.")
            logs.commit_partitions(info, prepared)
        except BaseException:
            await loop.run_in_executor(None, _LogManager.discard_partitions, prepared)
            raise
    finally:
        logs.creating.discard(name)
