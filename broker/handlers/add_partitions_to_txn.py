"""AddPartitionsToTxn (key 24), versions 0-3 (the client form).

Adds partitions to the producer's transaction (``KafkaApis.handleAddPartitionsToTxnRequest``). Partitions
of unknown topics fail with UNKNOWN_TOPIC_OR_PARTITION and every other partition of the request with
OPERATION_NOT_ATTEMPTED, as Kafka does; otherwise the coordinator answers one error for all of them: NONE
(the ``__transaction_state`` record is in the log), CONCURRENT_TRANSACTIONS while the previous
transaction's markers are outstanding, INVALID_PRODUCER_ID_MAPPING, PRODUCER_FENCED (INVALID_PRODUCER_EPOCH
before v2, KIP-588). The first partition starts the transaction's timeout.
Version notes: v1 same as v0, v2 PRODUCER_FENCED, v3 flexible. Not served: v4+ (KIP-890), the batched
broker-to-broker verification form — on one node Produce asks the coordinator in process instead.
"""

from __future__ import annotations

from typing import Any

from pykafka_broker.broker.dispatch import RequestContext, handler, map_reply
from pykafka_broker.broker.txn import AddPartitionsToTxn
from pykafka_broker.protocol import messages
from pykafka_broker.protocol.api_keys import ApiKey
from pykafka_broker.protocol.errors import ErrorCode


@handler(ApiKey.ADD_PARTITIONS_TO_TXN, 0, 3)
def handle_add_partitions_to_txn(ctx: RequestContext, req: Any) -> Any:
    v = ctx.api_version
    logs = ctx.broker.logs
    wanted = [(t.name, p) for t in req.v3_and_below_topics or [] for p in t.partitions or []]
    unknown = {tp for tp in wanted if logs.get_log(*tp) is None}
    if unknown:
        errors = {tp: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION if tp in unknown
                  else ErrorCode.OPERATION_NOT_ATTEMPTED for tp in wanted}
        return _response(v, wanted, errors)
    call = AddPartitionsToTxn(req.v3_and_below_transactional_id, req.v3_and_below_producer_id,
                              req.v3_and_below_producer_epoch, wanted, api_version=v)
    return map_reply(ctx.broker.txns.add_partitions(call), lambda r: _response(
        v, wanted, {(p.topic, p.partition): p.error_code for p in r.results}))


def _response(v: int, wanted: list[tuple[str, int]], errors: dict[tuple[str, int], ErrorCode]) -> Any:
    cls = messages.response_type(ApiKey.ADD_PARTITIONS_TO_TXN)
    tcls = cls.AddPartitionsToTxnTopicResult
    by_topic: dict[str, list[Any]] = {}
    for topic, partition in dict.fromkeys(wanted):
        by_topic.setdefault(topic, []).append(tcls.AddPartitionsToTxnPartitionResult(
            partition_index=partition,
            partition_error_code=int(errors.get((topic, partition), ErrorCode.NONE))))
    results = [tcls(name=name, results_by_partition=parts) for name, parts in by_topic.items()]
    return messages.new_response(ApiKey.ADD_PARTITIONS_TO_TXN, v, throttle_time_ms=0,
                                 results_by_topic_v3_and_below=results)
