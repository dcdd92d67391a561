"""Engines and sessions: SQLite file by default, PostgreSQL through `DATABASE_URL`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

T = TypeVar("T")

_ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+psycopg"}
_SYNC_DRIVERS = {"sqlite": "sqlite", "postgresql": "postgresql+psycopg"}


def backend(url: str) -> str:
    """`sqlite` or `postgresql`, whatever driver the URL names."""
    name = make_url(_plain(url)).get_backend_name()
    if name not in _ASYNC_DRIVERS:
        raise ValueError(
            f"DATABASE_URL {redact(url)}: unsupported database {name!r}; "
            "use sqlite:///FILE or postgresql://USER:PASSWORD@HOST/DB"
        )
    return name


def redact(url: str) -> str:
    """The URL with its password hidden, for messages and logs."""
    return make_url(_plain(url)).render_as_string(hide_password=True)


def async_url(url: str) -> str:
    """The URL with the async driver this project uses (aiosqlite, psycopg)."""
    return _with_driver(url, _ASYNC_DRIVERS)


def sync_url(url: str) -> str:
    """The URL with the sync driver (sqlite3, psycopg), for Alembic and read-only queries."""
    return _with_driver(url, _SYNC_DRIVERS)


def _plain(url: str) -> str:
    return "postgresql" + url[len("postgres") :] if url.startswith("postgres:") else url


def _with_driver(url: str, drivers: dict[str, str]) -> str:
    parsed = make_url(_plain(url))
    return parsed.set(drivername=drivers[backend(url)]).render_as_string(hide_password=False)


SQLITE_CACHE_KIB = 16 * 1024
"""Each SQLite connection's page cache (SQLite's default is 2 MiB). A million-event mirror is
a 1.2 GB file whose primary keys are random UUIDs, so a batch's inserts land on pages all over
its indexes, far more than 2 MiB holds (the likely cause; not profiled). Alternating runs at
1M events on one log, with 32 MiB: one worker's catch-up +7 to +15 %, `dealwatch replay` +2
to +11 %. But a worker's peak RSS rose ~100 MB with it (to 384-388 MB of the 400 allowed:
each of its connections, and its refresh processes', fills a cache), so 16 MiB: 329-336 MB
(docs/benchmarks.md). A cache grows only as pages are used: small databases pay nothing."""


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")  # negative: KiB, not pages
    cursor.close()


def make_async_engine(url: str) -> AsyncEngine:
    """An async engine; SQLite in WAL mode so the worker, dispatcher and queries can share it."""
    if backend(url) == "sqlite":
        engine = create_async_engine(async_url(url), connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(async_url(url), pool_pre_ping=True)


def make_sync_engine(url: str) -> Engine:
    """A sync engine, for migrations and command-line tools."""
    if backend(url) == "sqlite":
        engine = create_engine(sync_url(url), connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(sync_url(url), pool_pre_ping=True)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit."""
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


async def in_session(url: str, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """`work` in one session of a short-lived engine (command-line tools), disposed after."""
    engine = make_async_engine(url)
    try:
        async with session_factory(engine)() as session:
            return await work(session)
    finally:
        await engine.dispose()
