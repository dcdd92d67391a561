"""The benchmark runs end to end at a small N (the real runs are in docs/bench/): every figure
the issue asks for is measured and saved under exactly its key."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from dealwatch.services.config import Settings

KEYS = {
    "ceiling_rps",
    "faust_bare_rps",
    "live_rps_1w",
    "live_rps_2w",
    "replay_rps",
    "alert_latency_ms_p50",
    "alert_latency_ms_p99",
    "late_alert_latency_ms_p99",
    "rss_mb",
    "quix_stateful_rps",
    "records",
    "companies",
    "database",
    "commit",
    "machine",
}


def run_bench(module: str, args: list[str], kafka: Settings, home: Path) -> None:
    """`python -m module args` from the checkout against the test broker; fails the test with
    its output when it exits non-zero."""
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka.kafka_bootstrap_servers,
        "DEALWATCH_HOME": str(home),
    }
    done = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=Path(__file__).resolve().parents[1],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def test_bench_saves_every_figure(kafka: Settings, tmp_path: Path) -> None:
    small = ["--records", "3000", "--companies", "300", "--alerts", "3", "--late-alerts", "2"]
    run_bench("bench.run", [*small, "--out", str(tmp_path)], kafka, kafka.home)
    [saved] = list(tmp_path.glob("*-sqlite.json"))
    result = json.loads(saved.read_text())
    assert set(result) == KEYS
    assert result["records"] == 3000 and result["database"] == "sqlite"
    for key in ("ceiling_rps", "faust_bare_rps", "live_rps_1w", "live_rps_2w", "replay_rps"):
        assert result[key] > 0, key
    assert 0 < result["alert_latency_ms_p50"] <= result["alert_latency_ms_p99"]
    assert set(result["rss_mb"]) == {"worker_1w", "worker_2w", "replay"}
    assert all(0 < mb < 4096 for mb in result["rss_mb"].values())


def test_edge_costs_measure_every_command(kafka: Settings, sqlite_url: str, tmp_path: Path) -> None:
    """`bench.edge_costs` against the seed's log and a caught-up database: each command of the
    edge ran (a failing one fails the bench) and has its seconds and peak RSS saved."""
    import asyncio

    from dealwatch.services.db.schema import upgrade
    from dealwatch.services.ingest.pipeline import ingest_feed, ingest_registry
    from dealwatch.services.seed import SEED_FEED, SEED_REGISTRY
    from tests.workers import run_worker_until_caught_up

    settings = kafka.model_copy(update={"database_url": sqlite_url})
    upgrade(sqlite_url)
    asyncio.run(ingest_registry(SEED_REGISTRY, settings))
    asyncio.run(ingest_feed([SEED_FEED], settings))
    run_worker_until_caught_up(settings, tmp_path / "worker.log")
    home = tmp_path / "home"
    edge_args = ["--prefix", kafka.dealwatch_topic_prefix, "--database", sqlite_url]
    run_bench("bench.edge_costs", [*edge_args, "--out", str(tmp_path / "out")], kafka, home)
    [saved] = list((tmp_path / "out").glob("*-edges-sqlite.json"))
    commands = json.loads(saved.read_text())["commands"]
    assert set(commands) == {
        "ingest_one_line_cold",
        "ingest_one_line",
        "audit_report",
        "audit_export",
        "audit_alerts",
        "digest",
    }
    assert all(c["seconds"] > 0 and 0 < c["peak_rss_mb"] < 4096 for c in commands.values())
    assert list(home.glob("digest-index/*.sqlite"))  # ingest built its index there


def test_worker_parts_measure_each_part(kafka: Settings, tmp_path: Path) -> None:
    """`bench.worker_parts` runs the real worker three times (decode only, with the mirror,
    whole) and saves each rate: the cut-down writes keep up with the worker's code."""
    small = ["--records", "3000", "--companies", "300"]
    run_bench("bench.worker_parts", [*small, "--out", str(tmp_path)], kafka, kafka.home)
    [saved] = list(tmp_path.glob("*-worker-parts-sqlite.json"))
    result = json.loads(saved.read_text())
    assert result["records"] == 3000
    assert set(result["rates"]) == {"decode", "mirror", "full"}
    assert all(rate > 0 for rate in result["rates"].values())


def test_replay_floor_measures_each_depth(kafka: Settings, tmp_path: Path) -> None:
    """`bench.replay_floor` reads one log at each depth (read, decode, prepare) in two
    processes next to the ceiling, and saves each rate."""
    small = ["--records", "3000", "--companies", "300", "--processes", "2"]
    run_bench("bench.replay_floor", [*small, "--out", str(tmp_path)], kafka, kafka.home)
    [saved] = list(tmp_path.glob("*-replay-floor.json"))
    result = json.loads(saved.read_text())
    assert result["records"] == 3000 and result["processes"] >= 1
    for key in ("ceiling_rps", "read_rps", "decode_rps", "prepare_rps"):
        assert result[key] > 0, key


def test_restart_resume_times_each_crash(kafka: Settings, tmp_path: Path) -> None:
    """`bench.restart_resume` crashes a caught-up worker, restarts it and times the next event
    mirrored, with static membership and without; the issue's key is the static median."""
    small = ["--records", "500", "--companies", "50", "--runs", "2", "--dynamic-runs", "1"]
    run_bench("bench.restart_resume", [*small, "--out", str(tmp_path)], kafka, kafka.home)
    [saved] = list(tmp_path.glob("*-restart-resume-sqlite.json"))
    result = json.loads(saved.read_text())
    assert len(result["static"]["runs_s"]) == 2 and len(result["dynamic"]["runs_s"]) == 1
    assert result["restart_resume_s"] == result["static"]["median_s"] > 0


def test_cluster_throughput_compares_with_the_single_broker(
    kafka: Settings, tmp_path: Path
) -> None:
    """`bench.cluster_throughput` starts a 3-node cluster of its own (ports apart from the
    fault tests' cluster) and saves ingest and catch-up rates on both, with their ratios."""
    small = ["--records", "2000", "--companies", "200", "--port", "19292"]
    run_bench("bench.cluster_throughput", [*small, "--out", str(tmp_path)], kafka, kafka.home)
    [saved] = list(tmp_path.glob("*-cluster-sqlite.json"))
    result = json.loads(saved.read_text())
    for figure in ("ingest_per_s", "catch_up_1w_per_s"):
        assert result["single"][figure] > 0 and result["cluster3"][figure] > 0
        assert result[f"{figure}_ratio"] > 0
