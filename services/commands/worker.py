"""`dealwatch worker` and `dealwatch migrate`."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console

from dealwatch.services.config import get_settings
from dealwatch.services.db.engine import redact
from dealwatch.services.db.schema import upgrade

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
    from dealwatch.alerts.rules_config import RulesFileError
    from dealwatch.services.worker.app import create_app
    from dealwatch.services.worker.leave import leave_on_clean_exit
    from dealwatch.services.worker.startup import prepare_worker
    from dealwatch.services.worker.waiting import Unavailable

    settings = get_settings()
    try:
        notes = prepare_worker(settings, console.print)
    except Unavailable as error:
        console.print(f"[red]error:[/] {error}")
        raise typer.Exit(1) from error
    for note in notes:
        console.print(note)
    try:
        app = create_app(settings)
    except RulesFileError as error:
        console.print(f"[red]error:[/] {error}")
        raise typer.Exit(1) from error
    leave_on_clean_exit(settings, app.conf.consumer_group_instance_id)
    sys.argv = ["dealwatch worker", "worker", "--without-web", "--loglevel", loglevel]
    app.main()


def register(app: typer.Typer) -> None:
    app.command()(migrate)
    app.command()(worker)
