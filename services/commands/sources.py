"""`dealwatch sources ...` and `dealwatch review ...`: producers that watch public sources,
and the queue of what a person must decide (docs/sources.md)."""

from __future__ import annotations

import asyncio
import datetime as dt
import getpass
import json
import logging
import signal
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from dealwatch.services.config import get_settings
from dealwatch.services.db.engine import make_async_engine
from dealwatch.services.sources.config import EXAMPLE_SOURCES, SourcesFileError, load_sources

app = typer.Typer(name="sources", help="Poll public sources into the log.", no_args_is_help=True)
review_app = typer.Typer(name="review", help="Candidates a person decides.", no_args_is_help=True)
console = Console()
errors = Console(stderr=True)
Day = Annotated[dt.datetime | None, typer.Option(formats=["%Y-%m-%d"])]
log = logging.getLogger("dealwatch.sources")


def _fail(error: Exception) -> typer.Exit:
    errors.print(f"[red]error:[/] {escape(str(error))}")
    return typer.Exit(1)


def _config():
    try:
        return load_sources(get_settings().dealwatch_sources_file)
    except SourcesFileError as error:
        raise _fail(error) from error


async def _run_with_engine(work):
    from dealwatch.services.db.schema import upgrade

    settings = get_settings()
    await asyncio.to_thread(upgrade, settings.database_url)
    engine = make_async_engine(settings.database_url)
    try:
        return await work(settings, engine)
    finally:
        await engine.dispose()


@app.command()
def example() -> None:
    """Print the commented example sources file (`dealwatch sources example > sources.yaml`)."""
    typer.echo(EXAMPLE_SOURCES.read_text(encoding="utf-8"), nl=False)


@app.command("list")
def list_sources() -> None:
    """The configured sources."""
    config = _config()
    table = Table("name", "kind", "every", "enabled", "address")
    for s in config.sources:
        address = s.url or f"{s.base_url} (daily form index)"
        table.add_row(s.name, s.kind, f"{s.every_seconds}s", str(s.enabled), address)
    console.print(table)


@app.command()
def status() -> None:
    """Last success, last error, lag and counts per source."""
    from dealwatch.services.db.engine import session_factory
    from dealwatch.services.sources.models import SourceState

    config = _config()

    async def states(_settings, engine):
        async with session_factory(engine)() as session:
            return {s.name: await session.get(SourceState, s.name) for s in config.sources}

    found = asyncio.run(_run_with_engine(states))
    now = dt.datetime.now(dt.UTC)
    table = Table("source", "last success", "lag", "failures", "last error", "emitted", "queued")
    for name, state in found.items():
        if state is None:
            table.add_row(name, "never polled", "-", "0", "-", "0", "0")
            continue
        success = state.last_success
        if success is not None and success.tzinfo is None:  # SQLite gives naive UTC back
            success = success.replace(tzinfo=dt.UTC)
        lag = "-" if success is None else f"{(now - success).total_seconds() / 60:.0f} min"
        error = (
            "-"
            if not state.last_error
            else f"{state.last_error_at:%Y-%m-%d %H:%M} {state.last_error}"
        )
        table.add_row(name, str(success or "never"), lag, str(state.consecutive_failures),
                      escape(error[:120]), str(state.emitted), str(state.queued))  # fmt: skip
    console.print(table)


def _print_report(report) -> None:
    console.print(
        f"{report.source}: fetched {report.fetched} ({report.not_modified} not modified), "
        f"emitted {report.emitted}, already in the log {report.duplicates}, "
        f"queued for review {report.queued}, skipped {report.skipped}, "
        f"joined a pending item {report.joined}"
    )
    for problem in report.problems:
        errors.print(f"[yellow]problem:[/] {escape(problem)}")


def _poll(name: str, since: dt.date | None, until: dt.date | None) -> None:
    from dealwatch.services.sources.poller import SourceFailed, poll

    config = _config()
    try:
        source = config.get(name)
    except SourcesFileError as error:
        raise _fail(error) from error
    try:
        report = asyncio.run(
            _run_with_engine(lambda s, e: poll(s, e, source, config.contact, since, until))
        )
    except SourceFailed as error:
        raise _fail(error) from error
    _print_report(report)


@app.command("poll")
def poll_command(name: str, since: Day = None) -> None:
    """Poll one source now (from its checkpoint, or from --since for SEC Form D)."""
    _poll(name, since.date() if since else None, None)


@app.command()
def backfill(
    name: str,
    from_: Annotated[dt.datetime, typer.Option("--from", formats=["%Y-%m-%d"])],
    to: Annotated[dt.datetime, typer.Option("--to", formats=["%Y-%m-%d"])],
) -> None:
    """Poll a past range of days (SEC Form D daily indexes); the live checkpoint stays."""
    _poll(name, from_.date(), to.date())


@app.command()
def run() -> None:
    """Poll every enabled source on its cadence until stopped (APScheduler, jobs in SQL)."""
    from dealwatch.services.sources import scheduled

    config = _config()
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s] %(levelname)s %(message)s")

    async def main(settings, _engine) -> None:
        scheduler = scheduled.build(settings, config)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        scheduler.start()
        for job in scheduler.get_jobs():
            console.print(f"source {job.id}: next poll {job.next_run_time}")
        await stop.wait()
        scheduler.shutdown(wait=False)
        await scheduled.close()

    asyncio.run(_run_with_engine(main))


@review_app.command("list")
def review_list(
    state: Annotated[str, typer.Option(help="pending, accepted, rejected or all")] = "pending",
) -> None:
    """Items waiting for a person (or decided ones)."""
    from dealwatch.services.sources.review import list_items

    items = asyncio.run(
        _run_with_engine(lambda _s, e: list_items(e, None if state == "all" else state))
    )
    table = Table("key", "source", "kind", "state", "reason", "title / names", "draft")
    for item in items:
        context = json.loads(item.context)
        about = context.get("title") or context.get("issuer") or context.get("company") or ""
        table.add_row(escape(item.key), item.source, item.kind, item.state,
                      escape(item.reason), escape(str(about)[:80]),
                      escape(draft_lines(json.loads(item.draft), context)))  # fmt: skip
    console.print(table)


def draft_lines(draft: dict, context: dict) -> str:
    """The draft's fields, one a line, with the confidence the rules gave each (`~` marks a
    guess), and the names no registry entry matched, with the nearest ones to check."""
    sure = {name: found["confidence"] for name, found in context.get("fields", {}).items()}
    shown = [k for k in draft if k not in {"id", "kind", "date", "reported", "source", "note"}]
    lines = []
    for name in shown:
        value = draft[name]
        if isinstance(value, float) and value >= 1e6:
            value = f"${value / 1e9:,.2f}B" if value >= 1e9 else f"${value / 1e6:,.0f}M"
        confidence = f" ({sure[name]:.1f})" if name in sure else ""
        lines.append(f"{'~' if sure.get(name, 1) < 0.8 else ''}{name}={value}{confidence}")
    for name, near in context.get("unmatched", {}).items():
        lines.append(f"? {name}" + (f" (near: {', '.join(near)})" if near else ""))
    return "\n".join(lines)


@review_app.command("show")
def review_show(key: str) -> None:
    """One item: its draft record, its context and where it came from."""
    from dealwatch.services.sources.review import ReviewError, get_item

    try:
        item = asyncio.run(_run_with_engine(lambda _s, e: get_item(e, key)))
    except ReviewError as error:
        raise _fail(error) from error
    console.print_json(json.dumps({
        "key": item.key, "source": item.source, "kind": item.kind, "state": item.state,
        "reason": item.reason, "origin": item.origin, "draft": json.loads(item.draft),
        "context": json.loads(item.context), "decision": item.decision,
        "decided_by": item.decided_by,
    }))  # fmt: skip


@review_app.command("accept")
def review_accept(
    key: str,
    set_: Annotated[list[str] | None, typer.Option("--set", help="FIELD=VALUE edits")] = None,
    kind: Annotated[str | None, typer.Option(help="licensing, acquisition, ...")] = None,
    by: Annotated[str | None, typer.Option(help="Reviewer (default: your user name)")] = None,
) -> None:
    """Turn an item into a feed record (after --set/--kind edits) and emit it."""
    from dealwatch.services.sources.review import ReviewError, accept, parse_edits

    try:
        edits = parse_edits(set_ or [])
        if kind:
            edits["kind"] = kind
        reviewer = by or getpass.getuser()
        record_id = asyncio.run(_run_with_engine(lambda s, e: accept(s, e, key, edits, reviewer)))
    except ReviewError as error:
        raise _fail(error) from error
    console.print(f"accepted {key}: record {record_id} is in the log")


@review_app.command("reject")
def review_reject(
    key: str,
    why: Annotated[str, typer.Option(help="Why it is not a record")],
    by: Annotated[str | None, typer.Option(help="Reviewer (default: your user name)")] = None,
) -> None:
    """Drop an item, with the reason."""
    from dealwatch.services.sources.review import ReviewError, reject

    try:
        asyncio.run(_run_with_engine(lambda _s, e: reject(e, key, why, by or getpass.getuser())))
    except ReviewError as error:
        raise _fail(error) from error
    console.print(f"rejected {key}")
