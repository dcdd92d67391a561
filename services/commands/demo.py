"""`dealwatch demo`: from nothing to the consolidation index of the seed feed."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from dealwatch.services.config import get_settings
from dealwatch.services.db.engine import make_async_engine, redact
from dealwatch.services.db.schema import upgrade
from dealwatch.services.ingest.pipeline import ingest_feed, ingest_registry
from dealwatch.services.kafka.local import KafkaLocalError, ensure_broker
from dealwatch.services.seed import SEED_FEED, SEED_REGISTRY
from dealwatch.services.worker.catchup import wait_until_caught_up

console = Console()
DEMO_DAY = dt.date(2024, 12, 31)


def _start_worker(env: dict[str, str], log_file: Path) -> subprocess.Popen:
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "dealwatch", "worker"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def demo(
    feed: Annotated[Path, typer.Option(help="Feed file")] = SEED_FEED,
    registry: Annotated[Path, typer.Option(help="Registry CSV")] = SEED_REGISTRY,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the worker")] = 180.0,
) -> None:
    """Start the broker if needed, ingest the seed, run the worker until caught up, deliver the
    alerts once, print the index, its breakdown and the watchlist.

    The evaluation day is DEALWATCH_TODAY, or 2024-12-31 (the seed's last year) when unset.
    """
    for path in (feed, registry):
        if not path.is_file():
            console.print(f"[red]error:[/] {path}: no such file (pass --feed/--registry)")
            raise typer.Exit(1)
    env = {**os.environ}
    env.setdefault("DEALWATCH_TODAY", DEMO_DAY.isoformat())
    os.environ["DEALWATCH_TODAY"] = env["DEALWATCH_TODAY"]
    get_settings.cache_clear()
    settings = get_settings()
    try:
        status = ensure_broker(settings)
    except KafkaLocalError as error:
        console.print(f"[red]error:[/] {error}")
        raise typer.Exit(1) from error
    console.print(f"Kafka answering at {status.bootstrap}")
    upgrade(settings.database_url)
    registry_report = asyncio.run(ingest_registry(registry, settings))
    feed_report = asyncio.run(ingest_feed([feed], settings))
    console.print(
        f"ingested {registry_report.accepted} companies, {feed_report.accepted} "
        f"records ({len(feed_report.rejected)} rejected)"
    )
    worker = _start_worker(env, settings.home / "worker.log")
    try:
        seconds = asyncio.run(_caught_up(settings, timeout))
    except TimeoutError as error:
        console.print(f"[red]error:[/] {error}; see {settings.home / 'worker.log'}")
        raise typer.Exit(1) from error
    finally:
        _stop(worker)
    console.print(f"worker caught up in {seconds:.1f}s; evaluation day {settings.today()}")
    _deliver_alerts(settings)
    _print_results()
    console.print(
        f"\nThe projections are in {redact(settings.database_url)}: try "
        '[bold]dealwatch sql "SELECT * FROM consolidation ORDER BY as_of"[/]'
    )


async def _caught_up(settings, timeout: float) -> float:
    engine = make_async_engine(settings.database_url)
    try:
        return await wait_until_caught_up(engine, settings, timeout)
    finally:
        await engine.dispose()


def _deliver_alerts(settings) -> None:
    """What the scheduler does each day: re-evaluate, then send pending alerts (Slack when
    SLACK_BOT_TOKEN or SLACK_WEBHOOK_URL is set, else the console)."""
    from dealwatch.services.commands.scheduler import run_once

    asyncio.run(run_once(settings, with_digest=False))


def _print_results() -> None:
    from dealwatch.services.commands import show

    show.print_consolidation(None, None)
    show.print_watchlist()


def register(app: typer.Typer) -> None:
    app.command()(demo)
