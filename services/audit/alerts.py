"""`dealwatch audit alerts`: every alert the log implies, without sending anything, against the
outbox: implied but never recorded, recorded but no longer implied (a later correction: the
outbox is history), and one alert delivered under more than one key."""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dealwatch.alerts.outbox import CANCELLED, DELIVERED, OPERATIONAL_RULES
from dealwatch.projections.rules import AlertCandidate
from dealwatch.services.db.models import Alert
from dealwatch.services.db.string_lists import string_list


@dataclass
class AlertAudit:
    """The implied alerts with their outbox state, and what does not add up."""

    implied: list[tuple[ImpliedAlert, str | None]] = field(default_factory=list)
    never_recorded: list[str] = field(default_factory=list)
    no_longer_implied: list[str] = field(default_factory=list)
    delivered_twice: list[str] = field(default_factory=list)

    @property
    def consistent(self) -> bool:
        """Nothing implied is missing and nothing went out twice (history is not a fault)."""
        return not (self.never_recorded or self.delivered_twice)


@dataclass(frozen=True, slots=True)
class ImpliedAlert:
    """What the audit lists of an implied alert (its text is not needed to audit it)."""

    alert_key: str
    rule: str
    subject: str
    as_of: dt.date
    lineage: tuple[str, ...]

    @classmethod
    def of(cls, candidate: AlertCandidate) -> ImpliedAlert:
        c = candidate
        return cls(c.alert_key, c.rule, c.subject, c.as_of, tuple(c.lineage))


async def implied_alerts(session: AsyncSession) -> list[ImpliedAlert]:
    """The alerts a fresh rebuild of the log recorded (services/audit/rebuild.py): what the
    log implies, the worker's code having folded it in bounded memory."""
    rows = await session.execute(
        select(Alert.alert_key, Alert.rule, Alert.subject, Alert.as_of, Alert.lineage)
        .where(Alert.rule.not_in(OPERATIONAL_RULES))
        .order_by(Alert.as_of, Alert.alert_key)
    )
    return [
        ImpliedAlert(key, rule, subject, as_of, tuple(json.loads(lineage)))
        for key, rule, subject, as_of, lineage in rows
    ]


async def audit_alerts(
    session: AsyncSession, alerts: Iterable[ImpliedAlert], since: dt.date | None = None
) -> AlertAudit:
    """The outbox of `session` against `alerts`, the alerts the log implies."""
    rows = (
        await session.execute(
            select(
                Alert.alert_key, Alert.rule, Alert.subject, Alert.as_of, Alert.delivery_state
            ).where(Alert.rule.not_in(OPERATIONAL_RULES))
        )
    ).all()
    if since is not None:
        rows = [r for r in rows if r.as_of >= since]
    state = {r.alert_key: r.delivery_state for r in rows}
    audit = AlertAudit()
    implied = [a for a in alerts if since is None or a.as_of >= since]
    implied_keys = {a.alert_key for a in implied}
    for alert in implied:
        audit.implied.append((alert, state.get(alert.alert_key)))
        if state.get(alert.alert_key) in (None, CANCELLED):
            audit.never_recorded.append(alert.alert_key)
    audit.no_longer_implied = sorted(
        f"{r.alert_key} ({r.delivery_state})"
        for r in rows
        if r.alert_key not in implied_keys and r.delivery_state != CANCELLED
    )
    sent: dict[tuple, list[str]] = defaultdict(list)
    for r in rows:
        if r.delivery_state == DELIVERED:
            sent[(r.rule, r.subject, r.as_of)].append(r.alert_key)
    audit.delivered_twice = sorted(
        f"{rule} {subject} {as_of}: {', '.join(keys)}"
        for (rule, subject, as_of), keys in sent.items()
        if len(keys) > 1
    )
    return audit


def lineage_text(alert: AlertCandidate) -> str:
    return string_list(alert.lineage)
