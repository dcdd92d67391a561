"""The Slack desk (issue 46) against a local Slack-compatible server: `dealwatch slack` runs as a
user starts it, connects through `apps.connections.open` and a ws://127.0.0.1 Socket Mode
socket, and receives real interactive payloads, slash commands and events there. Decisions
reach the real broker's log; state is in SQL."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from dealwatch.services.cli import app as cli
from dealwatch.services.config import Settings, get_settings
from dealwatch.services.ingest.pipeline import ingest_registry
from dealwatch.services.seed import SEED_REGISTRY
from dealwatch.sources.announcements import deal_id
from tests.slack_server import APP_TOKEN, TOKEN, FakeSlack, SlackServerThread
from tests.source_server import SourceServer, serve_fixtures
from tests.test_sources import CONTACT, EXTRA_REGISTRY, _log, _rows
from tests.workers import run_worker_until_caught_up

PYLON = "deal:pylon-2024-11-06-seed"
CMA = "deal:tag:www.gov.uk,2005:/cma-cases/microsoft-inflection-ai-inquiry"
ADA = {"id": "U0ADA", "username": "ada", "name": "ada", "team_id": "T0TEST"}
BOB = {"id": "U0BOB", "username": "bob", "name": "bob", "team_id": "T0TEST"}  # via S0DESK
EVE = {"id": "U0EVE", "username": "eve", "name": "eve", "team_id": "T0TEST"}
SILENCES = "SELECT rule, subject, silenced_by FROM alert_silences"


def _wait(what: str, check: Callable[[], Any], timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


class Desk:
    """The world: a review queue filled by real source polls, seed projections, a local Slack
    and `dealwatch slack` running against it."""

    def __init__(
        self, settings: Settings, env: dict[str, str], slack: SlackServerThread, log: Path
    ):
        self.settings, self.env, self.server, self.log = settings, env, slack, log
        self.slack: FakeSlack = slack.slack
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "dealwatch", "slack"],
                env={**os.environ, **self.env},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, 15)
            self.process.wait(30)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def post_of(self, key: str):
        posts = [
            m for m in self.slack.in_channel("#dealwatch-review") if key in json.dumps(m.blocks)
        ]
        return posts[0] if posts else None

    def action(self, user: dict, action_id: str, value: str, drop: bool = False) -> dict:
        post = self.post_of(value) if action_id.startswith("review_") else None
        payload = {
            "type": "block_actions",
            "user": user,
            "api_app_id": "A0DESK",
            "token": "unused",
            "team": {"id": "T0TEST", "domain": "test"},
            "trigger_id": f"trigger-{time.monotonic_ns()}",
            "response_url": self.slack.response_url(),
            "channel": {"id": "C0REVIEW", "name": "dealwatch-review"},
            "container": {
                "type": "message",
                "channel_id": "C0REVIEW",
                "message_ts": post.ts if post else "1.0",
            },
            "message": {"ts": post.ts if post else "1.0", "text": ""},
            "actions": [
                {
                    "action_id": action_id,
                    "block_id": "decide",
                    "value": value,
                    "type": "button",
                    "action_ts": str(time.time()),
                }
            ],
        }
        return self.server.deliver("interactive", payload, drop)

    def submit(self, user: dict, view: dict, values: dict[str, str]) -> dict:
        state = {
            "values": {
                block: {action: {"type": "plain_text_input", "value": value}}
                for (block, action), value in values.items()
            }
        }
        payload = {
            "type": "view_submission",
            "user": user,
            "api_app_id": "A0DESK",
            "token": "unused",
            "team": {"id": "T0TEST", "domain": "test"},
            "trigger_id": f"trigger-{time.monotonic_ns()}",
            "view": {**view, "id": "V1", "state": state},
        }
        return self.server.deliver("interactive", payload)

    def command(self, user: dict, text: str) -> dict:
        payload = {
            "token": "unused",
            "team_id": "T0TEST",
            "team_domain": "test",
            "channel_id": "C0WATCH",
            "channel_name": "dealwatch",
            "user_id": user["id"],
            "user_name": user["username"],
            "command": "/dealwatch",
            "text": text,
            "api_app_id": "A0DESK",
            "response_url": self.slack.response_url(),
            "trigger_id": f"trigger-{time.monotonic_ns()}",
        }
        return self.server.deliver("slash_commands", payload)

    def item(self, key: str) -> tuple:
        asked = f"SELECT state, decided_by, decision FROM review_items WHERE key = '{key}'"
        rows = _rows(self.settings.database_url, asked)
        return rows[0]

    def decided(self, key: str) -> tuple:
        """The item once its decision is recorded (the record reaches the log first)."""
        return _wait(f"{key} decided", lambda: (i := self.item(key))[0] not in
                     ("pending", "deciding") and i)  # fmt: skip

    def records(self, record_id: str) -> list:
        return [e.record for e in _log(self.settings) if e.record.id == record_id]

    def told(self, words: str) -> list[dict]:
        return [r for r in self.slack.responses if words in r.get("text", "")]


def _cli(*args: str):
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def desk(
    kafka: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[Desk]:
    """On SQLite, or on PostgreSQL where a test asks (`indirect` parametrization)."""
    on = getattr(request, "param", "sqlite")
    database = (
        request.getfixturevalue("postgres_url")
        if on == "postgresql"
        else f"sqlite:///{tmp_path / 'dealwatch.db'}"
    )
    sources = serve_fixtures(SourceServer()).start()
    extra = tmp_path / "extra-registry.csv"
    extra.write_text(EXTRA_REGISTRY)
    asyncio.run(ingest_registry(SEED_REGISTRY, kafka))
    asyncio.run(ingest_registry(extra, kafka))
    config = tmp_path / "sources.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "contact": CONTACT,
                "sources": [
                    {
                        "name": "pylon",
                        "kind": "press",
                        "owner": "pylon-code",
                        "url": f"{sources.url}/pylon/news.rss",
                        "every": "6h",
                    },
                    {
                        "name": "cma",
                        "kind": "press",
                        "authority": "CMA",
                        "url": f"{sources.url}/cma/cases.atom",
                        "every": "30m",
                    },
                    {
                        "name": "nvidia",
                        "kind": "press",
                        "owner": "nvidia",
                        "url": f"{sources.url}/nvidia/news.rss",
                        "every": "6h",
                    },
                ],
            }
        )
    )
    server = SlackServerThread()
    slack = server.start()
    slack.usergroups["S0DESK"] = ["U0BOB"]
    env = {
        "DEALWATCH_SOURCES_FILE": str(config),
        "DATABASE_URL": database,
        "KAFKA_BOOTSTRAP_SERVERS": kafka.kafka_bootstrap_servers,
        "DEALWATCH_TOPIC_PREFIX": kafka.dealwatch_topic_prefix,
        "DEALWATCH_TODAY": "2024-11-08",
        "DEALWATCH_HOME": str(kafka.home),
        "SLACK_APP_TOKEN": APP_TOKEN,
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_API_URL": slack.api_url(),
        "DEALWATCH_REVIEW_CHANNEL": "#dealwatch-review",
        "DEALWATCH_REVIEWERS": "U0ADA, S0DESK",
        "DEALWATCH_SLACK_SYNC_INTERVAL": "0.3",
        "COLUMNS": "200",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    settings = get_settings()
    _cli("ingest", "--seed")
    _cli("sources", "poll", "pylon")
    _cli("sources", "poll", "cma")
    run_worker_until_caught_up(settings, tmp_path / "worker.log")
    world = Desk(settings, env, server, tmp_path / "slack.log")
    world.start()
    try:
        _wait("the review posts", lambda: world.post_of(PYLON) and world.post_of(CMA))
        yield world
    except BaseException:
        print(world.output()[-6000:])
        raise
    finally:
        world.stop()
        output = world.output()
        server.stop()
        sources.stop()
        get_settings.cache_clear()
        for secret in (TOKEN, APP_TOKEN):
            assert secret not in output, "a token reached the app's log"


def test_accept_emits_one_record_with_its_decider_and_updates_the_post(desk: Desk) -> None:
    post = desk.post_of(PYLON)
    assert "amount_usd" in json.dumps(post.blocks) and "(0.9)" in json.dumps(post.blocks)
    assert "Accept" in json.dumps(post.blocks) and "pylon-code.example" in json.dumps(post.blocks)
    desk.action(ADA, "review_accept", PYLON)
    record_id = deal_id(PYLON)
    [record] = _wait("the record in the log", lambda: desk.records(record_id))
    assert (record.company, record.amount_usd, record.investors) == (
        "pylon-code",
        8e6,
        ["nvidia", "microsoft"],
    )
    assert "reviewed by slack:U0ADA (ada)" in record.source
    assert desk.decided(PYLON) == ("accepted", "slack:U0ADA (ada)", record_id)
    updated = _wait(
        "the post updated",
        lambda: [u for u in desk.slack.updates if u["ts"] == post.ts and "Accepted" in u["text"]],
    )
    assert record_id in updated[-1]["text"] and "actions" not in json.dumps(updated[-1]["blocks"])
    desk.action(ADA, "review_accept", PYLON)  # a second click changes nothing
    _wait("the second click answered", lambda: desk.told("Already decided"))
    time.sleep(1)
    assert len(desk.records(record_id)) == 1


@pytest.mark.parametrize("desk", ["sqlite", "postgresql"], indirect=True)
def test_two_reviewers_at_once_make_one_decision_and_the_second_is_told(desk: Desk) -> None:
    answers: list[dict] = []
    threads = [
        threading.Thread(target=lambda u=u: answers.append(desk.action(u, "review_accept", CMA)))
        for u in (ADA, BOB)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    record_id = deal_id(CMA)
    _wait("the record", lambda: desk.records(record_id))
    state, decided_by, decision = desk.decided(CMA)
    assert state == "accepted" and decision == record_id
    loser = "slack:U0BOB (bob)" if decided_by.startswith("slack:U0ADA") else "slack:U0ADA (ada)"
    told = _wait("the second told who was first", lambda: desk.told(f"by {decided_by}"))
    assert "Already decided" in told[0]["text"] and loser not in told[0]["text"]
    time.sleep(1)
    assert len(desk.records(record_id)) == 1


def test_edit_refuses_an_invalid_amount_inside_the_modal_then_accepts(desk: Desk) -> None:
    desk.action(ADA, "review_edit", PYLON)
    opened = _wait("the modal", lambda: desk.slack.views)[-1]["view"]
    names = [b["block_id"] for b in opened["blocks"] if b["type"] == "input"]
    assert "field:amount_usd" in names and "field:investors" in names
    refused = desk.submit(ADA, opened, {("field:amount_usd", "value"): "-5"})
    assert refused["response_action"] == "errors"
    assert "amount_usd" in refused["errors"]["field:amount_usd"]
    assert desk.item(PYLON)[0] == "pending" and desk.records(deal_id(PYLON)) == []
    desk.submit(ADA, opened, {("field:amount_usd", "value"): "9000000"})
    [record] = _wait("the edited record", lambda: desk.records(deal_id(PYLON)))
    assert record.amount_usd == 9e6 and record.investors == ["nvidia", "microsoft"]


def test_reject_asks_why_and_records_the_reason(desk: Desk) -> None:
    desk.action(ADA, "review_reject", CMA)
    opened = _wait("the modal", lambda: desk.slack.views)[-1]["view"]
    empty = desk.submit(ADA, opened, {("why", "why_input"): "  "})
    assert empty["response_action"] == "errors" and "why" in empty["errors"]
    desk.submit(ADA, opened, {("why", "why_input"): "an inquiry's page, no deal terms"})
    _wait("the rejection", lambda: desk.item(CMA)[0] == "rejected")
    assert desk.item(CMA) == ("rejected", "slack:U0ADA (ada)", "an inquiry's page, no deal terms")
    _wait("the post updated", lambda: [u for u in desk.slack.updates if "Rejected by" in u["text"]])
    assert desk.records(deal_id(CMA)) == []


def test_a_non_reviewer_is_refused_politely_and_nothing_is_emitted(desk: Desk) -> None:
    desk.action(EVE, "review_accept", PYLON)
    _wait("the refusal", lambda: desk.told("only the reviewers"))
    answer = desk.command(EVE, "silence burn_critical:inflection 7d")
    assert "only the reviewers" in answer["text"]
    time.sleep(1)
    assert desk.item(PYLON)[0] == "pending" and desk.records(deal_id(PYLON)) == []
    assert _rows(desk.settings.database_url, "SELECT rule FROM alert_silences") == []


def test_slash_command_answers_with_the_numbers_show_prints(desk: Desk) -> None:
    shown = " ".join(_cli("show", "consolidation").split())
    index = desk.command(ADA, "index")["text"]
    idx = _rows(
        desk.settings.database_url, "SELECT idx, hhi FROM consolidation ORDER BY as_of DESC LIMIT 1"
    )[0]
    assert f"*{idx[0]:.1f}*" in index and f"{idx[0]:.1f}" in shown
    assert f"*{idx[1]:,}*" in index and f"{idx[1]:,}" in shown
    assert "Top incumbents" in index
    watch = desk.command(ADA, "watchlist")["text"]
    assert "Burn watchlist" in watch
    company = desk.command(ADA, "company inflection")["text"]
    assert "status" in company and "Deals" in company
    asked = "SELECT record_id FROM deals WHERE company = 'inflection' LIMIT 1"
    deal_row = _rows(desk.settings.database_url, asked)[0][0]
    deal = desk.command(ADA, f"deal {deal_row}")["text"]
    assert deal_row in deal and "Events, in log order" in deal
    queue = desk.command(ADA, "review")["text"]
    assert "2 pending" in queue and PYLON in queue
    silenced = desk.command(ADA, "silence burn_critical:inflection 7d")["text"]
    assert "Silenced `burn_critical:inflection`" in silenced
    rows = _rows(
        desk.settings.database_url, "SELECT rule, subject, silenced_by FROM alert_silences"
    )
    assert rows == [("burn_critical", "inflection", "slack:U0ADA (ada)")]
    assert "no longer silenced" in desk.command(ADA, "unsilence burn_critical:inflection")["text"]


def test_a_socket_dropped_mid_decision_loses_and_doubles_nothing(desk: Desk) -> None:
    opened_before = desk.slack.connections_opened
    desk.action(ADA, "review_accept", PYLON, drop=True)  # acknowledged after the reconnect
    assert desk.slack.connections_opened > opened_before
    _wait("the record", lambda: desk.records(deal_id(PYLON)))
    assert desk.decided(PYLON)[0] == "accepted"
    time.sleep(1.5)
    assert len(desk.records(deal_id(PYLON))) == 1


def test_a_decision_at_the_cli_updates_the_slack_post(desk: Desk) -> None:
    _cli("review", "reject", CMA, "--why", "decided at a terminal", "--by", "carol")
    updated = _wait(
        "the post updated",
        lambda: [u for u in desk.slack.updates if "Rejected by carol" in u["text"]],
    )
    assert "decided at a terminal" in updated[0]["text"]


def test_a_sighting_joining_an_item_redraws_its_post(desk: Desk) -> None:
    post = desk.post_of(PYLON)
    assert "nvidianews.example" not in json.dumps(post.blocks)
    assert "joined a pending item 1" in " ".join(_cli("sources", "poll", "nvidia").split())
    redrawn = _wait(
        "the post redrawn",
        lambda: [
            u
            for u in desk.slack.updates
            if u["ts"] == post.ts and "nvidianews" in json.dumps(u["blocks"])
        ],
    )
    assert "Accept" in json.dumps(redrawn[-1]["blocks"])  # still pending, still decidable


def test_alert_buttons_silence_for_seven_days_and_say_why(desk: Desk) -> None:
    alert = _rows(desk.settings.database_url, "SELECT alert_key, rule, subject FROM alerts LIMIT 1")
    assert alert, "the seed's projection recorded no alert"
    key, rule, subject = alert[0]
    desk.action(ADA, "alert_why", key)
    why = _wait("the lineage", lambda: desk.told("Why"))[0]["text"]
    assert "the records behind it" in why and "`" in why
    desk.action(ADA, "alert_silence", f"{rule}:{subject}")
    _wait("the silence", lambda: desk.told("Silenced"))
    rows = _rows(
        desk.settings.database_url, "SELECT rule, subject, silenced_by FROM alert_silences"
    )
    assert rows == [(rule, subject, "slack:U0ADA (ada)")]


def test_app_home_shows_the_index_chart_and_queue(desk: Desk) -> None:
    event = {
        "token": "unused",
        "team_id": "T0TEST",
        "api_app_id": "A0DESK",
        "type": "event_callback",
        "event_id": "Ev1",
        "event_time": int(time.time()),
        "event": {"type": "app_home_opened", "user": "U0ADA", "channel": "D0ADA", "tab": "home"},
    }
    desk.server.deliver("events_api", event)
    home = _wait("the home view", lambda: desk.slack.published)[0]
    text = json.dumps(home["view"])
    assert home["user_id"] == "U0ADA" and "Consolidation index" in text
    [image] = [b for b in home["view"]["blocks"] if b["type"] == "image"]
    assert desk.slack.uploads[image["slack_file"]["id"]].startswith(b"\x89PNG")
    assert "2 pending" in text


def test_the_manifest_declares_socket_mode_the_command_and_the_scopes() -> None:
    manifest = yaml.safe_load(CliRunner().invoke(cli, ["slack", "manifest"]).output)
    assert manifest["settings"]["socket_mode_enabled"] is True
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    assert manifest["settings"]["event_subscriptions"]["bot_events"] == ["app_home_opened"]
    assert [c["command"] for c in manifest["features"]["slash_commands"]] == ["/dealwatch"]
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert {"chat:write", "commands", "files:write", "usergroups:read"} <= scopes


def _slack_process(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dealwatch", "slack"],
        env={**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_wrong_or_missing_tokens_are_refused_with_where_to_get_them(tmp_path: Path) -> None:
    missing = _slack_process({"SLACK_APP_TOKEN": "", "SLACK_BOT_TOKEN": TOKEN}, tmp_path)
    assert missing.returncode == 1 and "SLACK_APP_TOKEN must be an app-level token" in (
        missing.stdout + missing.stderr
    )
    swapped = _slack_process({"SLACK_APP_TOKEN": APP_TOKEN, "SLACK_BOT_TOKEN": APP_TOKEN}, tmp_path)
    said = swapped.stdout + swapped.stderr
    assert swapped.returncode == 1 and "SLACK_BOT_TOKEN must be the bot token" in said
    assert APP_TOKEN not in said


def test_the_app_waits_for_an_absent_database_then_says_so(tmp_path: Path) -> None:
    absent = _slack_process(
        {
            "SLACK_APP_TOKEN": APP_TOKEN,
            "SLACK_BOT_TOKEN": TOKEN,
            "DATABASE_URL": "postgresql://dealwatch:secret@127.0.0.1:9/dealwatch",
            "DEALWATCH_CONNECT_TIMEOUT": "3",
        },
        tmp_path,
    )
    said = absent.stdout + absent.stderr
    assert absent.returncode == 1, said
    assert "waiting" in said.lower() and "secret" not in said and "Traceback" not in said


def test_slack_unreachable_is_said_in_one_line_an_attempt(tmp_path: Path) -> None:
    log = tmp_path / "slack.log"
    env = {"SLACK_APP_TOKEN": APP_TOKEN, "SLACK_BOT_TOKEN": TOKEN,
           "SLACK_API_URL": "http://127.0.0.1:9/api/",
           "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "dealwatch", "slack"],
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait("an attempt said", lambda: "Failed to connect" in log.read_text(), timeout=60)
    finally:
        os.killpg(process.pid, 15)
        stopped = process.wait(30)  # SIGTERM stops it while it is still trying to connect
    said = log.read_text()
    assert stopped == 0 and "stopped" in said, said
    assert "Traceback" not in said and TOKEN not in said and APP_TOKEN not in said
