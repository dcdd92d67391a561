"""Every SQLite connection dealwatch opens, sync or async, gets the same settings: WAL (the
worker, dispatcher and queries share one file), a busy timeout, and a page cache sized for a
million-event mirror (services/db/engine.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import text

from dealwatch.services.db.engine import SQLITE_CACHE_KIB, make_async_engine, make_sync_engine

PRAGMAS = ("journal_mode", "busy_timeout", "cache_size")
EXPECTED = {"journal_mode": "wal", "busy_timeout": 30000, "cache_size": -SQLITE_CACHE_KIB}


def test_sync_connections_get_the_settings(tmp_path: Path) -> None:
    engine = make_sync_engine(f"sqlite:///{tmp_path / 'sync.db'}")
    try:
        with engine.connect() as connection:
            got = {p: connection.execute(text(f"PRAGMA {p}")).scalar_one() for p in PRAGMAS}
    finally:
        engine.dispose()
    assert got == EXPECTED


def test_async_connections_get_the_settings(tmp_path: Path) -> None:
    async def read() -> dict:
        engine = make_async_engine(f"sqlite:///{tmp_path / 'async.db'}")
        try:
            async with engine.connect() as connection:
                return {
                    p: (await connection.execute(text(f"PRAGMA {p}"))).scalar_one() for p in PRAGMAS
                }
        finally:
            await engine.dispose()

    assert asyncio.run(read()) == EXPECTED
