"""kafkajs transactions through tests/clients/js/txn.js: commit (with sendOffsets) and abort across
3 partitions, read back with read_committed and read_uncommitted consumers. Skips unless KAFKAJS_DIR
points at a kafkajs install (CI installs one)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from test_kafkajs import pytestmark, run_script  # noqa: F401  (the same skip conditions)

SCRIPT = Path(__file__).parent / "js" / "txn.js"
N = 12


def test_kafkajs_commit_abort_and_send_offsets(broker: Any) -> None:
    result = run_script(broker.bootstrap, "kafkajs-txn", SCRIPT)
    committed = sorted(f"committed-{i}" for i in range(N))
    assert result["committed"] == committed
    assert result["everything"] == sorted(committed + [f"aborted-{i}" for i in range(N)])
    by_partition = {p["partition"]: p["offset"] for p in result["groupOffsets"]}
    assert by_partition[0] == "3"
