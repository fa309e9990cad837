"""Transactional APIs over raw sockets with kafka-python's message classes (an independent encoder):
the bad-input answers Kafka gives, then the admin views (DescribeProducers/Transactions, ListTransactions)."""

from __future__ import annotations

from typing import Any

from kafka.protocol.admin import (
    CreateTopicsRequest,
    CreateTopicsResponse,
    DescribeProducersRequest,
    DescribeProducersResponse,
    DescribeTransactionsRequest,
    DescribeTransactionsResponse,
    ListTransactionsRequest,
    ListTransactionsResponse,
)
from kafka.protocol.producer import (
    AddOffsetsToTxnRequest,
    AddOffsetsToTxnResponse,
    AddPartitionsToTxnRequest,
    AddPartitionsToTxnResponse,
    EndTxnRequest,
    EndTxnResponse,
    InitProducerIdRequest,
    InitProducerIdResponse,
    ProduceRequest,
    ProduceResponse,
    TxnOffsetCommitRequest,
    TxnOffsetCommitResponse,
)
from kafka.record.default_records import DefaultRecordBatchBuilder
from test_bad_input import Wire

from pykafka_broker.protocol.errors import ErrorCode as E

TOPIC = "txn-wire"


def txn_batch(pid: int, epoch: int) -> bytes:
    builder = DefaultRecordBatchBuilder(
        magic=2,
        compression_type=0,
        is_transactional=True,
        producer_id=pid,
        producer_epoch=epoch,
        base_sequence=0,
        batch_size=1 << 20,
    )
    builder.append(0, timestamp=1_700_000_000_000, key=b"k", value=b"v", headers=[])
    return bytes(builder.build())


def produce(wire: Wire, tid: str | None, batch: bytes, partition: int, version: int = 9) -> int:
    data = ProduceRequest.TopicProduceData
    req = ProduceRequest(
        transactional_id=tid,
        acks=-1,
        timeout_ms=10_000,
        topic_data=[
            data(name=TOPIC, partition_data=[data.PartitionProduceData(index=partition, records=batch)])
        ],
    )
    return int(wire.request(req, ProduceResponse, version).responses[0].partition_responses[0].error_code)


def init(wire: Wire, tid: str) -> tuple[int, int]:
    r = wire.request(
        InitProducerIdRequest(transactional_id=tid, transaction_timeout_ms=60_000), InitProducerIdResponse, 4
    )
    assert r.error_code == 0
    return r.producer_id, r.producer_epoch


def end_txn(wire: Wire, tid: str, pid: int, epoch: int, version: int) -> int:
    req = EndTxnRequest(transactional_id=tid, producer_id=pid, producer_epoch=epoch, committed=True)
    return int(wire.request(req, EndTxnResponse, version).error_code)


def add_partitions(wire: Wire, tid: str, pid: int, epoch: int, partitions: list[int]) -> list[int]:
    topic = AddPartitionsToTxnRequest.AddPartitionsToTxnTopic(name=TOPIC, partitions=partitions)
    req = AddPartitionsToTxnRequest(
        v3_and_below_transactional_id=tid,
        v3_and_below_producer_id=pid,
        v3_and_below_producer_epoch=epoch,
        v3_and_below_topics=[topic],
    )
    r = wire.request(req, AddPartitionsToTxnResponse, 3)
    return [p.partition_error_code for t in r.results_by_topic_v3_and_below for p in t.results_by_partition]


def test_bad_input_and_admin_views(broker: Any) -> None:
    with Wire(broker.bootstrap) as wire:
        topic = CreateTopicsRequest.CreatableTopic(
            name=TOPIC, num_partitions=3, replication_factor=1, assignments=[], configs=[]
        )
        wire.request(CreateTopicsRequest(topics=[topic], timeout_ms=10_000), CreateTopicsResponse, 7)
        pid, epoch = init(wire, "wire-tx")
        assert end_txn(wire, "wire-tx", pid, epoch, 3) == E.INVALID_TXN_STATE  # no transaction open
        assert produce(wire, "wire-tx", txn_batch(pid, epoch), 0) == E.INVALID_TXN_STATE  # never added
        assert produce(wire, "wire-tx", txn_batch(pid, epoch), 0, version=11) == E.TRANSACTION_ABORTABLE
        assert produce(wire, None, txn_batch(pid, epoch), 0) == E.TRANSACTIONAL_ID_AUTHORIZATION_FAILED
        unknown = add_partitions(wire, "wire-tx", pid, epoch, [0, 7])
        assert sorted(unknown) == sorted([E.OPERATION_NOT_ATTEMPTED, E.UNKNOWN_TOPIC_OR_PARTITION])
        assert add_partitions(wire, "wire-tx", pid, epoch, [0, 1]) == [0, 0]
        assert produce(wire, "wire-tx", txn_batch(pid, epoch), 0) == 0
        r = wire.request(
            AddOffsetsToTxnRequest(
                transactional_id="wire-tx", producer_id=pid, producer_epoch=epoch, group_id="wire-group"
            ),
            AddOffsetsToTxnResponse,
            3,
        )
        assert r.error_code == 0
        part = TxnOffsetCommitRequest.TxnOffsetCommitRequestTopic.TxnOffsetCommitRequestPartition(
            partition_index=0, committed_offset=1, committed_leader_epoch=-1, committed_metadata=""
        )
        commit = TxnOffsetCommitRequest(
            transactional_id="wire-tx",
            group_id="wire-group",
            producer_id=pid,
            producer_epoch=epoch,
            generation_id=5,
            member_id="",
            group_instance_id=None,
            topics=[TxnOffsetCommitRequest.TxnOffsetCommitRequestTopic(name=TOPIC, partitions=[part])],
        )
        r = wire.request(commit, TxnOffsetCommitResponse, 3)
        assert r.topics[0].partitions[0].error_code == E.ILLEGAL_GENERATION  # unknown generation

        producers = wire.request(
            DescribeProducersRequest(
                topics=[DescribeProducersRequest.TopicRequest(name=TOPIC, partition_indexes=[0, 9])]
            ),
            DescribeProducersResponse,
            0,
        )
        p0, p9 = producers.topics[0].partitions
        assert p9.error_code == E.UNKNOWN_TOPIC_OR_PARTITION
        (state,) = p0.active_producers
        assert (
            state.producer_id,
            state.producer_epoch,
            state.last_sequence,
            state.current_txn_start_offset,
        ) == (pid, epoch, 0, 0)
        described = wire.request(
            DescribeTransactionsRequest(transactional_ids=["wire-tx", "nope"]),
            DescribeTransactionsResponse,
            0,
        ).transaction_states
        assert described[0].transaction_state == "Ongoing" and described[0].producer_id == pid
        assert described[1].error_code == E.TRANSACTIONAL_ID_NOT_FOUND
        listed = wire.request(
            ListTransactionsRequest(state_filters=[], producer_id_filters=[pid], duration_filter=-1),
            ListTransactionsResponse,
            1,
        )
        assert [(t.transactional_id, t.transaction_state) for t in listed.transaction_states] == [
            ("wire-tx", "Ongoing")
        ]

        # InitProducerId fences the open transaction's producer and aborts it: CONCURRENT_TRANSACTIONS
        # while that abort completes (Kafka's answer), then the new epoch on the client's retry.
        busy = wire.request(
            InitProducerIdRequest(transactional_id="wire-tx", transaction_timeout_ms=60_000),
            InitProducerIdResponse,
            4,
        )
        assert busy.error_code == E.CONCURRENT_TRANSACTIONS
        pid2, epoch2 = init(wire, "wire-tx")
        assert pid2 == pid and epoch2 > epoch
        assert end_txn(wire, "wire-tx", pid, epoch, 1) == E.INVALID_PRODUCER_EPOCH  # ...old clients hear this
        assert end_txn(wire, "wire-tx", pid, epoch, 3) == E.PRODUCER_FENCED  # KIP-588
        assert produce(wire, "wire-tx", txn_batch(pid, epoch), 1) == E.INVALID_PRODUCER_EPOCH
