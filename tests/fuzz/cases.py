"""One fuzz case on one fresh connection, and the per-connection oracle.

The case's bytes are written followed by a sentinel ApiVersions v0 request. From the bytes alone we
know how a Kafka broker must frame them (``plan``): complete frames with their correlation ids, then
either the sentinel at the end (the broker must answer it or close), an invalid size prefix (negative
or over ``socket.request.max.bytes``: Kafka's InvalidReceiveException, the broker must close), or an
incomplete tail (we half-close: the broker must close on EOF). A broker that has not answered the
sentinel within ``t_resp`` is half-closed too, and must then close within ``t_close`` (a long-poll
or a parked JoinGroup is legal; not noticing EOF is a hang). Every response must be size-prefixed and
carry, in order, the correlation id of a request on that connection. A Produce response that
acknowledges (error 0) a partition whose batch the oracle rejected is an ``acked_invalid``.
"""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass, field

from mutators import Case
from wire import api_versions_request, produce_partition_errors

MAX_RESPONSE = 64 << 20


@dataclass(slots=True)
class Plan:
    corrs: list[int | None]  # correlation id of each complete frame (None: too short for a header)
    mode: str  # "aligned" | "partial" | "bad_size"


def plan(stream: bytes, max_request: int, sentinel_len: int) -> Plan:
    pos, corrs, last_start = 0, [], -1
    while pos + 4 <= len(stream):
        (size,) = struct.unpack_from(">i", stream, pos)
        if size < 0 or size > max_request:
            return Plan(corrs, "bad_size")
        if pos + 4 + size > len(stream):
            return Plan(corrs, "partial")
        corrs.append(struct.unpack_from(">i", stream, pos + 8)[0] if size >= 8 else None)
        last_start = pos
        pos += 4 + size
    # aligned only when every byte is framed and the sentinel is a frame of its own at the very end
    aligned = pos == len(stream) and last_start == len(stream) - sentinel_len
    return Plan(corrs, "aligned" if aligned else "partial")


@dataclass(slots=True)
class Result:
    outcome: str  # answered | closed | hang | malformed | bad_size_not_closed | connect_failed
    detail: str = ""
    acked_invalid: list[str] = field(default_factory=list)
    responses: int = 0


async def run_case(case: Case, port: int, max_request: int, t_resp: float, t_close: float) -> Result:
    sentinel_corr = 0x7E000000 | (case.index & 0xFFFFFF)
    sentinel = api_versions_request(sentinel_corr, "fuzz-sentinel")
    stream = case.data + sentinel
    p = plan(stream, max_request, len(sentinel))
    loop = asyncio.get_running_loop()
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), t_resp)
    except (OSError, TimeoutError) as exc:
        return Result("connect_failed", repr(exc))
    half_closed = False
    closed_by_broker = False
    buf = bytearray()
    responses: list[tuple[int, bytes]] = []
    try:
        try:
            writer.write(stream)
            await asyncio.wait_for(writer.drain(), t_resp)
            if p.mode == "partial":
                writer.write_eof()
                half_closed = True
        except (OSError, TimeoutError):
            pass  # the broker closed or stopped reading: what it did is judged below
        deadline = loop.time() + (t_close if half_closed else t_resp)
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                if half_closed:
                    return Result("hang", f"mode={p.mode}: no close {t_close:.0f}s after our EOF")
                try:
                    writer.write_eof()
                except OSError:
                    pass
                half_closed = True
                deadline = loop.time() + t_close
                continue
            try:
                chunk = await asyncio.wait_for(reader.read(65536), remaining)
            except TimeoutError:
                continue
            except OSError:
                chunk = b""
            if not chunk:
                closed_by_broker = True
                break
            buf += chunk
            bad = _cut_responses(buf, responses)
            if bad:
                return Result("malformed", bad, responses=len(responses))
            if any(c == sentinel_corr for c, _ in responses):
                break
    finally:
        writer.close()
    bad = _check_order(responses, p.corrs)
    if bad:
        return Result("malformed", bad, responses=len(responses))
    acked = _acked_invalid(case, responses)
    if isinstance(acked, str):
        return Result("malformed", acked, responses=len(responses))
    if p.mode == "bad_size" and half_closed and closed_by_broker:
        return Result("bad_size_not_closed", "closed only after our EOF", acked, len(responses))
    outcome = "answered" if any(c == sentinel_corr for c, _ in responses) else "closed"
    return Result(outcome, "", acked, len(responses))


def _cut_responses(buf: bytearray, out: list[tuple[int, bytes]]) -> str:
    while len(buf) >= 4:
        (size,) = struct.unpack_from(">i", buf)
        if size < 4 or size > MAX_RESPONSE:
            return f"response size prefix {size}"
        if len(buf) < 4 + size:
            return ""
        body = bytes(buf[4:4 + size])
        del buf[:4 + size]
        out.append((struct.unpack_from(">i", body)[0], body))
    return ""


def _check_order(responses: list[tuple[int, bytes]], corrs: list[int | None]) -> str:
    it = iter(corrs)
    for corr, _ in responses:
        if not any(c == corr for c in it):
            return f"response correlation id {corr} not in request order {corrs[:8]}"
    return ""


def _acked_invalid(case: Case, responses: list[tuple[int, bytes]]) -> list[str] | str:
    info = case.produce
    if info is None or info.acks == 0 or not responses or len(case.data) < 12:
        return []
    corr = struct.unpack_from(">i", case.data, 8)[0]
    body = next((b for c, b in responses if c == corr), None)
    if body is None:
        return []
    try:
        errors = produce_partition_errors(body, info.version)
    except (ValueError, struct.error, IndexError) as exc:
        return f"unparsable Produce v{info.version} response: {exc}"
    if len(errors) != len(info.verdicts):
        return f"Produce response has {len(errors)} partitions, request had {len(info.verdicts)}"
    return [f"{topic}-{part}: {why}"
            for (topic, part, valid, why), err in zip(info.verdicts, errors, strict=True)
            if valid is False and err == 0]
