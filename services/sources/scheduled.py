"""`dealwatch sources run`: one APScheduler job per enabled source on its own cadence, in a
persistent job store (`source_jobs`) with coalescing and a misfire grace time, so a producer
that was down polls each source once when it comes back. One failing source never stops the
others: each job catches its own failure (recorded in `source_state`)."""

from __future__ import annotations

import datetime as dt
import logging

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from dealwatch.services.config import Settings
from dealwatch.services.db.engine import make_async_engine, sync_url
from dealwatch.services.sources.config import SourcesConfig

log = logging.getLogger("dealwatch.sources")


class Context:
    settings: Settings
    config: SourcesConfig
    engine = None


async def poll_job(name: str) -> None:
    from dealwatch.services.sources.poller import SourceFailed, poll

    source = Context.config.get(name)
    try:
        report = await poll(Context.settings, Context.engine, source, Context.config.contact)
    except SourceFailed as error:
        log.error("%s", error)
        return
    log.info(
        "%s: emitted %d, already in the log %d, queued %d, problems %d",
        name, report.emitted, report.duplicates, report.queued, len(report.problems),
    )  # fmt: skip


def build(settings: Settings, config: SourcesConfig) -> AsyncIOScheduler:
    Context.settings, Context.config = settings, config
    Context.engine = make_async_engine(settings.database_url)
    scheduler = AsyncIOScheduler(
        jobstores={
            "default": SQLAlchemyJobStore(
                url=sync_url(settings.database_url), tablename="source_jobs"
            )
        },
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
        timezone="UTC",
    )
    for source in config.sources:
        if not source.enabled:
            continue
        scheduler.add_job(
            "dealwatch.services.sources.scheduled:poll_job",
            "interval",
            seconds=source.every_seconds,
            args=[source.name],
            id=source.name,
            replace_existing=True,
            next_run_time=dt.datetime.now(dt.UTC),  # poll at start, then on the cadence
        )
    return scheduler


async def close() -> None:
    if Context.engine is not None:
        await Context.engine.dispose()
