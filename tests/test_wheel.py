"""The release as a user gets it: `python -m build` makes a wheel and an sdist, the wheel goes
into a fresh virtual environment with no clone beside it, and from an empty directory it runs
the seed through the test broker. It installs one import name, `dealwatch`, and nothing else."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from dealwatch.services.config import Settings
from dealwatch.version import checkout_commit
from tests.test_demo import assert_demo_output, demo_environment, empty_dir
from tests.workers import catch_up

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("events", "projections", "sources", "services", "alerts")  # dealwatch.<folder> only
SHIPPED = (  # data the installed commands read, by path inside the package
    "dealwatch/services/seed/seed-feed.jsonl",
    "dealwatch/services/seed/companies.csv",
    "dealwatch/services/seed/seed-expected.json",
    "dealwatch/services/migrations/env.py",
    "dealwatch/services/migrations/versions/0001_initial_schema.py",
    "dealwatch/services/kafka/pom.xml",
    "dealwatch/services/kafka/server.properties",
    "dealwatch/services/kafka/log4j2.properties",
    "dealwatch/services/sources/sources.example.yaml",
    "dealwatch/alerts/rules.example.yaml",
    "dealwatch/services/slack/manifest.yaml",
    "dealwatch/services/migrations/versions/0010_review_slack_messages.py",
)


@dataclass(frozen=True)
class Release:
    wheel: Path
    sdist: Path
    venv: Path

    def command(self, name: str) -> str:
        return str(self.venv / "bin" / name)


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Release]:
    out = tmp_path_factory.mktemp("dist")
    built = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    (wheel,) = out.glob("dealwatch-*.whl")
    (sdist,) = out.glob("dealwatch-*.tar.gz")
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    installed = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", str(wheel)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    yield Release(wheel, sdist, venv)


def _run(release: Release, args: list[str], where: Path, env: dict[str, str] | None = None):
    env = {**(env or os.environ)}
    env.pop("PYTHONPATH", None)
    env["PATH"] = f"{release.venv / 'bin'}{os.pathsep}{env['PATH']}"
    return subprocess.run(
        [release.command(args[0]), *args[1:]],
        cwd=where,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_wheel_installs_one_top_level_name(release: Release, tmp_path: Path) -> None:
    where = empty_dir(tmp_path)
    listing = _run(
        release,
        [
            "python",
            "-c",
            "from importlib.metadata import files; "
            "print('\\n'.join(sorted({f.parts[0] for f in files('dealwatch')})))",
        ],
        where,
    )
    assert listing.returncode == 0, listing.stderr
    assert listing.stdout.split() == ["..", "dealwatch", "dealwatch-0.1.0.dist-info"]  # .. = bin/
    for folder in FOLDERS:
        taken = _run(release, ["python", "-c", f"import {folder}"], where)
        assert taken.returncode == 1
        assert f"No module named '{folder}'" in taken.stderr
        ours = _run(release, ["python", "-c", f"import dealwatch.{folder}"], where)
        assert ours.returncode == 0, ours.stderr


def test_the_version_names_the_commit_it_was_built_from(release: Release, tmp_path: Path) -> None:
    shown = _run(release, ["dealwatch", "--version"], empty_dir(tmp_path))
    assert shown.returncode == 0, shown.stderr
    commit = checkout_commit(ROOT)
    expected = "dealwatch 0.1.0" + (f" (commit {commit})" if commit else "")
    assert shown.stdout.strip() == expected


def test_the_wheel_and_sdist_carry_the_data_and_examples(release: Release, tmp_path: Path) -> None:
    in_wheel = set(zipfile.ZipFile(release.wheel).namelist())
    assert set(SHIPPED) <= in_wheel, sorted(set(SHIPPED) - in_wheel)
    with tarfile.open(release.sdist) as sdist:
        in_sdist = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    for path in SHIPPED:
        folder_path = path.removeprefix("dealwatch/")  # the sdist keeps the repository's layout
        assert folder_path in in_sdist, folder_path
    where = empty_dir(tmp_path)
    sources = _run(release, ["dealwatch", "sources", "example"], where)
    assert sources.returncode == 0 and "kind: sec_formd" in sources.stdout, sources.stderr
    rules = _run(release, ["dealwatch", "alerts", "rules-example"], where)
    assert rules.returncode == 0 and "mega_round:" in rules.stdout, rules.stderr
    manifest = _run(release, ["dealwatch", "slack", "manifest"], where)
    assert manifest.returncode == 0 and "socket_mode_enabled: true" in manifest.stdout
    no_file = {k: v for k, v in os.environ.items() if k != "DEALWATCH_SOURCES_FILE"}
    refused = _run(release, ["dealwatch", "sources", "list"], where, no_file)
    assert refused.returncode == 1
    assert "`dealwatch sources example > sources.yaml`" in " ".join(refused.stderr.split())
    assert "Traceback" not in refused.stderr


def test_the_wheel_ingests_the_seed_and_shows_its_numbers(
    release: Release, kafka: Settings, tmp_path: Path
) -> None:
    """README: `dealwatch ingest --seed`, a worker, `dealwatch show consolidation`."""
    env, url = demo_environment(kafka, tmp_path)
    env["DEALWATCH_TODAY"] = "2024-12-31"
    where = empty_dir(tmp_path)
    ingested = _run(release, ["dealwatch", "ingest", "--seed"], where, env)
    assert ingested.returncode == 0, ingested.stdout + ingested.stderr
    migrated = _run(release, ["dealwatch", "migrate"], where, env)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        worker = subprocess.Popen(
            [release.command("dealwatch"), "worker"],
            cwd=where,
            env={**env, "PATH": f"{release.venv / 'bin'}{os.pathsep}{env['PATH']}"},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        seen_as_worker = {"database_url": url, "dealwatch_today": dt.date(2024, 12, 31)}
        catch_up(kafka.model_copy(update=seen_as_worker), timeout=180)
    finally:
        worker.terminate()
        worker.wait(60)
    shown = _run(release, ["dealwatch", "show", "consolidation"], where, env)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert "68.5" in shown.stdout and "1,889" in shown.stdout, shown.stdout
    assert str(ROOT) not in log.read_text(errors="replace")  # nothing came from the source tree
    assert sorted(p.name for p in where.iterdir()) == []


def test_the_wheel_runs_the_demo_from_an_empty_directory(
    release: Release, kafka: Settings, tmp_path: Path
) -> None:
    env, url = demo_environment(kafka, tmp_path)
    done = _run(release, ["dealwatch", "demo"], empty_dir(tmp_path), env)
    assert_demo_output(done, url)
    assert str(ROOT) not in (done.stdout + done.stderr)  # nothing came from the source tree
