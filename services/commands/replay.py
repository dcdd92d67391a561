"""`dealwatch replay`: recompute everything from the Kafka log, for audits."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from projections.projection import project
from services.config import get_settings
from services.db.engine import make_async_engine, session_factory
from services.db.models import ProjectionState
from services.log_reader import read_log

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
        bool, typer.Option(help="Compare with the SQL projection; exit 3 when they differ")
    ] = False,
) -> None:
    """Replay the log from the beginning and print (or save) the projection it implies."""
    from alerts.rules_config import load_rules
    from services.projector import digest_of

    settings = get_settings()
    day = as_of.date() if as_of else settings.today()
    known = known_at.date() if known_at else None
    rules = load_rules(settings.dealwatch_rules_file, settings.slack_default_channel)
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
        ", ".join(
            f"{s.company} ({s.status})"
            for s in projection.watchlist
            if s.status in ("critical", "watch")
        )
        or "-",
    )
    table.add_row("alerts implied", str(len(projection.alerts)))
    table.add_row("sha256", digest)
    console.print(table)
    for problem in snapshot.undecodable:
        console.print(f"[yellow]undecodable:[/] {problem}")
    if verify:
        _verify(settings, projection, digest, day, known)


def _verify(settings, projection, digest: str, day: dt.date, known: dt.date | None) -> None:
    from alerts.rules_config import load_rules
    from services.projector import load_log, load_registry

    async def from_sql():
        engine = make_async_engine(settings.database_url)
        try:
            async with session_factory(engine)() as session:
                state = await session.get(ProjectionState, 1)
                log = await load_log(session)
                registry = await load_registry(session)
            return state, log, registry
        finally:
            await engine.dispose()

    state, log, registry = asyncio.run(from_sql())
    roles = {slug: e.role for slug, e in registry.items()}
    rebuilt = project(
        log,
        roles,
        day,
        projection.window_days,
        load_rules(settings.dealwatch_rules_file, settings.slack_default_channel).thresholds,
        known,
    )
    same_bytes = rebuilt.to_json() == projection.to_json()
    console.print(
        f"SQL mirror recomputed: {'[green]identical bytes' if same_bytes else '[red]DIFFERENT'}"
    )
    if state and state.evaluation_day == day and known is None:
        same_digest = state.digest == digest
        console.print(
            f"live projection digest {state.digest}: "
            f"{'[green]matches' if same_digest else '[red]differs'}"
        )
        same_bytes = same_bytes and same_digest
    if not same_bytes:
        raise typer.Exit(3)


def register(app: typer.Typer) -> None:
    app.command()(replay)
