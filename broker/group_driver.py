"""The group coordinator (broker/groups/) on the shared runtime, over ``__consumer_offsets``.

Everything around the state machine — appending its records, waiting for the fsync the flush policy
demands, committing or reverting, parked JoinGroup/SyncGroup replies, keyed timers, replay at startup
and COORDINATOR_LOAD_IN_PROGRESS meanwhile — is the runtime's (broker/coordinator/runtime.py). This
module only names the topic and routes each API to a write or a read.

``__consumer_offsets`` is created on first use (or found at startup) with
``offsets.topic.num.partitions`` partitions, ``cleanup.policy=compact`` and
``segment.bytes=offsets.topic.segment.bytes``, as Kafka's ``GroupCoordinator.groupMetadataTopicConfigs``;
a group lives on partition ``Utils.abs(groupId.hashCode()) % partitions`` (Kafka's ``partitionFor``).

With ``--log-level DEBUG`` (logger ``pykafka_broker.groups``) every JoinGroup, SyncGroup, Heartbeat and
LeaveGroup is logged with its member and generation, and again when it is answered (parked joins and
syncs when they complete): the sequence a rebalance went through, as Kafka's coordinator INFO log.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from pykafka_broker.broker.coordinator.result import TimerKey
from pykafka_broker.broker.coordinator.runtime import CoordinatorRuntime
from pykafka_broker.broker.coordinator.topic import InternalTopic
from pykafka_broker.broker.groups import GroupConfig, GroupCoordinator
from pykafka_broker.broker.groups.api import JoinGroupResponse, SyncGroupResponse

if TYPE_CHECKING:
    from pykafka_broker.broker.config import BrokerConfig
    from pykafka_broker.broker.dispatch import Reply
    from pykafka_broker.broker.flusher import Flusher
    from pykafka_broker.broker.waiters import FetchWaiters
    from pykafka_broker.storage.manager import LogManager

log = logging.getLogger("pykafka_broker.groups")

OFFSETS_TOPIC = "__consumer_offsets"
TOPIC = InternalTopic(OFFSETS_TOPIC, "offsets.topic.num.partitions", "offsets.topic.segment.bytes")


class GroupDriver:
    def __init__(self, config: BrokerConfig, logs: LogManager, flusher: Flusher,
                 waiters: FetchWaiters) -> None:
        self.coordinator = GroupCoordinator(GroupConfig.from_properties(config.props),
                                            partition_of=self.partition_for)
        self.runtime = CoordinatorRuntime(TOPIC, self.coordinator, config, logs, flusher, waiters)

    def partition_for(self, group_id: str) -> int:
        return self.runtime.partition_for(group_id)

    def ensure_topic(self) -> None:
        self.runtime.ensure_topic()

    def load(self) -> None:
        """Replay ``__consumer_offsets`` (before the broker serves; timers are armed by ``start``)."""
        self.runtime.load()

    def start(self) -> None:
        self.runtime.start()

    def stop(self) -> None:
        """No timer fires any more; parked joins/syncs answer NOT_COORDINATOR."""
        self.runtime.stop()

    def complete_txn(self, partition: int, producer_id: int, committed: bool) -> None:
        """The transaction marker of ``producer_id`` is in ``__consumer_offsets-<partition>``."""
        self.coordinator.replay_marker(partition, producer_id, committed)

    def pending_timers(self) -> set[TimerKey]:
        return self.runtime.pending_timers()

    # -- the APIs ------------------------------------------------------------------------------

    def join_group(self, req: Any) -> Reply[JoinGroupResponse]:
        return _traced("JoinGroup", req, self.runtime.write(self.coordinator.join_group, req))

    def sync_group(self, req: Any) -> Reply[SyncGroupResponse]:
        return _traced("SyncGroup", req, self.runtime.write(self.coordinator.sync_group, req))

    def heartbeat(self, req: Any) -> Reply[Any]:
        return _traced("Heartbeat", req, self.runtime.write(self.coordinator.heartbeat, req))

    def leave_group(self, req: Any) -> Reply[Any]:
        return _traced("LeaveGroup", req, self.runtime.write(self.coordinator.leave_group, req))

    def offset_commit(self, req: Any) -> Reply[Any]:
        return self.runtime.write(self.coordinator.offset_commit, req)

    def txn_offset_commit(self, req: Any) -> Reply[Any]:
        """The records go in the producer's transactional batch (pending until its marker)."""
        return self.runtime.write(self.coordinator.txn_offset_commit, req,
                                  producer=(req.producer_id, req.producer_epoch))

    def offset_delete(self, req: Any) -> Reply[Any]:
        return self.runtime.write(self.coordinator.offset_delete, req)

    def delete_groups(self, req: Any) -> Reply[Any]:
        return self.runtime.write(self.coordinator.delete_groups, req)

    def offset_fetch(self, req: Any) -> Reply[Any]:
        return self.runtime.read(self.coordinator.offset_fetch, req)

    def list_groups(self, req: Any) -> Reply[Any]:
        return self.runtime.read(self.coordinator.list_groups, req)

    def describe_groups(self, req: Any) -> Reply[Any]:
        return self.runtime.read(self.coordinator.describe_groups, req)


def _traced(api: str, req: Any, reply: Any) -> Any:
    """Log a membership request and its answer at DEBUG (nothing is formatted otherwise)."""
    if not log.isEnabledFor(logging.DEBUG):
        return reply
    member = getattr(req, "member_id", None)
    if member is None:  # LeaveGroup names its members in a list
        member = [m for m, _instance, _reason in req.members]
    generation = getattr(req, "generation_id", None)
    log.debug("%s group=%s member=%s%s", api, req.group_id, member,
              "" if generation is None else f" generation={generation}")

    def answered(r: Any) -> None:
        if isinstance(r, JoinGroupResponse):
            log.debug("%s group=%s member=%s -> %s generation=%d leader=%s members=%s", api, req.group_id,
                      r.member_id or member, r.error_code.name, r.generation_id, r.leader,
                      [m.member_id for m in r.members])
        else:
            log.debug("%s group=%s member=%s -> %s", api, req.group_id, member, r.error_code.name)

    if isinstance(reply, asyncio.Future):
        reply.add_done_callback(lambda f: None if f.cancelled() or f.exception() else answered(f.result()))
    else:
        answered(reply)
    return reply
