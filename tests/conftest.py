"""Session fixtures: one real Kafka broker per test session, fresh SQL databases per test."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from dealwatch.services.config import Settings


def _isolated(settings: Settings, **changes) -> Settings:
    return settings.model_copy(update=changes)


@pytest.fixture(scope="session")
def broker() -> Settings:
    """Settings pointing at the session's broker, started here if none answers."""
    from dealwatch.services.kafka.local import ensure_broker

    settings = Settings()
    ensure_broker(settings)
    return settings


@pytest.fixture
def kafka(broker: Settings) -> Iterator[Settings]:
    """Settings with a topic prefix of its own, so each test sees only its own log. Its topics
    (Faust's included: they carry the prefix) are deleted afterwards: the broker keeps a file
    open per partition, so topics left behind run it out of open files over many runs."""
    settings = _isolated(broker, dealwatch_topic_prefix=f"t{uuid.uuid4().hex[:10]}.")
    yield settings
    asyncio.run(delete_topics_with_prefix(settings, settings.dealwatch_topic_prefix))


@pytest.fixture(scope="session")
def cluster_broker() -> Iterator[Settings]:
    """A local 3-node KRaft cluster (`dealwatch kafka up --brokers 3`) of the tests' own, for
    the fault tests that kill nodes: DEALWATCH_TEST_CLUSTER_HOME and _PORT (node N on PORT +
    2(N-1)); a temporary home and 19192 by default. Stopped at the end of the session."""
    from dealwatch.services.kafka import local as kafka_local

    chosen = os.environ.get("DEALWATCH_TEST_CLUSTER_HOME")
    home = Path(chosen) if chosen else Path(tempfile.mkdtemp(prefix="dealwatch-cluster-"))
    port = int(os.environ.get("DEALWATCH_TEST_CLUSTER_PORT", "19192"))
    local = Settings().model_copy(update={"dealwatch_home": home, "dealwatch_kafka_port": port})
    kafka_local.up(local, 180.0, brokers=3)
    try:
        yield local.model_copy(
            update={"kafka_bootstrap_servers": kafka_local.cluster_bootstrap(local)}
        )
    finally:
        kafka_local.down(local)
        if not chosen:
            shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def cluster(cluster_broker: Settings) -> Iterator[Settings]:
    """The cluster with a topic prefix of its own; every node is running again afterwards
    (a test may have killed one), and the prefix's topics are deleted."""
    from dealwatch.services.kafka import local as kafka_local

    settings = _isolated(cluster_broker, dealwatch_topic_prefix=f"c{uuid.uuid4().hex[:10]}.")
    yield settings
    kafka_local.up(settings, 180.0)
    asyncio.run(delete_topics_with_prefix(settings, settings.dealwatch_topic_prefix))


async def delete_topics_with_prefix(settings: Settings, prefix: str) -> list[str]:
    """Delete every topic whose name starts with `prefix`; returns their names."""
    from aiokafka.admin import AIOKafkaAdminClient

    from dealwatch.services.kafka.clients import client_kwargs

    admin = AIOKafkaAdminClient(**client_kwargs(settings))
    await admin.start()
    try:
        doomed = sorted(t for t in await admin.list_topics() if t.startswith(prefix))
        if doomed:
            await admin.delete_topics(doomed, timeout_ms=60_000)
        return doomed
    finally:
        await admin.close()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'dealwatch.db'}"


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    """A PostgreSQL server whose URL may create databases: `DEALWATCH_TEST_PG_URL` when set,
    else a real PostgreSQL 16 started here from the `pgserver` package (no root, no network)."""
    configured = os.environ.get("DEALWATCH_TEST_PG_URL")
    if configured:
        yield configured
        return
    import pgserver

    # Its own directory: pytest's basetemp rotation would delete it under a concurrent session.
    data = Path(tempfile.mkdtemp(prefix="dealwatch-pg-"))
    server = pgserver.get_server(data, cleanup_mode="stop")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()
        shutil.rmtree(data, ignore_errors=True)


@contextlib.contextmanager
def fresh_postgres_database(pg_admin_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database on the server, dropped afterwards. A server that does not
    answer fails the test: the PostgreSQL half is never skipped."""
    name = f"dw_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(
        make_url(pg_admin_url).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT"
    )
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as error:
        admin.dispose()
        where = make_url(pg_admin_url).render_as_string()
        pytest.fail(f"PostgreSQL at {where} cannot create a database: {error}")
    try:
        yield make_url(pg_admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def postgres_url(pg_admin_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database, dropped afterwards."""
    with fresh_postgres_database(pg_admin_url) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each test using this runs on both databases."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("postgres_url")
