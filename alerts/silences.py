"""Silences: alerts of a rule (for one subject, or all) are not delivered for a while. Set at
the CLI (`dealwatch alerts silence`) or in Slack (a button, `/dealwatch silence`), the same row."""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import delete

from dealwatch.services.db.log_mirror import upsert
from dealwatch.services.db.models import Silence

UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class DurationError(ValueError):
    """Not a duration like 30m, 12h, 7d or 2w."""


def parse_duration(text: str) -> dt.timedelta:
    """`30m`, `12h`, `7d`, `2w`."""
    match = re.fullmatch(r"(\d+)([mhdw])", text.strip())
    if not match:
        raise DurationError(f"{text!r}: use a number and a unit, like 30m, 12h, 7d or 2w")
    return dt.timedelta(**{UNITS[match[2]]: int(match[1])})


def split_target(target: str) -> tuple[str, str]:
    """`RULE` or `RULE:SUBJECT` → (rule, subject or "*")."""
    rule, _, subject = target.partition(":")
    return rule, subject or "*"


async def silence(sessions, target: str, until: dt.datetime, by: str | None) -> tuple[str, str]:
    rule, subject = split_target(target)
    async with sessions() as session, session.begin():
        await upsert(
            session,
            Silence,
            [{"rule": rule, "subject": subject, "until": until, "silenced_by": by}],
            ["rule", "subject"],
        )
    return rule, subject


async def unsilence(sessions, target: str) -> tuple[str, str]:
    rule, subject = split_target(target)
    async with sessions() as session, session.begin():
        await session.execute(
            delete(Silence).where(Silence.rule == rule, Silence.subject == subject)
        )
    return rule, subject
