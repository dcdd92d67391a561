"""`dealwatch worker` and `dealwatch migrate`."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console

from services.config import get_settings
from services.db.engine import redact
from services.db.schema import upgrade

console = Console(stderr=True)


def migrate() -> None:
    """Create or upgrade the SQL schema (Alembic) at DATABASE_URL."""
    settings = get_settings()
    upgrade(settings.database_url)
    console.print(f"schema up to date at {redact(settings.database_url)}")


def worker(
    loglevel: Annotated[str, typer.Option("--loglevel", "-l", help="Faust log level")] = "info",
) -> None:
    """Run a Faust worker: mirror the log into SQL and keep the projections current.

    Start several (same DEALWATCH_TOPIC_PREFIX) to share the partitions in one consumer group.
    """
    import asyncio

    from alerts.rules_config import RulesFileError
    from services.topics import ensure_topics
    from services.worker import create_app

    settings = get_settings()
    upgrade(settings.database_url)
    for warning in asyncio.run(ensure_topics(settings)):
        console.print(f"[yellow]warning:[/] {warning}")
    _align(settings)
    try:
        app = create_app(settings)
    except RulesFileError as error:
        console.print(f"[red]error:[/] {error}")
        raise typer.Exit(1) from error
    sys.argv = ["dealwatch worker", "worker", "--without-web", "--loglevel", loglevel]
    app.main()


def _align(settings) -> None:
    """Start from SQL's positions when no other worker of the group runs."""
    import asyncio

    from aiokafka.errors import KafkaError

    from services.db.engine import make_async_engine
    from services.offsets import align_group_offsets

    async def run() -> dict[str, int]:
        engine = make_async_engine(settings.database_url)
        try:
            return await align_group_offsets(settings, engine)
        finally:
            await engine.dispose()

    try:
        moved = asyncio.run(run())
    except KafkaError as error:  # other workers of the group are running: they are consistent
        console.print(f"group offsets left as they are ({error.__class__.__name__})")
        return
    for where, offset in sorted(moved.items()):
        console.print(f"{where}: resuming at offset {offset} (the position stored in SQL)")


def register(app: typer.Typer) -> None:
    app.command()(migrate)
    app.command()(worker)
