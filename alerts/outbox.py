"""The alert outbox (spec §5, §6): alerts recorded in the projection's own transaction.

The dedup key makes each alert once-only whatever is replayed, restarted or re-ingested; a
pending alert that the log no longer implies because its record was retracted is cancelled.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dealwatch.alerts.rules_config import RulesConfig
from dealwatch.events.serialization import canonical_json
from dealwatch.projections.rules import AlertCandidate
from dealwatch.services.db.log_mirror import dialect_insert
from dealwatch.services.db.models import Alert

RECORD_RULES = frozenset(
    {"mega_round", "reverse_acquihire", "incumbent_acquisition", "major_layoff", "probe_opened"}
)
PENDING, SENDING, DELIVERED, FAILED, CANCELLED, SILENCED = (
    "pending",
    "sending",
    "delivered",
    "failed",
    "cancelled",
    "silenced",
)
STATES = (PENDING, SENDING, DELIVERED, FAILED, CANCELLED, SILENCED)
#: Alerts about operations, not implied by the log: audits of the log leave them out.
OPERATIONAL_RULES = frozenset({"digest", "source_failing"})


@dataclass(frozen=True)
class OutboxChange:
    added: int
    cancelled: int


def message_of(candidate: AlertCandidate) -> str:
    """The stored message: everything a Slack message or an audit needs, as canonical JSON."""
    return canonical_json(
        {
            "rule": candidate.rule,
            "subject": candidate.subject,
            "as_of": candidate.as_of.isoformat(),
            "title": candidate.title,
            "facts": [list(f) for f in candidate.facts],
            "source": candidate.source,
            "lineage": list(candidate.lineage),
        }
    ).decode()


def outbox_row(candidate: AlertCandidate, rules: RulesConfig, now: dt.datetime) -> dict:
    """A new, pending `alerts` row for a candidate."""
    return {
        "alert_key": candidate.alert_key,
        "rule": candidate.rule,
        "subject": candidate.subject,
        "as_of": candidate.as_of,
        "fired_at": now,
        "lineage": json.dumps(list(candidate.lineage)),
        "message": message_of(candidate),
        "channel": rules.channel_for(candidate.rule),
        "delivery_state": PENDING,
        "attempts": 0,
    }


async def sync_outbox(
    session: AsyncSession,
    candidates: Sequence[AlertCandidate],
    rules: RulesConfig,
    now: dt.datetime,
    retracted_event_ids: set[str],
) -> OutboxChange:
    """Record new alerts as pending and cancel withdrawn ones, for a whole projection; the
    caller commits. The reference for the outbox's rules: the worker applies the same rules
    to what changed (services/projection/alerting.py)."""
    derived = {c.alert_key for c in candidates}
    existing = set((await session.execute(select(Alert.alert_key))).scalars())
    rows = [outbox_row(c, rules, now) for c in candidates if c.alert_key not in existing]
    if rows:
        await session.execute(
            dialect_insert(session, Alert).on_conflict_do_nothing(index_elements=["alert_key"]),
            rows,
        )
    pending = (
        await session.execute(
            select(Alert.alert_key, Alert.rule, Alert.lineage).where(
                Alert.delivery_state == PENDING
            )
        )
    ).all()
    withdrawn = [
        key
        for key, rule, lineage in pending
        if key not in derived
        and (rule in RECORD_RULES or retracted_event_ids.intersection(json.loads(lineage)))
    ]
    if withdrawn:
        await session.execute(
            update(Alert)
            .where(Alert.alert_key.in_(withdrawn), Alert.delivery_state == PENDING)
            .values(
                delivery_state=CANCELLED,
                last_error="withdrawn: its record was retracted or corrected before delivery",
            )
        )
    return OutboxChange(len(rows), len(withdrawn))
