"""kafkajs (issue 12): a second consumer joining a running one must end in one generation whose two
assignments are disjoint and cover every partition, and every record is consumed once, by the member
that owned its partition when it read it (tests/clients/js/group_rejoin.js)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from test_kafkajs import pytestmark, run_script  # noqa: F401  (the same skip conditions)

SCRIPT = Path(__file__).parent / "js" / "group_rejoin.js"
PARTITIONS = 3
RECORDS = 30


def test_second_consumer_rebalances_into_one_disjoint_generation(broker: Any) -> None:
    result = run_script(broker.bootstrap, "kafkajs-rejoin", SCRIPT)
    joins = result["joins"][: result["joinsBeforeStop"]]
    trace = "\n".join(str(t) for t in result["trace"][-60:])
    assert result["settled"], f"no common generation covering every partition: {joins}\n{trace}"
    a, b = result["last"]["a"], result["last"]["b"]
    assert a["generation"] == b["generation"] and a["generation"] is not None, (a, b)
    assert not set(a["partitions"]) & set(b["partitions"]), (a, b)
    assert sorted(a["partitions"] + b["partitions"]) == list(range(PARTITIONS)), (a, b)
    # As against Kafka: a alone in generation 1, then b's join makes generation 2 with both; nobody
    # is dropped or left behind, so no further generation happens while both run.
    assert [j["generation"] for j in joins if j["name"] == "a"] == [1, 2], joins
    assert [j["generation"] for j in joins if j["name"] == "b"] == [2], joins
    # Every record exactly once, by a consumer whose latest assignment held the partition.
    consumed = result["consumed"]
    counts = Counter(c["value"] for c in consumed)
    assert sorted(counts) == sorted(f"r-{i}" for i in range(RECORDS)), counts
    assert set(counts.values()) == {1}, [v for v, n in counts.items() if n > 1]
    assert all(c["owned"] for c in consumed), [c for c in consumed if not c["owned"]]
    for c in consumed:
        assert int(c["value"][2:]) % PARTITIONS == c["partition"], c
