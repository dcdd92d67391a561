"""The worker's writes: the log mirrored into SQL, idempotently, one transaction per batch."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import and_, delete, false, or_, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from dealwatch.events.chain import GENESIS, link
from dealwatch.services.db.bulk import bulk_insert, execute_bulk, is_postgresql
from dealwatch.services.db.keyed import among
from dealwatch.services.db.models import Event, ProjectionState, RegistryEntry, StreamPosition


@dataclass(frozen=True)
class Consumed:
    """Where a batch ends in one topic partition: the next offset to read."""

    topic: str
    partition: int
    next_offset: int


@dataclass(frozen=True)
class Message:
    """One message of a chained topic, as the consumer received it."""

    topic: str
    partition: int
    offset: int
    value: bytes | None


def consumed_of(messages: Sequence[Message]) -> list[Consumed]:
    """Where `messages` end in each topic partition: the next offset to read."""
    ends: dict[tuple[str, int], int] = {}
    for m in messages:
        ends[(m.topic, m.partition)] = max(ends.get((m.topic, m.partition), 0), m.offset + 1)
    return [Consumed(t, p, n) for (t, p), n in sorted(ends.items())]


async def fold_chains(
    session: AsyncSession, messages: Sequence[Message]
) -> dict[tuple[str, int], tuple[int, str | None]]:
    """Extend each partition's hash chain (events/chain.py) from the head SQL holds, in offset
    order; messages before the stored position were folded already (a redelivery). A gap, or a
    partition whose head was never recorded, leaves the head NULL: nothing is claimed for it."""
    partitions = {(m.topic, m.partition) for m in messages}
    if not partitions:
        return {}
    t = StreamPosition.__table__.c
    stored = await session.execute(
        select(t.topic, t.partition, t.next_offset, t.chain_head).where(
            tuple_(t.topic, t.partition).in_(list(partitions))
        )
    )
    heads: dict[tuple[str, int], tuple[int, str | None]] = {tp: (0, GENESIS) for tp in partitions}
    heads.update({(topic, part): (nxt, head) for topic, part, nxt, head in stored})
    for m in sorted(messages, key=lambda m: (m.topic, m.partition, m.offset)):
        tp = (m.topic, m.partition)
        next_offset, head = heads[tp]
        if m.offset < next_offset:
            continue
        if head is not None and m.offset == next_offset:
            head = link(head, m.offset, m.value)
        else:
            head = None
        heads[tp] = (m.offset + 1, head)
    return heads


def dialect_insert(session: AsyncSession, table):
    """An INSERT with ON CONFLICT support for the session's database (SQLite or PostgreSQL)."""
    table = getattr(table, "__table__", table)  # Core, not the ORM's bulk path: far faster
    return (postgresql.insert if is_postgresql(session) else sqlite.insert)(table)


async def insert_or_lock(
    session: AsyncSession, table, rows: Sequence[dict], keys: list[str]
) -> None:
    """Insert queue rows that are missing and, on PostgreSQL, row-lock those that exist until
    the transaction ends, without writing them (`DO UPDATE ... WHERE false`).

    `DO NOTHING` takes no lock on a row that exists, so a consumer of the queue (a refresh, the
    alert pass) could take and delete it while this transaction is open, read the state without
    this transaction's writes, and the work this transaction queued would be lost. Locked, the
    row is skipped (`SKIP LOCKED`) until this commits; a row a consumer is deleting makes this
    insert wait, then add it again. SQLite has one writer at a time: `DO NOTHING` suffices.
    Give rows in key order: two writers then lock in one order."""
    if not rows:
        return
    stmt, params = bulk_insert(session, table, rows, keys)
    if is_postgresql(session):
        stmt = stmt.on_conflict_do_update(
            index_elements=keys, set_={keys[0]: stmt.excluded[keys[0]]}, where=false()
        )
    else:
        stmt = stmt.on_conflict_do_nothing()
    await execute_bulk(session, stmt, params)


async def upsert(session: AsyncSession, table, rows: Sequence[dict], keys: list[str]) -> None:
    """Insert rows, replacing the non-key columns of rows that exist (the last of a key wins)."""
    if not rows:
        return
    stmt, params = bulk_insert(session, table, rows, keys)
    columns = [c for c in rows[0] if c not in keys]
    await execute_bulk(
        session,
        stmt.on_conflict_do_update(
            index_elements=keys, set_={c: stmt.excluded[c] for c in columns}
        ),
        params,
    )


async def write_events(
    session: AsyncSession,
    rows: Sequence[dict],
    consumed: Sequence[Consumed],
    messages: Sequence[Message] = (),
) -> None:
    """Upsert events by id (the earliest log position wins) and the positions they came from,
    with each partition's chain head over `messages` (every message of the batch)."""
    heads = await fold_chains(session, messages)
    if rows:
        earliest: dict[str, dict] = {}  # a re-sent event repeats: one statement, one row each
        for row in rows:
            seen = earliest.get(row["event_id"])
            position = (row["partition"], row["offset"])
            if seen is None or position < (seen["partition"], seen["offset"]):
                earliest[row["event_id"]] = row
        stmt, params = bulk_insert(session, Event, list(earliest.values()))
        t, new = Event.__table__.c, stmt.excluded
        earlier = or_(
            new.partition < t.partition, and_(new.partition == t.partition, new.offset < t.offset)
        )
        await execute_bulk(
            session,
            stmt.on_conflict_do_update(
                index_elements=["event_id"],
                set_={"topic": new.topic, "partition": new.partition, "offset": new.offset},
                where=earlier,
            ),
            params,
        )
    await _advance(session, consumed, heads)


async def write_registry(
    session: AsyncSession,
    entries: Sequence[dict],
    removed: Sequence[str],
    consumed: Sequence[Consumed],
) -> None:
    """Upsert registry rows (last write wins, as in the compacted topic); drop tombstoned slugs;
    queue the slugs that changed for the projector (company rows, roles)."""
    await _queue_registry_changes(session, entries, removed)
    if entries:
        stmt = dialect_insert(session, RegistryEntry)
        new = stmt.excluded
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=["slug"],
                set_={"name": new.name, "role": new.role, "country": new.country},
            ),
            list(entries),
        )
    if removed:
        await session.execute(
            delete(RegistryEntry).where(among(session, RegistryEntry.slug, removed))
        )
    await _advance(session, consumed)
    await bump_log_version(session)


async def _queue_registry_changes(
    session: AsyncSession, entries: Sequence[dict], removed: Sequence[str]
) -> None:
    from dealwatch.services.db.state_models import PendingCheck

    slugs = [e["slug"] for e in entries] + list(removed)
    if not slugs:
        return
    t = RegistryEntry.__table__.c
    stored = {
        row.slug: (row.name, row.role, row.country)
        for row in await session.execute(
            select(t.slug, t.name, t.role, t.country).where(among(session, t.slug, slugs))
        )
    }
    changed = [
        e["slug"]
        for e in entries
        if stored.get(e["slug"]) != (e["name"], e["role"], e.get("country"))
    ]
    changed += [slug for slug in removed if slug in stored]
    if changed:
        await insert_or_lock(
            session,
            PendingCheck,
            [{"kind": "registry", "key": slug} for slug in sorted(set(changed))],
            ["kind", "key"],
        )


async def _advance(
    session: AsyncSession,
    consumed: Sequence[Consumed],
    heads: dict[tuple[str, int], tuple[int, str | None]] | None = None,
) -> None:
    if not consumed:
        return
    heads = heads or {}
    stmt = dialect_insert(session, StreamPosition)
    new = stmt.excluded
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["topic", "partition"],
            set_={"next_offset": new.next_offset, "chain_head": new.chain_head},
            where=new.next_offset > StreamPosition.__table__.c.next_offset,
        ),
        [
            {
                "topic": c.topic,
                "partition": c.partition,
                "next_offset": c.next_offset,
                "chain_head": heads.get((c.topic, c.partition), (0, None))[1],
            }
            for c in consumed
        ],
    )


async def _ensure_state_row(session: AsyncSession) -> None:
    from dealwatch.services.db.state_models import STATE_FORMAT

    row = dialect_insert(session, ProjectionState).values(
        id=1, log_version=0, state_format=STATE_FORMAT
    )
    await session.execute(row.on_conflict_do_nothing())


async def lock_state(session: AsyncSession) -> None:
    """Create the projection state row if missing and write-lock it until the transaction ends.

    Taking a write lock first (not a read) keeps SQLite's WAL snapshots and PostgreSQL's row
    locks simple: writers of the mirror and projectors take turns.
    """
    await _ensure_state_row(session)
    await session.execute(
        update(ProjectionState).where(ProjectionState.id == 1).values(id=ProjectionState.id)
    )


async def bump_log_version(session: AsyncSession) -> None:
    """Tell the projector that the log mirror changed."""
    await _ensure_state_row(session)
    await session.execute(
        update(ProjectionState)
        .where(ProjectionState.id == 1)
        .values(log_version=ProjectionState.log_version + 1)
    )
