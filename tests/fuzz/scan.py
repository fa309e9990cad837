"""After a run: every batch the broker stored, read straight from the data dir and judged by the oracle.

Segment files (``<topic>-<partition>/<20-digit offset>.log``, Kafka's layout) are concatenated batches;
they are read one batch at a time so a large log costs no memory. A stored batch is invalid when the
oracle (``batches.check_batch``, in its broker-side form: compaction may leave fewer records than the
offset range) rejects it. Fetch serves these exact bytes, so a batch that is invalid here is also
served. kafka-python's own decoder is run too: what a real consumer would choke on.
"""

from __future__ import annotations

import collections
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

from batches import HEADER_SIZE, check_batch, kafka_python_decodes

MAX_BATCH = 16 << 20  # a stored batch larger than this is judged without being read


@dataclass
class ScanReport:
    partitions: int = 0
    batches: int = 0
    invalid: int = 0
    bombs: int = 0
    client_undecodable: int = 0
    nonconsecutive: int = 0
    torn: int = 0
    reasons: collections.Counter[str] = field(default_factory=collections.Counter)
    examples: list[str] = field(default_factory=list)


def scan_data_dir(data_dir: Path) -> ScanReport:
    rep = ScanReport()
    if not data_dir.is_dir():
        return rep
    for pdir in sorted(p for p in data_dir.iterdir() if p.is_dir()):
        logs = sorted(pdir.glob("*.log"))
        if not logs:
            continue
        rep.partitions += 1
        for seg in logs:
            _scan_segment(seg, rep)
    return rep


def _scan_segment(seg: Path, rep: ScanReport) -> None:
    with open(seg, "rb") as f:
        pos = 0
        while True:
            head = f.read(12)
            if not head:
                return
            if len(head) < 12:
                rep.torn += 1
                return
            blen = struct.unpack_from(">i", head, 8)[0]
            if blen < HEADER_SIZE - 12 or blen > MAX_BATCH:
                rep.torn += 1
                _invalid(rep, seg, pos, f"batchLength {blen}")
                return
            rest = f.read(blen)
            if len(rest) < blen:
                rep.torn += 1
                return
            batch = head + rest
            rep.batches += 1
            v = check_batch(batch, from_client=False)
            if not v.valid:
                if "beyond the oracle's bound" in v.reason:
                    rep.bombs += 1
                _invalid(rep, seg, pos, v.reason)
            else:
                if not v.consecutive_offsets:
                    rep.nonconsecutive += 1
                if not kafka_python_decodes(batch):
                    rep.client_undecodable += 1
            pos += 12 + blen


def _invalid(rep: ScanReport, seg: Path, pos: int, reason: str) -> None:
    rep.invalid += 1
    short = re.sub(r"-?\d+", "N", reason.split(":")[0])[:60]
    rep.reasons[short] += 1
    if len(rep.examples) < 5:
        rep.examples.append(f"{seg.parent.name}/{seg.name}@{pos}: {reason}")
