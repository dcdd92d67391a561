"""Bulk writes (services/db/bulk.py): one statement per batch on PostgreSQL, executemany on
SQLite; both must leave the same rows."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from sqlalchemy import text
from sqlalchemy.dialects import sqlite

from dealwatch.services.db.bulk import _bind_processor, _driver_rows
from dealwatch.services.db.engine import make_async_engine, session_factory
from dealwatch.services.db.log_mirror import Consumed, insert_or_lock, upsert, write_events
from dealwatch.services.db.models import Deal, Event
from dealwatch.services.db.schema import upgrade
from dealwatch.services.db.state_models import PendingCheck

DAY = dt.date(2024, 6, 1)


def deal(record_id: str, amount, source=None) -> dict:
    return {
        "record_id": record_id,
        "kind": "funding",
        "date": DAY,
        "company": "alpha",
        "counterparties": "bigco",
        "amount_usd": amount,
        "reverse_acquihire": False,
        "source": source,
    }


def event(partition: int, offset: int) -> dict:
    return {
        "event_id": "e-1",
        "record_id": "r-1",
        "target_id": "r-1",
        "kind": "funding",
        "date": DAY,
        "reported": None,
        "company": "alpha",
        "topic": "deal-events",
        "partition": partition,
        "offset": offset,
        "payload": '{"quote": "\\"x\\" \u00e9"}',
    }


async def _write(url: str) -> tuple[list, list, list]:
    upgrade(url)
    engine = make_async_engine(url)
    sessions = session_factory(engine)
    try:
        async with sessions() as session, session.begin():
            # ints and floats in one float column, None, the last row of a key wins
            await upsert(
                session,
                Deal,
                [deal("a", 1), deal("b", 2.5, "s"), deal("c", None), deal("a", 10**15, "t")],
                ["record_id"],
            )
            checks = [{"kind": "record", "key": "k"}, {"kind": "record", "key": "k"}]
            await insert_or_lock(session, PendingCheck, checks, ["kind", "key"])
            consumed = [Consumed("deal-events", 0, 10), Consumed("deal-events", 1, 6)]
            # a re-sent event: its earliest position wins, within one batch and across batches
            await write_events(session, [event(1, 5), event(0, 9), event(1, 2)], consumed)
        async with sessions() as session, session.begin():
            await write_events(session, [event(0, 3)], [])
            await write_events(session, [event(0, 7)], [])
        async with sessions() as session:
            deals = (
                await session.execute(
                    text("SELECT record_id, amount_usd, source FROM deals ORDER BY record_id")
                )
            ).all()
            checks = (await session.execute(text("SELECT kind, key FROM pending_checks"))).all()
            events = (
                await session.execute(
                    text('SELECT event_id, partition, "offset", date, payload FROM events')
                )
            ).all()
        return [tuple(r) for r in deals], [tuple(r) for r in checks], [tuple(r) for r in events]
    finally:
        await engine.dispose()


def test_bulk_writes_keep_every_value_and_the_right_duplicate(database_url: str) -> None:
    deals, checks, events = asyncio.run(_write(database_url))
    assert deals == [("a", 1e15, "t"), ("b", 2.5, "s"), ("c", None, None)]
    assert checks == [("record", "k")]
    date = events[0][3]
    assert (events[0][:3], str(date)) == (("e-1", 0, 3), "2024-06-01")
    assert events[0][4] == event(0, 0)["payload"]


def test_bulk_json_refuses_what_json_cannot_hold_and_writes_iso_dates() -> None:
    import json

    import pytest

    from dealwatch.services.db.bulk import _json
    from dealwatch.services.db.models import Alert

    deals = Deal.__table__
    names = list(deal("a", 1.0))
    for bad in (float("nan"), float("inf"), -float("inf")):
        with pytest.raises(ValueError, match=r"deals\.amount_usd"):
            _json(deals, names, [deal("a", 1.0), deal("b", bad), deal("c", None)])
    with pytest.raises(TypeError):  # orjson's error: an integer beyond 64 bits
        _json(deals, names, [deal("a", 2**70)])
    at = dt.datetime(2024, 6, 1, 12, 30, 5, 250)
    row = {"alert_key": "k", "as_of": DAY, "fired_at": at, "message": None}
    assert json.loads(_json(Alert.__table__, list(row), [row])) == [
        {
            "alert_key": "k",
            "as_of": "2024-06-01",
            "fired_at": "2024-06-01T12:30:05.000250",
            "message": None,
        }
    ]


async def _both_paths(url: str) -> tuple[list, list]:
    """One silence written by `upsert` (the bulk path), one by the ORM: both as read back."""
    from sqlalchemy import select

    from dealwatch.services.db.models import Silence

    upgrade(url)
    engine = make_async_engine(url)
    until = dt.datetime(2024, 6, 1, 12, 30, 5, 250, tzinfo=dt.UTC)
    try:
        async with session_factory(engine)() as session, session.begin():
            bulk = [{"rule": "bulk", "subject": "*", "until": until}]
            await upsert(session, Silence, bulk, ["rule", "subject"])
            session.add(Silence(rule="orm", subject="*", until=until))
        async with session_factory(engine)() as session:
            read = select(Silence.until).order_by(Silence.rule)
            typed = list((await session.execute(read)).scalars())
            raw = text("SELECT CAST(until AS TEXT) FROM alert_silences ORDER BY rule")
            stored = list((await session.execute(raw)).scalars())
        return typed, stored
    finally:
        await engine.dispose()


def test_bulk_rows_are_bound_as_sqlalchemy_binds_them(database_url: str) -> None:
    """The driver-level executemany on SQLite must store what SQLAlchemy's own insert stores
    (a timezone-aware datetime through the dialect's processor)."""
    typed, stored = asyncio.run(_both_paths(database_url))
    assert typed[0] == typed[1] and stored[0] == stored[1], (typed, stored)


async def _among(url: str) -> tuple[list, list, list]:
    from sqlalchemy import select

    from dealwatch.services.db.keyed import among
    from dealwatch.services.db.state_models import SeriesChange

    upgrade(url)
    engine = make_async_engine(url)
    later = DAY + dt.timedelta(days=1)
    try:
        async with session_factory(engine)() as session, session.begin():
            rows = [deal("a", 1.0), deal("b", 2.0), {**deal("c", 3.0), "date": later}]
            await upsert(session, Deal, rows, ["record_id"])
            changes = [{"date": DAY, "totals": "{}"}, {"date": later, "totals": "{}"}]
            await session.execute(SeriesChange.__table__.insert(), changes)
        async with session_factory(engine)() as session:
            ids = select(Deal.record_id).where(among(session, Deal.record_id, ["a", "c", "zz"]))
            by_id = sorted((await session.execute(ids)).scalars())
            dated = select(Deal.record_id).where(among(session, Deal.date, [later]))
            by_date = sorted((await session.execute(dated)).scalars())
            seqs = sorted((await session.execute(select(SeriesChange.seq))).scalars())
            picked = select(SeriesChange.seq).where(among(session, SeriesChange.seq, seqs[1:]))
            by_seq = list((await session.execute(picked)).scalars())
        return by_id, by_date, [by_seq, seqs[1:]]
    finally:
        await engine.dispose()


def test_among_selects_by_strings_dates_and_integers(database_url: str) -> None:
    by_id, by_date, (by_seq, wanted) = asyncio.run(_among(database_url))
    assert by_id == ["a", "c"]
    assert by_date == ["c"]
    assert by_seq == wanted and len(wanted) == 1


def test_sqlite_rows_are_bound_as_sqlalchemy_binds_them():
    """The driver's tuples (bulk._driver_rows, with the fast date processor) hold what
    SQLAlchemy's own SQLite processors would give, and a wrong type still raises."""
    dialect = sqlite.dialect()
    columns = Event.__table__.c
    names = ["event_id", "date", "reported", "partition"]
    ours = [_bind_processor(columns[n].type, dialect) for n in names]
    theirs = [columns[n].type.dialect_impl(dialect).bind_processor(dialect) for n in names]
    rows = [
        {"event_id": "e", "date": dt.date(2024, 2, 29), "reported": None, "partition": 0},
        {"event_id": "f", "date": dt.date(7, 1, 2), "reported": DAY, "partition": 3},
        {"event_id": "g", "date": dt.datetime(2024, 5, 6, 7, 8), "reported": DAY, "partition": 1},
    ]
    expected = [
        tuple(p(row[n]) if p else row[n] for n, p in zip(names, theirs, strict=True))
        for row in rows
    ]
    assert _driver_rows(rows, names, ours) == expected
    assert expected[1][1] == "0007-01-02" and expected[2][1] == "2024-05-06"
    assert _driver_rows([{"event_id": "e"}], ["event_id"], [None]) == [("e",)]
    with pytest.raises(TypeError):
        _driver_rows([{"date": "2024-01-01"}], ["date"], [ours[1]])
