"""Scheduled work (APScheduler): daily re-evaluation, the digest, and alert dispatch.

Runway shrinks with the calendar, so the watchlist and the evaluation-day row of the series
are recomputed every day even when no event arrives. Jobs live in a persistent job store in
the project's database, with a misfire grace time and coalescing: a scheduler that was down
catches up once, not once per missed run.
"""

from __future__ import annotations

import datetime as dt
import json
import logging

from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy.ext.asyncio import AsyncEngine

from dealwatch.alerts.dispatcher import dispatch
from dealwatch.alerts.outbox import PENDING
from dealwatch.alerts.rules_config import RulesConfig, load_rules
from dealwatch.alerts.slack import make_sender
from dealwatch.events.serialization import canonical_json
from dealwatch.services.config import Settings, get_settings
from dealwatch.services.db.engine import make_async_engine, session_factory, sync_url
from dealwatch.services.db.log_mirror import dialect_insert
from dealwatch.services.db.models import Alert
from dealwatch.services.logs import one_line
from dealwatch.services.projection.digest import digest_from_tables
from dealwatch.services.projection.projector import ProjectionOutcome, load_registry, run_projection
from dealwatch.services.worker.catchup import LogEnds, lag
from dealwatch.services.worker.waiting import DATABASE_ABSENT, keep_trying

log = logging.getLogger("dealwatch.scheduler")
MISFIRE_GRACE = 6 * 3600


async def reevaluate(
    settings: Settings, engine: AsyncEngine, rules: RulesConfig, ends: LogEnds | None = None
) -> ProjectionOutcome:
    """Project as of today; alerts only once the mirror has read the whole log."""
    own = ends is None
    ends = ends or LogEnds(settings)
    try:
        behind = await lag(engine, await ends.offsets())
    finally:
        if own:
            await ends.close()
    return await run_projection(
        engine, rules, settings.today(), settings.dealwatch_window_days, record_alerts=behind == 0
    )


async def record_digest(settings: Settings, engine: AsyncEngine, rules: RulesConfig) -> str | None:
    """Put today's digest in the outbox (once per day, whatever reruns); return its key."""
    if not rules.is_enabled("digest"):
        return None
    day = settings.today()
    async with session_factory(engine)() as session:  # one snapshot, read only
        summary = await digest_from_tables(
            session,
            {s: e.role for s, e in (await load_registry(session)).items()},
            day,
            settings.dealwatch_digest_days,
            settings.dealwatch_window_days,
        )
    # A write of its own: SQLite cannot turn a read transaction into a write once a worker
    # has committed since it began (SQLITE_BUSY_SNAPSHOT), and the read takes a while.
    async with session_factory(engine)() as session, session.begin():
        key = f"digest:market:{day.isoformat()}"
        message = canonical_json(
            {
                "rule": "digest",
                "subject": "market",
                "as_of": day.isoformat(),
                "title": summary.title(),
                "facts": [list(f) for f in summary.facts()],
                "source": None,
                "lineage": [],
            }
        ).decode()
        await session.execute(
            dialect_insert(session, Alert)
            .values(
                alert_key=key,
                rule="digest",
                subject="market",
                as_of=day,
                fired_at=dt.datetime.now(dt.UTC),
                lineage=json.dumps([]),
                message=message,
                channel=rules.channel_for("digest"),
                delivery_state=PENDING,
                attempts=0,
            )
            .on_conflict_do_nothing(index_elements=["alert_key"])
        )
    return key


class Jobs:
    """The process-wide state the scheduled jobs share (one engine, one sender)."""

    settings: Settings
    engine: AsyncEngine
    rules: RulesConfig

    @classmethod
    def setup(cls, settings: Settings) -> None:
        cls.settings = settings
        cls.engine = make_async_engine(settings.database_url)
        cls.rules = load_rules(settings.dealwatch_rules_file, settings.slack_default_channel)
        cls.sender = make_sender(settings)


async def reevaluate_job() -> None:
    """Once a day: a database away at that moment is waited for, not skipped until tomorrow."""
    outcome = await keep_trying(
        "the database",
        lambda: reevaluate(Jobs.settings, Jobs.engine, Jobs.rules),
        DATABASE_ABSENT,
        Jobs.settings.dealwatch_connect_timeout,
        log.warning,
    )
    log.info(
        "re-evaluated as of %s: %s",
        outcome.evaluation_day,
        "unchanged" if outcome.skipped else f"{outcome.alerts_added} new alerts",
    )


async def digest_job() -> None:
    key = await record_digest(Jobs.settings, Jobs.engine, Jobs.rules)
    log.info("digest recorded: %s", key)


async def dispatch_job() -> None:
    """Every few seconds: a database away is said in one line, and the next run tries again."""
    try:
        report = await dispatch(session_factory(Jobs.engine), Jobs.sender)
    except DATABASE_ABSENT as error:
        log.warning("dispatch waits for the database: %s", one_line(error))
        return
    if report.delivered or report.failed or report.retried:
        log.info("dispatch: %s", report)


def build_scheduler(settings: Settings | None = None) -> AsyncIOScheduler:
    """The scheduler with its three jobs; the cron jobs persist in SQL."""
    settings = settings or get_settings()
    Jobs.setup(settings)
    scheduler = AsyncIOScheduler(
        jobstores={
            "default": SQLAlchemyJobStore(
                url=sync_url(settings.database_url), tablename="scheduler_jobs"
            ),
            "memory": MemoryJobStore(),
        },
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": MISFIRE_GRACE},
        timezone="UTC",
    )
    scheduler.add_job(
        "dealwatch.services.scheduler:reevaluate_job",
        CronTrigger.from_crontab(settings.dealwatch_reevaluate_cron, timezone="UTC"),
        id="reevaluate",
        replace_existing=True,
    )
    scheduler.add_job(
        "dealwatch.services.scheduler:digest_job",
        CronTrigger.from_crontab(settings.dealwatch_digest_cron, timezone="UTC"),
        id="digest",
        replace_existing=True,
    )
    scheduler.add_job(
        dispatch_job,
        "interval",
        seconds=settings.dealwatch_dispatch_interval,
        id="dispatch",
        jobstore="memory",
        replace_existing=True,
    )
    return scheduler
