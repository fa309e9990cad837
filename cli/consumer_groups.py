"""``pykafka-broker consumer-groups``: Kafka's kafka-consumer-groups.sh (ConsumerGroupCommand).

``--list``, ``--describe --group G`` (offsets table: GROUP TOPIC PARTITION CURRENT-OFFSET
LOG-END-OFFSET LAG CONSUMER-ID HOST CLIENT-ID), ``--delete`` and ``--reset-offsets`` (dry run unless
``--execute``). Everything goes through kafka-python's admin client (ListGroups, DescribeGroups,
OffsetFetch, DeleteGroups, OffsetCommit via FindCoordinator); a broker that does not serve those APIs
gets one ``Error: ...`` line.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import click

from pykafka_broker.cli.common import bootstrap_option, fail, handle_errors, make_admin

MISSING = "-"


def _row(widths: tuple[int, ...], values: tuple[Any, ...]) -> str:
    cells = [f"{str(v):<{w}}" for v, w in zip(values, widths, strict=False)]
    cells += [str(v) for v in values[len(widths) :]]
    return " ".join(cells)


def _log_end_offsets(admin: Any, tps: list[Any]) -> dict[Any, int]:
    from kafka.admin import OffsetSpec

    if not tps:
        return {}
    result = admin.list_partition_offsets({tp: OffsetSpec.LATEST for tp in tps})
    return {tp: r.offset for tp, r in result.items()}


def _describe(admin: Any, group: str) -> None:
    desc = admin.describe_groups([group]).get(group, {})
    if desc.get("error"):
        raise fail(str(desc["error"]))
    state = desc.get("group_state") or "Unknown"
    if state == "Dead":
        raise fail(f"Consumer group '{group}' does not exist.")
    committed: dict[Any, Any] = admin.list_group_offsets({group: None}).get(group, {})
    owner: dict[Any, tuple[str, str, str]] = {}
    members = desc.get("members") or []
    for m in members:
        assignment = m.get("member_assignment")
        tps = assignment.partitions() if hasattr(assignment, "partitions") else []
        for tp in tps:
            owner[tp] = (
                m.get("member_id", MISSING),
                m.get("client_host", MISSING),
                m.get("client_id", MISSING),
            )
    tps = sorted(set(committed) | set(owner), key=lambda tp: (tp.topic, tp.partition))
    ends = _log_end_offsets(admin, tps)
    rows = []
    for tp in tps:
        current = committed.get(tp)
        cur = current.offset if current is not None and current.offset >= 0 else None
        end = ends.get(tp)
        lag = end - cur if end is not None and cur is not None else None
        cid, host, client = owner.get(tp, (MISSING, MISSING, MISSING))
        rows.append(
            (
                group,
                tp.topic,
                tp.partition,
                MISSING if cur is None else cur,
                MISSING if end is None else end,
                MISSING if lag is None else lag,
                cid,
                host,
                client,
            )
        )
    if not members:
        click.echo(f"\nConsumer group '{group}' has no active members.", err=True)
    if state in ("PreparingRebalance", "CompletingRebalance"):
        click.echo(f"\nWarning: Consumer group '{group}' is rebalancing.", err=True)
    widths = (
        max([15, len(group)]),
        max([15] + [len(r[1]) for r in rows]),
        10,
        15,
        15,
        15,
        max([15] + [len(str(r[6])) for r in rows]),
        max([15] + [len(str(r[7])) for r in rows]),
    )
    click.echo()
    click.echo(
        _row(
            widths,
            (
                "GROUP",
                "TOPIC",
                "PARTITION",
                "CURRENT-OFFSET",
                "LOG-END-OFFSET",
                "LAG",
                "CONSUMER-ID",
                "HOST",
                "CLIENT-ID",
            ),
        )
    )
    for r in rows:
        click.echo(_row(widths, r))


def _target_partitions(admin: Any, group: str, topics: tuple[str, ...], all_topics: bool) -> list[Any]:
    from kafka import TopicPartition

    if all_topics:
        return sorted(
            admin.list_group_offsets({group: None}).get(group, {}), key=lambda tp: (tp.topic, tp.partition)
        )
    tps: list[Any] = []
    known = {t["name"]: t for t in admin.describe_topics()}
    for spec in topics:
        name, _, parts = spec.partition(":")
        if name not in known:
            raise fail(f"Topic '{name}' does not exist")
        if parts:
            tps += [TopicPartition(name, int(p)) for p in parts.split(",") if p.strip()]
        else:
            tps += [TopicPartition(name, p["partition_index"]) for p in known[name]["partitions"]]
    return tps


def _parse_datetime(text: str) -> int:
    """Kafka's --to-datetime format 'YYYY-MM-DDTHH:mm:SS.sss' (optionally with a zone); local time."""
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise fail(f"Invalid --to-datetime '{text}': expected YYYY-MM-DDTHH:mm:SS.sss") from None
    if parsed.tzinfo is None:
        parsed = parsed.astimezone()
    return int(parsed.timestamp() * 1000)


def _reset(admin: Any, group: str, tps: list[Any], how: tuple[str, Any], execute: bool) -> None:
    from kafka.admin import OffsetSpec, OffsetTimestamp
    from kafka.structs import OffsetAndMetadata

    kind, arg = how
    if kind == "shift-by":
        committed = admin.list_group_offsets({group: tps}).get(group, {})
        specs: dict[Any, Any] = {
            tp: max(0, (committed[tp].offset if tp in committed and committed[tp].offset >= 0 else 0) + arg)
            for tp in tps
        }
    elif kind == "to-offset":
        specs = {tp: arg for tp in tps}
    elif kind == "to-datetime":
        specs = {tp: OffsetTimestamp(arg) for tp in tps}
    else:
        specs = {tp: OffsetSpec.EARLIEST if kind == "to-earliest" else OffsetSpec.LATEST for tp in tps}
    # Resolve and clamp to [earliest, latest] as Kafka does, printing the plan either way.
    resolved = admin.list_partition_offsets({tp: OffsetSpec.EARLIEST for tp in tps})
    latest = _log_end_offsets(admin, tps)
    plan: dict[Any, int] = {}
    for tp, spec in specs.items():
        if type(spec) is int:  # an explicit offset; OffsetSpec/OffsetTimestamp resolve via ListOffsets
            plan[tp] = min(max(spec, resolved[tp].offset), latest[tp])
    rest = {tp: s for tp, s in specs.items() if tp not in plan}
    if rest:
        for tp, r in admin.list_partition_offsets(rest).items():
            plan[tp] = latest[tp] if r.offset is None or r.offset < 0 else r.offset
    if execute:
        errors = admin.alter_group_offsets(
            group, {tp: OffsetAndMetadata(off, "", None) for tp, off in plan.items()}
        )
        bad = {tp: e for tp, e in (errors or {}).items() if int(getattr(e, "errno", 0) or 0) != 0}
        if bad:
            tp, e = next(iter(bad.items()))
            raise fail(f"Could not reset offsets of {tp.topic}-{tp.partition}: {e.__name__}")
    click.echo()
    fmt = (30, 30, 10, 15)
    click.echo(_row(fmt, ("GROUP", "TOPIC", "PARTITION", "NEW-OFFSET")))
    for tp in sorted(plan, key=lambda t: (t.topic, t.partition)):
        click.echo(_row(fmt, (group, tp.topic, tp.partition, plan[tp])))


@click.command("consumer-groups", context_settings={"help_option_names": ["-h", "--help"]})
@bootstrap_option()
@click.option("--list", "action", flag_value="list", help="List all consumer groups.")
@click.option(
    "--describe",
    "action",
    flag_value="describe",
    help="Describe consumer group and list offset lag (number of messages not yet processed) "
    "related to given group.",
)
@click.option(
    "--delete",
    "action",
    flag_value="delete",
    help="Pass in groups to delete topic partition offsets and ownership information.",
)
@click.option(
    "--reset-offsets",
    "action",
    flag_value="reset",
    help="Reset offsets of consumer group. Supports one consumer group at the time, and instances "
    "should be inactive. Has 2 execution options: --dry-run (the default) to plan which "
    "offsets to reset, and --execute to update the offsets.",
)
@click.option(
    "--group", "groups", multiple=True, metavar="GROUP", help="The consumer group we wish to act on."
)
@click.option("--all-groups", is_flag=True, help="Apply to all consumer groups.")
@click.option(
    "--topic",
    "topics",
    multiple=True,
    metavar="TOPIC[:P1,P2]",
    help="The topic whose consumer group information should be reset. In reset-offsets case, "
    "partitions can be specified using this format: 'topic1:0,1,2'.",
)
@click.option(
    "--all-topics",
    is_flag=True,
    help="Consider all topics assigned to a group in the `reset-offsets` process.",
)
@click.option("--to-earliest", "reset", flag_value="to-earliest", help="Reset offsets to earliest offset.")
@click.option("--to-latest", "reset", flag_value="to-latest", help="Reset offsets to latest offset.")
@click.option("--to-offset", type=int, metavar="OFFSET", help="Reset offsets to a specific offset.")
@click.option(
    "--shift-by",
    type=int,
    metavar="N",
    help="Reset offsets shifting current offset by 'n', where 'n' can be positive or negative.",
)
@click.option(
    "--to-datetime",
    metavar="DATETIME",
    help="Reset offsets to offset from datetime. Format: 'YYYY-MM-DDTHH:mm:SS.sss'",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Only show results without executing changes on Consumer "
    "Groups. Supported operations: reset-offsets.",
)
@click.option("--execute", is_flag=True, help="Execute operation. Supported operations: reset-offsets.")
@handle_errors
def consumer_groups(
    bootstrap_server: str,
    action: str | None,
    groups: tuple[str, ...],
    all_groups: bool,
    topics: tuple[str, ...],
    all_topics: bool,
    reset: str | None,
    to_offset: int | None,
    shift_by: int | None,
    to_datetime: str | None,
    dry_run: bool,
    execute: bool,
) -> None:
    """List all consumer groups, describe a consumer group, delete consumer group info, or reset
    consumer group offsets."""
    if action is None:
        raise click.UsageError(
            "Command must include exactly one action: --list, --describe, --delete, --reset-offsets"
        )
    if action != "list" and not groups and not all_groups:
        raise click.UsageError(f"Option [{action}] takes one of these options: [all-groups], [group]")
    if dry_run and execute:
        raise click.UsageError("Option [dry-run] can't be used with option [execute]")
    hows = [
        (k, v)
        for k, v in (("to-offset", to_offset), ("shift-by", shift_by), ("to-datetime", to_datetime))
        if v is not None
    ] + ([(reset, None)] if reset else [])
    if action == "reset":
        if len(hows) != 1:
            raise click.UsageError(
                "Option [reset-offsets] takes exactly one of these options: [to-datetime], "
                "[to-earliest], [to-latest], [shift-by], [to-offset]"
            )
        if bool(topics) == all_topics:
            raise click.UsageError(
                "Option [reset-offsets] takes exactly one of these options: [topic], [all-topics]"
            )
    elif hows or execute or dry_run:
        raise click.UsageError("Reset options can only be used with --reset-offsets")

    admin = make_admin(bootstrap_server)
    try:
        targets = list(groups)
        if all_groups or action == "list":
            listed = admin.list_groups()
            names = sorted(g["group_id"] for g in listed)
            if action == "list":
                for name in names:
                    click.echo(name)
                return
            targets = names
        if action == "describe":
            for group in targets:
                _describe(admin, group)
        elif action == "delete":
            results = admin.delete_groups(targets)
            failed = {g: r for g, r in results.items() if r != "OK"}
            ok = [g for g, r in results.items() if r == "OK"]
            if ok:
                click.echo(
                    "Deletion of requested consumer groups ('" + "', '".join(ok) + "') was successful."
                )
            if failed:
                raise fail(
                    "; ".join(f"Group '{g}' could not be deleted due to: {r}" for g, r in failed.items())
                )
        else:
            kind, arg = hows[0]
            if kind == "to-datetime":
                arg = _parse_datetime(str(arg))
            for group in targets:
                _reset(
                    admin, group, _target_partitions(admin, group, topics, all_topics), (kind, arg), execute
                )
    finally:
        admin.close()
