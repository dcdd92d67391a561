"""The `dealwatch` command line (Typer + Rich)."""

from __future__ import annotations

import sys

import typer

from dealwatch.alerts.rules_config import RulesFileError
from dealwatch.services.commands import (
    alerts,
    audit,
    demo,
    ingest,
    kafka,
    registry,
    replay,
    scheduler,
    show,
    slack,
    source_evaluation,
    sources,
    sql,
    worker,
)
from dealwatch.services.sources.config import SourcesFileError
from dealwatch.version import describe

app = typer.Typer(
    name="dealwatch",
    help="Event-sourced monitor of AI-industry consolidation: Kafka log, SQL projections, "
    "Slack alerts.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


def _print_version(asked: bool) -> None:
    if asked:
        typer.echo(describe())
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False,
        "--version",
        callback=_print_version,
        is_eager=True,
        help="Print the version and, when known, the commit, then exit.",
    ),
) -> None:
    """Event-sourced monitor of AI-industry consolidation: Kafka log, SQL projections, Slack
    alerts."""


app.add_typer(kafka.app)
app.add_typer(alerts.app)
app.add_typer(audit.app)
source_evaluation.register(sources.app)
app.add_typer(sources.app)
app.add_typer(sources.review_app)
app.add_typer(registry.app)
for module in (ingest, worker, scheduler, demo, replay, sql, show, slack):
    module.register(app)


# errors in a file the user wrote: the message names file, line or key and reason; no traceback
USER_FILE_ERRORS = (RulesFileError, SourcesFileError)


def run() -> None:
    """The `dealwatch` entry point: the app, with the user's file errors said in one line."""
    try:
        app()
    except USER_FILE_ERRORS as error:
        typer.echo(f"error: {error}", err=True)
        sys.exit(1)
