"""The ``h`` fixture: a fresh coordinator harness (see txn_harness.py)."""

from __future__ import annotations

import pytest
from txn_harness import Harness


@pytest.fixture
def h() -> Harness:
    return Harness()
