"""Producers that watch public sources (issue 9), offline: a local server serves recorded files
in each source's real format; records go to the real broker, state to SQL."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from sqlalchemy import text
from typer.testing import CliRunner

from dealwatch.events.envelope import DealEvent
from dealwatch.services.cli import app
from dealwatch.services.config import Settings, get_settings
from dealwatch.services.db.engine import make_sync_engine
from dealwatch.services.ingest.pipeline import ingest_registry
from dealwatch.services.kafka.topics import DEAL_EVENTS
from dealwatch.services.seed import SEED_REGISTRY
from dealwatch.sources.names import normalise
from tests.kafka_helpers import read_topic
from tests.source_server import Scripted, SourceServer, serve_fixtures
from tests.workers import run_worker_until_caught_up

FIXTURES = Path(__file__).parent / "fixtures" / "sources"
CONTACT = "dealwatch tests tests@example.com"
EXTRA_REGISTRY = """slug,name,role,country,aliases,cik
brisk-agents,Brisk Agents,startup,US,,
pylon-code,Pylon Code,startup,US,,
nordlicht-ki,Nordlicht,startup,DE,,0001900003
adept,Adept AI,startup,US,Adept AI Labs,
"""


def _index_path(day: str) -> str:
    return f"/Archives/edgar/daily-index/form/2024/QTR4/form.{day}.idx"


def _doc_path(accession: str) -> str:
    cik = int(accession.split("-")[0])
    return f"/Archives/edgar/data/{cik}/{accession.replace('-', '')}/primary_doc.xml"


@pytest.fixture
def server():
    served = serve_fixtures(SourceServer()).start()
    yield served
    served.stop()


@pytest.fixture
def world(kafka: Settings, server: SourceServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The registry in the log, a sources file pointing at the local server, the CLI's env."""
    extra = tmp_path / "extra-registry.csv"
    extra.write_text(EXTRA_REGISTRY)
    asyncio.run(ingest_registry(SEED_REGISTRY, kafka))
    asyncio.run(ingest_registry(extra, kafka))
    sources = {
        "contact": CONTACT,
        "sources": [
            {"name": "sec-formd", "kind": "sec_formd", "base_url": server.url, "every": "1h",
             "requests_per_second": 50, "timeout": 2},
            {"name": "ftc", "kind": "press", "authority": "FTC",
             "url": f"{server.url}/ftc/press.rss", "every": "30m"},
            {"name": "cma", "kind": "press", "authority": "CMA",
             "url": f"{server.url}/cma/cases.atom", "every": "30m"},
            {"name": "newsroom", "kind": "press", "owner": "amazon", "trust": "auto",
             "url": f"{server.url}/newsroom/feed.rss", "every": "6h"},
            {"name": "ca-warn", "kind": "layoffs", "url": f"{server.url}/warn/report.csv",
             "every": "1d", "mapping": {"company": "Company", "date": "Notice Date",
                                        "headcount": "No. Of Employees",
                                        "effective": "Effective Date"}},
            {"name": "warn-xlsx", "kind": "layoffs", "format": "xlsx",
             "url": f"{server.url}/warn/report.xlsx", "every": "1d",
             "mapping": {"company": "Company", "date": "Notice Date",
                         "headcount": "No. Of Employees"}},
        ],
    }  # fmt: skip
    env = sources_env(kafka, tmp_path, sources, "2024-11-05", monkeypatch)
    yield kafka.model_copy(update={"database_url": env["DATABASE_URL"]}), env
    get_settings.cache_clear()


def sources_env(
    kafka: Settings, tmp_path: Path, sources: dict, today: str, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """The sources file written, and the environment the CLI runs with, set (SQLite in
    `tmp_path`, the test's topic prefix, a pinned day)."""
    config = tmp_path / "sources.yaml"
    config.write_text(yaml.safe_dump(sources))
    env = {
        "DEALWATCH_SOURCES_FILE": str(config),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'dealwatch.db'}",
        "DEALWATCH_TOPIC_PREFIX": kafka.dealwatch_topic_prefix,
        "DEALWATCH_TODAY": today,
        "COLUMNS": "400",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    return env


def _cli(*args: str):
    return CliRunner().invoke(app, list(args))


def _log(settings: Settings) -> list[DealEvent]:
    messages = asyncio.run(read_topic(settings, settings.topic(DEAL_EVENTS)))
    return [DealEvent.from_bytes(m.value) for m in messages]


def _rows(url: str, statement: str) -> list[tuple]:
    engine = make_sync_engine(url)
    with engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(text(statement))]
    engine.dispose()
    return rows


def test_names_match_the_registry_as_the_spec_says() -> None:
    assert normalise("Brisk Agents, Inc.") == normalise("BRISK AGENTS") == "brisk agents"
    assert normalise("PYLON CODE CORP") == "pylon code"
    assert normalise("Mistral AI S.A.S.") == "mistral ai"
    assert normalise("Example L.L.C.") == normalise("Example Ltd") == "example"


def test_form_d_first_poll_emits_and_a_second_emits_nothing(
    world, server: SourceServer, tmp_path: Path
) -> None:
    settings, _ = world
    first = _cli("sources", "poll", "sec-formd", "--since", "2024-11-04")
    assert first.exit_code == 0, first.output
    assert "emitted 4" in first.output and "queued for review 1" in first.output
    assert "Broken Filing" not in first.output and "does not parse" in first.output
    events = {e.record.id: e.record for e in _log(settings)}
    assert sorted(events) == [
        "sec-formd-0001900001-24-000001",
        "sec-formd-0001900001-24-000002",
        "sec-formd-0001900002-24-000001",
        "sec-formd-0001900003-24-000001",
    ]
    brisk = events["sec-formd-0001900001-24-000001"]
    assert (brisk.company, brisk.amount_usd, brisk.date, brisk.reported) == (
        "brisk-agents",
        25_000_000,
        dt.date(2024, 10, 20),
        dt.date(2024, 11, 4),
    )
    assert brisk.investors == [] and brisk.source.endswith("primary_doc.xml")  # fmt: skip
    amendment = events["sec-formd-0001900001-24-000002"]
    assert amendment.kind == "correction" and amendment.corrects == brisk.id
    assert amendment.fields["amount_usd"] == 30_000_000
    assert "Indefinite" in events["sec-formd-0001900002-24-000001"].note
    assert events["sec-formd-0001900003-24-000001"].company == "nordlicht-ki"  # by CIK, non-US
    assert all(CONTACT in headers["User-Agent"] for _, headers in server.requests)
    queued = _cli("review", "list")
    assert "sec-formd-0001900004-24-000001" in queued.output and "Unheard Of Labs" in queued.output

    again = _cli("sources", "poll", "sec-formd", "--since", "2024-11-04")
    assert again.exit_code == 0, again.output
    assert "emitted 0, already in the log 4, queued for review 0" in again.output
    assert len(_log(settings)) == 4

    worker = settings.model_copy(update={"dealwatch_today": dt.date(2024, 12, 31)})
    run_worker_until_caught_up(worker, tmp_path / "worker.log")
    deals = _rows(settings.database_url, "SELECT record_id, amount_usd FROM deals")
    assert ("sec-formd-0001900001-24-000001", 30_000_000.0) in deals  # the amendment applied


def test_retry_after_503_and_a_timeout_are_waited_out(world, server: SourceServer) -> None:
    index = _index_path("20241104")
    server.script[index].extend(
        [Scripted(429, {"Retry-After": "1"}), Scripted(503), Scripted(delay=3.0)]
    )
    started = time.monotonic()
    result = _cli("sources", "backfill", "sec-formd", "--from", "2024-11-04", "--to", "2024-11-04")
    assert result.exit_code == 0, result.output
    assert len(server.hits(index)) == 4 and time.monotonic() - started >= 1.0
    assert "emitted 3" in result.output  # the amendment is the next day's


def test_a_poll_killed_midway_and_run_again_misses_and_doubles_nothing(
    world, server: SourceServer
) -> None:
    settings, env = world
    server.delay = 0.4
    command = [sys.executable, "-m", "dealwatch", "sources", "poll", "sec-formd", "--since",
               "2024-11-04"]  # fmt: skip
    process = subprocess.Popen(command, env={**os.environ, **env}, start_new_session=True)
    deadline = time.monotonic() + 60
    while len(server.requests) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    server.delay = 0.0
    assert _cli("sources", "poll", "sec-formd", "--since", "2024-11-04").exit_code == 0
    assert _cli("sources", "poll", "sec-formd", "--since", "2024-11-04").exit_code == 0
    ids = [e.record.id for e in _log(settings)]
    assert sorted(ids) == sorted(set(ids)) and len(ids) == 4


def test_press_feeds_make_probes_and_review_candidates(world, server: SourceServer) -> None:
    settings, _ = world
    for name in ("ftc", "cma"):
        result = _cli("sources", "poll", name)
        assert result.exit_code == 0, result.output
    probes = {e.record.id: e.record for e in _log(settings)}
    ftc = probes["ftc-ftc-2024-01-25-genai-6b"]
    assert (ftc.authority, ftc.action, ftc.date) == ("FTC", "opened", dt.date(2024, 1, 25))
    assert ftc.parties == ["alphabet", "amazon", "anthropic", "microsoft", "openai"]
    assert ftc.source.startswith("https://www.ftc.gov/")
    cleared = probes["cma-tag:www.gov.uk,2005:/cma-cases/microsoft-inflection-ai-inquiry"]
    assert (cleared.action, cleared.company) == ("cleared", "inflection")
    opened = probes["cma-tag:www.gov.uk,2005:/cma-cases/amazon-anthropic-partnership"]
    assert (opened.action, opened.company) == ("opened", "anthropic")
    assert len(probes) == 3
    queue = _cli("review", "list").output
    assert "names no registry company" in queue and "the action is unclear" in queue
    assert "deal:tag:www.gov.uk,2005:/cma-cases/microsoft-inflection-ai-inquiry" in queue

    again = _cli("sources", "poll", "ftc")
    assert "(1 not modified), emitted 0" in again.output
    assert server.hits("/ftc/press.rss")[-1].get("If-None-Match")


def test_review_accepts_a_filled_licensing_draft_as_it_stands(world) -> None:
    """The CMA's item names both parties: the draft arrives filled (company, licensee, with
    their confidence and sentence), `review list` shows it, and `review accept KEY` needs no
    --set. An edit that breaks the record is refused with ingest's reason."""
    settings, _ = world
    assert _cli("sources", "poll", "cma").exit_code == 0
    key = "deal:tag:www.gov.uk,2005:/cma-cases/microsoft-inflection-ai-inquiry"
    queue = " ".join(_cli("review", "list").output.split())
    assert "licensing draft, complete" in queue
    assert "company=inflection (0.9)" in queue and "licensee=microsoft (0.9)" in queue
    refused = _cli("review", "accept", key, "--set", "fee_usd=-5")
    assert refused.exit_code == 1 and "fee_usd" in refused.output
    accepted = _cli("review", "accept", key, "--by", "analyst")
    assert accepted.exit_code == 0, accepted.output
    record = next(e.record for e in _log(settings) if e.record.kind == "licensing")
    assert (record.company, record.licensee) == ("inflection", "microsoft")
    assert record.id.startswith("deal-") and "reviewed by analyst on 2024-11-05" in record.source
    assert _cli("review", "accept", key).exit_code == 1  # decided already
    assert _cli("review", "list").output.count("deal:") == 0
    assert _cli("review", "list", "--state", "accepted").output.count("deal:") == 1


def test_a_trusted_newsroom_emits_confident_drafts_and_queues_the_rest(world) -> None:
    """`trust: auto`: the round that names every party goes to the log as it was read; the one
    with an investor in no registry entry waits for a person; product news goes nowhere."""
    settings, _ = world
    polled = _cli("sources", "poll", "newsroom")
    assert polled.exit_code == 0, polled.output
    [record] = [e.record for e in _log(settings)]
    assert (record.kind, record.company, record.amount_usd, record.investors) == (
        "funding",
        "anthropic",
        4e9,
        ["amazon"],
    )
    assert record.id.startswith("deal-") and record.source.startswith("https://www.aboutamazon")
    queue = " ".join(_cli("review", "list").output.split())
    assert "deal:amazon-unmatched" in queue and "1 name(s) not in the registry" in queue
    assert "? Jane Street" in queue
    assert "nova" not in queue.lower()


def test_warn_csv_and_xlsx_become_layoffs_and_unknown_employers_wait(
    world, server: SourceServer
) -> None:
    from openpyxl import Workbook

    settings, _ = world
    book = Workbook()
    sheet = book.active
    sheet.append(["Notice Date", "Company", "No. Of Employees"])
    sheet.append([dt.datetime(2024, 5, 6), "Inflection AI, Inc.", 12])
    data = io.BytesIO()
    book.save(data)
    server.files["/warn/report.xlsx"] = data.getvalue()
    for name in ("ca-warn", "warn-xlsx"):
        result = _cli("sources", "poll", name)
        assert result.exit_code == 0, result.output
    layoffs = sorted(
        (e.record.company, e.record.date.isoformat(), e.record.headcount) for e in _log(settings)
    )
    assert layoffs == [
        ("adept", "2024-04-02", 30),
        ("inflection", "2024-03-01", 45),
        ("inflection", "2024-05-06", 12),
    ]
    assert "Unknown Robotics" in _cli("review", "list").output


def test_a_renamed_column_fails_the_source_and_alerts_after_three_tries(
    world, server: SourceServer
) -> None:
    settings, _ = world
    renamed = b"Notice Date,Effective Date,Employer,No. Of Employees\n2024-03-01,,X,4\n"
    server.files["/warn/report.csv"] = renamed
    for _ in range(3):
        result = _cli("sources", "poll", "ca-warn")
        assert result.exit_code == 1
        assert "columns ['Company'] are not in the file" in result.output
    assert _cli("sources", "poll", "ftc").exit_code == 0  # one failing source stops no other
    status = _cli("sources", "status")
    assert status.exit_code == 0, repr(status.exception)
    assert "columns ['Company']" in status.output
    alerts = _rows(settings.database_url, "SELECT alert_key, rule FROM alerts")
    assert [rule for _, rule in alerts] == ["source_failing"]


def test_sec_sources_refuse_to_run_without_a_contact(world, tmp_path: Path, monkeypatch) -> None:
    bare = tmp_path / "bare.yaml"
    bare.write_text(json.dumps({"sources": [{"name": "sec", "kind": "sec_formd"}]}))
    monkeypatch.setenv("DEALWATCH_SOURCES_FILE", str(bare))
    get_settings.cache_clear()
    result = _cli("sources", "poll", "sec")
    assert result.exit_code == 1 and "'contact'" in result.output


def test_sources_run_polls_every_enabled_source_on_a_schedule(world) -> None:
    settings, env = world
    process = subprocess.Popen(
        [sys.executable, "-m", "dealwatch", "sources", "run"],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90
        polled: list[tuple] = []
        asked = "SELECT name, last_success IS NOT NULL, last_error FROM source_state ORDER BY name"
        while time.monotonic() < deadline:
            try:
                polled = _rows(settings.database_url, asked)
            except Exception:  # the schema is being created
                polled = []
            if len(polled) == 6 and all(ok or error for _, ok, error in polled):
                break
            time.sleep(0.5)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        output = process.communicate(timeout=60)[0]
    every = ["ca-warn", "cma", "ftc", "newsroom", "sec-formd", "warn-xlsx"]
    assert sorted(p[0] for p in polled) == every, output
    assert process.returncode == 0, output
    jobs = _rows(settings.database_url, "SELECT id FROM source_jobs ORDER BY id")
    assert [j[0] for j in jobs] == every
    kinds = {e.record.kind for e in _log(settings)}
    assert {"probe", "layoff", "funding"} <= kinds


def test_a_claim_left_by_a_dead_decider_is_taken_again_after_five_minutes(world) -> None:
    """A decision claims its item first; a claim whose decider died before recording (the
    state `deciding`) refuses others for five minutes, then may be taken again."""
    settings, _ = world
    assert _cli("sources", "poll", "cma").exit_code == 0
    key = "deal:tag:www.gov.uk,2005:/cma-cases/microsoft-inflection-ai-inquiry"
    engine = make_sync_engine(settings.database_url)
    claimed = "UPDATE review_items SET state = 'deciding', decided_by = 'slack:U0GONE', "
    with engine.begin() as conn:
        conn.execute(text(claimed + "decided_at = :at WHERE key = :key"),
                     {"at": dt.datetime.now(dt.UTC), "key": key})  # fmt: skip
    refused = _cli("review", "accept", key, "--by", "analyst")
    assert refused.exit_code == 1 and "is being decided by slack:U0GONE" in refused.output
    with engine.begin() as conn:
        old = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=6)
        conn.execute(text("UPDATE review_items SET decided_at = :at WHERE key = :key"),
                     {"at": old, "key": key})  # fmt: skip
    engine.dispose()
    accepted = _cli("review", "accept", key, "--by", "analyst")
    assert accepted.exit_code == 0, accepted.output
    assert _rows(settings.database_url, f"SELECT state, decided_by FROM review_items "
                 f"WHERE key = '{key}'") == [("accepted", "analyst")]  # fmt: skip
