"""`dealwatch replay`: recompute everything from the Kafka log, for audits."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from dealwatch.projections.projection import project
from dealwatch.services.config import get_settings
from dealwatch.services.db.engine import in_session
from dealwatch.services.db.models import ProjectionState
from dealwatch.services.kafka.log_reader import read_log

console = Console()


def replay(
    as_of: Annotated[
        dt.datetime | None,
        typer.Option(
            formats=["%Y-%m-%d"], help="Evaluate at this day (default: DEALWATCH_TODAY or today)"
        ),
    ] = None,
    known_at: Annotated[
        dt.datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="Only what was reported on or before this day"),
    ] = None,
    output: Annotated[Path | None, typer.Option(help="Write the canonical JSON here")] = None,
    verify: Annotated[
        bool,
        typer.Option(
            help="Compare the SQL mirror and every table users query with the replay; exit 3 "
            "on a difference"
        ),
    ] = False,
    spec: Annotated[
        bool,
        typer.Option(
            help="Replay with the specification, `project()` over the whole log in memory "
            "(memory grows with the log), instead of the worker's incremental code"
        ),
    ] = False,
    db: Annotated[
        str | None,
        typer.Option(help="Rebuild every projection table into this (fresh) database URL"),
    ] = None,
    processes: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Processes that read and fold the log, each its share of the partitions "
            "(default: one per CPU)",
        ),
    ] = None,
) -> None:
    """Replay the log from the beginning and print (or save) the projection it implies."""
    from dealwatch.alerts.rules_config import load_rules

    settings = get_settings()
    known = known_at.date() if known_at else None
    day = as_of.date() if as_of else None
    if day is None and verify:
        day = live_evaluation_day(settings)  # verify what users read: the live tables' day
    day = day or settings.today()
    rules = load_rules(settings.dealwatch_rules_file, settings.slack_default_channel)
    if db is not None:
        _rebuild_into(settings, db, rules, day, known, processes)
        return
    if output is None and not spec:
        _replay_bounded(settings, rules, day, known, verify, processes)
        return
    snapshot = asyncio.run(read_log(settings))
    roles = {slug: c.role for slug, c in snapshot.registry.items()}
    projection = project(
        snapshot.events, roles, day, settings.dealwatch_window_days, rules.thresholds, known
    )
    digest = digest_of(projection)
    if output:
        output.write_bytes(projection.to_json())
    table = Table(
        title=f"replay as of {day}" + (f", known at {known}" if known else ""), show_header=False
    )
    table.add_row("messages read", str(snapshot.messages))
    table.add_row("distinct events", str(len({e.event.event_id for e in snapshot.events})))
    table.add_row("series rows", str(len(projection.series)))
    last = projection.series[-1] if projection.series else None
    if last:
        table.add_row("index / hhi", f"{last.idx:.1f} / {last.hhi}")
    table.add_row(
        "watchlist",
        watchlist_line(
            [(s.company, s.status) for s in projection.watchlist if s.status in WATCHED]
        ),
    )
    table.add_row("alerts implied", str(len(projection.alerts)))
    table.add_row("sha256", digest)
    console.print(table)
    for problem in snapshot.undecodable:
        console.print(f"[yellow]undecodable:[/] {problem}")
    if verify:
        first: dict[str, tuple[int, int]] = {}
        for e in snapshot.events:
            if e.event.event_id not in first or e.position < first[e.event.event_id]:
                first[e.event.event_id] = e.position
        _verify(settings, projection, digest, day, known, snapshot.registry, first)


def _replay_bounded(
    settings,
    rules,
    day: dt.date,
    known: dt.date | None,
    verify: bool = False,
    processes: int | None = None,
) -> None:
    """The log folded by the worker's incremental code into a scratch SQLite database, and
    (`verify`) the live database compared with it, streamed: memory stays bounded whatever
    the log's length (`--spec`/`--output` hold the whole log)."""
    import tempfile

    from sqlalchemy import func, select

    from dealwatch.services.audit.rebuild import messages_in_log
    from dealwatch.services.db.models import Alert, Consolidation, Watchlist

    total = asyncio.run(messages_in_log(settings))
    with tempfile.TemporaryDirectory(prefix="dealwatch-replay-") as scratch:
        url = f"sqlite:///{scratch}/replay.db"
        outcome = asyncio.run(
            _rebuild_with_progress(settings, url, rules, day, known, total, processes)
        )

        async def summary(session):
            last = await session.scalar(
                select(Consolidation).order_by(Consolidation.as_of.desc()).limit(1)
            )
            watch = (await session.execute(select(Watchlist.company, Watchlist.status))).all()
            alerts = await session.scalar(select(func.count()).select_from(Alert))
            return last, watch, alerts

        last, watch, alerts = asyncio.run(in_session(url, summary))
        table = Table(
            title=f"replay as of {day}" + (f", known at {known}" if known else ""),
            show_header=False,
        )
        table.add_row("messages read", str(total))
        table.add_row("records", str(outcome.events))
        table.add_row("series rows", str(outcome.series_rows))
        if last:
            table.add_row("index / hhi", f"{last.idx:.1f} / {last.hhi}")
        table.add_row("watchlist", watchlist_line([(c, s) for c, s in watch if s in WATCHED]))
        table.add_row("alerts implied", str(alerts))
        console.print(table)
        if verify:
            _verify_against_rebuild(settings, url, day, known)


def _verify_against_rebuild(settings, scratch: str, day: dt.date, known: dt.date | None) -> None:
    """The live mirror, registry and tables against the scratch rebuild; exit 3 on a
    difference."""
    from dealwatch.services.audit.compare import compare_mirror, compare_registry, compare_tables
    from dealwatch.services.db.engine import make_async_engine, session_factory

    async def compare():
        live, rebuilt = make_async_engine(settings.database_url), make_async_engine(scratch)
        try:
            async with session_factory(live)() as ours, session_factory(rebuilt)() as theirs:
                state = await ours.get(ProjectionState, 1)
                mirror = None if known else await compare_mirror(ours, theirs)
                registry = await compare_registry(ours, theirs)
                checks = None
                if known is None and state is not None and state.evaluation_day == day:
                    checks = await compare_tables(ours, theirs, settings.dealwatch_window_days)
                return state, mirror, registry, checks
        finally:
            await live.dispose()
            await rebuilt.dispose()

    state, mirror, same_registry, checks = asyncio.run(compare())
    same_events = mirror is None or not any(mirror)
    if mirror is None:
        console.print("[yellow]SQL mirror not compared:[/] --known-at replays part of the log")
    else:
        missing, extra, moved = mirror
        console.print(
            "SQL mirror against the log (event ids at their first offsets): "
            + (
                "[green]the same"
                if same_events
                else f"[red]DIFFERENT ({missing} not mirrored, {extra} not in the log, "
                f"{moved} at another offset)"
            )
        )
    _print_registry(same_registry)
    tables_match = True
    if checks is None:
        _print_not_compared(state)
    else:
        tables_match = _print_checks(checks)
    if not (same_events and same_registry and tables_match):
        raise typer.Exit(3)


def _print_registry(same: bool) -> None:
    console.print(
        "SQL registry against the companies topic: "
        + ("[green]the same" if same else "[red]DIFFERENT")
    )


def _print_not_compared(state) -> None:
    console.print(
        "[yellow]tables not compared:[/] they hold the projection as of "
        f"{state.evaluation_day if state else 'nothing yet'} as known now "
        "(drop --as-of/--known-at to compare them)"
    )


async def _rebuild_with_progress(settings, url, rules, day, known, total, processes=None):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from dealwatch.services.audit.rebuild import rebuild

    columns = (TextColumn("replaying the log"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("messages", total=total)
        return await rebuild(
            settings, url, rules, day, known, lambda n: progress.advance(task, n), processes
        )


def _rebuild_into(
    settings, url: str, rules, day: dt.date, known: dt.date | None, processes: int | None
) -> None:
    """`--db URL`: the worker's own code over the whole log, with a progress bar."""
    from dealwatch.services.audit.rebuild import messages_in_log
    from dealwatch.services.db.engine import redact

    total = asyncio.run(messages_in_log(settings))
    outcome = asyncio.run(
        _rebuild_with_progress(settings, url, rules, day, known, total, processes)
    )
    console.print(
        f"rebuilt {redact(url)} from {total} messages: {outcome.events} events projected as of "
        f"{day}{f', known at {known}' if known else ''}; {outcome.series_rows} series rows, "
        f"{outcome.watchlist} on the watchlist, {outcome.alerts_added} alerts recorded "
        "(none sent)"
    )
    console.print(f'query it: dealwatch sql --database-url "{redact(url)}" "SELECT ..."')


WATCHED = ("critical", "watch")
SHOWN = 20


def watchlist_line(pairs: list[tuple[str, str]]) -> str:
    """The first companies on the watchlist, and how many more (`dealwatch sql` lists all)."""
    pairs = sorted(pairs)
    shown = ", ".join(f"{c} ({s})" for c, s in pairs[:SHOWN]) or "-"
    more = len(pairs) - SHOWN
    return shown + (f", … and {more:,} more (SELECT * FROM watchlist)" if more > 0 else "")


def digest_of(projection) -> str:
    """The SHA-256 of the projection's canonical JSON."""
    import hashlib

    return hashlib.sha256(projection.to_json()).hexdigest()


def live_evaluation_day(settings) -> dt.date | None:
    async def read(session) -> dt.date | None:
        state = await session.get(ProjectionState, 1)
        return state.evaluation_day if state else None

    return asyncio.run(in_session(settings.database_url, read))


def _verify(
    settings,
    projection,
    digest: str,
    day: dt.date,
    known: dt.date | None,
    registry,
    first_positions: dict[str, tuple[int, int]],
) -> None:
    """The mirror and registry against the log, then every table against `projection`."""
    log_event_ids = set(first_positions)
    from sqlalchemy import select

    from dealwatch.services.db.models import Event
    from dealwatch.services.projection.projector import load_registry

    async def from_sql(session):
        positions = {
            event_id: (partition, offset)
            async for event_id, partition, offset in await session.stream(
                select(Event.event_id, Event.partition, Event.offset)
            )
        }
        return await session.get(ProjectionState, 1), positions, await load_registry(session)

    state, mirrored, sql_registry = asyncio.run(in_session(settings.database_url, from_sql))
    same_events = mirrored == first_positions
    console.print(
        "SQL mirror against the log (event ids at their first offsets): "
        + (
            "[green]the same"
            if same_events
            else f"[red]DIFFERENT ({_event_diff(mirrored, first_positions)})"
        )
    )
    same_registry = {s: (e.name, e.role, e.country) for s, e in sql_registry.items()} == {
        s: (c.name, c.role, c.country) for s, c in registry.items()
    }
    _print_registry(same_registry)
    same_bytes = same_events and same_registry
    tables_match = True
    if known is not None or state is None or state.evaluation_day != day:
        _print_not_compared(state)
    else:
        tables_match = _verify_tables(settings, projection, registry, log_event_ids)
    if not (same_bytes and tables_match):
        raise typer.Exit(3)


def _event_diff(mirrored: dict, logged: dict) -> str:
    missing = len(logged.keys() - mirrored.keys())
    extra = len(mirrored.keys() - logged.keys())
    moved = sum(1 for k in mirrored.keys() & logged.keys() if mirrored[k] != logged[k])
    return f"{missing} not mirrored, {extra} not in the log, {moved} at another offset"


def _verify_tables(settings, projection, registry, log_event_ids: set[str]) -> bool:
    """Every table users query against the replay; prints each and the rows that differ."""
    from dealwatch.services.audit.tables import check_tables

    checks = asyncio.run(
        in_session(
            settings.database_url,
            lambda session: check_tables(session, projection, registry, log_event_ids),
        )
    )
    return _print_checks(checks)


def _print_checks(checks) -> bool:
    """The table of checks and the rows that differ; whether all match."""
    table = Table("table", "rows in SQL", "rows implied", "sha256 (SQL)", "result")
    for check in checks:
        table.add_row(
            check.name,
            str(check.live_rows),
            str(check.replay_rows),
            check.live_checksum[:16],
            "[green]match" if check.matches else "[red]differs",
        )
    console.print(table)
    for check in checks:
        for line in check.differences:
            console.print(f"[red]{check.name}[/] {line}")
        for line in check.notes:
            console.print(f"[yellow]{check.name}[/] {line}")
    return all(check.matches for check in checks)


def register(app: typer.Typer) -> None:
    app.command()(replay)
