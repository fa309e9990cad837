"""The config audit: which declared configs have no effect on this single-node broker, and why.

Every config in config_defs (BROKER_CONFIGS, TOPIC_CONFIGS) is either in effect — read by the code:
tests/broker/test_config_audit.py checks that each name not listed here appears in the package's
code, directly or as the broker synonym of a topic config that does — or listed in NOT_USED with
the reason it has no effect. DescribeConfigs v3+ shows that reason in the config's documentation. A
name listed here that the code starts reading fails the same test, so the list cannot go stale.
"""

from __future__ import annotations

from pykafka_broker.broker.config_defs import ConfigDef

_TIERED = "there is no tiered storage"
_ONE_REPLICA = ("every partition has exactly one replica, this node, so the in-sync replica set is always "
                "complete; acks=all does not fail with NOT_ENOUGH_REPLICAS when this is above 1 as it would "
                "in Kafka")
NOT_USED: dict[str, str] = {
    "broker.id": "the node's id is node.id; a different broker.id has no effect",
    "broker.rack": "there is no rack-aware replica placement; Metadata reports no rack",
    "min.insync.replicas": _ONE_REPLICA,
    "transaction.state.log.min.isr": _ONE_REPLICA,
    "unclean.leader.election.enable": "there are no follower replicas, hence no leader election",
    "offsets.topic.replication.factor": "internal topics have the one replica this node holds",
    "transaction.state.log.replication.factor": "internal topics have the one replica this node holds",
    "follower.replication.throttled.replicas": "there is no replication to throttle",
    "leader.replication.throttled.replicas": "there is no replication to throttle",
    "socket.send.buffer.bytes": "the listener keeps the operating system's socket buffer sizes",
    "socket.receive.buffer.bytes": "the listener keeps the operating system's socket buffer sizes",
    "num.network.threads": "one asyncio event loop serves every connection",
    "num.io.threads": "requests are handled on the event loop; slow file work goes to a thread pool",
    "max.incremental.fetch.session.cache.slots": "no fetch sessions (KIP-227) are kept: every Fetch is "
                                                 "a full one",
    "log.flush.offset.checkpoint.interval.ms": "the recovery-point checkpoint is written every 60 s (Kafka's "
                                               "default), at startup and at shutdown, whatever this says",
    "log.flush.start.offset.checkpoint.interval.ms": "the log-start-offset checkpoint is written every 60 s "
                                                     "(Kafka's default), after retention, at startup and at "
                                                     "shutdown, whatever this says",
    "log.preallocate": "segment files grow as they are written; nothing is preallocated",
    "preallocate": "segment files grow as they are written; nothing is preallocated",
    "log.local.retention.ms": _TIERED,
    "log.local.retention.bytes": _TIERED,
    "local.retention.ms": _TIERED,
    "local.retention.bytes": _TIERED,
    "remote.log.copy.disable": _TIERED,
    "remote.log.delete.on.disable": _TIERED,
    "num.recovery.threads.per.data.dir": "logs are recovered one after another at startup",
    "log.cleaner.threads": "compaction runs on one cleaner thread",
    "log.cleaner.io.max.bytes.per.second": "the log cleaner's I/O is not throttled",
    "log.cleaner.io.buffer.size": "the log cleaner reads and writes whole batches, not through fixed buffers",
    "offsets.commit.timeout.ms": "an offset commit is answered once its records are appended, with no "
                                 "separate timeout",
    "transaction.abort.timed.out.transaction.cleanup.interval.ms": "each transaction's timeout is a timer "
                                                                   "of its own, fired when due",
}


def documentation(cd: ConfigDef) -> str:
    """DescribeConfigs' documentation of a config: its description, and whether it has any effect."""
    reason = NOT_USED.get(cd.name)
    return cd.doc if reason is None else f"{cd.doc} Not used by this single-node broker: {reason}."
