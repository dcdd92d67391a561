"""`dealwatch slack`: the Slack desk (Socket Mode), and `dealwatch slack manifest`."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import typer
from rich.console import Console

from dealwatch.services.config import get_settings

MANIFEST = Path(__file__).resolve().parent.parent / "slack" / "manifest.yaml"
app = typer.Typer(
    name="slack",
    help="The Slack desk: review with buttons, /dealwatch, alert buttons, App Home.",
    invoke_without_command=True,
)
console = Console(stderr=True)


@app.callback()
def slack(ctx: typer.Context) -> None:
    """Run the Slack app (Socket Mode: SLACK_APP_TOKEN xapp-..., SLACK_BOT_TOKEN xoxb-...)
    until stopped; it posts review items to DEALWATCH_REVIEW_CHANNEL."""
    if ctx.invoked_subcommand is not None:
        return
    from dealwatch.services.slack.app import SlackSettingsError, serve, tokens
    from dealwatch.services.worker.startup import wait_for_database
    from dealwatch.services.worker.waiting import Unavailable

    settings = get_settings()
    try:
        tokens(settings)
        wait_for_database(settings, console.print)
    except (SlackSettingsError, Unavailable) as error:
        console.print(f"[red]error:[/] {error}")
        raise typer.Exit(1) from error
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s] %(levelname)s %(message)s")
    logging.getLogger("slack_sdk").setLevel(logging.WARNING)  # a line per HTTP retry is noise
    asyncio.run(serve(settings))


@app.command()
def manifest() -> None:
    """Print the app manifest to paste into Slack's "create an app from a manifest"."""
    typer.echo(MANIFEST.read_text(encoding="utf-8"), nl=False)


def register(main: typer.Typer) -> None:
    main.add_typer(app)
