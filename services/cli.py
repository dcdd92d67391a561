"""The `dealwatch` command line (Typer + Rich)."""

from __future__ import annotations

import typer

from services.commands import (
    alerts,
    audit,
    demo,
    ingest,
    kafka,
    replay,
    scheduler,
    show,
    sources,
    sql,
    worker,
)

app = typer.Typer(
    name="dealwatch",
    help="Event-sourced monitor of AI-industry consolidation: Kafka log, SQL projections, "
    "Slack alerts.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(kafka.app)
app.add_typer(alerts.app)
app.add_typer(audit.app)
app.add_typer(sources.app)
app.add_typer(sources.review_app)
for module in (ingest, worker, scheduler, demo, replay, sql, show):
    module.register(app)
