"""dump-log on a segment holding a decompression bomb: the batch is reported unreadable, the dump goes
on, and the tool's peak RSS stays far below what the bomb expands to."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import zstandard
from cli_helpers import cli_cmd

from pykafka_broker.protocol.compression import ZSTD
from pykafka_broker.protocol.records import (
    BATCH_HEADER_SIZE,
    CRC_OFFSET,
    LOG_OVERHEAD,
    build_batch,
    compute_crc,
)

MEASURE = """
import json, resource, subprocess, sys
r = subprocess.run(sys.argv[1:], capture_output=True, text=True, timeout=60)
print(json.dumps({"rc": r.returncode, "out": r.stdout, "err": r.stderr,
                  "maxrss_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""


def test_dump_log_reports_a_bomb_without_expanding_it(tmp_path: Path) -> None:
    payload = zstandard.ZstdCompressor(level=19, write_content_size=False).compress(bytes(512 << 20))
    bomb = bytearray(BATCH_HEADER_SIZE) + payload
    struct.pack_into(">qiiBIhiqqqhii", bomb, 0, 0, len(bomb) - LOG_OVERHEAD, 0, 2, 0, ZSTD, 0, 1, 1, -1, -1,
                     -1, 1)
    struct.pack_into(">I", bomb, CRC_OFFSET, compute_crc(bomb, 0, len(bomb)))
    after = build_batch([(b"k", b"after the bomb", [], 2)], base_offset=1)
    seg = tmp_path / "00000000000000000000.log"
    seg.write_bytes(bytes(bomb) + bytes(after))
    r = subprocess.run([sys.executable, "-c", MEASURE, *cli_cmd("dump-log", "--files", str(seg),
                                                                 "--print-data-log")],
                       capture_output=True, text=True, timeout=120)
    result = json.loads(r.stdout)
    assert result["rc"] == 0, result["err"]
    assert "unreadable records" in result["out"] and "decompresses to more than" in result["out"]
    assert "payload: after the bomb" in result["out"]
    assert result["maxrss_kib"] < 160 * 1024, f"dump-log peaked at {result['maxrss_kib'] // 1024} MiB"
