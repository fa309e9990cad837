"""The README's Compatibility table, generated from the handler registry.

``python -m pykafka_broker.broker.compat`` prints it; a unit test fails when README.md differs.
"""

from __future__ import annotations

from pykafka_broker.broker import handlers  # noqa: F401  (registers every handler)
from pykafka_broker.broker.dispatch import REGISTRY

BEGIN = "<!-- compat:begin -->"
END = "<!-- compat:end -->"


def compatibility_table() -> str:
    rows = ["| API | key | versions served | advertised |", "|---|---:|---|---|"]
    for r in REGISTRY.ranges():
        name = "".join(part.capitalize() for part in r.api_key.name.split("_"))
        served = f"{r.min_version}–{r.max_version}"
        advertised = f"{r.advertised_min}–{r.max_version}"
        note = "" if r.advertised_min == r.min_version else " (lower versions answered UNSUPPORTED_VERSION)"
        rows.append(f"| {name} | {int(r.api_key)} | {served} | {advertised}{note} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(compatibility_table())
