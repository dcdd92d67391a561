"""A worker or scheduler started before its broker or database waits for it (issue 8): one line
per attempt, a clear error at DEALWATCH_CONNECT_TIMEOUT, and it works once the broker appears.
Workers run as `dealwatch worker` from a directory where no `kafka up` ever ran."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from dealwatch.services.config import Settings
from dealwatch.services.db.engine import make_sync_engine
from dealwatch.services.ingest.pipeline import ingest_feed, ingest_registry
from dealwatch.services.seed import SEED_FEED, SEED_REGISTRY
from tests.workers import catch_up


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Forwarder:
    """A TCP relay from a local port to the session's broker: the broker 'appears' on that port
    when the relay starts (clients find the real broker's address in its metadata)."""

    def __init__(self, port: int, target: str) -> None:
        host, target_port = target.rsplit(":", 1)
        self.port, self.target = port, (host, int(target_port))
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    async def _pipe(self, reader, writer) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def _client(self, reader, writer) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    def start(self) -> None:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._client, "127.0.0.1", self.port), self.loop
        ).result(10)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def _environment(
    settings: Settings, url: str, bootstrap: str, state: Path, **extra: str
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DEALWATCH_HOME"}
    return {
        **env,
        # the default DEALWATCH_HOME ($XDG_STATE_HOME/dealwatch), kept out of the user's own
        "XDG_STATE_HOME": str(state),
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "DEALWATCH_TOPIC_PREFIX": settings.dealwatch_topic_prefix,
        "DATABASE_URL": url,
        "DEALWATCH_TODAY": "2024-12-31",
        "DEALWATCH_PROJECTION_INTERVAL": "0.5",
        "COLUMNS": "300",
        **extra,
    }


@pytest.fixture
def empty_dir(tmp_path: Path) -> Iterator[Path]:
    where = tmp_path / "elsewhere"
    where.mkdir()
    yield where


def _dealwatch(env: dict[str, str], cwd: Path, *args: str) -> tuple[int, str]:
    """`dealwatch ARGS` run to its end: exit status and everything it printed."""
    done = subprocess.run(
        [sys.executable, "-m", "dealwatch", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.returncode, done.stdout + done.stderr


def _wait_for_text(log: Path, words: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if words in log.read_text(errors="replace"):
            return
        time.sleep(0.2)
    raise AssertionError(f"{words!r} not in the log:\n{log.read_text(errors='replace')[-3000:]}")


def test_worker_started_before_its_broker_waits_then_mirrors(
    kafka: Settings, empty_dir: Path, tmp_path: Path
) -> None:
    asyncio.run(ingest_registry(SEED_REGISTRY, kafka))
    asyncio.run(ingest_feed([SEED_FEED], kafka))
    port = _free_port()
    url = f"sqlite:///{tmp_path / 'late.db'}"
    log = tmp_path / "worker.log"
    env = _environment(kafka, url, f"127.0.0.1:{port}", tmp_path / "state")
    with log.open("wb") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "dealwatch", "worker"],
            cwd=empty_dir,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    relay = Forwarder(port, kafka.kafka_bootstrap_servers)
    try:
        _wait_for_text(log, f"waiting for Kafka at 127.0.0.1:{port}", 30)
        assert worker.poll() is None, "the worker gave up instead of waiting"
        relay.start()
        settings = kafka.model_copy(
            update={"database_url": url, "dealwatch_today": dt.date(2024, 12, 31)}
        )
        catch_up(settings, 120)
    finally:
        worker.terminate()
        worker.wait(30)
        relay.stop()
    output = log.read_text(errors="replace")
    assert "Traceback" not in output.split("resuming")[0], output[-3000:]
    engine = make_sync_engine(url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM events")).scalar() == 33
        assert conn.execute(text("SELECT count(*) FROM consolidation")).scalar() == 29
    engine.dispose()
    assert not (empty_dir / ".dealwatch").exists()  # nothing assumed of the current directory


def test_worker_gives_up_on_an_absent_broker_with_a_clear_error(
    kafka: Settings, empty_dir: Path, tmp_path: Path
) -> None:
    port = _free_port()
    env = _environment(
        kafka,
        f"sqlite:///{tmp_path / 'x.db'}",
        f"127.0.0.1:{port}",
        tmp_path / "state",
        DEALWATCH_CONNECT_TIMEOUT="3",
    )
    code, output = _dealwatch(env, empty_dir, "worker")
    assert code == 1, output
    assert f"waiting for Kafka at 127.0.0.1:{port}" in output
    assert f"Kafka at 127.0.0.1:{port} did not answer after" in output
    assert "DEALWATCH_CONNECT_TIMEOUT" in output and "Traceback" not in output


def test_scheduler_gives_up_on_an_absent_database_with_a_clear_error(
    kafka: Settings, empty_dir: Path, tmp_path: Path
) -> None:
    port = _free_port()
    url = f"postgresql://dealwatch:secret@127.0.0.1:{port}/dealwatch"
    env = _environment(
        kafka, url, kafka.kafka_bootstrap_servers, tmp_path / "state", DEALWATCH_CONNECT_TIMEOUT="2"
    )
    code, output = _dealwatch(env, empty_dir, "scheduler", "--once")
    assert code == 1, output
    assert "waiting for the database at postgresql://dealwatch:***@127.0.0.1" in output
    assert "did not answer after" in output
    assert "secret" not in output and "Traceback" not in output
