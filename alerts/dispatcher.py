"""Send the outbox's pending alerts, once each, in order per channel.

A row is marked `sending` (and committed) before Slack is called, then `delivered`. A
dispatcher killed in between leaves `sending` rows; the next run asks Slack whether the
message arrived (the alert key travels as message metadata) before sending it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dealwatch.alerts.outbox import DELIVERED, FAILED, PENDING, SENDING, SILENCED
from dealwatch.alerts.slack import DeliveryError, Outgoing, Sender
from dealwatch.services.db.models import Alert, Silence

log = logging.getLogger("dealwatch.dispatcher")
Now = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class DispatchReport:
    delivered: int = 0
    failed: int = 0
    retried: int = 0
    silenced: int = 0
    reconciled: int = 0


async def _set(session: AsyncSession, key: str, **values) -> None:
    await session.execute(update(Alert).where(Alert.alert_key == key).values(**values))


async def _delivered(session: AsyncSession, key: str, at: dt.datetime) -> None:
    await _set(session, key, delivery_state=DELIVERED, delivered_at=at, last_error=None)


async def _silenced(session: AsyncSession, alert: Alert, now: dt.datetime) -> bool:
    found = await session.execute(
        select(Silence.rule).where(
            Silence.rule == alert.rule,
            Silence.until > now,
            or_(Silence.subject == "*", Silence.subject == alert.subject),
        )
    )
    return found.first() is not None


def _outgoing(alert: Alert) -> Outgoing:
    return Outgoing(alert.alert_key, alert.channel, alert.message, alert.fired_at)


async def dispatch(
    sessions: async_sessionmaker[AsyncSession],
    sender: Sender,
    now: Now = utc_now,
    batch: int = 50,
) -> DispatchReport:
    """One round: reconcile interrupted sends, then send pending alerts in order."""
    report = DispatchReport()
    async with sessions() as session:
        rows = (
            (
                await session.execute(
                    select(Alert)
                    .where(Alert.delivery_state.in_([PENDING, SENDING]))
                    .order_by(Alert.as_of, Alert.fired_at, Alert.alert_key)
                    .limit(batch)
                )
            )
            .scalars()
            .all()
        )
    blocked: set[str] = set()  # channels where an earlier alert could not go out this round
    for alert in rows:
        if alert.channel in blocked:
            continue
        async with sessions() as session, session.begin():
            if alert.delivery_state == SENDING:
                arrived = await sender.already_sent(_outgoing(alert))
                if arrived:
                    await _delivered(session, alert.alert_key, now())
                    report.reconciled += 1
                    continue
            elif await _silenced(session, alert, now()):
                await _set(session, alert.alert_key, delivery_state=SILENCED)
                report.silenced += 1
                continue
            await _set(
                session, alert.alert_key, delivery_state=SENDING, attempts=Alert.attempts + 1
            )
        try:
            await sender.send(_outgoing(alert))
        except DeliveryError as error:
            state = PENDING if error.retryable else FAILED
            async with sessions() as session, session.begin():
                await _set(session, alert.alert_key, delivery_state=state, last_error=str(error))
            if error.retryable:
                report.retried += 1
                blocked.add(alert.channel)
            else:
                report.failed += 1
            log.warning("alert %s not delivered (%s): %s", alert.alert_key, state, error)
            continue
        async with sessions() as session, session.begin():
            await _delivered(session, alert.alert_key, now())
        report.delivered += 1
    return report


async def run_dispatcher(
    sessions: async_sessionmaker[AsyncSession],
    sender: Sender,
    interval: float = 5.0,
    stop: asyncio.Event | None = None,
) -> None:
    """Dispatch rounds until `stop` is set; a failed round is logged and retried."""
    stop = stop or asyncio.Event()
    while not stop.is_set():
        try:
            report = await dispatch(sessions, sender)
            if report.delivered or report.failed or report.retried:
                log.info("dispatch: %s", report)
        except Exception:
            log.exception("dispatch round failed; retrying in %.0fs", interval)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
