"""`dealwatch alerts list|silence|unsilence|test|dispatch`: the operators' view of the outbox."""

from __future__ import annotations

import asyncio
import datetime as dt
import getpass
import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from dealwatch.alerts import silences
from dealwatch.alerts.dispatcher import dispatch, run_dispatcher, utc_now
from dealwatch.alerts.outbox import STATES
from dealwatch.alerts.rules_config import EXAMPLE_RULES
from dealwatch.alerts.slack import DeliveryError, Outgoing, make_sender
from dealwatch.services.config import get_settings
from dealwatch.services.db.engine import make_async_engine, session_factory
from dealwatch.services.db.models import Alert
from dealwatch.services.db.schema import upgrade

app = typer.Typer(
    name="alerts", help="The alert outbox: list, silence, test, dispatch.", no_args_is_help=True
)
console = Console()
errors = Console(stderr=True)


def parse_duration(text: str) -> dt.timedelta:
    """`30m`, `12h`, `7d`, `2w`."""
    try:
        return silences.parse_duration(text)
    except silences.DurationError as error:
        raise typer.BadParameter(str(error)) from error


def _run(coro_factory):
    async def run():
        settings = get_settings()
        engine = make_async_engine(settings.database_url)
        try:
            return await coro_factory(session_factory(engine), settings)
        finally:
            await engine.dispose()

    upgrade(get_settings().database_url)
    return asyncio.run(run())


@app.command("rules-example")
def rules_example() -> None:
    """Print the commented example rules file (`dealwatch alerts rules-example > rules.yaml`)."""
    typer.echo(EXAMPLE_RULES.read_text(encoding="utf-8"), nl=False)


@app.command("list")
def list_alerts(
    state: Annotated[str | None, typer.Option(help=f"One of {', '.join(STATES)}")] = None,
    limit: int = 100,
) -> None:
    """The outbox, newest first."""
    if state and state not in STATES:
        raise typer.BadParameter(f"unknown state {state!r}; use {', '.join(STATES)}")

    async def fetch(sessions, _settings):
        async with sessions() as session:
            query = select(Alert).order_by(Alert.as_of.desc(), Alert.alert_key).limit(limit)
            if state:
                query = query.where(Alert.delivery_state == state)
            return (await session.execute(query)).scalars().all()

    rows = _run(fetch)
    table = Table("as of", "rule", "subject", "state", "attempts", "channel", "title")
    for a in rows:
        table.add_row(
            str(a.as_of),
            a.rule,
            a.subject,
            a.delivery_state,
            str(a.attempts),
            a.channel,
            json.loads(a.message)["title"],
        )
    console.print(table)


@app.command()
def silence(
    target: Annotated[str, typer.Argument(help="RULE or RULE:SUBJECT")],
    for_: Annotated[str, typer.Option("--for", help="How long, e.g. 7d")] = "7d",
) -> None:
    """Do not deliver alerts of RULE (for SUBJECT only, if given) for a while."""
    until = utc_now() + parse_duration(for_)
    who = getpass.getuser()
    rule, subject = _run(lambda sessions, _s: silences.silence(sessions, target, until, who))
    console.print(f"silenced {rule}:{subject} until {until:%Y-%m-%d %H:%M} UTC")


@app.command()
def unsilence(target: Annotated[str, typer.Argument(help="RULE or RULE:SUBJECT")]) -> None:
    """Lift a silence."""
    rule, subject = _run(lambda sessions, _s: silences.unsilence(sessions, target))
    console.print(f"{rule}:{subject} is no longer silenced")


@app.command()
def test() -> None:
    """Send one test message to the default channel, to check the wiring."""
    settings = get_settings()
    sender = make_sender(settings)
    message = json.dumps(
        {
            "rule": "test",
            "subject": "wiring",
            "as_of": str(dt.date.today()),
            "title": "dealwatch test message",
            "facts": [["Sender", sender.name]],
            "source": None,
            "lineage": [],
        }
    )
    outgoing = Outgoing("test", settings.slack_default_channel, message, utc_now())
    try:
        receipt = asyncio.run(sender.send(outgoing))
    except DeliveryError as error:
        errors.print(f"[red]error:[/] {error}")
        raise typer.Exit(1) from error
    console.print(f"sent through {sender.name} to {settings.slack_default_channel}: {receipt}")


@app.command("dispatch")
def dispatch_command(
    once: Annotated[bool, typer.Option(help="One round, then exit")] = False,
    interval: Annotated[float, typer.Option(help="Seconds between rounds")] = 5.0,
) -> None:
    """Deliver pending alerts (to Slack when configured, else to the console)."""

    async def go(sessions, settings):
        sender = make_sender(settings)
        if once:
            report = await dispatch(sessions, sender)
            console.print(f"{sender.name}: {report}")
        else:
            await run_dispatcher(sessions, sender, interval)

    _run(go)
