"""``pykafka-broker dump-log``: Kafka's kafka-dump-log.sh (DumpLogSegments), offline.

Reads segment files directly (no broker needed): ``.log`` files print one line per record batch
(``baseOffset: ... lastOffset: ... count: ... position: ... CreateTime: ... size: ... magic: 2
compresscodec: ... crc: ... isvalid: ...``) and, with ``--deep-iteration`` or ``--print-data-log``, one
``| offset: ...`` line per record; ``.index`` files print ``offset: X position: Y`` and ``.timeindex``
files ``timestamp: T offset: O``, in Kafka's formats.
"""

from __future__ import annotations

import struct
from pathlib import Path

import click

from pykafka_broker.cli.common import fail, handle_errors
from pykafka_broker.protocol.errors import KafkaError
from pykafka_broker.protocol.records import (
    BatchHeader,
    compute_crc,
    decode_records,
    iter_batches,
)
from pykafka_broker.storage.files import INDEX_SUFFIX, LOG_SUFFIX, TIME_INDEX_SUFFIX, offset_from_file_name

CODEC_NAMES = {0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}
DELETE_HORIZON_FLAG = 0x40
RECORD_INDENT = "|"


def _timestamp_type(h: BatchHeader) -> str:
    return "LogAppendTime" if h.is_log_append_time else "CreateTime"


def _batch_line(pos: int, h: BatchHeader, valid: bool) -> str:
    horizon = (
        f"OptionalLong[{h.base_timestamp}]" if h.attributes & DELETE_HORIZON_FLAG else "OptionalLong.empty"
    )
    return (
        f"baseOffset: {h.base_offset} lastOffset: {h.last_offset} count: {h.records_count} "
        f"baseSequence: {h.base_sequence} lastSequence: {h.last_sequence} producerId: {h.producer_id} "
        f"producerEpoch: {h.producer_epoch} partitionLeaderEpoch: {h.partition_leader_epoch} "
        f"isTransactional: {str(h.is_transactional).lower()} isControl: {str(h.is_control).lower()} "
        f"deleteHorizonMs: {horizon} position: {pos} {_timestamp_type(h)}: {h.max_timestamp} "
        f"size: {h.size} magic: {h.magic} compresscodec: {CODEC_NAMES.get(h.compression, 'unknown')} "
        f"crc: {h.crc} isvalid: {str(valid).lower()}"
    )


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def _control_text(key: bytes | None, value: bytes | None) -> str:
    if key is None or len(key) < 4:
        return ""
    _version, type_id = struct.unpack_from(">hh", key)
    if type_id in (0, 1) and value is not None and len(value) >= 6:
        _v, epoch = struct.unpack_from(">hi", value)
        return f" endTxnMarker: {'ABORT' if type_id == 0 else 'COMMIT'} coordinatorEpoch: {epoch}"
    return f" controlType: UNKNOWN({type_id})"


def dump_log_file(
    path: Path, deep: bool, print_data: bool, skip_metadata: bool, max_bytes: int | None
) -> None:
    data = path.read_bytes()
    if max_bytes is not None:
        data = data[:max_bytes]
    base = offset_from_file_name(path.name)
    if base is not None:
        click.echo(f"Log starting offset: {base}")
    end = 0
    for pos, h in iter_batches(data):
        end = pos + h.size
        if h.magic != 2:
            click.echo(
                f"offset: {h.last_offset} position: {pos} magic: {h.magic} (unsupported magic, skipped)"
            )
            continue
        valid = compute_crc(data, pos, h.size) == h.crc
        click.echo(_batch_line(pos, h, valid))
        if not deep:
            continue
        try:  # decompression is bounded (protocol/compression.py): a bomb is reported, not expanded
            records = decode_records(memoryview(data)[pos:end])
        except KafkaError as exc:
            click.echo(f"{RECORD_INDENT} unreadable records: {exc.message}")
            continue
        for rec in records:
            delta = rec.offset - h.base_offset
            seq = -1 if h.base_sequence < 0 else (h.base_sequence + delta) % 0x80000000
            parts: list[str] = []
            prefix = f"{RECORD_INDENT} "
            if not skip_metadata:
                parts.append(
                    f"{prefix}offset: {rec.offset} {_timestamp_type(h)}: {rec.timestamp} "
                    f"keySize: {-1 if rec.key is None else len(rec.key)} "
                    f"valueSize: {-1 if rec.value is None else len(rec.value)} sequence: {seq} "
                    f"headerKeys: [{','.join(k for k, _ in rec.headers)}]"
                )
                prefix = " "
                if h.is_control:
                    parts.append(_control_text(rec.key, rec.value))
            if print_data and not h.is_control:
                if rec.key is not None:
                    parts.append(f"{prefix}key: {_text(rec.key)}")
                    prefix = " "
                if rec.value is not None:
                    parts.append(f" payload: {_text(rec.value)}")
            click.echo("".join(parts))
    trailing = len(data) - end
    if trailing > 0 and max_bytes is None:
        click.echo(f"Found {trailing} invalid bytes at the end of {path.name}")


def _entries(path: Path, size: int) -> list[bytes]:
    data = path.read_bytes()
    return [data[i : i + size] for i in range(0, len(data) - len(data) % size, size)]


def dump_index(path: Path) -> None:
    base = offset_from_file_name(path.name) or 0
    entries = _entries(path, 8)
    if not entries:
        click.echo(f"{path} is empty.")
        return
    for i, raw in enumerate(entries):
        rel, position = struct.unpack(">ii", raw)
        if rel == 0 and i > 0:  # a preallocated (zero-filled) tail
            return
        click.echo(f"offset: {base + rel} position: {position}")


def dump_time_index(path: Path) -> None:
    base = offset_from_file_name(path.name) or 0
    entries = _entries(path, 12)
    if not entries:
        click.echo(f"{path} is empty.")
        return
    for i, raw in enumerate(entries):
        timestamp, rel = struct.unpack(">qi", raw)
        if rel == 0 and i > 0:
            return
        click.echo(f"timestamp: {timestamp} offset: {base + rel}")


@click.command("dump-log", context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--files",
    required=True,
    metavar="FILE1,FILE2",
    help="REQUIRED: The comma separated list of data and index log files to be dumped.",
)
@click.option(
    "--print-data-log",
    is_flag=True,
    help="If set, printing the messages content when dumping data logs. Automatically set if any "
    "decoder option is specified.",
)
@click.option(
    "--deep-iteration",
    is_flag=True,
    help="If set, uses deep instead of shallow iteration. Automatically set if print-data-log is enabled.",
)
@click.option(
    "--skip-record-metadata", is_flag=True, help="Whether to skip printing metadata for each record."
)
@click.option(
    "--max-bytes",
    type=click.IntRange(min=0),
    default=None,
    metavar="SIZE",
    help="Limit the amount of total batches read in bytes avoiding reading the whole .log file(s).",
)
@handle_errors
def dump_log(
    files: str, print_data_log: bool, deep_iteration: bool, skip_record_metadata: bool, max_bytes: int | None
) -> None:
    """Dump the content of log segment files (.log, .index, .timeindex) without a running broker."""
    paths = [Path(f.strip()) for f in files.split(",") if f.strip()]
    if not paths:
        raise click.UsageError("--files must name at least one file")
    for path in paths:
        if not path.is_file():
            raise fail(f"File {path} does not exist")
    for path in paths:
        click.echo(f"Dumping {path}")
        if path.name.endswith(LOG_SUFFIX):
            dump_log_file(
                path, deep_iteration or print_data_log, print_data_log, skip_record_metadata, max_bytes
            )
        elif path.name.endswith(TIME_INDEX_SUFFIX):
            dump_time_index(path)
        elif path.name.endswith(INDEX_SUFFIX):
            dump_index(path)
        else:
            click.echo(f"Ignoring unknown file {path}", err=True)
