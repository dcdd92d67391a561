"""Faults survived on a real 3-node Kafka cluster (`dealwatch kafka up --brokers 3`): topics
replicated 3x with 2 in sync, a broker killed under ingest and under a worker, a worker killed
beside another. Nothing lost, nothing doubled, tables equal to a clean rebuild."""

from __future__ import annotations

import asyncio
import datetime as dt
import subprocess
import sys
import time
from pathlib import Path

import pytest
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from dealwatch.services.config import Settings
from dealwatch.services.db.schema import upgrade
from dealwatch.services.kafka import local as kafka_local
from dealwatch.services.kafka.clients import client_kwargs, topics_replicas
from dealwatch.services.kafka.topics import COMPANIES, DEAL_EVENTS, DIGESTS, REJECTED
from dealwatch.services.worker.catchup import end_offsets
from tests.synthetic import synthetic_records, write_jsonl, write_registry
from tests.workers import Worker, catch_up, cli_env, dump_tables, run_worker_until_caught_up

pytestmark = pytest.mark.cluster
DAY = dt.date(2024, 12, 31)


def _with_db(settings: Settings, url: str, **changes) -> Settings:
    upgrade(url)
    return settings.model_copy(update={"database_url": url, "dealwatch_today": DAY, **changes})


def _written(settings: Settings) -> int:
    """Messages in the log's deal-events partitions now."""
    ends = asyncio.run(end_offsets(settings))
    return sum(n for (topic, _), n in ends.items() if topic == settings.topic(DEAL_EVENTS))


def _leader(settings: Settings, topic: str, partition: int) -> int:
    async def ask() -> int:
        admin = AIOKafkaAdminClient(**client_kwargs(settings))
        await admin.start()
        try:
            cluster = await admin._client.fetch_all_metadata()
            return cluster.leader_for_partition(TopicPartition(topic, partition))
        finally:
            await admin.close()

    return asyncio.run(ask())


def _events(url: str) -> tuple[int, int]:
    from sqlalchemy import text

    from dealwatch.services.db.engine import make_sync_engine

    engine = make_sync_engine(url)
    try:
        with engine.connect() as conn:
            row = conn.execute(text("SELECT COUNT(*), COUNT(DISTINCT record_id) FROM events"))
            return tuple(row.one())
    finally:
        engine.dispose()


def _rebuild(settings: Settings, tmp_path: Path) -> str:
    """The same log read by a fresh group into an empty database: the clean rebuild."""
    url = f"sqlite:///{tmp_path / 'rebuild.db'}"
    fresh = _with_db(settings, url, dealwatch_group=f"{settings.dealwatch_topic_prefix}rebuild")
    run_worker_until_caught_up(fresh, tmp_path / "rebuild.log", 300)
    return url


def _backlog(settings: Settings, tmp_path: Path, count: int) -> int:
    records = synthetic_records(count, 800)
    feed = write_jsonl(records, tmp_path / "feed.jsonl")
    registry = write_registry(tmp_path / "registry.csv")
    done = subprocess.run(
        [sys.executable, "-m", "dealwatch", "ingest", str(feed), "--registry", str(registry)],
        env=cli_env(settings),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return len(records)


def _wait_for_rows(url: str, below: int, timeout: float = 120) -> int:
    """Wait until some, not all, events are mirrored; how many."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        mirrored, _ = _events(url)
        if 0 < mirrored < below:
            return mirrored
        time.sleep(0.05)
    raise AssertionError(f"no partial backlog to interrupt within {timeout:.0f}s")


def test_topics_are_replicated_three_times_with_two_in_sync(cluster: Settings) -> None:
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    from dealwatch.services.kafka.topics import ensure_topics

    assert asyncio.run(ensure_topics(cluster)) == []

    async def look() -> tuple[dict, dict]:
        admin = AIOKafkaAdminClient(**client_kwargs(cluster))
        await admin.start()
        try:
            names = [cluster.topic(t) for t in (DEAL_EVENTS, COMPANIES, REJECTED, DIGESTS)]
            replicas = await topics_replicas(admin, names)
            described = await admin.describe_configs(
                [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
            )
            isr = {
                resource[3]: dict(entry[:2] for entry in resource[4])["min.insync.replicas"]
                for response in described
                for resource in response.resources
            }
            return replicas, isr
        finally:
            await admin.close()

    deadline = time.monotonic() + 30
    replicas, isr = asyncio.run(look())
    while not all(replicas.values()) and time.monotonic() < deadline:  # metadata propagates
        time.sleep(0.5)
        replicas, isr = asyncio.run(look())
    assert len(replicas[cluster.topic(DEAL_EVENTS)]) == cluster.dealwatch_partitions
    assert {n for partitions in replicas.values() for n in partitions.values()} == {3}
    assert set(isr.values()) == {"2"}


def test_ingest_carries_on_when_a_partitions_leader_is_killed(
    cluster: Settings, sqlite_url: str, tmp_path: Path
) -> None:
    """kill -9 the leader of deal-events[0] in the middle of a 20k-record ingest: the ingest
    retries and completes, the log holds every record exactly once, and so does SQL."""
    settings = _with_db(cluster, sqlite_url)
    records = synthetic_records(20_000, 1_000)
    feed = write_jsonl(records, tmp_path / "feed.jsonl")
    registry = write_registry(tmp_path / "registry.csv")
    from dealwatch.services.kafka.topics import ensure_topics

    asyncio.run(ensure_topics(settings))
    victim = _leader(settings, settings.topic(DEAL_EVENTS), 0)
    ingest = subprocess.Popen(
        [sys.executable, "-m", "dealwatch", "ingest", str(feed), "--registry", str(registry)],
        env=cli_env(settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while _written(settings) < 2_000 and time.monotonic() < deadline:
        time.sleep(0.05)
    written_at_kill = _written(settings)
    kafka_local.kill_node(cluster, victim)
    out, err = ingest.communicate(timeout=300)
    assert ingest.returncode == 0, out[-2000:] + err[-2000:]
    assert 2_000 <= written_at_kill < len(records), "the leader was not killed mid-ingest"
    assert _written(settings) == len(records)  # nothing doubled by the producer's retries
    run_worker_until_caught_up(settings, tmp_path / "worker.log", 300)
    assert _events(sqlite_url) == (len(records), len(records))


def test_a_broker_killed_under_a_catching_up_worker(
    cluster: Settings, sqlite_url: str, tmp_path: Path
) -> None:
    """kill -9 a broker while one worker reads a backlog, start it again: the tables equal a
    clean rebuild, row for row, and each alert is recorded once."""
    settings = _with_db(cluster, sqlite_url)
    count = _backlog(settings, tmp_path, 10_000)
    worker = Worker(settings, tmp_path / "worker.log")
    try:
        _wait_for_rows(sqlite_url, count)
        kafka_local.kill_node(cluster, _leader(settings, settings.topic(DEAL_EVENTS), 0))
        time.sleep(3)
        kafka_local.up(cluster, 180.0)
        catch_up(settings, 300)
        assert worker.process.poll() is None, worker.output()
    finally:
        worker.stop()
    rebuilt = _rebuild(settings, tmp_path)
    survived, clean = dump_tables(sqlite_url), dump_tables(rebuilt)
    assert survived == clean
    keys = [row[0] for row in survived["alerts"]]
    assert keys and len(keys) == len(set(keys))
    assert _events(sqlite_url) == (count, count)


def test_a_worker_killed_beside_another_hands_over_its_partitions(
    cluster: Settings, postgres_url: str, tmp_path: Path
) -> None:
    """Two workers share a backlog; SIGKILL one and leave it dead: after its session the
    other takes its partitions, and the end state equals a clean rebuild."""
    settings = _with_db(cluster, postgres_url)
    count = _backlog(settings, tmp_path, 10_000)
    workers = [Worker(settings, tmp_path / f"w{i}.log") for i in range(2)]
    try:
        _wait_for_rows(postgres_url, count)
        workers[0].kill()
        catch_up(settings, 300)
        assert workers[1].process.poll() is None, workers[1].output()
    finally:
        for worker in workers:
            worker.stop()
    assert _events(postgres_url) == (count, count)
    rebuilt = _rebuild(settings, tmp_path)
    assert _normalised(dump_tables(postgres_url)) == dump_tables(rebuilt)


def _normalised(dump: dict) -> dict:
    """PostgreSQL's booleans as SQLite keeps them (0/1)."""
    return {
        table: sorted(
            tuple(int(v) if table == "deals" and i == 6 else v for i, v in enumerate(row))
            for row in rows
        )
        for table, rows in dump.items()
    }
