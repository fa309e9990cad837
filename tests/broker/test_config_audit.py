"""The config audit: every config DescribeConfigs reports is in effect, or says it is not used.

"In effect" is checked mechanically: the config's name appears as a string in the package's code
(docstrings aside, and outside the modules that only declare or describe configs), or it is a
broker synonym of a topic config that does (broker/topics.py resolves synonyms into the values the
storage layer reads). Everything else must be in config_audit.NOT_USED with a reason, and nothing in
NOT_USED may be read by the code.
"""

from __future__ import annotations

import ast
from pathlib import Path

from pykafka_broker.broker.config_audit import NOT_USED
from pykafka_broker.broker.config_defs import BROKER_CONFIGS, TOPIC_CONFIGS

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("broker", "storage", "protocol", "cli", "pykafka_broker")
# Modules that declare or describe configs without giving them any effect.
DECLARING = {"broker/config_defs.py", "broker/config_audit.py", "broker/handlers/describe_configs.py"}


def _strings_in_code() -> set[str]:
    found: set[str] = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if path.relative_to(ROOT).as_posix() in DECLARING:
                continue
            tree = ast.parse(path.read_text(), str(path))
            docstrings = {id(node.value) for node in ast.walk(tree)
                          if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)}
            found.update(node.value for node in ast.walk(tree)
                         if isinstance(node, ast.Constant) and isinstance(node.value, str)
                         and id(node) not in docstrings)
    return found


def _in_effect() -> set[str]:
    strings = _strings_in_code()
    used = {name for name in (*BROKER_CONFIGS, *TOPIC_CONFIGS) if name in strings}
    for name, cd in TOPIC_CONFIGS.items():
        if name in used:
            used.update(cd.synonyms)
    return used


def test_every_config_is_in_effect_or_listed_as_not_used() -> None:
    declared = set(BROKER_CONFIGS) | set(TOPIC_CONFIGS)
    used = _in_effect()
    unaccounted = sorted(declared - used - set(NOT_USED))
    assert not unaccounted, f"configs neither read by the code nor in config_audit.NOT_USED: {unaccounted}"
    stale = sorted(used & set(NOT_USED))
    assert not stale, f"configs in config_audit.NOT_USED that the code now reads (remove them): {stale}"
    assert not set(NOT_USED) - declared, "NOT_USED names a config that is not declared"
    assert all(reason.strip() for reason in NOT_USED.values())


def test_configs_implemented_for_this_issue_are_in_effect() -> None:
    used = _in_effect()
    for name in ("segment.jitter.ms", "log.roll.jitter.ms", "log.roll.jitter.hours",
                 "producer.id.expiration.ms", "producer.id.expiration.check.interval.ms",
                 "index.interval.bytes", "remote.storage.enable"):
        assert name in used, name
