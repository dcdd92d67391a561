"""Workers as static group members (docs/cluster.md): an id a restart can take back, never one
two live workers share, and a database swapped under a crashed member loses nothing."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import text

from dealwatch.services.config import Settings
from dealwatch.services.db.engine import make_sync_engine
from dealwatch.services.db.schema import upgrade
from dealwatch.services.kafka.topics import replication_warnings, topic_specs
from tests.synthetic import synthetic_records, write_jsonl, write_registry
from tests.workers import Worker, catch_up, cli_env

SLOT_OF = (
    "from dealwatch.services.config import Settings; "
    "from dealwatch.services.worker.identity import worker_instance_id; "
    "import sys, time; print(worker_instance_id(Settings()), flush=True); "
    "time.sleep(float(sys.argv[1]))"
)


def _instance(home: Path, hold: float, **env: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", SLOT_OF, str(hold)],
        env={"PATH": "/usr/bin:/bin", "DEALWATCH_HOME": str(home), **env},
        stdout=subprocess.PIPE,
        text=True,
    )


def test_live_workers_get_distinct_ids_and_a_dead_ones_id_is_taken_back(tmp_path: Path) -> None:
    first = _instance(tmp_path, 30)
    first_id = first.stdout.readline().strip()
    second = _instance(tmp_path, 0)
    second_id = second.communicate(timeout=60)[0].strip()
    assert first_id.endswith("-0") and second_id.endswith("-1")
    first.kill()  # the kernel drops its slot lock, as it does for a crashed worker
    first.wait()
    again = _instance(tmp_path, 0).communicate(timeout=60)[0].strip()
    assert again == first_id
    chosen = _instance(tmp_path, 0, DEALWATCH_WORKER_ID="worker-a").communicate(timeout=60)[0]
    assert chosen.strip() == "worker-a"
    off = _instance(tmp_path, 0, DEALWATCH_WORKER_ID="off").communicate(timeout=60)[0]
    assert off.strip() == "None"


def test_too_few_replicas_are_named_with_the_fix() -> None:
    specs = topic_specs(Settings(dealwatch_topic_prefix="p."))
    replicas = {spec.name: {0: 1, 1: 3} for spec in specs}
    warnings = replication_warnings(specs, replicas, 3, 3)
    assert len(warnings) == len(specs)
    assert (
        "topic p.deal-events has 1 replica(s) of some partitions on a cluster of 3" in warnings[0]
    )
    assert "kafka-reassign-partitions" in warnings[0]
    assert replication_warnings(specs, {s.name: {0: 3} for s in specs}, 3, 3) == []


def _events(url: str) -> int:
    engine = make_sync_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT COUNT(*) FROM events")).scalar_one()
    finally:
        engine.dispose()


def _wait_for_committed(settings: Settings, count: int, timeout: float = 60) -> None:
    """Until the group has committed offsets past `count` deal-events messages."""
    import asyncio

    from aiokafka import AIOKafkaConsumer, TopicPartition

    from dealwatch.services.kafka.clients import client_kwargs, topic_partitions
    from dealwatch.services.kafka.topics import DEAL_EVENTS

    async def committed() -> int:
        consumer = AIOKafkaConsumer(**client_kwargs(settings), group_id=settings.group_id())
        await consumer.start()
        try:
            topic = settings.topic(DEAL_EVENTS)
            tps = [TopicPartition(topic, p) for p in await topic_partitions(consumer, topic)]
            return sum([await consumer.committed(tp) or 0 for tp in tps])
        finally:
            await consumer.stop()

    deadline = time.monotonic() + timeout
    while asyncio.run(committed()) < count:
        assert time.monotonic() < deadline, "the worker committed no offsets"
        time.sleep(0.5)


def test_a_new_database_under_a_crashed_static_member_reads_the_whole_log(
    kafka: Settings, tmp_path: Path
) -> None:
    """A worker is SIGKILLed (its static member lingers for a session) and one starts at once
    on an empty database, same group, same id: it waits for the group to empty, moves it back
    to SQL's positions, and reads everything; it never resumes from the dead one's offsets."""
    records = synthetic_records(2_000, 200)
    first_url = f"sqlite:///{tmp_path / 'first.db'}"
    settings = kafka.model_copy(update={"database_url": first_url})
    upgrade(first_url)
    feed, registry = write_jsonl(records, tmp_path / "f.jsonl"), write_registry(tmp_path / "r.csv")
    ingest = subprocess.run(
        [sys.executable, "-m", "dealwatch", "ingest", str(feed), "--registry", str(registry)],
        env=cli_env(settings), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert ingest.returncode == 0, ingest.stderr[-2000:]
    home = {"DEALWATCH_HOME": str(tmp_path / "home")}
    crashed = Worker(settings, tmp_path / "crashed.log", home)
    catch_up(settings, 180)
    _wait_for_committed(settings, len(records))
    crashed.kill()
    fresh_url = f"sqlite:///{tmp_path / 'fresh.db'}"
    fresh = settings.model_copy(update={"database_url": fresh_url})
    upgrade(fresh_url)
    successor = Worker(fresh, tmp_path / "successor.log", home)
    try:
        catch_up(fresh, 180)
    finally:
        successor.stop()
    assert _events(fresh_url) == len(records), successor.output()
    said = successor.log.read_text(errors="replace")
    assert said.count("waiting (up to 15 s) for a lingering member to leave group") == 1
