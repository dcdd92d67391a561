"""`dealwatch ingest`: feed files and the registry into the log, with a progress bar."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from aiokafka.errors import KafkaError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from dealwatch.services.config import get_settings
from dealwatch.services.ingest.pipeline import (
    IngestReport,
    count_lines,
    ingest_feed,
    ingest_registry,
)
from dealwatch.services.seed import SEED_FEED, SEED_REGISTRY

console = Console()
errors = Console(stderr=True)


def _check_files(paths: list[Path]) -> None:
    for path in paths:
        if not path.is_file():
            errors.print(f"[red]error:[/] {path}: no such file")
            raise typer.Exit(1)


def print_report(title: str, report: IngestReport) -> None:
    """The summary: counts, rate, warnings and every rejected line with its reason."""
    for warning in report.warnings:
        errors.print(f"[yellow]warning:[/] {warning}")
    for path, item in report.rejected:
        rid = f" (id {item.record_id})" if item.record_id else ""
        errors.print(f"[red]rejected[/] {path}:{item.line}{rid}: {item.reason}")
    table = Table(title=title, show_header=False)
    table.add_row("accepted", str(report.accepted))
    table.add_row("duplicates (same id, same content)", str(report.duplicates))
    table.add_row("rejected", str(len(report.rejected)))
    table.add_row("records/s", f"{report.rate:,.0f}")
    console.print(table)


def ingest(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Feed files: JSON Lines or CSV")
    ] = None,
    registry: Annotated[Path | None, typer.Option(help="Company registry CSV")] = None,
    seed: Annotated[
        bool,
        typer.Option(
            "--seed", help="Also the demo's seed feed and its registry, shipped with dealwatch"
        ),
    ] = False,
) -> None:
    """Validate feed records and append them to the log; invalid lines go to the rejected topic.

    Exit status: 0 when every line was accepted, 2 when some were rejected.
    """
    settings = get_settings()
    paths = paths or []
    if seed:
        if registry is not None:
            errors.print("[red]error:[/] --seed brings the seed's registry: leave out --registry")
            raise typer.Exit(1)
        paths, registry = [SEED_FEED, *paths], SEED_REGISTRY
    if not paths and registry is None:
        errors.print("[red]error:[/] nothing to ingest: give feed files, --registry FILE or --seed")
        raise typer.Exit(1)
    _check_files(paths + ([registry] if registry else []))
    rejected = 0
    try:
        if registry is not None:
            report = asyncio.run(ingest_registry(registry, settings))
            print_report(f"registry {registry.name}", report)
            rejected += len(report.rejected)
        if paths:
            report = _ingest_with_progress(paths, settings)
            print_report("feed", report)
            rejected += len(report.rejected)
    except KafkaError as error:  # the broker, never a line: lines are rejected one by one
        errors.print(
            f"[red]error:[/] Kafka at {settings.kafka_bootstrap_servers} failed during ingest: "
            f"{error.__class__.__name__}: {error}"
        )
        raise typer.Exit(1) from error
    except OSError as error:  # the file itself: unreadable, vanished, a directory
        errors.print(f"[red]error:[/] cannot read {error.filename}: {error.strerror}")
        raise typer.Exit(1) from error
    raise typer.Exit(2 if rejected else 0)


def _ingest_with_progress(paths: list[Path], settings) -> IngestReport:
    columns = (TextColumn("ingesting"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("lines", total=count_lines(paths))
        return asyncio.run(ingest_feed(paths, settings, lambda n: progress.advance(task, n)))


def register(app: typer.Typer) -> None:
    app.command()(ingest)
