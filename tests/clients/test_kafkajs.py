"""kafkajs end to end through tests/clients/js/: roundtrip.js (admin, idempotent produce, offsets,
delete) and group.js (a consumer group sharing partitions, take-over on leave, group admin)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

SCRIPT = Path(__file__).parent / "js" / "roundtrip.js"
GROUP_SCRIPT = Path(__file__).parent / "js" / "group.js"
NODE = shutil.which("node")
KAFKAJS_DIR = os.environ.get("KAFKAJS_DIR", "")
HAVE_KAFKAJS = bool(KAFKAJS_DIR) and (Path(KAFKAJS_DIR) / "node_modules" / "kafkajs").is_dir()

pytestmark = [
    pytest.mark.skipif(NODE is None, reason="node not installed"),
    pytest.mark.skipif(not HAVE_KAFKAJS, reason="kafkajs not found: set KAFKAJS_DIR to a dir with "
                       "node_modules/kafkajs (npm install --prefix DIR kafkajs@2; .ci/run does)"),
]


def run_script(bootstrap: str, topic: str, script: Path = SCRIPT) -> Any:
    assert NODE is not None
    proc = subprocess.run([NODE, str(script), bootstrap, topic], capture_output=True, text=True,
                          timeout=90, env={**os.environ, "KAFKAJS_DIR": KAFKAJS_DIR})
    lines = proc.stdout.strip().splitlines()
    assert proc.returncode == 0 and lines, f"node exited {proc.returncode}\nstdout:\n{proc.stdout}\n" \
                                           f"stderr:\n{proc.stderr[-4000:]}"
    return json.loads(lines[-1])


def test_admin_idempotent_produce_offsets_delete(broker: Any) -> None:
    result = run_script(broker.bootstrap, "kafkajs-rt")
    assert result["created"] is True
    assert result["createdAgain"] is False  # TOPIC_ALREADY_EXISTS, which kafkajs reports as false
    sends = result["sends"]
    assert len(sends) == 4
    for metas in sends:
        assert metas and all(m["errorCode"] == 0 for m in metas), metas
    offsets = result["offsets"]
    assert [o["partition"] for o in offsets] == [0, 1, 2]
    assert all(o["low"] == 0 for o in offsets)
    assert all(o["high"] > 0 for o in offsets), offsets
    assert result["highWatermarkTotal"] == 200
    # Each partition's batches got increasing base offsets below its high watermark.
    high = {o["partition"]: o["high"] for o in offsets}
    last: dict[int, int] = {}
    for metas in sends:
        for m in metas:
            assert last.get(m["partition"], -1) < m["baseOffset"] < high[m["partition"]], (m, high)
            last[m["partition"]] = m["baseOffset"]
    assert result["listedBeforeDelete"] is True
    assert result["listedAfterDelete"] is False


def test_consumer_group_shares_and_takes_over(broker: Any) -> None:
    result = run_script(broker.bootstrap, "kafkajs-group", GROUP_SCRIPT)
    shared = result["shared"]
    assert sorted(shared["a"] + shared["b"]) == list(range(6)) and shared["a"] and shared["b"], shared
    want = [f"first-{i}" for i in range(60)] + [f"second-{i}" for i in range(60)]
    assert sorted(result["seen"]) == sorted(want)  # every record exactly once
    assert result["assignments"]["a"] == list(range(6))
    assert [g["protocolType"] for g in result["listed"]] == ["consumer"]
    assert result["described"] == [{"groupId": "kafkajs-group", "state": "Stable",
                                     "protocol": "RoundRobinAssigner", "members": 1}]
    assert result["offsets"] == [{"partition": p, "offset": 20} for p in range(6)]
    assert result["listedAfterDelete"] is False
