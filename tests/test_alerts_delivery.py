"""Alerts: rules file, outbox, delivery through slack-sdk to a local Slack-compatible server."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from dealwatch.alerts.dispatcher import dispatch
from dealwatch.alerts.outbox import sync_outbox
from dealwatch.alerts.rules_config import RulesFileError, load_rules
from dealwatch.alerts.slack import BotSender, ConsoleSender, WebhookSender
from dealwatch.projections.rules import AlertCandidate
from dealwatch.services.db.engine import make_async_engine, session_factory
from dealwatch.services.db.models import Alert, Silence
from dealwatch.services.db.schema import upgrade
from tests.slack_server import TOKEN, FakeSlack, SlackServerThread

NOW = dt.datetime(2025, 1, 1, 12, tzinfo=dt.UTC)


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    server = SlackServerThread()
    yield server.start()
    server.stop()


def bot(slack: FakeSlack, **kwargs) -> BotSender:
    return BotSender(TOKEN, slack.api_url(), **{"backoff": 0.05, **kwargs})


def candidate(
    rule: str,
    subject: str,
    record: str,
    day: str = "2024-05-01",
    lineage: tuple[str, ...] = ("e1",),
) -> AlertCandidate:
    return AlertCandidate(
        f"{rule}:{subject}:{record}",
        rule,
        subject,
        dt.date.fromisoformat(day),
        f"{rule} for {subject}",
        (("Amount", "$1.00B"),),
        "a source",
        lineage,
    )


class Outbox:
    """An outbox on a fresh database, driven directly."""

    def __init__(self, url: str) -> None:
        upgrade(url)
        self.engine = make_async_engine(url)
        self.sessions = session_factory(self.engine)

    async def sync(self, candidates, rules=None, retracted=frozenset()):
        async with self.sessions() as session, session.begin():
            return await sync_outbox(
                session, candidates, rules or load_rules(None), NOW, set(retracted)
            )

    async def rows(self) -> dict[str, Alert]:
        async with self.sessions() as session:
            return {a.alert_key: a for a in (await session.execute(select(Alert))).scalars()}

    async def set_state(self, key: str, state: str) -> None:
        async with self.sessions() as session, session.begin():
            alert = await session.get(Alert, key)
            alert.delivery_state = state


@pytest.fixture
async def outbox(database_url: str):
    box = Outbox(database_url)
    yield box
    await box.engine.dispose()


# -- rules file ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, line, words",
    [
        ("rules:\n  mega_round:\n    min_amount_usd: -5\n", 3, "≥ 0"),
        ("rules:\n  mega_rounds:\n    enabled: false\n", 2, "unknown rule"),
        (
            "rules:\n  major_layoff:\n    min_pct: 20\n    min_heads: 3\n",
            4,
            "no setting 'min_heads'",
        ),
        ("rules:\n  probe_opened:\n    actions: [opened, sued]\n", 3, "sued"),
        ("rules:\n  consolidation_high: {fire_at: 50, rearm_below: 60}\n", 1, "rearm_below"),
        ("rules:\n  mega_round: [1\n", 3, "not valid YAML"),
        ("channels: {}\n", 1, "unknown key"),
        ("rules:\n  runway_watch:\n    enabled: maybe\n", 3, "true or false"),
    ],
)
def test_bad_rules_file_names_line_and_reason(
    tmp_path: Path, text: str, line: int, words: str
) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    with pytest.raises(RulesFileError) as caught:
        load_rules(path)
    assert str(caught.value).startswith(f"{path}:{line}:"), caught.value
    assert words in str(caught.value)


def test_example_rules_file_is_the_spec_defaults_with_routing() -> None:
    rules = load_rules(Path("alerts/rules.example.yaml"))
    assert rules.thresholds == load_rules(None).thresholds
    assert rules.channel_for("probe_opened") == "#regulatory"
    assert rules.channel_for("runway_critical") == "#burn"
    assert rules.channel_for("hhi_concentrated") == "#dealwatch"


# -- outbox ----------------------------------------------------------------------------------


async def test_outbox_records_each_key_once_and_cancels_retracted(outbox: Outbox) -> None:
    first = [
        candidate("mega_round", "openai", "r1"),
        candidate("major_layoff", "x", "r2"),
        candidate("consolidation_high", "market", "armed-origin", lineage=("e9", "e3")),
    ]
    assert (await outbox.sync(first)).added == 3
    assert (await outbox.sync(first)).added == 0  # replayed: nothing new
    await outbox.set_state("major_layoff:x:r2", "delivered")
    # r1 and r2 retracted, e3 too: pending alerts go, the delivered one stays delivered
    change = await outbox.sync([], retracted={"e3"})
    rows = await outbox.rows()
    assert change.cancelled == 2
    assert rows["mega_round:openai:r1"].delivery_state == "cancelled"
    assert rows["consolidation_high:market:armed-origin"].delivery_state == "cancelled"
    assert rows["major_layoff:x:r2"].delivery_state == "delivered"
    assert json.loads(rows["major_layoff:x:r2"].lineage) == ["e1"]


# -- delivery --------------------------------------------------------------------------------


async def test_429_then_500s_every_alert_once_in_order(outbox: Outbox, slack: FakeSlack) -> None:
    rules = load_rules(Path("alerts/rules.example.yaml"))
    alerts = [
        candidate("mega_round", f"c{i}", f"r{i}", f"2024-0{1 + i % 9}-01") for i in range(6)
    ] + [candidate("probe_opened", "openai", "p1", "2024-03-15")]
    await outbox.sync(alerts, rules)
    slack.fail_next([(429, {"Retry-After": "1"}), (500, {}), (500, {}), (503, {})])
    sender = bot(slack)
    rounds = 0
    while any(a.delivery_state == "pending" for a in (await outbox.rows()).values()):
        await dispatch(outbox.sessions, sender, lambda: NOW)
        rounds += 1
        assert rounds < 10
    keys = slack.alert_keys()
    assert sorted(keys) == sorted(a.alert_key for a in alerts)  # each exactly once
    deals = [m.metadata["event_payload"]["alert_key"] for m in slack.in_channel("#deals")]
    order = {a.alert_key: (a.as_of, a.alert_key) for a in alerts}
    assert deals == sorted(deals, key=order.get)  # in order within the channel
    assert [m.metadata["event_payload"]["alert_key"] for m in slack.in_channel("#regulatory")] == [
        "probe_opened:openai:p1"
    ]
    rows = await outbox.rows()
    assert {r.delivery_state for r in rows.values()} == {"delivered"}
    posts = [t for m, t in slack.requests if m == "chat.postMessage"]
    assert len(posts) == len(alerts) + 4  # the four failures were retried, nothing else
    retry_after = posts[1] - posts[0]
    assert retry_after >= 1.0  # Retry-After was honoured


async def test_interrupted_send_is_reconciled_not_repeated(
    outbox: Outbox, slack: FakeSlack
) -> None:
    arrived, lost = candidate("mega_round", "a", "r1"), candidate("mega_round", "b", "r2")
    await outbox.sync([arrived, lost])
    sender = bot(slack)
    await sender.send(_outgoing((await outbox.rows())[arrived.alert_key]))  # reached Slack...
    await outbox.set_state(arrived.alert_key, "sending")  # ...but the dispatcher died
    await outbox.set_state(lost.alert_key, "sending")  # died before Slack answered
    report = await dispatch(outbox.sessions, sender, lambda: NOW)
    assert report.reconciled == 1 and report.delivered == 1
    assert sorted(slack.alert_keys()) == sorted([arrived.alert_key, lost.alert_key])


def _outgoing(alert: Alert):
    from dealwatch.alerts.slack import Outgoing

    return Outgoing(alert.alert_key, alert.channel, alert.message, alert.fired_at)


async def test_definitive_errors_fail_without_leaking_the_token(
    outbox: Outbox, slack: FakeSlack
) -> None:
    rules = load_rules(None, default_channel="#nowhere")
    await outbox.sync([candidate("mega_round", "a", "r1")], rules)
    report = await dispatch(outbox.sessions, bot(slack), lambda: NOW)
    row = (await outbox.rows())["mega_round:a:r1"]
    assert report.failed == 1 and row.delivery_state == "failed"
    assert "channel_not_found" in row.last_error
    assert TOKEN not in json.dumps({k: str(v) for k, v in row.model_dump().items()})
    slack.fail_next([(500, {})] * 10)  # longer than the client's retries
    await outbox.sync([candidate("mega_round", "b", "r2")])
    report = await dispatch(outbox.sessions, bot(slack, max_retries=2), lambda: NOW)
    row = (await outbox.rows())["mega_round:b:r2"]
    assert report.retried == 1 and row.delivery_state == "pending"
    assert "500" in row.last_error and TOKEN not in row.last_error


async def test_silenced_alerts_are_not_sent(outbox: Outbox, slack: FakeSlack) -> None:
    await outbox.sync([candidate("major_layoff", "a", "r1"), candidate("major_layoff", "b", "r2")])
    async with outbox.sessions() as session, session.begin():
        session.add(Silence(rule="major_layoff", subject="a", until=NOW + dt.timedelta(days=7)))
    report = await dispatch(outbox.sessions, bot(slack), lambda: NOW)
    assert report.silenced == 1 and slack.alert_keys() == ["major_layoff:b:r2"]


async def test_webhook_and_console(outbox: Outbox, slack: FakeSlack) -> None:
    await outbox.sync([candidate("mega_round", "a", "r1")])
    slack.fail_next([(500, {})])
    webhook = WebhookSender(slack.webhook_url(), backoff=0.05)
    # the sender's retry handlers (rate limits, 500/503, connection errors) apply to the
    # webhook too (slack-sdk >= 3.48): the 500 is retried inside the one send
    assert (await dispatch(outbox.sessions, webhook, lambda: NOW)).delivered == 1
    assert [kind for kind, _ in slack.requests] == ["webhook", "webhook"]
    [message] = slack.webhook_messages
    assert message["blocks"][0]["type"] == "header" and "mega_round" in message["text"]
    await outbox.sync([candidate("mega_round", "b", "r2")])
    from rich.console import Console

    console = Console(record=True, width=200)
    assert (await dispatch(outbox.sessions, ConsoleSender(console), lambda: NOW)).delivered == 1
    assert "mega_round for b" in console.export_text()


def test_cli_test_message_silence_and_list(
    slack: FakeSlack, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from dealwatch.services.cli import app
    from dealwatch.services.config import get_settings

    for name, value in {
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_API_URL": slack.api_url(),
        "SLACK_DEFAULT_CHANNEL": "#dealwatch",
        "DATABASE_URL": sqlite_url,
        "COLUMNS": "200",
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        sent = runner.invoke(app, ["alerts", "test"])
        assert sent.exit_code == 0, sent.output
        assert [m.text for m in slack.in_channel("#dealwatch")] == [
            "dealwatch test message (Sender: slack bot)"
        ]
        assert TOKEN not in sent.output
        silenced = runner.invoke(app, ["alerts", "silence", "major_layoff:acme", "--for", "2d"])
        assert silenced.exit_code == 0 and "silenced major_layoff:acme" in silenced.output
        bad = runner.invoke(app, ["alerts", "silence", "major_layoff", "--for", "soon"])
        assert bad.exit_code != 0 and "like 30m, 12h, 7d" in bad.output
        listed = runner.invoke(app, ["alerts", "list", "--state", "pending"])
        assert listed.exit_code == 0, listed.output
    finally:
        get_settings.cache_clear()
