"""Many rows in one INSERT: on PostgreSQL, one array per column (`unnest`), not a statement
per row.

An executemany on PostgreSQL (psycopg's pipeline) still binds, plans and executes every row
on the server, and SQLAlchemy builds each row's parameters in Python: at 1M events, with five
bulk statements per event, the server's share was ~0.4 of a core beside one worker's
(docs/benchmarks.md). `INSERT ... SELECT * FROM unnest(:a, :b, ...)` is one statement per
batch, with one parameter per column. The rows must be unique on the conflict target (one
statement cannot update a row twice): `bulk_insert` keeps the last row of each key, as an
executemany of upserts would. SQLite's executemany steps prepared rows in C already (one
statement over `json_each` was measured there and gained nothing); it keeps it.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import bindparam, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def is_postgresql(session: AsyncSession) -> bool:
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
        rows = list({tuple(row[k] for k in keys): row for row in rows}.values())
    names = list(rows[0])
    arrays = [
        bindparam(
            f"bulk_{name}",
            _column_values(table.c[name], [row[name] for row in rows]),
            type_=postgresql.ARRAY(table.c[name].type),
        )
        for name in names
    ]
    source = func.unnest(*arrays).table_valued(*names).render_derived()
    return postgresql.insert(table).from_select(names, select(source)), None


def _column_values(column, values: list) -> list:
    """One array's values; a float column's ints as floats (psycopg dumps a list of one
    element type only: `[1, 2.5]` is refused)."""
    try:
        python_type = column.type.python_type
    except NotImplementedError:
        return values
    if python_type is float:
        return [None if v is None else float(v) for v in values]
    return values
