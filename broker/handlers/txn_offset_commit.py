"""TxnOffsetCommit (key 28), versions 0-4.

Commits consumer offsets inside the producer's transaction (``KafkaApis.handleTxnOffsetCommitRequest``,
``OffsetMetadataManager.commitTransactionalOffset``). Partitions of unknown topics get
UNKNOWN_TOPIC_OR_PARTITION and an empty group id INVALID_GROUP_ID. The transaction coordinator first
checks that AddOffsetsToTxn put the group's ``__consumer_offsets`` partition in the producer's open
transaction (KIP-890 verification); its errors are mapped as Kafka's AddPartitionsToTxnManager and group
coordinator do: PRODUCER_FENCED -> INVALID_PRODUCER_EPOCH, a partition not in the transaction ->
INVALID_TXN_STATE (TRANSACTION_ABORTABLE from v4), CONCURRENT_TRANSACTIONS -> COORDINATOR_NOT_AVAILABLE
(retriable). Then the group checks member and generation (v3+; generation -1 with an empty member id is
accepted, an unknown group with a generation is ILLEGAL_GENERATION) and the offsets are written as
OffsetCommit records in a transactional batch of that producer. They stay pending — OffsetFetch does
not return them, and answers UNSTABLE_OFFSET_COMMIT when asked with require_stable — until the
transaction's marker commits (metadata and leader epoch exactly as sent) or drops them.
Version notes: v1 same as v0, v2 committed_leader_epoch, v3 (KIP-447) generation/member/instance id and
flexible, v4 (KIP-890) TRANSACTION_ABORTABLE. Not served: v5 (transaction.version 2, implicit add).
"""

from __future__ import annotations

from typing import Any

from pykafka_broker.broker.dispatch import RequestContext, handler, map_reply
from pykafka_broker.broker.groups import TxnOffsetCommit
from pykafka_broker.broker.groups.api import OffsetCommitResponse
from pykafka_broker.broker.txn import TxnOffsetCommitCheck
from pykafka_broker.protocol import messages
from pykafka_broker.protocol.api_keys import ApiKey
from pykafka_broker.protocol.errors import ErrorCode

E = ErrorCode
TRANSACTION_ABORTABLE_VERSION = 4
Commit = tuple[int, int, int, str | None]  # (partition, offset, leader epoch, metadata)


@handler(ApiKey.TXN_OFFSET_COMMIT, 0, 4)
def handle_txn_offset_commit(ctx: RequestContext, req: Any) -> Any:
    v = ctx.api_version
    broker = ctx.broker
    order: list[tuple[str, int]] = []
    failed: dict[tuple[str, int], ErrorCode] = {}
    valid: dict[str, list[Commit]] = {}
    for t in req.topics or []:
        info = broker.logs.topics.get(t.name)
        for p in t.partitions or []:
            order.append((t.name, p.partition_index))
            if info is None or not 0 <= p.partition_index < info.partitions:
                failed[(t.name, p.partition_index)] = E.UNKNOWN_TOPIC_OR_PARTITION
            else:
                epoch = p.committed_leader_epoch if v >= 2 else -1
                valid.setdefault(t.name, []).append(
                    (p.partition_index, p.committed_offset, epoch, p.committed_metadata))
    error = E.INVALID_GROUP_ID if not req.group_id else _verify(ctx, req)
    if error is not E.NONE or not valid:
        for name, parts in valid.items():
            for p in parts:
                failed[(name, p[0])] = error
        return _response(v, order, failed, OffsetCommitResponse(()))
    commit = TxnOffsetCommit(req.group_id, req.producer_id, req.producer_epoch, valid,
                             generation_id=req.generation_id if v >= 3 else -1,
                             member_id=(req.member_id or "") if v >= 3 else "",
                             group_instance_id=req.group_instance_id if v >= 3 else None)
    return map_reply(broker.groups.txn_offset_commit(commit), lambda r: _response(v, order, failed, r))


def _verify(ctx: RequestContext, req: Any) -> ErrorCode:
    error = ctx.broker.txns.check_txn_offset_commit(TxnOffsetCommitCheck(
        req.transactional_id, req.producer_id, req.producer_epoch, req.group_id))
    if error is E.PRODUCER_FENCED:
        return E.INVALID_PRODUCER_EPOCH
    if error is E.TRANSACTION_ABORTABLE and ctx.api_version < TRANSACTION_ABORTABLE_VERSION:
        return E.INVALID_TXN_STATE
    if error is E.CONCURRENT_TRANSACTIONS:
        return E.COORDINATOR_NOT_AVAILABLE
    return error


def _response(v: int, order: list[tuple[str, int]], failed: dict[tuple[str, int], ErrorCode],
              r: OffsetCommitResponse) -> Any:
    errors = dict(failed)
    for topic in r.topics:
        for p in topic.partitions:
            errors[(topic.name, p.partition)] = p.error_code
    tcls = messages.response_type(ApiKey.TXN_OFFSET_COMMIT).TxnOffsetCommitResponseTopic
    topics: dict[str, list[Any]] = {}
    for name, partition in order:
        topics.setdefault(name, []).append(tcls.TxnOffsetCommitResponsePartition(
            partition_index=partition, error_code=int(errors.get((name, partition), E.NONE))))
    return messages.new_response(ApiKey.TXN_OFFSET_COMMIT, v, throttle_time_ms=0, topics=[
        tcls(name=name, partitions=parts) for name, parts in topics.items()])
