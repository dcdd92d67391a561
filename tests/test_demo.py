"""README command one: `dealwatch demo` from an empty directory prints the spec's numbers, with
the data shipped inside the package: from the source tree and from a wheel in a fresh venv."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from services.config import Settings
from tests.workers import dump_tables

ROOT = Path(__file__).resolve().parents[1]


def _demo_environment(kafka: Settings, tmp_path: Path) -> tuple[dict[str, str], str]:
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


def _assert_demo_output(done: subprocess.CompletedProcess, url: str) -> None:
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "ingested 52 companies, 33 records (0 rejected)" in out
    assert "Consolidation index as of 2024-12-31" in out
    for figure in ("68.5", "1,889", "$12.23B", "$17.84B", "amazon", "openai", "anthropic"):
        assert figure in out, figure
    assert "Mega round: openai raised $6.60B" in out  # alerts went to the console
    tables = dump_tables(url)
    assert len(tables["consolidation"]) == 29


def _empty_dir(tmp_path: Path) -> Path:
    where = tmp_path / "empty"
    where.mkdir()
    return where


def test_demo_prints_the_seed_numbers_and_leaves_the_database(
    kafka: Settings, tmp_path: Path
) -> None:
    env, url = _demo_environment(kafka, tmp_path)
    where = _empty_dir(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "services", "demo"],
        cwd=where,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    _assert_demo_output(done, url)
    assert sorted(p.name for p in where.iterdir()) == []  # nothing assumed or left here
    assert any((tmp_path / "state" / "dealwatch" / "digest-index").iterdir())  # the default home
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


def test_wheel_in_a_fresh_venv_runs_the_demo_from_an_empty_directory(
    kafka: Settings, tmp_path: Path
) -> None:
    """`pip install .` (not editable) then `dealwatch demo`: the seed ships as package data."""
    wheels = tmp_path / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "-w",
            str(wheels),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = wheels.glob("dealwatch-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    installed = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", str(wheel)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    env, url = _demo_environment(kafka, tmp_path)
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env['PATH']}"
    env.pop("PYTHONPATH", None)
    done = subprocess.run(
        [str(venv / "bin" / "dealwatch"), "demo"],
        cwd=_empty_dir(tmp_path),
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    _assert_demo_output(done, url)
    assert str(ROOT) not in (done.stdout + done.stderr)  # nothing came from the source tree
