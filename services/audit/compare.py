"""Two databases' projection tables compared row for row, streamed in key order: the live
tables against a rebuild of the log by the same incremental code (`replay --verify`), in
memory bounded by one row per side, whatever the log's length."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

from sqlalchemy import String, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from dealwatch.alerts.outbox import CANCELLED, OPERATIONAL_RULES
from dealwatch.projections.projection import Projection
from dealwatch.services.audit.tables import SHOWN, TableCheck, difference, normalise
from dealwatch.services.db.bulk import is_postgresql
from dealwatch.services.db.models import Alert, Event, RegistryEntry
from dealwatch.services.db.projection_rows import projection_tables


def _ordered(session: AsyncSession, columns: Sequence[Any]) -> list[Any]:
    """ORDER BY terms in code-point order on both databases (PostgreSQL's default collation
    would sort '-' and '.' differently from SQLite)."""
    if is_postgresql(session):
        return [c.collate("C") if isinstance(c.type, String) else c for c in columns]
    return list(columns)


async def _rows(session: AsyncSession, query, keys: Sequence[str]) -> AsyncIterator[dict]:
    table_columns = {c.name: c for c in query.selected_columns}
    order = _ordered(session, [table_columns[k] for k in keys])
    ordered = query.order_by(*order).execution_options(yield_per=2_000)  # else buffered whole
    async for row in await session.stream(ordered):
        yield dict(row._mapping)


async def _merged(
    live: AsyncIterator[dict], rebuilt: AsyncIterator[dict], keys: Sequence[str]
) -> AsyncIterator[tuple[dict | None, dict | None]]:
    """Pairs of rows with the same key (None where one side lacks it), in key order."""

    async def step(rows: AsyncIterator[dict]) -> dict | None:
        return await anext(rows, None)

    def key(row: dict) -> tuple:
        return tuple(normalise(row[k]) for k in keys)

    left, right = await step(live), await step(rebuilt)
    while left is not None or right is not None:
        if right is None or (left is not None and key(left) < key(right)):
            yield left, None
            left = await step(live)
        elif left is None or key(right) < key(left):
            yield None, right
            right = await step(rebuilt)
        else:
            yield left, right
            left, right = await step(live), await step(rebuilt)


def _canonical(row: dict) -> bytes:
    return json.dumps([[c, normalise(row[c])] for c in sorted(row)], default=str).encode()


async def compare_table(
    name: str,
    live: AsyncSession,
    rebuilt: AsyncSession,
    query,
    keys: Sequence[str],
) -> TableCheck:
    """One table (rows of `query`) in the live database against the rebuild."""
    live_hash, rebuilt_hash = hashlib.sha256(), hashlib.sha256()
    counts = [0, 0]
    differences: list[str] = []
    pairs = _merged(_rows(live, query, keys), _rows(rebuilt, query, keys), keys)
    async for stored, implied in pairs:
        if stored is not None:
            counts[0] += 1
            live_hash.update(_canonical(stored))
        if implied is not None:
            counts[1] += 1
            rebuilt_hash.update(_canonical(implied))
        if len(differences) < SHOWN and (found := difference(keys, stored, implied)):
            differences.append(found)
    check = TableCheck(name, counts[0], counts[1], live_hash.hexdigest(), rebuilt_hash.hexdigest())
    check.differences = differences
    return check


async def compare_tables(
    live: AsyncSession, rebuilt: AsyncSession, window_days: int
) -> list[TableCheck]:
    """Every projection table users read, then the outbox's alert keys."""
    empty = Projection(None, window_days, None, [], [], [])  # type: ignore[arg-type]
    checks = []
    for table in projection_tables(empty, {}):
        query = select(table.model.__table__)
        if table.scope is not None:
            query = query.where(table.scope)
        checks.append(
            await compare_table(table.model.__tablename__, live, rebuilt, query, table.keys)
        )
    checks.append(await compare_alert_keys(live, rebuilt))
    return checks


async def compare_alert_keys(live: AsyncSession, rebuilt: AsyncSession) -> TableCheck:
    """Every alert the rebuild implies must be in the live outbox. The outbox is history: an
    alert recorded earlier and no longer implied (a later correction) is a note, unless its
    lineage names events the log does not hold: then nothing in the log explains it."""
    query = select(Alert.alert_key, Alert.lineage).where(
        Alert.delivery_state != CANCELLED, Alert.rule.not_in(OPERATIONAL_RULES)
    )
    keys = ("alert_key",)
    live_hash, rebuilt_hash = hashlib.sha256(), hashlib.sha256()
    counts = [0, 0]
    check = TableCheck("alerts (implied set)", 0, 0, "", "")
    async for stored, implied in _merged(
        _rows(live, query, keys), _rows(rebuilt, query, keys), keys
    ):
        if stored is not None and implied is None:
            lineage = json.loads(stored["lineage"] or "[]")
            if await _all_in_log(rebuilt, lineage):
                check.notes.append(
                    f"alert_key={stored['alert_key']}: recorded earlier, no longer implied "
                    "(history)"
                )
                continue
        if stored is not None:
            counts[0] += 1
            live_hash.update(stored["alert_key"].encode() + b"\n")
        if implied is not None:
            counts[1] += 1
            rebuilt_hash.update(implied["alert_key"].encode() + b"\n")
        if len(check.differences) < SHOWN and (stored is None or implied is None):
            check.differences.append(difference(keys, stored, implied))  # type: ignore[arg-type]
    check.live_rows, check.replay_rows = counts
    check.live_checksum, check.replay_checksum = live_hash.hexdigest(), rebuilt_hash.hexdigest()
    return check


async def _all_in_log(rebuilt: AsyncSession, event_ids: list[str]) -> bool:
    for event_id in event_ids:
        if not await rebuilt.scalar(select(exists().where(Event.event_id == event_id))):
            return False
    return True


async def compare_mirror(live: AsyncSession, rebuilt: AsyncSession) -> tuple[int, int, int]:
    """The live `events` mirror against the rebuild's (every event id at its first offset):
    how many are missing, extra, and at another offset."""
    query = select(Event.event_id, Event.partition, Event.offset)
    missing = extra = moved = 0
    keys = ("event_id",)
    async for stored, implied in _merged(
        _rows(live, query, keys), _rows(rebuilt, query, keys), keys
    ):
        if stored is None:
            missing += 1
        elif implied is None:
            extra += 1
        elif (stored["partition"], stored["offset"]) != (implied["partition"], implied["offset"]):
            moved += 1
    return missing, extra, moved


async def compare_registry(live: AsyncSession, rebuilt: AsyncSession) -> bool:
    """The live registry mirror against the companies topic as the rebuild read it."""
    query = select(
        RegistryEntry.slug, RegistryEntry.name, RegistryEntry.role, RegistryEntry.country
    )
    pairs = _merged(_rows(live, query, ("slug",)), _rows(rebuilt, query, ("slug",)), ("slug",))
    async for stored, implied in pairs:
        if stored != implied:
            return False
    return True
