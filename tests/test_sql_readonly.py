"""`dealwatch sql` and `show` are read-only, enforced by the database, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from dealwatch.services.cli import app
from dealwatch.services.config import get_settings
from dealwatch.services.db.engine import backend, make_sync_engine
from dealwatch.services.db.readonly import ReadOnlyQueryError, run_readonly
from dealwatch.services.db.schema import upgrade


@pytest.fixture
def db(database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    upgrade(database_url)
    engine = make_sync_engine(database_url)
    with engine.begin() as conn:
        for i, (day, idx) in enumerate([("2024-06-30", 91.0), ("2024-12-31", 68.5)]):
            conn.execute(
                text("INSERT INTO consolidation VALUES (:d, 365, :i, :h, 1.0, 2.0, :a)"),
                {"d": dt.date.fromisoformat(day), "i": idx, "h": 1889 + i, "a": 7},
            )
        conn.execute(
            text("INSERT INTO consolidation_by_incumbent VALUES (:d, 'amazon', 6.75e9)"),
            {"d": dt.date(2024, 12, 31)},
        )
        conn.execute(
            text("INSERT INTO watchlist VALUES ('openai', 'critical', 4.2e8, 1e9, 3.8, :d)"),
            {"d": dt.date(2024, 9, 30)},
        )
    engine.dispose()
    monkeypatch.setenv("DATABASE_URL", database_url)
    get_settings.cache_clear()
    yield database_url
    get_settings.cache_clear()


def _count(url: str) -> int:
    return run_readonly(url, "SELECT COUNT(*) FROM consolidation").rows[0][0]


WRITES = [
    "INSERT INTO consolidation VALUES ('2025-01-01', 365, 1, 1, 1, 1, 1)",
    "UPDATE consolidation SET idx = 0",
    "DELETE FROM consolidation",
    "DROP TABLE consolidation",
    "CREATE TABLE sneaky (a INT)",
    "SELECT 1; DROP TABLE consolidation",
]
SQLITE_ONLY = [
    "ATTACH DATABASE '/tmp/other.db' AS other",
    "PRAGMA journal_mode=DELETE",
    "PRAGMA user_version=5",
]
PG_ONLY = [
    "CREATE TEMP TABLE t AS SELECT 1",
    "SELECT nextval('x')",
    "COPY consolidation FROM PROGRAM 'true'",
]


def test_writes_ddl_attach_and_pragma_writes_are_refused(db: str) -> None:
    extra = SQLITE_ONLY if backend(db) == "sqlite" else PG_ONLY
    for statement in WRITES + extra:
        with pytest.raises(ReadOnlyQueryError) as refused:
            run_readonly(db, statement)
        message = str(refused.value)
        assert message.startswith(("refused", "query failed")), message
        assert "dealwatch:dealwatch" not in message  # never the password
    assert _count(db) == 2  # nothing changed


def test_cli_refuses_with_a_clear_error(db: str) -> None:
    result = CliRunner().invoke(app, ["sql", "DELETE FROM consolidation"])
    assert result.exit_code == 1
    assert "refused" in result.output and "read-only" in result.output
    assert _count(db) == 2


def test_cli_formats(db: str) -> None:
    runner = CliRunner()
    query = "SELECT as_of, idx, hhi FROM consolidation ORDER BY as_of"
    out = runner.invoke(app, ["sql", query, "--format", "json"])
    assert out.exit_code == 0, out.output
    rows = json.loads(out.output)
    assert rows == [
        {"as_of": "2024-06-30", "idx": 91.0, "hhi": 1889},
        {"as_of": "2024-12-31", "idx": 68.5, "hhi": 1890},
    ]
    out = runner.invoke(app, ["sql", query, "--format", "csv"])
    assert out.output.splitlines() == [
        "as_of,idx,hhi",
        "2024-06-30,91.0,1889",
        "2024-12-31,68.5,1890",
    ]
    out = runner.invoke(app, ["sql", query])
    assert "68.5" in out.output and "as_of" in out.output


def test_show_commands(db: str, tmp_path) -> None:
    runner = CliRunner()
    out = runner.invoke(app, ["show", "consolidation", "--plot", str(tmp_path / "s.png")])
    assert out.exit_code == 0, out.output
    assert "68.5" in out.output and "amazon" in out.output and "$6.75B" in out.output
    png = (tmp_path / "s.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 1000
    out = runner.invoke(app, ["show", "consolidation", "--as-of", "2024-07-01"])
    assert "91.0" in out.output and "as of 2024-06-30" in out.output
    out = runner.invoke(app, ["show", "watchlist"])
    assert "openai" in out.output and "critical" in out.output


def test_missing_sqlite_file_is_not_created(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'absent.db'}"
    with pytest.raises(ReadOnlyQueryError, match="no such database"):
        run_readonly(url, "SELECT 1")
    assert not (tmp_path / "absent.db").exists()


ENDLESS = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT count(*) FROM c"


def test_a_query_that_never_ends_is_stopped_at_the_timeout(db: str) -> None:
    import time

    started = time.monotonic()
    result = CliRunner().invoke(app, ["sql", ENDLESS, "--timeout", "1.5"])
    elapsed = time.monotonic() - started
    assert result.exit_code == 1, result.output
    assert "stopped after 1.5s" in result.output and "--timeout" in result.output
    assert elapsed < 30, elapsed
    assert CliRunner().invoke(app, ["sql", "SELECT 1 AS one", "--timeout", "1.5"]).exit_code == 0
