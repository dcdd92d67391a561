"""README command one: `dealwatch demo` from an empty database prints the spec's numbers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from services.config import Settings
from tests.conftest import SEED_FEED, SEED_REGISTRY
from tests.workers import dump_tables


def test_demo_prints_the_seed_numbers_and_leaves_the_database(
    kafka: Settings, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'dealwatch.db'}"
    env = {
        **os.environ,
        "DEALWATCH_TOPIC_PREFIX": kafka.dealwatch_topic_prefix,
        "DATABASE_URL": url,
        "DEALWATCH_HOME": str(tmp_path / "home"),
        "KAFKA_BOOTSTRAP_SERVERS": kafka.kafka_bootstrap_servers,
        "COLUMNS": "160",
    }
    env.pop("DEALWATCH_TODAY", None)
    env.pop("SLACK_BOT_TOKEN", None)
    env.pop("SLACK_WEBHOOK_URL", None)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "services",
            "demo",
            "--feed",
            str(SEED_FEED),
            "--registry",
            str(SEED_REGISTRY),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "Consolidation index as of 2024-12-31" in out
    for figure in ("68.5", "1,889", "$12.23B", "$17.84B", "amazon", "openai", "anthropic"):
        assert figure in out, figure
    assert "Mega round: openai raised $6.60B" in out  # alerts went to the console
    tables = dump_tables(url)
    assert len(tables["consolidation"]) == 29
    states = subprocess.run(
        [
            sys.executable,
            "-m",
            "services",
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
