"""`dealwatch audit verify|report|alerts|export`: proofs for an auditor (docs/audit.md)."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from dealwatch.services.config import get_settings
from dealwatch.services.db.engine import in_session

app = typer.Typer(
    name="audit",
    help="Prove that the tables, the alerts and the log are what the log implies.",
    no_args_is_help=True,
)
console = Console()
errors = Console(stderr=True)
Day = Annotated[dt.datetime | None, typer.Option(formats=["%Y-%m-%d"])]


async def _with_session(work):
    return await in_session(get_settings().database_url, work)


@app.command()
def verify() -> None:
    """Every table users query against a replay of the log (same as `replay --verify`)."""
    from dealwatch.services.commands.replay import replay

    replay(as_of=None, known_at=None, output=None, verify=True, db=None)


@app.command()
def report() -> None:
    """Per partition: offsets, counts by kind, chain head, and whether it is what the worker
    recorded and ingest wrote. Exit 3 naming each partition and offset that is not."""
    from dealwatch.services.audit.chain import chain_report

    settings = get_settings()
    reports = asyncio.run(_with_session(lambda s: chain_report(settings, s)))
    table = Table(
        "partition",
        "offsets",
        "by kind",
        "chain head",
        "recorded at",
        "result",
        title=f"audit of {settings.topic('deal-events')}",
    )
    for r in reports:
        offsets = "-" if r.first_offset is None else f"{r.first_offset}..{r.last_offset}"
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(r.kinds.items())) or "-"
        recorded = "-" if r.recorded_next_offset is None else str(r.recorded_next_offset - 1)
        style = "green" if r.verdict == "ok" else "red" if r.problems else "yellow"
        table.add_row(
            str(r.partition), offsets, kinds, r.head[:16], recorded, f"[{style}]{r.verdict}"
        )
    console.print(table)
    problems = [p for r in reports for p in r.problems]
    for problem in problems:
        console.print(f"[red]tampered:[/] {problem}")
    if problems:
        raise typer.Exit(3)


def _projection_as_of_live_day():
    """What the log implies as of the day the live tables were projected: `project()` over
    the whole log in memory (the specification, `--spec`)."""
    from dealwatch.alerts.rules_config import load_rules
    from dealwatch.projections.projection import project
    from dealwatch.services.commands.replay import live_evaluation_day
    from dealwatch.services.kafka.log_reader import read_log

    settings = get_settings()
    evaluation_day = live_evaluation_day(settings) or settings.today()
    snapshot = asyncio.run(read_log(settings))
    roles = {slug: c.role for slug, c in snapshot.registry.items()}
    rules = load_rules(settings.dealwatch_rules_file, settings.slack_default_channel)
    return project(
        snapshot.events, roles, evaluation_day, settings.dealwatch_window_days, rules.thresholds
    )


def _rebuilt_alerts() -> tuple[list, dt.date]:
    """The alerts a rebuild of the log into a scratch database records, as of the live
    tables' day: the worker's code, in bounded memory (as `replay --verify`). The rebuild
    runs as `dealwatch replay --db` in a process of its own, so this one never holds the
    projector's working set."""
    import subprocess
    import sys
    import tempfile

    from dealwatch.services.audit.alerts import implied_alerts
    from dealwatch.services.commands.replay import live_evaluation_day

    settings = get_settings()
    day = live_evaluation_day(settings) or settings.today()
    with tempfile.TemporaryDirectory(prefix="dealwatch-alerts-") as scratch:
        url = f"sqlite:///{scratch}/replay.db"
        command = [sys.executable, "-m", "dealwatch", "replay", "--db", url]
        rebuilt = subprocess.run([*command, "--as-of", day.isoformat()], check=False)
        if rebuilt.returncode != 0:
            errors.print("[red]error:[/] the rebuild of the log failed (above)")
            raise typer.Exit(rebuilt.returncode)
        return asyncio.run(in_session(url, implied_alerts)), day


ROWS_PER_TABLE = 1_000  # Rich renders a table whole: ~3 KB a row, so print it in parts


def _print_implied(rows: list[tuple[str, str, str, str, str | None]]) -> None:
    """The implied alerts as one table, printed a thousand rows at a time with the same
    column widths (one Rich table of 100,000 rows takes ~300 MB to render)."""
    names = ("as of", "rule", "subject", "lineage", "outbox")
    widths = [
        max([len(name), *(len(r[i] or "missing") for r in rows)]) for i, name in enumerate(names)
    ]
    fits = sum(widths) + 3 * len(widths) <= console.width  # else each part fits its own
    for start in range(0, max(len(rows), 1), ROWS_PER_TABLE):
        part = rows[start : start + ROWS_PER_TABLE]
        table = Table(
            title="alerts the log implies" if start == 0 else None,
            show_header=start == 0,
            show_edge=False,
        )
        for name, width in zip(names, widths, strict=True):
            table.add_column(name, min_width=width if fits else None)
        for *cells, state in part:
            table.add_row(*cells, state or "[red]missing")
        console.print(table)


@app.command("alerts")
def alerts_audit(
    since: Day = None,
    spec: Annotated[
        bool,
        typer.Option(
            "--spec",
            help="Derive the implied alerts with `project()` over the whole log in memory "
            "instead of a rebuild in bounded memory",
        ),
    ] = False,
) -> None:
    """Every alert the log implies (nothing is sent), diffed against the outbox. Exit 3 when
    an implied alert was never recorded or one went out twice."""
    from dealwatch.services.audit.alerts import ImpliedAlert, audit_alerts

    if spec:
        projection = _projection_as_of_live_day()
        implied = [ImpliedAlert.of(a) for a in projection.alerts]
        evaluation_day = projection.evaluation_day
    else:
        implied, evaluation_day = _rebuilt_alerts()
    day = since.date() if since else None
    implied = sorted(implied, key=lambda a: (a.as_of, a.alert_key))
    result = asyncio.run(_with_session(lambda s: audit_alerts(s, implied, day)))
    _print_implied(
        [
            (a.as_of.isoformat(), a.rule, a.subject, ", ".join(e[:8] for e in a.lineage), state)
            for a, state in result.implied
        ]
    )
    console.print(f"{len(result.implied)} alerts implied as of {evaluation_day}")
    for key in result.never_recorded:
        console.print(f"[red]implied, never recorded:[/] {key}")
    for key in result.no_longer_implied:
        console.print(f"[yellow]recorded, no longer implied (a later correction):[/] {key}")
    for line in result.delivered_twice:
        console.print(f"[red]delivered twice:[/] {line}")
    if not result.consistent:
        raise typer.Exit(3)


@app.command()
def export(
    output: Annotated[Path, typer.Option(help="Directory for the files and manifest.json")],
    known_at: Day = None,
    format: Annotated[str, typer.Option("--format", help="jsonl, csv or parquet")] = "jsonl",
) -> None:
    """The effective log as known at a day, each record with its event id, partition, offset
    and chain position, plus a manifest with the chain heads."""
    from dealwatch.services.audit.export import ExportError, export_log

    day = known_at.date() if known_at else None
    try:
        result = asyncio.run(export_log(get_settings(), day, format, output))
    except ExportError as error:
        errors.print(f"[red]error:[/] {escape(str(error))}")
        raise typer.Exit(1) from error
    for path in result.files:
        console.print(f"wrote {path} ({result.records} records)")
    console.print(f"wrote {result.manifest}")


def register(root: typer.Typer) -> None:
    root.add_typer(app)
