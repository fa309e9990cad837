"""Fetch (key 1), versions 4-17.

The other hot path: each partition's answer is the exact stored bytes from the start of the batch
containing ``fetch_offset`` (a fetch from inside a batch returns that batch; clients skip the
records before their offset), up to ``partition_max_bytes`` and the response's ``max_bytes``. Like
Kafka (LogSegment.read -> FileRecords.slice) the last batch may be cut at that limit: every client
drops a partial trailing batch and fetches it whole next time, and the broker parses no batch
header past the first. The first partition with data always gets at least its first batch whole,
so an oversized batch can never stall a consumer (KIP-74); for the others a first batch over the
limit gives an empty answer (ReplicaManager drops an incomplete first entry). Under
read_committed with a transaction open (LSO below the log end) whole batches below the LSO are
returned. The response is a list of buffers written without a join (broker/send.py).

Long-poll: when fewer than ``min_bytes`` are available the request waits, woken by appends to any
partition it reads or by ``max_wait_ms`` — no polling loop. A read_committed long-poll is woken
only by bytes that became stable (the LSO moved), never by records of a still-open transaction.
The response is bounded by min(request max_bytes, the broker's ``fetch.max.bytes``), as in Kafka.

Fetch sessions (KIP-227) are not kept: we answer session id 0, which tells clients to send full
requests, and an unknown session id gets FETCH_SESSION_ID_NOT_FOUND. read_committed (v4+) returns
only batches below the last stable offset
(the first offset of the earliest open transaction, else the high watermark), with the aborted
transactions overlapping [fetch_offset, LSO) so clients drop aborted records; read_uncommitted
returns everything, aborted records included. Both report the true LSO. v13+ names topics by id
(UNKNOWN_TOPIC_ID when unknown). Ignored: replica fields (no followers), rack id (no preferred
read replica: -1), last_fetched_epoch (every batch here is leader epoch 0).
"""

from __future__ import annotations

import asyncio
from typing import Any

from pykafka_broker.broker.dispatch import RequestContext, handler
from pykafka_broker.protocol.api_keys import ApiKey
from pykafka_broker.protocol.errors import ErrorCode, KafkaError, ProtocolError
from pykafka_broker.protocol.fetch import (
    FetchPartitionResult,
    FetchTopicResult,
    decode_fetch_request,
    encode_fetch_response,
)

MIN_VERSION, MAX_VERSION = 4, 17
READ_COMMITTED = 1


@handler(ApiKey.FETCH, MIN_VERSION, MAX_VERSION, raw=True)
def handle_fetch(ctx: RequestContext, body: memoryview) -> Any:
    v = ctx.api_version
    if not MIN_VERSION <= v <= MAX_VERSION:
        raise ProtocolError(f"Fetch v{v} is not served ({MIN_VERSION}-{MAX_VERSION})")
    req = decode_fetch_request(body, v)
    broker = ctx.broker
    if v >= 7 and req.session_id != 0:
        return encode_fetch_response(v, throttle_time_ms=0, session_id=0, topics=[],
                                     error_code=int(ErrorCode.FETCH_SESSION_ID_NOT_FOUND))
    # KafkaApis.handleFetchRequest: the response is bounded by the broker's fetch.max.bytes too, and
    # min_bytes never exceeds that bound.
    max_bytes = min(req.max_bytes, broker.config.get_int("fetch.max.bytes"))
    if max_bytes != req.max_bytes or req.min_bytes > max_bytes:
        req = req._replace(max_bytes=max_bytes, min_bytes=min(req.min_bytes, max_bytes))
    wanted = _resolve(broker, req, v)
    topics, total = _collect(broker, req, wanted)
    if total >= req.min_bytes or req.max_wait_ms <= 0 or not wanted or _has_error(topics):
        return encode_fetch_response(v, throttle_time_ms=0, error_code=0, session_id=0, topics=topics)
    keys = [(name, p.partition) for name, _tid, parts in wanted for p in parts]
    ready: list[list[FetchTopicResult]] = []  # an answer collected by the read_committed check
    stable = None
    if req.isolation_level == READ_COMMITTED:
        stable = _stable_check(broker, req, v, keys, total, ready)
    waiter = broker.waiters.wait(keys, req.min_bytes - total, req.max_wait_ms, stable)
    out: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    def answer(_f: Any) -> None:
        if out.done():
            return
        try:
            topics2 = ready[0] if ready else _collect(broker, req, _resolve(broker, req, v))[0]
            out.set_result(encode_fetch_response(v, throttle_time_ms=0, error_code=0, session_id=0,
                                                 topics=topics2))
        except Exception as exc:  # surfaces as a closed connection with a log line
            out.set_exception(exc)

    waiter.future.add_done_callback(answer)
    out.add_done_callback(lambda f: waiter.fire() if f.cancelled() else None)
    return out


def _stable_check(broker: Any, req: Any, v: int, keys: list[tuple[str, int]], total: int,
                  ready: list[list[FetchTopicResult]]) -> Any:
    """The waiter check of a read_committed fetch: only bytes below the LSO count (DelayedFetch
    reads up to the LSO's position for read_committed). Appends inside an open transaction leave
    the LSO where it is and cost one comparison; an append with no transaction open makes exactly
    its own bytes stable; anything else (a marker moving the LSO over a transaction's records, a
    deleted partition) re-collects the answer once and keeps it for the reply."""
    seen: dict[tuple[str, int], tuple[int, int]] = {}
    for key in keys:
        plog = broker.logs.get_log(*key)
        if plog is not None:
            seen[key] = (plog.last_stable_offset, plog.log_end_offset)
    needed = [req.min_bytes - total]

    def check(topic: str, partition: int, nbytes: int) -> bool:
        key = (topic, partition)
        plog = broker.logs.get_log(topic, partition)
        before = seen.get(key)
        if plog is None or before is None:
            return True  # the partition went away: answer now with its error
        lso, leo = plog.last_stable_offset, plog.log_end_offset
        if lso == before[0]:
            seen[key] = (lso, leo)  # inside an open transaction: nothing became stable
            return False
        seen[key] = (lso, leo)
        if before[0] == before[1] and lso == leo:
            needed[0] -= nbytes  # nothing was pending: this append is stable as a whole
            return needed[0] <= 0
        topics2, total2 = _collect(broker, req, _resolve(broker, req, v))
        if total2 >= req.min_bytes:
            ready.append(topics2)
            return True
        needed[0] = req.min_bytes - total2
        return False

    return check


def _resolve(broker: Any, req: Any, v: int) -> list[tuple[str | None, Any, list[Any]]]:
    """(topic name or None when its id is unknown, topic id, partitions) in request order."""
    if v < 13:
        return [(t.name, t.topic_id, t.partitions) for t in req.topics]
    return [(broker.logs.topic_name(t.topic_id), t.topic_id, t.partitions) for t in req.topics]


def _has_error(topics: list[FetchTopicResult]) -> bool:
    return any(p.error_code for t in topics for p in t.partitions)


def _collect(broker: Any, req: Any, wanted: list[tuple[str | None, Any, list[Any]]]
             ) -> tuple[list[FetchTopicResult], int]:
    remaining = req.max_bytes
    total = 0
    committed = req.isolation_level == READ_COMMITTED
    topics = []
    for name, tid, parts in wanted:
        results = []
        info = broker.logs.topics.get(name) if name is not None else None
        for p in parts:
            plog = broker.logs.get_log(name, p.partition) if info is not None else None
            if plog is None:
                code = ErrorCode.UNKNOWN_TOPIC_ID if name is None else ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
                results.append(FetchPartitionResult(p.partition, int(code), -1, -1, -1, None, []))
                continue
            hw = plog.log_end_offset
            lso = plog.last_stable_offset
            error = ErrorCode.NONE
            chunks: list[Any] = []
            aborted: list[tuple[int, int]] | None = [] if committed else None
            if p.current_leader_epoch > 0:
                error = ErrorCode.UNKNOWN_LEADER_EPOCH
            elif remaining > 0:
                try:
                    # The LSO cut only when something is unstable: with no open transaction the LSO
                    # is the log end and there is nothing to cut. Without a cut the last batch may be
                    # partial, as Kafka sends it (FileRecords.slice): no header walk to trim it.
                    cut = lso if committed and lso < hw else None
                    read = plog.read(p.fetch_offset, min(p.partition_max_bytes, remaining),
                                     min_one_batch=total == 0, max_offset=cut, whole_batches=cut is not None)
                    chunks = read.chunks
                    remaining -= read.size
                    total += read.size
                    if committed and chunks:
                        aborted = plog.aborted_transactions(p.fetch_offset, lso)
                except KafkaError as exc:
                    error = exc.code
            results.append(FetchPartitionResult(p.partition, int(error), hw, lso, plog.log_start_offset,
                                                 aborted, chunks))
        topics.append(FetchTopicResult(name or "", tid, results))
    return topics, total
