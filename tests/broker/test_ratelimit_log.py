"""RateLimitedLog: at most one message per key per interval, then a suppressed count (fake clock)."""

from __future__ import annotations

import logging

import pytest

from pykafka_broker.broker.ratelimit_log import RateLimitedLog


def test_identical_messages_are_rate_limited_with_a_count(caplog: pytest.LogCaptureFixture) -> None:
    now = {"t": 100.0}
    limited = RateLimitedLog(logging.getLogger("test.ratelimit"), interval_s=10, clock=lambda: now["t"])
    with caplog.at_level(logging.WARNING, logger="test.ratelimit"):
        assert limited.warning("bad-frame", "closing connection from %s: %s", "a:1", "bad frame")
        for port in range(2, 1002):  # a fuzzer: 1000 more within the interval, each from a new port
            now["t"] += 0.001
            assert not limited.warning("bad-frame", "closing connection from %s: %s", f"a:{port}",
                                       "bad frame")
        assert limited.warning("other", "something else %d", 1)  # another key is not held back
        now["t"] = 110.5
        assert limited.warning("bad-frame", "closing connection from %s: %s", "a:9", "bad frame")
    messages = [r.getMessage() for r in caplog.records]
    assert messages == ["closing connection from a:1: bad frame", "something else 1",
                        "closing connection from a:9: bad frame (1000 similar messages suppressed since "
                        "the last one)"]


def test_the_key_table_is_bounded() -> None:
    limited = RateLimitedLog(logging.getLogger("test.ratelimit.bounded"), clock=lambda: 0.0, max_keys=8)
    for i in range(100):
        limited.warning(f"key-{i}", "message %d", i)
    assert len(limited._seen) == 8


def test_the_format_string_is_the_default_key(caplog: pytest.LogCaptureFixture) -> None:
    limited = RateLimitedLog(logging.getLogger("test.ratelimit.default"), clock=lambda: 0.0)
    with caplog.at_level(logging.ERROR, logger="test.ratelimit.default"):
        assert limited.error(None, "handler failed for %s", "x", exc_info=ValueError("boom"))
        assert not limited.error(None, "handler failed for %s", "y", exc_info=ValueError("boom"))
    assert len(caplog.records) == 1 and caplog.records[0].exc_info is not None

