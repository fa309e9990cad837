"""Binary formats of the ``__transaction_state`` records, byte for byte as Kafka writes them.

Schemas: transaction-coordinator/src/main/resources/common/message/TransactionLog{Key,Value}.json.

- Key, ``TransactionLogKey`` v0 (not flexible): int16 version 0, transactionalId (int16-length string).
- Value, ``TransactionLogValue``. v0 (not flexible): int16 version, producerId int64, producerEpoch int16,
  transactionTimeoutMs int32, transactionStatus int8 (the ``TxnState`` id), transactionPartitions
  (nullable int32-count array of {topic int16-length string, partitionIds int32-count array of int32}),
  lastUpdateTimestampMs int64, startTimestampMs int64.
  v1 (flexible, KIP-482): the same fields with compact strings/arrays (uvarint length + 1, 0 = null) and a
  tagged-field section after each struct; top-level tags 0 PreviousProducerId int64, 1 NextProducerId
  int64, 2 ClientTransactionVersion int16 (3 NextProducerEpoch int16 in newer Kafka), each written only
  when it differs from its default (-1, -1, 0, -1).

We write value v1, as Kafka does once ``transaction.version`` >= 1 (``TransactionVersion
.transactionLogValueVersion``), and read both. Partitions are null in an Empty value (Kafka writes none
there). A tombstone (value None) removes an expired transactional id.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from pykafka_broker.broker.txn.state import NO_PRODUCER_EPOCH, NO_PRODUCER_ID, TopicPartition, TxnState
from pykafka_broker.protocol.binary import BinaryReader as _Reader
from pykafka_broker.protocol.binary import RecordFormatError
from pykafka_broker.protocol.records import uvarint_bytes

KEY_VERSION = 0
VALUE_VERSION = 1
_TAG_PREVIOUS_PRODUCER_ID = 0
_TAG_NEXT_PRODUCER_ID = 1
_TAG_CLIENT_TRANSACTION_VERSION = 2
_TAG_NEXT_PRODUCER_EPOCH = 3


@dataclass(frozen=True, slots=True)
class TxnLogValue:
    producer_id: int
    producer_epoch: int
    timeout_ms: int
    state: TxnState
    partitions: tuple[TopicPartition, ...]
    last_update_ms: int
    start_ms: int
    previous_producer_id: int = NO_PRODUCER_ID
    next_producer_id: int = NO_PRODUCER_ID
    next_producer_epoch: int = NO_PRODUCER_EPOCH
    client_transaction_version: int = 0


# -- writing -------------------------------------------------------------------------------------


def encode_key(transactional_id: str) -> bytes:
    raw = transactional_id.encode()
    return struct.pack(">hh", KEY_VERSION, len(raw)) + raw


def _by_topic(partitions: tuple[TopicPartition, ...]) -> dict[str, list[int]]:
    topics: dict[str, list[int]] = {}
    for topic, partition in sorted(partitions):
        topics.setdefault(topic, []).append(partition)
    return topics


def encode_value(value: TxnLogValue, version: int = VALUE_VERSION) -> bytes:
    if value.state is TxnState.EMPTY and value.partitions:
        raise ValueError("an Empty transaction has no partitions")
    out = bytearray(struct.pack(">hqhib", version, value.producer_id, value.producer_epoch,
                                value.timeout_ms, int(value.state)))
    topics = None if value.state is TxnState.EMPTY else _by_topic(value.partitions)
    if version == 0:
        out += struct.pack(">i", -1 if topics is None else len(topics))
        for topic, ids in (topics or {}).items():
            raw = topic.encode()
            out += struct.pack(">h", len(raw)) + raw
            out += struct.pack(f">i{len(ids)}i", len(ids), *ids)
        out += struct.pack(">qq", value.last_update_ms, value.start_ms)
        return bytes(out)
    out += uvarint_bytes(0 if topics is None else len(topics) + 1)
    for topic, ids in (topics or {}).items():
        raw = topic.encode()
        out += uvarint_bytes(len(raw) + 1) + raw
        out += uvarint_bytes(len(ids) + 1) + struct.pack(f">{len(ids)}i", *ids)
        out += b"\x00"  # no tagged fields in PartitionsSchema
    out += struct.pack(">qq", value.last_update_ms, value.start_ms)
    tags: list[tuple[int, bytes]] = []
    if value.previous_producer_id != NO_PRODUCER_ID:
        tags.append((_TAG_PREVIOUS_PRODUCER_ID, struct.pack(">q", value.previous_producer_id)))
    if value.next_producer_id != NO_PRODUCER_ID:
        tags.append((_TAG_NEXT_PRODUCER_ID, struct.pack(">q", value.next_producer_id)))
    if value.client_transaction_version != 0:
        tags.append((_TAG_CLIENT_TRANSACTION_VERSION, struct.pack(">h", value.client_transaction_version)))
    if value.next_producer_epoch != NO_PRODUCER_EPOCH:
        tags.append((_TAG_NEXT_PRODUCER_EPOCH, struct.pack(">h", value.next_producer_epoch)))
    out += uvarint_bytes(len(tags))
    for tag, data in tags:
        out += uvarint_bytes(tag) + uvarint_bytes(len(data)) + data
    return bytes(out)


# -- reading -------------------------------------------------------------------------------------


def decode_key(key: bytes | bytearray | memoryview) -> str | None:
    """The transactional id of a key; None for a key version Kafka itself would skip as unknown."""
    r = _Reader(key)
    if r.unpack(">h")[0] != KEY_VERSION:
        return None
    return r.string(compact=False)


def decode_value(value: bytes | bytearray | memoryview) -> TxnLogValue:
    r = _Reader(value)
    version = r.unpack(">h")[0]
    if version not in (0, 1):
        raise RecordFormatError(f"unknown TransactionLogValue version {version}")
    flexible = version >= 1
    producer_id, epoch, timeout_ms, status = r.unpack(">qhib")
    try:
        state = TxnState(status)
    except ValueError as exc:
        raise RecordFormatError(f"unknown transaction status {status}") from exc
    partitions: list[TopicPartition] = []
    for _ in range(max(r.count(flexible), 0)):
        topic = r.string(flexible)
        n = r.count(flexible)
        partitions.extend((topic, p) for p in r.unpack(f">{max(n, 0)}i"))
        if flexible:
            r.skip_tags()
    last_update_ms, start_ms = r.unpack(">qq")
    tags = r.skip_tags() if flexible else {}

    def tag(number: int, fmt: str, default: int) -> int:
        data = tags.get(number)
        return default if data is None else int(struct.unpack(fmt, data)[0])

    return TxnLogValue(
        producer_id, epoch, timeout_ms, state,
        () if state is TxnState.EMPTY else tuple(sorted(partitions)),  # Kafka ignores them when Empty
        last_update_ms, start_ms,
        previous_producer_id=tag(_TAG_PREVIOUS_PRODUCER_ID, ">q", NO_PRODUCER_ID),
        next_producer_id=tag(_TAG_NEXT_PRODUCER_ID, ">q", NO_PRODUCER_ID),
        next_producer_epoch=tag(_TAG_NEXT_PRODUCER_EPOCH, ">h", NO_PRODUCER_EPOCH),
        client_transaction_version=tag(_TAG_CLIENT_TRANSACTION_VERSION, ">h", 0),
    )
