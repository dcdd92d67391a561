"""What users query, compared with what the log implies: one canonical checksum per projection
table (rows in key order, numbers as floats, dates as ISO text), then the differing rows."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dealwatch.alerts.outbox import CANCELLED, OPERATIONAL_RULES
from dealwatch.projections.projection import Projection
from dealwatch.services.db.models import Alert, RegistryEntry
from dealwatch.services.db.projection_rows import TableRows, projection_tables

SHOWN = 5  # differing rows printed per table


@dataclass
class TableCheck:
    """One table: its checksums in the database and in the replay, and where they differ."""

    name: str
    live_rows: int
    replay_rows: int
    live_checksum: str
    replay_checksum: str
    differences: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def matches(self) -> bool:
        return self.live_checksum == self.replay_checksum


def normalise(value: Any) -> Any:
    """One form per value whichever database returned it: numbers (and booleans, which SQLite
    returns as 0/1) as floats, dates as ISO text, JSON text as its parsed value."""
    if isinstance(value, bool | int | float):
        return float(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _key(row: dict, keys: Sequence[str]) -> tuple:
    return tuple(normalise(row[k]) for k in keys)


def checksum(rows: Sequence[dict], keys: Sequence[str]) -> str:
    """SHA-256 of the rows' canonical JSON, in primary-key order."""
    canonical = sorted(
        ([[c, normalise(r[c])] for c in sorted(r)] for r in rows),
        key=lambda pairs: json.dumps([v for c, v in pairs if c in keys], default=str),
    )
    return hashlib.sha256(json.dumps(canonical, default=str).encode()).hexdigest()


def _describe(keys: Sequence[str], key: tuple) -> str:
    return ", ".join(f"{k}={v}" for k, v in zip(keys, key, strict=True))


def difference(keys: Sequence[str], stored: dict | None, implied: dict | None) -> str | None:
    """How a stored row differs from the one the log implies (either may be missing), in the
    words every audit prints; None when they agree."""
    row = stored if stored is not None else implied
    where = _describe(keys, tuple(row[k] for k in keys))  # type: ignore[index]
    if implied is None:
        return f"{where}: in the table, not implied by the log"
    if stored is None:
        return f"{where}: implied by the log, missing from the table"
    changed = [
        f"{c} is {stored.get(c)!r}, the log implies {implied[c]!r}"
        for c in sorted(implied)
        if normalise(stored.get(c)) != normalise(implied[c])
    ]
    return f"{where}: " + "; ".join(changed) if changed else None


def compare_rows(name: str, table: TableRows, live: list[dict]) -> TableCheck:
    """The table as stored (`live`) against the rows the replay implies."""
    columns = sorted(table.rows[0]) if table.rows else sorted(live[0]) if live else []
    live = [{c: row.get(c) for c in columns} for row in live]
    check = TableCheck(
        name,
        len(live),
        len(table.rows),
        checksum(live, table.keys),
        checksum(table.rows, table.keys),
    )
    if check.matches:
        return check
    stored = {_key(r, table.keys): r for r in live}
    implied = {_key(r, table.keys): r for r in table.rows}
    for key in sorted(stored.keys() | implied.keys(), key=lambda k: json.dumps(k, default=str)):
        if len(check.differences) >= SHOWN:
            break
        found = difference(table.keys, stored.get(key), implied.get(key))
        if found:
            check.differences.append(found)
    return check


async def check_tables(
    session: AsyncSession,
    projection: Projection,
    registry: dict[str, RegistryEntry],
    log_event_ids: set[str],
) -> list[TableCheck]:
    """Every projection table users read, and the outbox's set of alert keys, against the
    replay's projection."""
    checks = []
    for table in projection_tables(projection, registry):
        name = table.model.__tablename__
        query = select(table.model.__table__)
        if table.scope is not None:
            query = query.where(table.scope)
        live = [dict(row._mapping) for row in await session.execute(query)]
        checks.append(compare_rows(name, table, live))
    checks.append(await _check_alert_keys(session, projection, log_event_ids))
    return checks


async def _check_alert_keys(
    session: AsyncSession, projection: Projection, log_event_ids: set[str]
) -> TableCheck:
    """Every alert the log implies must be in the outbox. The outbox is history, so an alert
    recorded earlier and no longer implied (a later correction) is a note, unless its lineage
    names events the log does not hold: then nothing in the log explains it."""
    recorded = await session.execute(
        select(Alert.alert_key, Alert.lineage).where(
            Alert.delivery_state != CANCELLED, Alert.rule.not_in(OPERATIONAL_RULES)
        )
    )
    implied_keys = {a.alert_key for a in projection.alerts}
    live, notes = [], []
    for key, lineage in recorded:
        if key not in implied_keys and set(json.loads(lineage or "[]")) <= log_event_ids:
            notes.append(f"alert_key={key}: recorded earlier, no longer implied (history)")
        else:
            live.append({"alert_key": key})
    implied = [{"alert_key": key} for key in sorted(implied_keys)]
    check = compare_rows("alerts (implied set)", TableRows(Alert, ("alert_key",), implied), live)
    check.notes = notes
    return check
