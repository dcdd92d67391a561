"""One deal, many sightings (docs/sources.md): a Form D, the startup's post and the investor's
post about one round end as one record carrying its investors, in every order of arrival, and
the projections stay what `project()` makes of the log. The rules first (pure), then each order
against the real broker, SQL and worker, with the feeds served by the local source server."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dealwatch.services.config import Settings, get_settings
from dealwatch.services.ingest.pipeline import ingest_registry
from dealwatch.services.seed import SEED_REGISTRY
from dealwatch.sources.outcomes import Emit, Review, Skip
from dealwatch.sources.sightings import JoinPending, Known, join_id, match, place, same_deal
from tests.source_server import SourceServer, serve_fixtures
from tests.test_sources import CONTACT, EXTRA_REGISTRY, _cli, _log, _rows, sources_env
from tests.workers import run_worker_until_caught_up

FORM_D = {
    "id": "sec-formd-1", "kind": "funding", "company": "pylon-code", "date": "2024-10-28",
    "reported": "2024-11-04", "amount_usd": 8e6, "investors": [], "source": "https://sec/d.xml",
}  # fmt: skip
POST = {
    "id": "deal-post", "kind": "funding", "company": "pylon-code", "date": "2024-11-06",
    "reported": "2024-11-06", "amount_usd": 8.2e6, "round": "seed",
    "investors": ["nvidia", "microsoft"], "source": "https://pylon/blog",
}  # fmt: skip


def test_the_same_deal_is_company_and_kind_within_30_days_and_10_percent() -> None:
    assert same_deal(POST, FORM_D)
    assert not same_deal({**POST, "company": "brisk-agents"}, FORM_D)
    assert not same_deal({**POST, "date": "2024-12-01"}, FORM_D)  # 34 days later
    assert not same_deal({**POST, "amount_usd": 9e6}, FORM_D)  # 11 % apart
    assert same_deal({**POST, "amount_usd": None}, FORM_D)  # an amount not stated agrees
    licence = {"id": "l", "kind": "licensing", "company": "adept", "date": "2024-06-28"}
    assert same_deal({**licence, "licensee": "amazon"}, {**licence, "id": "m"})
    assert not same_deal({**licence, "licensee": "amazon"}, {**licence, "licensee": "google"})


def test_a_post_after_a_form_d_becomes_a_correction_adding_its_investors() -> None:
    placed = place(Emit(POST, POST["source"]), [Known(FORM_D)])
    assert isinstance(placed, Emit)
    assert placed.record == {
        "id": join_id("sec-formd-1", "deal-post"),
        "kind": "correction",
        "corrects": "sec-formd-1",
        "reported": "2024-11-06",
        "fields": {
            "investors": ["nvidia", "microsoft"],
            "round": "seed",
            "source": "https://sec/d.xml; https://pylon/blog",
        },
        "source": "https://pylon/blog",
        "note": "another sighting of sec-formd-1: deal-post",
    }
    told = {**FORM_D, **placed.record["fields"]}  # the record as the correction leaves it
    again = place(Emit({**POST, "id": "deal-other"}, "https://pylon/blog"), [Known(told)])
    assert isinstance(again, Skip) and "nothing new" in again.reason


def test_a_form_d_after_a_post_adds_only_its_link_and_keeps_the_known_date() -> None:
    placed = place(Emit(FORM_D, FORM_D["source"]), [Known({**POST, "reported": "2024-11-20"})])
    assert placed.record["fields"] == {"source": "https://pylon/blog; https://sec/d.xml"}
    assert placed.record["reported"] == "2024-11-20"  # never before the record it corrects


def test_drafts_join_pending_items_and_learn_which_record_they_join() -> None:
    draft = Review("deal:b", "funding", "funding draft, complete", POST, POST["source"])
    pending = Known({**FORM_D, "id": "deal-a", "investors": ["nvidia"]}, review_key="deal:a")
    joined = place(draft, [pending])
    assert isinstance(joined, JoinPending) and joined.key == "deal:a"
    assert joined.draft["investors"] == ["nvidia", "microsoft"] and joined.link == POST["source"]
    told = place(draft, [Known(FORM_D), pending])  # the logged record wins
    assert isinstance(told, Review) and told.context["joins"] == "sec-formd-1"
    assert "adds investors, round, source" in told.reason
    # a confident record is not held back by a person's pending guess
    assert place(Emit(POST, POST["source"]), [pending]) == Emit(POST, POST["source"])
    assert match(POST, [Known(POST)]) is None  # a record is no sighting of itself


# --- each order of arrival, against the broker, SQL and a worker ------------------------------


@pytest.fixture
def desk(kafka: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Form D, the startup's blog (a person reviews it), NVIDIA's newsroom twice: trusted
    (`trust: auto`) and not."""
    server = serve_fixtures(SourceServer()).start()
    extra = tmp_path / "extra-registry.csv"
    extra.write_text(EXTRA_REGISTRY)
    asyncio.run(ingest_registry(SEED_REGISTRY, kafka))
    asyncio.run(ingest_registry(extra, kafka))
    url = server.url
    sources = {
        "contact": CONTACT,
        "sources": [
            {"name": "sec-formd", "kind": "sec_formd", "base_url": url, "every": "1h",
             "requests_per_second": 50},
            {"name": "pylon", "kind": "press", "owner": "pylon-code",
             "url": f"{url}/pylon/news.rss", "every": "6h"},
            {"name": "nvidia", "kind": "press", "owner": "nvidia", "trust": "auto",
             "url": f"{url}/nvidia/news.rss", "every": "6h"},
            {"name": "nvidia-desk", "kind": "press", "owner": "nvidia",
             "url": f"{url}/nvidia/news.rss", "every": "6h"},
        ],
    }  # fmt: skip
    env = sources_env(kafka, tmp_path, sources, "2024-11-08", monkeypatch)
    settings = kafka.model_copy(
        update={"database_url": env["DATABASE_URL"], "dealwatch_today": dt.date(2024, 11, 8)}
    )
    yield settings, env, tmp_path, server
    get_settings.cache_clear()
    server.stop()


def _poll(name: str) -> str:
    args = ["sources", "poll", name] + (["--since", "2024-11-04"] if name == "sec-formd" else [])
    result = _cli(*args)
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


def _project(desk) -> None:
    settings, _, tmp_path, _ = desk
    run_worker_until_caught_up(settings, tmp_path / "worker.log")


def _pylon_deals(settings: Settings) -> list[tuple]:
    return _rows(
        settings.database_url,
        "SELECT record_id, amount_usd, counterparties, source FROM deals "
        "WHERE company = 'pylon-code'",
    )


def _pylon_item(status: str = "pending") -> str:
    listed = " ".join(_cli("review", "list", "--state", status).output.split())
    return listed


def _verify(desk) -> None:
    """The live tables equal a replay of the log through `project()`."""
    env = desk[1]
    replay = subprocess.run(
        [sys.executable, "-m", "dealwatch", "replay", "--verify"],
        env={**os.environ, **env}, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert replay.returncode == 0, replay.stdout + replay.stderr


def _one_round_with_investors(settings: Settings, record_id: str, amount: float) -> str:
    [(deal_id, deal_amount, counterparties, source)] = _pylon_deals(settings)
    assert (deal_id, deal_amount) == (record_id, amount)
    assert sorted(json.loads(counterparties)) == ["microsoft", "nvidia"]
    return source


def test_form_d_first_then_the_startups_post_accepted(desk) -> None:
    settings = desk[0]
    assert "emitted 4" in _poll("sec-formd")
    _project(desk)
    assert "queued for review 1" in _poll("pylon")
    key = "deal:pylon-2024-11-06-seed"
    assert "another sighting of sec-formd-0001900002-24-000001" in _pylon_item()
    accepted = _cli("review", "accept", key, "--by", "analyst")
    assert accepted.exit_code == 0, accepted.output
    correction = join_id("sec-formd-0001900002-24-000001", _draft_id(key))
    assert correction in accepted.output
    _project(desk)
    source = _one_round_with_investors(settings, "sec-formd-0001900002-24-000001", 8e6)
    assert "primary_doc.xml" in source and "pylon-code.example/blog/seed-round" in source
    assert [e.record.kind for e in _log(settings) if "pylon" in str(e.record)].count("funding") == 1
    _verify(desk)


def test_a_trusted_post_first_then_the_form_d(desk) -> None:
    settings = desk[0]
    assert "emitted 1" in _poll("nvidia")
    _project(desk)
    polled = _poll("sec-formd")
    assert "emitted 4" in polled  # three rounds and the join of Pylon Code's Form D
    log = {e.record.id: e.record for e in _log(settings)}
    assert "sec-formd-0001900002-24-000001" not in log  # no second record of the round
    [post_id] = [i for i, r in log.items() if r.kind == "funding" and r.company == "pylon-code"]
    joined = log[join_id(post_id, "sec-formd-0001900002-24-000001")]
    assert joined.corrects == post_id and list(joined.fields) == ["source"]
    _project(desk)
    source = _one_round_with_investors(settings, post_id, 8.2e6)
    assert "nvidianews.example" in source and "primary_doc.xml" in source
    again = _poll("sec-formd")  # the joined record now cites the Form D: nothing new
    assert "emitted 0, already in the log 3" in again and "skipped 2" in again
    _verify(desk)


def test_a_pending_post_then_the_form_d_then_the_accept(desk) -> None:
    settings = desk[0]
    assert "queued for review 1" in _poll("pylon")
    assert "emitted 4" in _poll("sec-formd")  # the Form D does not wait for a person
    _project(desk)
    accepted = _cli("review", "accept", "deal:pylon-2024-11-06-seed", "--by", "analyst")
    assert accepted.exit_code == 0, accepted.output
    _project(desk)
    _one_round_with_investors(settings, "sec-formd-0001900002-24-000001", 8e6)
    _verify(desk)


def test_two_pending_posts_become_one_item_and_one_record(desk) -> None:
    settings = desk[0]
    assert "queued for review 1" in _poll("pylon")
    polled = _poll("nvidia-desk")
    assert "queued for review 0" in polled and "joined a pending item 1" in polled
    pending = _pylon_item()
    assert pending.count("deal:") == 1 and "joined by other sightings" in pending
    assert "deal:nvidia-2024-11-07-pylon" in _pylon_item("joined")
    accepted = _cli("review", "accept", "deal:pylon-2024-11-06-seed", "--by", "analyst")
    assert accepted.exit_code == 0, accepted.output
    _project(desk)
    record_id = _draft_id("deal:pylon-2024-11-06-seed")
    source = _one_round_with_investors(settings, record_id, 8e6)
    assert "pylon-code.example" in source and "nvidianews.example" in source
    feed = desk[3].files["/nvidia/news.rss"]
    desk[3].files["/nvidia/news.rss"] = feed + b"\n"  # changed: read again, not 304
    assert "queued for review 0" in _poll("nvidia-desk")  # the joined sighting stays joined
    assert "emitted 4" in _poll("sec-formd")  # the Form D joins the accepted record
    _project(desk)
    _one_round_with_investors(settings, record_id, 8e6)
    _verify(desk)


def _draft_id(key: str) -> str:
    from dealwatch.sources.announcements import deal_id

    return deal_id(key)
