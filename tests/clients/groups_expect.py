"""Shared settings and assertions for the consumer-group tests of every client (no client imports).

Group tests run in phases with no records in flight during a rebalance: produce, wait until the
members have read everything and committed, then change membership, wait for the new assignment to
cover every partition, produce again. So "exactly once" is exact, not "at least once".
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence

from expect import poll_until

PARTITIONS = 6
# Short timeouts keep rebalances and failure detection quick (6000 is group.min.session.timeout.ms).
SESSION_TIMEOUT_MS = 6000
HEARTBEAT_INTERVAL_MS = 500
MAX_POLL_INTERVAL_MS = 10_000  # also the rebalance timeout of the Java-style clients
TIMEOUT = 30.0

# The resume tests produce RESUME_RECORDS round-robin over the partitions, commit COMMITTED on each
# partition, and expect a new member to read exactly the records from there on.
RESUME_RECORDS = 60
COMMITTED = 4
RESUMED_COUNT = RESUME_RECORDS - COMMITTED * PARTITIONS


def values(tag: str, n: int) -> list[bytes]:
    return [f"{tag}-{i}".encode() for i in range(n)]


def assert_disjoint_cover(assignments: Sequence[Iterable[int]], partitions: int = PARTITIONS) -> None:
    """Every member owns at least one partition, no partition twice, all of them together."""
    sets = [set(a) for a in assignments]
    assert all(sets), f"a member got no partitions: {sets}"
    counts = Counter(p for s in sets for p in s)
    assert all(c == 1 for c in counts.values()), f"partitions owned twice: {sets}"
    assert set(counts) == set(range(partitions)), f"partitions unowned: {sets}"


def covers(assignments: Sequence[Iterable[int]], partitions: int = PARTITIONS) -> bool:
    """The non-throwing form of assert_disjoint_cover, for wait loops."""
    try:
        assert_disjoint_cover(assignments, partitions)
    except AssertionError:
        return False
    return True


def assert_exactly_once(seen: Iterable[bytes], produced: Iterable[bytes]) -> None:
    counts = Counter(seen)
    dupes = {v: c for v, c in counts.items() if c > 1}
    assert not dupes, f"records read more than once: {list(dupes.items())[:5]}"
    missing = set(produced) - set(counts)
    assert not missing, f"{len(missing)} records never read, e.g. {sorted(missing)[:5]}"
    extra = set(counts) - set(produced)
    assert not extra, f"unexpected records: {sorted(extra)[:5]}"


def wait_for(predicate: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
    """Wait for state another thread changes (no event to wait on), checking every 20 ms."""
    poll_until(lambda: predicate() or bool(time.sleep(0.02)), timeout, what)


def assert_resumed(got: Sequence[tuple[int, bytes]], produced: Sequence[bytes]) -> None:
    """(offset, value) read by the new member: every record from offset COMMITTED on, once."""
    assert {offset for offset, _ in got} == set(range(COMMITTED, RESUME_RECORDS // PARTITIONS))
    expected = [v for i, v in enumerate(produced) if i // PARTITIONS >= COMMITTED]
    assert_exactly_once([v for _, v in got], expected)
