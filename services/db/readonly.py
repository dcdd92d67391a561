"""Read-only queries, enforced by the database (a read-only connection), not by parsing SQL."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from dealwatch.services.db.engine import backend, redact


class ReadOnlyQueryError(Exception):
    """A query was refused or failed; the message says what and why, never the password."""


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]


_DENIED = {sqlite3.SQLITE_ATTACH: "ATTACH", sqlite3.SQLITE_DETACH: "DETACH"}


def _sqlite_authorizer(action: int, arg1, arg2, _db, _trigger) -> int:
    if action in _DENIED:
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_PRAGMA and arg2 is not None:  # PRAGMA name = value
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


DEFAULT_TIMEOUT = 30.0


def _timed_out(timeout: float) -> ReadOnlyQueryError:
    return ReadOnlyQueryError(
        f"query stopped after {timeout:g}s, the time limit (--timeout); "
        "narrow it (WHERE, LIMIT) or give it more time"
    )


def _sqlite(url: str, statement: str, params: Any, timeout: float) -> QueryResult:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise ReadOnlyQueryError("no SQLite file in DATABASE_URL")
    path = Path(database)
    if not path.exists():
        raise ReadOnlyQueryError(
            f"{path}: no such database; run `dealwatch demo` or `dealwatch worker` first"
        )
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
    try:
        conn.execute("PRAGMA query_only = ON")
        conn.set_authorizer(_sqlite_authorizer)
        deadline = time.monotonic() + timeout
        conn.set_progress_handler(lambda: time.monotonic() > deadline, 10_000)
        cursor = conn.execute(statement, params or ())
        columns = [d[0] for d in cursor.description or []]
        return QueryResult(columns, cursor.fetchall())
    except (sqlite3.Warning, sqlite3.DatabaseError) as error:
        if str(error) == "interrupted" and time.monotonic() > deadline:
            raise _timed_out(timeout) from error
        raise ReadOnlyQueryError(_explain(str(error))) from error
    finally:
        conn.close()


def _explain(message: str) -> str:
    lowered = message.lower()
    if "readonly" in lowered or "read-only" in lowered or "read only" in lowered:
        return f"refused: queries are read-only ({message})"
    if "one statement at a time" in lowered:
        return f"refused: one statement at a time ({message})"
    if "not authorized" in lowered:
        return f"refused: ATTACH, DETACH and PRAGMA assignments are not allowed ({message})"
    return f"query failed: {message}"


def _postgres(url: str, statement: str, params: Any, timeout: float) -> QueryResult:
    import psycopg

    parsed = make_url(url)
    conninfo = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        with psycopg.connect(conninfo, connect_timeout=10) as conn:
            conn.read_only = True
            with conn.cursor() as cursor:
                cursor.execute(f"SET statement_timeout = {int(timeout * 1000)}")
                # `prepare=True` sends the statement with the extended protocol: one statement only
                cursor.execute(statement, params or None, prepare=True)
                columns = [d.name for d in cursor.description or []]
                rows = cursor.fetchall() if cursor.description else []
            conn.rollback()
            return QueryResult(columns, rows)
    except psycopg.errors.QueryCanceled as error:
        raise _timed_out(timeout) from error
    except psycopg.errors.ReadOnlySqlTransaction as error:
        raise ReadOnlyQueryError(f"refused: queries are read-only ({error})") from error
    except psycopg.Error as error:
        text = str(error).replace(parsed.password or "\0", "***")
        if "cannot insert multiple commands" in text:
            raise ReadOnlyQueryError(
                f"refused: one statement at a time ({text.strip()})"
            ) from error
        raise ReadOnlyQueryError(f"query failed on {redact(url)}: {text.strip()}") from error


def run_readonly(
    url: str, statement: str, params: Any = None, timeout: float = DEFAULT_TIMEOUT
) -> QueryResult:
    """Run one statement on a read-only connection, stopped after `timeout` seconds."""
    if backend(url) == "sqlite":
        return _sqlite(url, statement, params, timeout)
    return _postgres(url, statement, params, timeout)
