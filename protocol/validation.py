"""Append-time validation of a produced batch, as Kafka's ``LogValidator`` (plus the batch checks of
``UnifiedLog.analyzeAndValidateRecords`` the produce handler does first: size, magic, CRC).

Batch level (``LogValidator.validateBatch`` for a client append; INVALID_RECORD, no record_errors):
``lastOffsetDelta + 1`` and ``recordsCount`` positive and equal, no control batch, a batch with a
producer id carries a base sequence >= 0.

Records: the section is decompressed (bounded, see compression.py: CORRUPT_MESSAGE when it does not
decompress or decompresses past its cap) and every record is walked: lengths, varints, header count
and key sizes, exactly ``recordsCount`` records and no byte left over (INVALID_RECORD otherwise, as
Kafka's InvalidRecordException). Then per record, as ``validateRecord``: a compacted topic refuses a
null key (INVALID_RECORD), a CreateTime topic refuses a timestamp outside
``[now - message.timestamp.before.max.ms, now + message.timestamp.after.max.ms]``, a LogAppendTime
topic refuses a batch that claims LogAppendTime (INVALID_TIMESTAMP). Every failing record is listed
in ``record_errors`` (Produce v8+, KIP-467) and the batch is refused whole, with Kafka's messages.

The result gives the records' largest timestamp, which the caller writes into the header for a
CreateTime topic (Kafka's ``setMaxTimestamp`` overwrites whatever the producer claimed), and whether
the offset deltas run 0, 1, 2, ...: if not, the produce handler refuses the batch (Kafka rebuilds a
compressed one; a rebuild here would cost an object per record, and records would otherwise overlap the
next batch's offsets). record_errors lists at most MAX_RECORD_ERRORS records.

Cost: a batch is first walked by ``_recordwalk.summarize`` (C, built by setup.py where a compiler is
available): every record checked, no Python object per record, only a summary returned. When that
summary shows a record to name in ``record_errors`` (or the extension is missing), the full walk runs:
in C when aiokafka's Cython record reader is importable (``_crecords``, a
well-kept C implementation of DefaultRecordBatch with bounds checks), with a zero-padded copy of the
batch so that its varint reader can never read past the buffer; otherwise (and for the rare records
with header keys that are not UTF-8, which Kafka accepts) the pure-Python walker of record_walk.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from operator import attrgetter
from typing import Any, NamedTuple

from pykafka_broker.protocol.errors import ErrorCode, KafkaError
from pykafka_broker.protocol.record_walk import c_records, invalid_record, iter_record_spans, records_section
from pykafka_broker.protocol.records import BatchHeader

try:  # the optional C accelerator (setup.py); the Python walk below gives the same answers
    from pykafka_broker.protocol._recordwalk import bad_records as _bad_records
    from pykafka_broker.protocol._recordwalk import summarize as _summarize
except ImportError:  # pragma: no cover - built wherever a C compiler was available
    _summarize = _bad_records = None

# record_errors lists at most this many records (Kafka lists them all; a batch of millions of tiny
# keyless records would make the answer, and the broker's memory for it, grow without bound).
MAX_RECORD_ERRORS = 10_000

NO_TIMESTAMP = -1

_offset = attrgetter("offset")
_timestamp = attrgetter("timestamp")
_key = attrgetter("key")


@dataclass(frozen=True, slots=True)
class AppendPolicy:
    """The topic configs validation depends on (LogConfig names)."""

    compacted: bool = False  # cleanup.policy contains compact
    log_append_time: bool = False  # message.timestamp.type=LogAppendTime
    timestamp_before_max_ms: int = 2**63 - 1  # message.timestamp.before.max.ms
    timestamp_after_max_ms: int = 3600000  # message.timestamp.after.max.ms (KIP-1030)


class ValidatedBatch(NamedTuple):
    max_timestamp: int  # largest record timestamp (NO_TIMESTAMP when none has one)
    offsets_in_order: bool  # offset deltas are 0..count-1


class RecordValidationError(KafkaError):
    """Some records are invalid: ``record_errors`` lists (batch index, message) for each of them."""

    def __init__(self, code: ErrorCode, message: str, record_errors: list[tuple[int, str | None]]) -> None:
        super().__init__(code, message)
        self.record_errors = record_errors


def validate_batch(batch: memoryview, header: BatchHeader, policy: AppendPolicy, now_ms: int,
                   topic_partition: str) -> ValidatedBatch:
    """Validate the one batch of a produce partition (header and CRC already checked). Raises
    KafkaError (CORRUPT_MESSAGE, INVALID_RECORD) or RecordValidationError; never mutates ``batch``."""
    _validate_header(header, topic_partition)
    section = records_section(batch, header.compression, header.size)
    count = header.records_count
    if _summarize is not None and not header.is_log_append_time:
        fast = _fast_path(section, header, policy, now_ms)
        if fast is not None:
            return fast
        _raise_bad_records(section, header, policy, now_ms, topic_partition)
    offsets, timestamps, keys = _walk(batch, header, section, count, policy.compacted)
    in_order = offsets == _expected_offsets(header.base_offset, count)
    errors: list[tuple[int, str | None]] = []
    timestamp_error = False
    if keys is not None and None in keys:
        message = f"Compacted topic cannot accept message without key in topic partition {topic_partition}"
        errors = [(i, message) for i, key in enumerate(keys) if key is None]
    stamped: list[Any] = timestamps
    try:
        max_ts, min_ts = max(stamped), min(stamped)
    except TypeError:  # NO_TIMESTAMP records (rare): left out of the max and the range check
        stamped = [ts for ts in timestamps if ts is not None]
        max_ts, min_ts = (max(stamped), min(stamped)) if stamped else (NO_TIMESTAMP, NO_TIMESTAMP)
    keyless = {i for i, _ in errors}
    if not policy.log_append_time:
        low, high = now_ms - policy.timestamp_before_max_ms, now_ms + policy.timestamp_after_max_ms
        if stamped and (min_ts < low or max_ts > high):
            for i, ts in enumerate(timestamps):
                if ts is not None and (ts < low or ts > high) and i not in keyless:
                    timestamp_error = True
                    errors.append((i, f"Timestamp {ts} of message with offset {offsets[i]} is out of range. "
                                      f"The timestamp should be within [{low}, {high}]"))
        elif header.is_log_append_time:  # validateTimestamp: a producer never sets LogAppendTime
            timestamp_error = _lat_errors(errors, keyless, count, [True] * count)
    elif header.is_log_append_time:
        timestamp_error = _lat_errors(errors, keyless, count, [True] * count)
    if errors:
        errors.sort()
        raise _record_errors(errors[:MAX_RECORD_ERRORS], timestamp_error, len(errors))
    return ValidatedBatch(max_ts, in_order)


def _raise_bad_records(section: Any, header: BatchHeader, policy: AppendPolicy, now_ms: int,
                       tp: str) -> None:
    """The records the fast path found wanting, listed by the C walk (no object per valid record)."""
    assert _bad_records is not None
    if policy.log_append_time:
        low, high = -(2**63), 2**63 - 1
    else:
        low = max(-(2**63), now_ms - policy.timestamp_before_max_ms)
        high = min(2**63 - 1, now_ms + policy.timestamp_after_max_ms)
    try:
        total, bad = _bad_records(section, header.records_count, header.base_timestamp, policy.compacted,
                                  low, high, MAX_RECORD_ERRORS)
    except ValueError as exc:
        raise invalid_record(str(exc)) from None
    keyless = f"Compacted topic cannot accept message without key in topic partition {tp}"
    errors: list[tuple[int, str | None]] = [
        (i, keyless if kind == 0 else f"Timestamp {ts} of message with offset {header.base_offset + delta} "
                                      f"is out of range. The timestamp should be within [{low}, {high}]")
        for i, kind, ts, delta in bad]
    raise _record_errors(errors, any(kind == 1 for _, kind, _, _ in bad), total)


def _fast_path(section: Any, header: BatchHeader, policy: AppendPolicy, now_ms: int) -> ValidatedBatch | None:
    """The C walk's summary when no record needs naming; None sends the batch to the full walk,
    which lists each invalid record (keyless on a compacted topic, timestamp out of range)."""
    assert _summarize is not None
    try:
        in_order, stamped, min_ts, max_ts, null_keys = _summarize(section, header.records_count,
                                                                   header.base_timestamp)
    except ValueError as exc:
        raise invalid_record(str(exc)) from None
    if null_keys and policy.compacted:
        return None
    if stamped and not policy.log_append_time and (min_ts < now_ms - policy.timestamp_before_max_ms
                                                   or max_ts > now_ms + policy.timestamp_after_max_ms):
        return None
    return ValidatedBatch(max_ts, in_order)


_ZERO_BASED: list[int] = []


def _expected_offsets(base: int, count: int) -> list[int]:
    """[base, base + 1, ... base + count - 1]; producers send base 0, whose list is kept (slicing a
    list copies pointers, building one allocates every int past 256)."""
    global _ZERO_BASED
    if base != 0 or count > 65536:
        return list(range(base, base + count))
    if len(_ZERO_BASED) < count:
        _ZERO_BASED = list(range(max(count, 2 * len(_ZERO_BASED))))
    return _ZERO_BASED if len(_ZERO_BASED) == count else _ZERO_BASED[:count]


def _validate_header(header: BatchHeader, tp: str) -> None:
    """LogValidator.validateBatch for an append from a client."""
    count_from_offsets = header.last_offset_delta + 1
    if count_from_offsets <= 0:
        raise invalid_record(f"Batch has an invalid offset range: [{header.base_offset}, "
                             f"{header.last_offset}] in topic partition {tp}")
    if header.records_count <= 0:
        raise invalid_record(f"Invalid reported count for record batch: {header.records_count} "
                             f"in topic partition {tp}")
    if count_from_offsets != header.records_count:
        raise invalid_record(f"Inconsistent batch offset range [{header.base_offset}, {header.last_offset}] "
                             f"and count of records {header.records_count} in topic partition {tp}")
    if header.is_control:
        raise invalid_record(f"Clients are not allowed to write control records in topic partition {tp}")
    if header.has_producer_id and header.base_sequence < 0:
        raise invalid_record(f"Invalid sequence number {header.base_sequence} in record batch with "
                             f"producerId {header.producer_id} in topic partition {tp}")


def _lat_errors(errors: list[tuple[int, str | None]], keyless: set[int], count: int,
                flagged: list[bool]) -> bool:
    message = "Invalid timestamp type in message. Producer should not set timestamp type to LogAppendTime."
    before = len(errors)
    errors.extend((i, message) for i in range(count) if flagged[i] and i not in keyless)
    return len(errors) > before


def _record_errors(errors: list[tuple[int, str | None]], timestamp_error: bool,
                   total: int) -> RecordValidationError:
    """LogValidator.processRecordErrors: INVALID_TIMESTAMP if any record's timestamp is wrong.
    ``errors`` holds at most MAX_RECORD_ERRORS of the ``total`` invalid records."""
    if timestamp_error:
        message = "One or more records have been rejected due to invalid timestamp"
        return RecordValidationError(ErrorCode.INVALID_TIMESTAMP, message, errors)
    shown = ", ".join(f"RecordError(batchIndex={i}, message='{m}')" for i, m in errors[:3])
    return RecordValidationError(
        ErrorCode.INVALID_RECORD,
        f"One or more records have been rejected due to {total} record errors in total, and only "
        f"showing the first three errors at most: [{shown}]", errors)


# --- the walk ----------------------------------------------------------------------------------------

def _columns(records: list[Any]) -> tuple[list[int], list[int | None], None]:
    return list(map(_offset, records)), list(map(_timestamp, records)), None


def _keys_columns(records: list[Any]) -> tuple[list[int], list[int | None], list[bytes | None]]:
    return list(map(_offset, records)), list(map(_timestamp, records)), list(map(_key, records))


def _walk(batch: memoryview, header: BatchHeader, section: Any, count: int, want_keys: bool
          ) -> tuple[list[int], list[int | None], list[bytes | None] | None]:
    """(absolute offsets, timestamps (None for NO_TIMESTAMP), keys if asked) of every record."""
    columns = c_records(batch, section, _keys_columns if want_keys else _columns)
    if columns is not None:
        return columns
    offsets: list[int] = []
    timestamps: list[int | None] = []
    keys: list[bytes | None] | None = [] if want_keys else None
    base_offset, base_ts = header.base_offset, header.base_timestamp
    lat = header.max_timestamp if header.is_log_append_time else None
    for span in iter_record_spans(section, count):
        offsets.append(base_offset + span.offset_delta)
        ts = lat if lat is not None else base_ts + span.timestamp_delta
        timestamps.append(None if ts == NO_TIMESTAMP else ts)
        if keys is not None:
            keys.append(None if span.key_length < 0 else b"")
    return offsets, timestamps, keys
