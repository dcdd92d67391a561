"""Alerts end to end: log → worker → outbox → dispatcher → a local Slack (issue 4)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dealwatch.services.config import Settings
from dealwatch.services.db.schema import upgrade
from dealwatch.services.ingest.pipeline import ingest_feed, ingest_registry
from dealwatch.services.seed import SEED_FEED, SEED_REGISTRY
from tests.expected import expected
from tests.slack_server import TOKEN, FakeSlack, SlackServerThread
from tests.workers import Worker, catch_up, run_worker_until_caught_up

EXPECTED = expected()
RULES = Path(__file__).resolve().parents[1] / "alerts" / "rules.example.yaml"


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    server = SlackServerThread()
    yield server.start()
    server.stop()


def _env(settings: Settings, slack: FakeSlack, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DEALWATCH_TOPIC_PREFIX": settings.dealwatch_topic_prefix,
        "DATABASE_URL": settings.database_url,
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_API_URL": slack.api_url(),
        "DEALWATCH_RULES_FILE": str(RULES),
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        **extra,
    }
    if settings.dealwatch_today:
        env.setdefault("DEALWATCH_TODAY", settings.dealwatch_today.isoformat())
    return env


def dealwatch(env: dict[str, str], *args: str, timeout: float = 120) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "dealwatch", *args],
        env=env,
        timeout=timeout,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def _seeded(kafka: Settings, url: str, today: str = "2024-12-31") -> Settings:
    settings = kafka.model_copy(
        update={
            "database_url": url,
            "dealwatch_today": dt.date.fromisoformat(today),
            "dealwatch_rules_file": RULES,
        }
    )
    upgrade(url)
    asyncio.run(ingest_registry(SEED_REGISTRY, settings))
    asyncio.run(ingest_feed([SEED_FEED], settings))
    return settings


def _expected_keys() -> set[str]:
    keys = {f"{a['rule']}:{a['subject']}:{a['record']}" for a in EXPECTED["record_alerts"]}
    return keys


def test_seed_alerts_reach_slack_once_and_replays_send_nothing(
    kafka: Settings, database_url: str, slack: FakeSlack, tmp_path: Path
) -> None:
    settings = _seeded(kafka, database_url)
    run_worker_until_caught_up(settings, tmp_path / "worker.log")
    env = _env(settings, slack)
    dealwatch(env, "alerts", "dispatch", "--once")

    sent = slack.alert_keys()
    assert len(sent) == len(set(sent))  # once each
    record_keys = {k for k in sent if not k.startswith(("consolidation_high", "hhi_"))}
    assert record_keys == _expected_keys()
    crossings = sorted(
        json.loads(_message(slack, k))["as_of"]
        for k in sent
        if k.startswith(("consolidation_high", "hhi_"))
    )
    assert crossings == sorted(a["as_of"] for a in EXPECTED["threshold_alerts_to_2024-12-31"])
    for message in slack.messages:  # the lineage travels with every message
        assert "Lineage (event ids)" in json.dumps(message.blocks)
    assert {m.channel for m in slack.messages} >= {"C0DEALS", "C0REG", "C0BURN"}

    # re-ingest the feed, run the worker again, replay the log: nothing new goes out
    asyncio.run(ingest_feed([SEED_FEED], settings))
    run_worker_until_caught_up(settings, tmp_path / "worker-2.log")
    dealwatch(env, "replay", "--verify")
    dealwatch(env, "alerts", "dispatch", "--once")
    assert slack.alert_keys() == sent


def _message(slack: FakeSlack, key: str) -> str:
    for m in slack.messages:
        if m.metadata["event_payload"]["alert_key"] == key:
            context = json.dumps(m.blocks)
            day = context.split("as of ")[1][:10]
            return json.dumps({"as_of": day})
    raise KeyError(key)


def test_worker_and_dispatcher_killed_between_recording_and_delivery(
    kafka: Settings, sqlite_url: str, slack: FakeSlack, tmp_path: Path
) -> None:
    settings = _seeded(kafka, sqlite_url)
    worker = Worker(settings, tmp_path / "worker.log")
    catch_up(settings)
    worker.kill()  # SIGKILL after recording the alerts, before any delivery

    slack.reply_delay = 1.0  # Slack stores each message, then answers a second later
    env = _env(settings, slack)
    dispatcher = subprocess.Popen(
        [sys.executable, "-m", "dealwatch", "alerts", "dispatch"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while len(slack.messages) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(dispatcher.pid, signal.SIGKILL)  # a message is in flight: stored, not answered
    dispatcher.wait()
    in_flight = len(slack.messages)
    assert in_flight >= 3

    slack.reply_delay = 0
    Worker(settings, tmp_path / "worker-2.log").stop()  # restart the worker too
    out = dealwatch(env, "alerts", "dispatch", "--once")
    assert "reconciled=1" in out, out
    sent = slack.alert_keys()
    assert len(sent) == len(set(sent)) == 23  # 19 record alerts + 4 crossings, once each
    assert "pending" not in dealwatch(env, "alerts", "list", "--state", "pending")


def test_scheduler_fires_runway_alerts_as_the_calendar_moves(
    kafka: Settings, sqlite_url: str, slack: FakeSlack, tmp_path: Path
) -> None:
    settings = _seeded(kafka, sqlite_url, today="2024-06-30")
    run_worker_until_caught_up(settings, tmp_path / "worker.log")
    env = _env(settings, slack)
    dealwatch(env, "alerts", "dispatch", "--once")
    assert not [k for k in slack.alert_keys() if k.startswith("runway_critical:openai")]

    later = {**env, "DEALWATCH_TODAY": "2024-08-20"}  # no new event, only the calendar moved
    dealwatch(later, "scheduler", "--once")
    dealwatch(later, "scheduler", "--once")  # a second run fires nothing new
    critical = [
        m
        for m in slack.messages
        if m.metadata["event_payload"]["alert_key"].startswith("runway_critical:openai")
    ]
    assert len(critical) == 1
    assert critical[0].channel == "C0BURN"  # routed by the rules file
    assert "5.1 months" in critical[0].text  # the spec's runway on 2024-08-20


def test_scheduler_sends_the_digest_once_a_day_as_the_log_says(
    kafka: Settings, sqlite_url: str, slack: FakeSlack, tmp_path: Path
) -> None:
    """`dealwatch scheduler --once --digest` (what the cron job runs) builds the digest from the
    tables; Slack gets it once however often the job runs, saying what the log says."""
    from dealwatch.projections.digest import digest
    from tests.seed import seed_events, seed_roles

    settings = _seeded(kafka, sqlite_url)
    run_worker_until_caught_up(settings, tmp_path / "worker.log")
    env = _env(settings, slack, DEALWATCH_DIGEST_DAYS="365")
    dealwatch(env, "alerts", "dispatch", "--once")
    before = len(slack.messages)
    dealwatch(env, "scheduler", "--once", "--digest")
    dealwatch(env, "scheduler", "--once", "--digest")  # a rerun the same day sends nothing
    sent = [
        m
        for m in slack.messages[before:]
        if m.metadata["event_payload"]["alert_key"] == "digest:market:2024-12-31"
    ]
    assert len(sent) == 1
    want = digest(seed_events(), seed_roles(), dt.date(2024, 12, 31), 365, 365)
    assert want.new_absorptions and want.status_changes  # a digest that says something
    assert "; ".join(f"{name}: {value}" for name, value in want.facts()) in sent[0].text
