"""`dealwatch scheduler`: daily re-evaluation, the digest, and alert dispatch."""

from __future__ import annotations

import asyncio
import signal
from typing import Annotated

import typer
from rich.console import Console

from dealwatch.services.config import get_settings
from dealwatch.services.worker.startup import wait_for_database
from dealwatch.services.worker.waiting import Unavailable

console = Console(stderr=True)


def scheduler(
    once: Annotated[bool, typer.Option(help="Re-evaluate and dispatch once, then exit")] = False,
    digest: Annotated[bool, typer.Option(help="With --once: record and send a digest too")] = False,
) -> None:
    """Run the scheduled jobs until stopped (SIGTERM or Ctrl-C)."""
    import logging

    from dealwatch.services import scheduler as jobs

    logging.basicConfig(level=logging.INFO, format="[%(asctime)s] %(levelname)s %(message)s")
    settings = get_settings()
    try:
        wait_for_database(settings, console.print)
    except Unavailable as error:
        console.print(f"[red]error:[/] {error}")
        raise typer.Exit(1) from error
    if once:
        asyncio.run(run_once(settings, digest))
        return

    async def run() -> None:
        sched = jobs.build_scheduler(settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        sched.start()
        await jobs.reevaluate_job()  # at start: today's picture without waiting for the cron
        for job in sched.get_jobs():
            console.print(f"job {job.id}: next run {job.next_run_time}")
        await stop.wait()
        sched.shutdown(wait=False)
        await jobs.Jobs.engine.dispose()

    asyncio.run(run())


async def run_once(settings, with_digest: bool) -> None:
    """One re-evaluation (and digest), then one dispatch round."""
    from dealwatch.services import scheduler as jobs

    jobs.Jobs.setup(settings)
    try:
        outcome = await jobs.reevaluate(settings, jobs.Jobs.engine, jobs.Jobs.rules)
        console.print(
            f"re-evaluated as of {outcome.evaluation_day}: "
            f"{'unchanged' if outcome.skipped else f'{outcome.alerts_added} new alerts'}"
        )
        if with_digest:
            console.print(
                f"digest: {await jobs.record_digest(settings, jobs.Jobs.engine, jobs.Jobs.rules)}"
            )
        await jobs.dispatch_job()
    finally:
        await jobs.Jobs.engine.dispose()


def register(app: typer.Typer) -> None:
    app.command()(scheduler)
