"""Many rows in one INSERT: on PostgreSQL the batch as one JSON parameter
(`json_to_recordset`), not a statement per row.

An executemany on PostgreSQL (psycopg's pipeline) still binds, plans and executes every row
on the server, and SQLAlchemy builds each row's parameters in Python. One worker catching up
a 200k log (bench7a0e9c, alternating runs): worker 247-283 us and PostgreSQL 97-108 us of
CPU an event row by row; 201-217 and 76-80 with one JSON parameter per statement. The JSON
is written by orjson: `json.dumps` took ~4.5 us a row, ~20 us of the worker's CPU an event
(py-spy), orjson ~0.4. One array per column (`unnest`) cut the server's share as much but
cost the worker more (psycopg dumps lists item by item in Python): 265-313 us. The rows must be
unique on the conflict target (one statement cannot update a row twice): `bulk_insert`
keeps the last row of each key, as an executemany of upserts would. SQLite keeps an
executemany (one statement over `json_each` gained nothing there: docs/benchmarks.md), but
`execute_bulk` hands it to the driver as tuples, not through SQLAlchemy's per-row work.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from functools import partial
from math import isfinite
from operator import is_not, itemgetter

import orjson
from sqlalchemy import JSON, Float, Text, bindparam, cast, column, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def is_postgresql(session: AsyncSession) -> bool:
    """Whether the session is bound to PostgreSQL (else SQLite, one writer at a time)."""
    return session.bind is not None and session.bind.dialect.name == "postgresql"


def bulk_insert(
    session: AsyncSession, table, rows: Sequence[dict], keys: Sequence[str] = ()
) -> tuple:
    """An INSERT of `rows` (all with the same columns) for the session's database, to which
    ON CONFLICT may be added, and the parameters to execute it with. With `keys` (the conflict
    target), the last row of each key is kept on PostgreSQL."""
    table = getattr(table, "__table__", table)  # Core, not the ORM's bulk path: far faster
    if not is_postgresql(session):
        return sqlite.insert(table), list(rows)
    if keys:
        key = itemgetter(*keys)
        rows = list({key(row): row for row in rows}.values())
    names = list(rows[0])
    columns = [column(name, table.c[name].type) for name in names]
    source = (
        func.json_to_recordset(
            cast(bindparam("bulk_rows", _json(table, names, rows), type_=Text), JSON)
        )
        .table_valued(*columns)
        .render_derived(with_types=True)
    )
    return postgresql.insert(table).from_select(names, select(source)), None


def _json(table, names: list[str], rows: Sequence[dict]) -> str:
    """The rows as JSON; dates and datetimes in ISO 8601, as PostgreSQL reads them. A value
    JSON cannot hold raises: a NaN or an infinity in a float column (orjson would write null),
    an integer beyond 64 bits, an object."""
    for name in names:
        if isinstance(table.c[name].type, Float):
            values = filter(partial(is_not, None), [row[name] for row in rows])
            if not all(map(isfinite, values)):
                raise ValueError(f"{table.name}.{name}: NaN or infinity cannot be written")
    return orjson.dumps(rows).decode()


async def execute_bulk(session: AsyncSession, statement, params: list[dict] | None) -> None:
    """Run a `bulk_insert` statement (with its ON CONFLICT). On SQLite the statement is
    compiled once for the batch and the rows go to the driver's executemany as tuples, through
    each column's own bind processor: SQLAlchemy's executemany builds and processes every
    row's parameters in Python, ~6-10 us of the event loop's CPU a row against ~1.2-2.2
    (20,000 event rows). A statement with a parameter that is not a row column (a Python-side
    default, a literal in ON CONFLICT) is left to SQLAlchemy."""
    if params is None:  # PostgreSQL: the rows are in the statement
        await session.execute(statement)
        return
    if not params:
        return
    connection = await session.connection()
    names = list(params[0])
    compiled = statement.compile(dialect=connection.dialect, column_keys=names)
    order = compiled.positiontup or []
    columns = statement.table.c
    if not set(order) <= set(names):
        await session.execute(statement, params)
        return
    dialect = connection.dialect
    processors = [_bind_processor(columns[name].type, dialect) for name in order]
    await connection.exec_driver_sql(compiled.string, _driver_rows(params, order, processors))


def _driver_rows(params: list[dict], order: list[str], processors: list) -> list[tuple]:
    """The rows as the driver's tuples, built column by column: `itemgetter` and `map` loop
    in C, where a generator of `processor(row[key])` per row cost ~1 us a value."""
    if len(order) == 1:
        key = order[0]
        columns = [[row[key] for row in params]]
    else:
        columns = list(zip(*map(itemgetter(*order), params), strict=True))
    if any(processors):
        columns = [
            list(map(process, values)) if process else values
            for process, values in zip(processors, columns, strict=True)
        ]
    return list(zip(*columns, strict=True))


def _bind_processor(column_type, dialect):
    """The column's own bind processor, but SQLite's for dates in its default format: the
    same string (`YYYY-MM-DD`) from `date.isoformat` in C: ~0.27 against ~0.79 us a value
    for its %-format of a dict (dates are a column in every fold table)."""
    impl = column_type.dialect_impl(dialect)
    if isinstance(impl, sqlite.DATE) and impl._storage_format == _SQLITE_DATE_FORMAT:
        return _date_iso
    return impl.bind_processor(dialect)


_SQLITE_DATE_FORMAT = "%(year)04d-%(month)02d-%(day)02d"
_iso = dt.date.isoformat


def _date_iso(value):
    """`value` (a date; a datetime gives its date part, as SQLite's processor does) as
    `YYYY-MM-DD`; anything else but None raises TypeError, as SQLite's processor does."""
    return None if value is None else _iso(value)
