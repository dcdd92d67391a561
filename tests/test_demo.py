"""README command one: `dealwatch demo` from an empty directory prints the spec's numbers, with
the data shipped inside the package (the same from a wheel: tests/test_wheel.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from dealwatch.services.config import Settings
from tests.workers import dump_tables


def demo_environment(kafka: Settings, tmp_path: Path) -> tuple[dict[str, str], str]:
    url = f"sqlite:///{tmp_path / 'dealwatch.db'}"
    env = {
        **os.environ,
        "DEALWATCH_TOPIC_PREFIX": kafka.dealwatch_topic_prefix,
        "DATABASE_URL": url,
        "KAFKA_BOOTSTRAP_SERVERS": kafka.kafka_bootstrap_servers,
        "COLUMNS": "160",
        # the default DEALWATCH_HOME ($XDG_STATE_HOME/dealwatch), kept out of the user's own
        "XDG_STATE_HOME": str(tmp_path / "state"),
    }
    for name in ("DEALWATCH_TODAY", "SLACK_BOT_TOKEN", "SLACK_WEBHOOK_URL", "DEALWATCH_HOME"):
        env.pop(name, None)
    return env, url


def assert_demo_output(done: subprocess.CompletedProcess, url: str) -> None:
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "ingested 52 companies, 33 records (0 rejected)" in out
    assert "Consolidation index as of 2024-12-31" in out
    for figure in ("68.5", "1,889", "$12.23B", "$17.84B", "amazon", "openai", "anthropic"):
        assert figure in out, figure
    assert "Mega round: openai raised $6.60B" in out  # alerts went to the console
    tables = dump_tables(url)
    assert len(tables["consolidation"]) == 29


def empty_dir(tmp_path: Path) -> Path:
    where = tmp_path / "empty"
    where.mkdir()
    return where


def test_demo_prints_the_seed_numbers_and_leaves_the_database(
    kafka: Settings, tmp_path: Path
) -> None:
    env, url = demo_environment(kafka, tmp_path)
    where = empty_dir(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "dealwatch", "demo"],
        cwd=where,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert_demo_output(done, url)
    assert sorted(p.name for p in where.iterdir()) == []  # nothing assumed or left here
    assert any((tmp_path / "state" / "dealwatch" / "digest-index").iterdir())  # the default home
    states = subprocess.run(
        [
            sys.executable,
            "-m",
            "dealwatch",
            "sql",
            "SELECT DISTINCT delivery_state FROM alerts",
            "--format",
            "csv",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    assert states.split() == ["delivery_state", "delivered"]
