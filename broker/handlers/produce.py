"""Produce (key 0), versions 3-12 served; 0-2 advertised but answered UNSUPPORTED_VERSION.

The hot path: the request is decoded by hand with each partition's records left as a writable
memoryview of the received frame. Each partition must carry exactly one magic-2 batch. Before any
offset is assigned the batch is validated as Kafka's LogValidator does (protocol/validation.py):
header, CRC-32C, then every record walked (decompressed with a bounded output), keys on compacted
topics, timestamps against ``message.timestamp.before.max.ms`` / ``after.max.ms``; every invalid
record is listed in ``record_errors``. A CreateTime batch gets the records' largest timestamp as its
maxTimestamp (Kafka overwrites the producer's claim); a batch whose offset deltas are not 0..n-1 is
refused with INVALID_RECORD (Kafka would rebuild a compressed one: a Python object per record here).
Clients may not write to internal topics (INVALID_TOPIC_EXCEPTION, as ReplicaManager).
Leader epoch 0 is stamped, and the log assigns offsets by patching ``baseOffset`` in place before
writing those same bytes. Idempotent producers (producer
id >= 0) are checked by the partition's producer state: a duplicate within the last 5 batches is
answered with its original offset, a gap with OUT_OF_ORDER_SEQUENCE_NUMBER, an old epoch with
INVALID_PRODUCER_EPOCH.

acks: 0 sends no response, 1 and -1 respond once the batch is in the OS (there are no replicas to
wait for, so -1 is 1), or after fsync when the flush policy demands it. Other values get
INVALID_REQUIRED_ACKS. Ignored: ``timeout_ms`` (nothing to wait for but our own fsync).
A topic whose ``compression.type`` names a codec (not ``producer``) gets batches in another codec
recompressed in that one at ``compression.<codec>.level`` (Kafka's LogValidator recompression: the
records section is decompressed, bounded, and compressed again as it is; every header field kept;
MESSAGE_TOO_LARGE if the result exceeds ``max.message.bytes``). No path here decodes records into
objects: the walk is protocol/_recordwalk.c's.
Version notes: v0-2 (pre-KIP-98 message sets) are rejected per request, as Kafka 4.0 does while still
advertising them (KAFKA-18659); v8 adds record_errors/error_message (KIP-467); v9+ flexible.
Transactional batches (KIP-98) need the request's transactional id (else
TRANSACTIONAL_ID_AUTHORIZATION_FAILED, as Kafka) and are verified against the transaction coordinator
before the append (KIP-890 part 1, ``transaction.partition.verification.enable``; see
``TxnDriver.verify_produce``): a partition not added to the producer's open transaction is
INVALID_TXN_STATE (TRANSACTION_ABORTABLE from v11), a fenced epoch INVALID_PRODUCER_EPOCH. v12
(transaction.version 2: partitions added implicitly) is treated as v11, since transaction.version 2 is
not advertised.
"""

from __future__ import annotations

import asyncio
import struct
from typing import Any

from pykafka_broker.broker.clock import now_ms
from pykafka_broker.broker.dispatch import NO_RESPONSE, RequestContext, handler
from pykafka_broker.broker.flusher import FlushFailed
from pykafka_broker.broker.topics import INTERNAL_TOPICS
from pykafka_broker.protocol.api_keys import ApiKey
from pykafka_broker.protocol.compression import compress
from pykafka_broker.protocol.errors import ErrorCode, KafkaError, ProtocolError
from pykafka_broker.protocol.produce import (
    ProducePartitionResult,
    ProduceTopicResult,
    decode_produce_request,
    encode_produce_response,
)
from pykafka_broker.protocol.record_walk import records_section
from pykafka_broker.protocol.records import (
    ATTRIBUTES_OFFSET,
    BATCH_HEADER_SIZE,
    COMPRESSION_MASK,
    CRC_OFFSET,
    LOG_OVERHEAD,
    MAGIC_OFFSET,
    BatchHeader,
    compute_crc,
    crc_matches,
    read_batch_header,
    set_create_max_timestamp,
)
from pykafka_broker.protocol.validation import AppendPolicy, RecordValidationError, validate_batch
from pykafka_broker.storage.log_types import LogConfig

# compression.type values that make the broker rewrite batches; "producer" keeps them as sent.
TOPIC_CODECS = {"uncompressed": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}

MIN_SERVED, MAX_VERSION = 3, 12
_EPOCH = struct.Struct(">i")
_BATCH_LENGTH, _ATTRIBUTES, _CRC = struct.Struct(">i"), struct.Struct(">h"), struct.Struct(">I")
LEADER_EPOCH_OFFSET = 12


@handler(ApiKey.PRODUCE, MIN_SERVED, MAX_VERSION, advertised_min=0, raw=True)
def handle_produce(ctx: RequestContext, body: memoryview) -> Any:
    v = ctx.api_version
    if v > MAX_VERSION:
        raise ProtocolError(f"Produce v{v} is above our maximum {MAX_VERSION}")
    req = decode_produce_request(body, v)
    broker = ctx.broker
    if v < MIN_SERVED:
        fixed_error: ErrorCode | None = ErrorCode.UNSUPPORTED_VERSION
    elif req.acks not in (0, 1, -1):
        fixed_error = ErrorCode.INVALID_REQUIRED_ACKS
    else:
        fixed_error = None
    now = now_ms()
    flushes: list[asyncio.Future[None]] = []
    topics: list[ProduceTopicResult] = []
    for t in req.topics:
        results = []
        for index, records in t.partitions:
            if fixed_error is not None:
                results.append(ProducePartitionResult(index, int(fixed_error)))
                continue
            results.append(_append_one(broker, t.name, index, records, now, flushes, req.transactional_id, v))
        topics.append(ProduceTopicResult(t.name, results))
    if req.acks == 0 and fixed_error is None:
        return NO_RESPONSE
    encoded = [encode_produce_response(v, topics)]
    if not flushes:
        return encoded
    done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    gathered = asyncio.gather(*flushes, return_exceptions=True)

    def respond(f: Any) -> None:
        if done.done():
            return
        failed = [r for r in f.result() if isinstance(r, BaseException)]
        fsyncs = [r for r in failed if isinstance(r, FlushFailed)]
        if failed and len(fsyncs) == len(failed):  # fsyncs failed: those logs are offline
            bad = {(r.topic, r.partition): r for r in fsyncs}
            done.set_result([encode_produce_response(v, [ProduceTopicResult(t.name, [
                _error(p.index, ErrorCode.KAFKA_STORAGE_ERROR, bad[(t.name, p.index)].message)
                if (t.name, p.index) in bad else p for p in t.partitions]) for t in topics])])
        elif failed:  # never acknowledge what did not reach the disk: the client retries elsewhere
            done.set_exception(failed[0])
        else:
            done.set_result(encoded)
    gathered.add_done_callback(respond)
    return done


def _error(index: int, code: ErrorCode, message: str | None = None) -> ProducePartitionResult:
    return ProducePartitionResult(index, int(code), error_message=message)


def _recompress(records: memoryview, header: BatchHeader, codec: int, config: LogConfig) -> memoryview:
    """Rewrite a batch with the topic's ``compression.type`` and ``compression.<codec>.level`` (Kafka's
    LogValidator recompression). A v2 batch's records section is the same whatever the codec, and the
    offset deltas are known to be 0..n-1, so this recompresses the (bounded) decompressed section as
    it is: header fields (producer id, epoch, sequence, timestamps, flags) kept, codec bits, length and
    CRC rewritten, no record decoded."""
    section = records_section(records, header.compression, header.size)
    level = {1: None if config.compression_gzip_level < 0 else config.compression_gzip_level,
             3: config.compression_lz4_level, 4: config.compression_zstd_level}.get(codec)
    payload = compress(codec, section, level=level)
    out = bytearray(BATCH_HEADER_SIZE + len(payload))
    out[:BATCH_HEADER_SIZE] = records[:BATCH_HEADER_SIZE]
    out[BATCH_HEADER_SIZE:] = payload
    _BATCH_LENGTH.pack_into(out, 8, len(out) - LOG_OVERHEAD)
    _ATTRIBUTES.pack_into(out, ATTRIBUTES_OFFSET, (header.attributes & ~COMPRESSION_MASK) | codec)
    _CRC.pack_into(out, CRC_OFFSET, compute_crc(out, 0, len(out)))
    return memoryview(out)


def _append_one(broker: Any, topic: str, index: int, records: memoryview | None, now: int,
                flushes: list[asyncio.Future[None]], transactional_id: str | None = None,
                v: int = MAX_VERSION) -> ProducePartitionResult:
    if topic in INTERNAL_TOPICS:  # ReplicaManager.appendToLocalLog, internalTopicsAllowed=false
        return _error(index, ErrorCode.INVALID_TOPIC_EXCEPTION, f"Cannot append to internal topic {topic}")
    plog = broker.logs.get_log(topic, index)
    if plog is None:
        return _error(index, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
    size = 0 if records is None else len(records)
    if records is None or size == 0:
        return _error(index, ErrorCode.INVALID_RECORD,
                      "Produce requests with version 3+ must have exactly one record batch per partition")
    if size > MAGIC_OFFSET and records[MAGIC_OFFSET] != 2:
        return _error(index, ErrorCode.UNSUPPORTED_FOR_MESSAGE_FORMAT,
                      f"Magic {records[MAGIC_OFFSET]} record batches are not supported; use magic 2")
    if size < BATCH_HEADER_SIZE:
        return _error(index, ErrorCode.CORRUPT_MESSAGE, "Record batch is shorter than its header")
    header = read_batch_header(records)
    if header.size > size or header.batch_length < BATCH_HEADER_SIZE - 12:
        return _error(index, ErrorCode.CORRUPT_MESSAGE, "Record batch is truncated")
    if header.size < size:
        return _error(index, ErrorCode.INVALID_RECORD,
                      "Produce requests with version 3+ must have exactly one record batch per partition")
    max_bytes = plog.config.max_message_bytes
    if size > max_bytes:
        return _error(index, ErrorCode.MESSAGE_TOO_LARGE,
                      f"The request included a message larger than the max message size ({max_bytes}) "
                      "the server will accept.")
    if not crc_matches(records, 0, header):
        return _error(index, ErrorCode.CORRUPT_MESSAGE, "Record batch CRC-32C does not match its contents")
    if header.compression > 4:
        return _error(index, ErrorCode.UNSUPPORTED_COMPRESSION_TYPE)
    config = plog.config
    policy = AppendPolicy(config.compact, config.log_append_time, config.timestamp_before_max_ms,
                          config.timestamp_after_max_ms)
    try:
        validated = validate_batch(records, header, policy, now, f"{topic}-{index}")
    except RecordValidationError as exc:
        return ProducePartitionResult(index, int(exc.code), record_errors=exc.record_errors,
                                      error_message=exc.message)
    except KafkaError as exc:
        return _error(index, exc.code, exc.message)
    if not validated.offsets_in_order:
        # Kafka rebuilds such a batch (LogValidator, compressed path) or stores it as sent; no client
        # writes one, and rebuilding means a Python object per record for what may be millions of
        # records from a few compressed bytes, so it is refused: nothing overlaps the next batch.
        return _error(index, ErrorCode.INVALID_RECORD,
                      f"Record offset deltas in topic partition {topic}-{index} are not 0 to "
                      f"{header.records_count - 1} in order")
    target = TOPIC_CODECS.get(config.compression_type)
    if target is not None and target != header.compression:
        try:
            records = _recompress(records, header, target, config)
        except KafkaError as exc:
            return _error(index, exc.code, exc.message)
        header = read_batch_header(records)
        size = len(records)
        if size > max_bytes:
            return _error(index, ErrorCode.MESSAGE_TOO_LARGE,
                          f"The batch recompressed to {config.compression_type} is {size} bytes, over "
                          f"the max message size ({max_bytes}).")
    if not config.log_append_time and (header.max_timestamp != validated.max_timestamp
                                         or header.is_log_append_time):
        header = set_create_max_timestamp(records, header, validated.max_timestamp)
    if header.is_transactional:
        code, message = broker.txns.verify_produce(transactional_id, header.producer_id,
                                                   header.producer_epoch, topic, index, v)
        if code is not ErrorCode.NONE:
            return _error(index, code, message)
    _EPOCH.pack_into(records, LEADER_EPOCH_OFFSET, 0)  # outside the CRC, like Kafka's leader stamp
    try:
        result = plog.append(records, header, now)
    except KafkaError as exc:
        return _error(index, exc.code, exc.message)
    if not result.duplicate:
        broker.waiters.notify(topic, index, size)
        flush = broker.flusher.after_append(plog)
        if flush is not None:
            flushes.append(flush)
    return ProducePartitionResult(index, 0, base_offset=result.base_offset,
                                  log_append_time_ms=result.log_append_time_ms,
                                  log_start_offset=plog.log_start_offset)
