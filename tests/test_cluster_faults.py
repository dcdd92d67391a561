"""Faults survived on a real 3-node Kafka cluster (`dealwatch kafka up --brokers 3`): topics
replicated 3x with 2 in sync, a broker killed under ingest and under a worker, a worker killed
beside another. Nothing lost, nothing doubled, tables equal to a clean rebuild."""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
import subprocess
import sys
import tempfile
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


def _leader(settings: Settings, topic: str, partition: int, timeout: float = 30.0) -> int:
    """The partition's leader, waited for: a topic just created is in the metadata of every
    node, with a leader, only a moment later (a fresh-clone CI run asked too early once)."""

    async def ask() -> int | None:
        admin = AIOKafkaAdminClient(**client_kwargs(settings))
        await admin.start()
        try:
            cluster = await admin._client.fetch_all_metadata()
            return cluster.leader_for_partition(TopicPartition(topic, partition))
        finally:
            await admin.close()

    deadline = time.monotonic() + timeout
    while (leader := asyncio.run(ask())) is None or leader < 0:
        assert time.monotonic() < deadline, f"{topic}[{partition}] has no leader after {timeout}s"
        time.sleep(0.5)
    return leader


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


def _all_mirrored(url: str, count: int, timeout: float = 120) -> tuple[int, int]:
    """(events, distinct records) once SQL holds `count` events, or as they are at `timeout`:
    what a test asserts "nothing lost, nothing doubled" on."""
    deadline = time.monotonic() + timeout
    while (found := _events(url))[0] < count and time.monotonic() < deadline:
        time.sleep(0.5)
    return found


def _settled(settings: Settings, url: str, count: int) -> None:
    """Caught up with every one of `count` events mirrored and projected (the workers still
    running): a cluster's leader change can make the log's end look nearer than it is."""
    catch_up(settings, 300)
    _all_mirrored(url, count)
    catch_up(settings, 300)


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
            isr = {  # a node the topic has not reached yet answers an error and no configs
                resource[3]: dict(entry[:2] for entry in resource[4]).get("min.insync.replicas")
                for response in described
                for resource in response.resources
            }
            return replicas, isr
        finally:
            await admin.close()

    deadline = time.monotonic() + 30
    replicas, isr = asyncio.run(look())
    while not (all(replicas.values()) and all(isr.values())) and time.monotonic() < deadline:
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
    assert _all_mirrored(sqlite_url, len(records)) == (len(records), len(records))


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
        _settled(settings, sqlite_url, count)
        assert worker.process.poll() is None, worker.output()
    finally:
        worker.stop()
    rebuilt = _rebuild(settings, tmp_path)
    survived, clean = dump_tables(sqlite_url), dump_tables(rebuilt)
    assert survived == clean
    keys = [row[0] for row in survived["alerts"]]
    assert keys and len(keys) == len(set(keys))
    assert _all_mirrored(sqlite_url, count) == (count, count)


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
        _settled(settings, postgres_url, count)
        assert workers[1].process.poll() is None, workers[1].output()
    finally:
        for worker in workers:
            worker.stop()
    assert _all_mirrored(postgres_url, count) == (count, count)
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


def _mega_rounds(prefix: str, count: int) -> list[dict]:
    """Records each of which fires one `mega_round` alert."""
    return [
        {
            "id": f"{prefix}-{i:04d}",
            "kind": "funding",
            "date": "2024-12-30",
            "company": f"startup-{i:05d}",
            "amount_usd": 2e9,
            "investors": ["microsoft"],
        }
        for i in range(count)
    ]


def _mega(keys: list[str]) -> set[str]:
    return {key for key in keys if key.startswith("mega_round:")}


def _ingest_file(settings: Settings, path: Path, registry: Path | None = None) -> None:
    args = [str(path)] + (["--registry", str(registry)] if registry else [])
    done = subprocess.run(
        [sys.executable, "-m", "dealwatch", "ingest", *args],
        env=cli_env(settings),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


class _Desk:
    """A local Slack and a `dealwatch scheduler` delivering the outbox to it."""

    def __init__(self, settings: Settings, log: Path) -> None:
        from tests.slack_server import TOKEN, SlackServerThread

        self.server = SlackServerThread()
        self.slack = self.server.start()
        self.env = {
            "SLACK_BOT_TOKEN": TOKEN,
            "SLACK_API_URL": self.slack.api_url(),
            "DEALWATCH_DISPATCH_INTERVAL": "0.5",
        }
        self.log = log
        with log.open("ab") as out:
            self.scheduler = subprocess.Popen(
                [sys.executable, "-m", "dealwatch", "scheduler"],
                env={**cli_env(settings), **self.env},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def delivered(self, url: str, timeout: float = 120) -> list[str]:
        """Wait until every alert of the outbox reached Slack; the keys Slack received."""
        from sqlalchemy import text

        from dealwatch.services.db.engine import make_sync_engine

        engine = make_sync_engine(url)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                with engine.connect() as conn:
                    waiting = conn.execute(
                        text(
                            "SELECT COUNT(*) FROM alerts WHERE delivery_state IN "
                            "('pending', 'sending', 'failed')"
                        )
                    ).scalar_one()
                    recorded = conn.execute(text("SELECT COUNT(*) FROM alerts")).scalar_one()
                if recorded and not waiting:
                    return self.slack.alert_keys()
                time.sleep(0.5)
        finally:
            engine.dispose()
        raise AssertionError(f"not every alert delivered:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.scheduler.poll() is None:
            self.scheduler.terminate()
            self.scheduler.wait(60)
        self.server.stop()


def test_postgresql_stopped_for_30_s_under_a_worker_and_the_scheduler(
    cluster: Settings, tmp_path: Path
) -> None:
    """PostgreSQL goes away for 30 s while news arrives: the worker and the scheduler wait
    (one line per attempt) and carry on; every record is mirrored once, every alert sent once."""
    import pgserver
    from pgserver._commands import pg_ctl
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    data = Path(tempfile.mkdtemp(prefix="dealwatch-pg-stop-"))
    server = pgserver.get_server(data, cleanup_mode="stop")
    workers: list[Worker] = []
    desk = None
    try:
        admin = create_engine(
            make_url(server.get_uri()).set(drivername="postgresql+psycopg"),
            isolation_level="AUTOCOMMIT",
        )
        with admin.connect() as conn:
            conn.execute(text('CREATE DATABASE "faults"'))
        admin.dispose()
        url = make_url(server.get_uri()).set(database="faults").render_as_string(False)
        settings = _with_db(cluster, url)
        registry = write_registry(tmp_path / "registry.csv")
        _ingest_file(
            settings, write_jsonl(_mega_rounds("before", 5), tmp_path / "a.jsonl"), registry
        )
        workers.append(Worker(settings, tmp_path / "worker.log"))
        desk = _Desk(settings, tmp_path / "scheduler.log")
        catch_up(settings, 180)
        assert len(_mega(desk.delivered(url))) == 5
        pg_ctl(["-w", "-m", "immediate", "stop"], pgdata=server.pgdata, user=server.system_user)
        later = synthetic_records(2_000, 800) + _mega_rounds("during", 5)
        _ingest_file(settings, write_jsonl(later, tmp_path / "b.jsonl"))
        time.sleep(30)
        assert workers[0].process.poll() is None, workers[0].output()
        assert desk.scheduler.poll() is None, desk.log.read_text()[-3000:]
        server.ensure_postgres_running()
        catch_up(settings, 300)
        sent = desk.delivered(url)
    finally:
        for worker in workers:
            worker.stop()
        if desk is not None:
            desk.stop()
        server.cleanup()
        shutil.rmtree(data, ignore_errors=True)
    assert len(sent) == len(set(sent))  # each alert once
    assert len(_mega(sent)) == 10  # none lost
    assert "waiting for the database at" in workers[0].log.read_text(errors="replace")
    assert "waits for the database" in desk.log.read_text()


def test_a_rolling_restart_of_two_workers_during_live_ingest(
    cluster: Settings, postgres_url: str, tmp_path: Path
) -> None:
    """News keeps arriving while each of two workers is restarted in turn (SIGTERM, start
    again): every record is mirrored once and every alert reaches Slack once."""
    settings = _with_db(cluster, postgres_url)
    registry = write_registry(tmp_path / "registry.csv")
    _ingest_file(settings, write_jsonl(_mega_rounds("first", 2), tmp_path / "0.jsonl"), registry)
    workers = [Worker(settings, tmp_path / f"w{i}.log") for i in range(2)]
    desk = _Desk(settings, tmp_path / "scheduler.log")
    total = 2
    try:
        catch_up(settings, 180)
        for step in range(12):
            chunk = synthetic_records(200, 800, seed=step) + _mega_rounds(f"live{step}", 2)
            for record in chunk:
                record["id"] = f"{record['id']}-{step}"
            _ingest_file(settings, write_jsonl(chunk, tmp_path / f"{step + 1}.jsonl"))
            total += len(chunk)
            if step in (3, 7):  # restart one worker, then the other
                index = step // 4
                workers[index].stop()
                workers[index] = Worker(settings, tmp_path / f"w{index}-again.log")
        _settled(settings, postgres_url, total)
        sent = desk.delivered(postgres_url)
    finally:
        for worker in workers:
            worker.stop()
        desk.stop()
    assert _all_mirrored(postgres_url, total) == (total, total), _missing(postgres_url, tmp_path)
    assert len(sent) == len(set(sent))
    assert len(_mega(sent)) == 2 + 12 * 2


def _missing(url: str, feeds: Path) -> list[str]:
    """Record ids of the feed files under `feeds` that SQL lacks (for a failure's message)."""
    import json

    from sqlalchemy import text

    from dealwatch.services.db.engine import make_sync_engine

    wanted = {
        json.loads(line)["id"]
        for feed in feeds.glob("*.jsonl")
        for line in feed.read_text().splitlines()
        if line.strip()
    }
    engine = make_sync_engine(url)
    try:
        with engine.connect() as conn:
            held = {row[0] for row in conn.execute(text("SELECT record_id FROM events"))}
    finally:
        engine.dispose()
    return sorted(wanted - held)[:50]
