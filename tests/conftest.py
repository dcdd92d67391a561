"""Session fixtures: one real Kafka broker per test session, fresh SQL databases per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from services.config import Settings

SHARED = Path(os.environ.get("DEALWATCH_SHARED", Path(__file__).resolve().parents[2] / "shared"))
SEED_FEED = SHARED / "data" / "seed-feed.jsonl"
SEED_REGISTRY = SHARED / "data" / "companies.csv"
SEED_EXPECTED = SHARED / "data" / "seed-expected.json"

PG_ADMIN_URL = os.environ.get(
    "DEALWATCH_TEST_PG_URL", "postgresql://dealwatch:dealwatch@127.0.0.1:5432/postgres"
)


def _isolated(settings: Settings, **changes) -> Settings:
    return settings.model_copy(update=changes)


@pytest.fixture(scope="session")
def broker() -> Settings:
    """Settings pointing at the session's broker, started here if none answers."""
    from services.kafka_local import ensure_broker

    settings = Settings()
    ensure_broker(settings)
    return settings


@pytest.fixture
def kafka(broker: Settings) -> Settings:
    """Settings with a topic prefix of its own, so each test sees only its own log."""
    return _isolated(broker, dealwatch_topic_prefix=f"t{uuid.uuid4().hex[:10]}.")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'dealwatch.db'}"


def _pg_admin():
    return create_engine(
        make_url(PG_ADMIN_URL).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT"
    )


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database, dropped afterwards.

    Without a server the test is skipped with the reason printed, except under
    `DEALWATCH_REQUIRE_POSTGRES=1` (set by .ci/run), where it fails.
    """
    name = f"dw_test_{uuid.uuid4().hex[:12]}"
    admin = _pg_admin()
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as error:
        admin.dispose()
        reason = f"PostgreSQL not reachable at {make_url(PG_ADMIN_URL).render_as_string()}: {error}"
        if os.environ.get("DEALWATCH_REQUIRE_POSTGRES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        yield make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each test using this runs on both databases."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("postgres_url")
