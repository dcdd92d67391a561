"""No hostile line costs a valid one (issue 8), against the real broker: each bad line is
rejected with its file, line, id and true cause; the good lines around it land."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dealwatch.events.envelope import DealEvent
from dealwatch.events.limits import MAX_DEPTH, MAX_LINE_BYTES
from dealwatch.services.cli import app
from dealwatch.services.config import Settings, get_settings
from dealwatch.services.kafka.topics import DEAL_EVENTS, REJECTED
from tests.kafka_helpers import read_topic


def _funding(record_id: str, **changes) -> dict:
    record = {
        "id": record_id,
        "kind": "funding",
        "date": "2024-03-01",
        "company": "acme",
        "amount_usd": 2_000_000,
    }
    return {**record, **changes}


def _line(record: dict) -> bytes:
    return json.dumps(record).encode()


HOSTILE = {  # line number -> (the line, words its reason must hold)
    2: (b'{"id":"huge","kind":"funding","note":"' + b"x" * (10 * 1024 * 1024) + b'"}', "limit"),
    4: (b"[" * 10_000 + b"]" * 10_000, "nested"),
    5: (_line(_funding("good-1", amount_usd=7)), "correction"),  # same id, other content
    6: (_line(_funding("big", amount_usd=1e308)), "plausibility bound"),
    7: (_line(_funding("ancient", date="0001-01-01")), "1950-01-01"),
    8: (_line(_funding("far", date="9999-12-31")), "2099-12-31"),
    9: (b'{"id":"latin1","kind":"funding","note":"caf\xe9"}', "utf-8"),
    10: (b'{"id":"twice","id":"again"}', "twice"),
    11: (b'{"id":"digits","amount_usd":' + b"9" * 5000 + b"}", "digits"),
    12: (b'{"id":"cut", "kind":', "json"),
}
GOOD = {1: _funding("good-1"), 3: _funding("good-2"), 13: _funding("good-3")}


@pytest.fixture
def cli(kafka: Settings, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DEALWATCH_TOPIC_PREFIX", kafka.dealwatch_topic_prefix)
    monkeypatch.setenv("COLUMNS", "400")
    get_settings.cache_clear()
    yield lambda *args: CliRunner().invoke(app, list(args))
    get_settings.cache_clear()


def _ids(settings: Settings) -> list[str]:
    messages = asyncio.run(read_topic(settings, settings.topic(DEAL_EVENTS)))
    return sorted(DealEvent.from_bytes(m.value).record.id for m in messages)


def _rejected(settings: Settings) -> list[dict]:
    return [
        json.loads(m.value) for m in asyncio.run(read_topic(settings, settings.topic(REJECTED)))
    ]


def test_hostile_lines_cost_no_valid_line(cli, kafka: Settings, tmp_path: Path) -> None:
    lines = {**{n: _line(r) for n, r in GOOD.items()}, **{n: h[0] for n, h in HOSTILE.items()}}
    feed = tmp_path / "hostile.jsonl"
    feed.write_bytes(b"\n".join(lines[n] for n in sorted(lines)) + b"\n")

    result = cli("ingest", str(feed))

    assert result.exit_code == 2, result.output
    assert "Kafka" not in result.output  # nothing here is a broker problem
    assert _ids(kafka) == ["good-1", "good-2", "good-3"]
    rejected = {r["line"]: r for r in _rejected(kafka)}
    assert sorted(rejected) == sorted(HOSTILE)
    for number, (_, words) in HOSTILE.items():
        assert words.lower() in rejected[number]["reason"].lower(), rejected[number]
        assert rejected[number]["file"] == str(feed)
        assert f"hostile.jsonl:{number}" in result.output
        assert len(rejected[number]["raw"]) < 2_000  # a 10 MB line is not copied around
    assert rejected[5]["record_id"] == "good-1" and "hostile.jsonl:1" in rejected[5]["reason"]
    assert f"{MAX_LINE_BYTES:,}" in rejected[2]["reason"]
    assert str(MAX_DEPTH) in rejected[4]["reason"]


def test_same_id_other_content_in_a_later_run_is_rejected(
    cli, kafka: Settings, tmp_path: Path
) -> None:
    first, same, changed = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "c.jsonl"
    first.write_bytes(_line(_funding("r-1")) + b"\n" + _line(_funding("r-2")) + b"\n")
    same.write_bytes(_line(_funding("r-1")) + b"\n")
    changed.write_bytes(_line(_funding("r-2", amount_usd=9e9)) + b"\n" + _line(_funding("r-3")))

    assert cli("ingest", str(first)).exit_code == 0
    again = cli("ingest", str(same))
    assert again.exit_code == 0, again.output  # identical content: an idempotent no-op
    assert "duplicates (same id, same content) │ 1" in again.output
    conflict = cli("ingest", str(changed))

    assert conflict.exit_code == 2, conflict.output
    assert "c.jsonl:1 (id r-2)" in conflict.output and "send a correction" in conflict.output
    assert f"{first}:2" in conflict.output  # where the first version came from
    assert _ids(kafka) == ["r-1", "r-2", "r-3"]  # one event per id: r-1 not sent twice
    events = asyncio.run(read_topic(kafka, kafka.topic(DEAL_EVENTS)))
    amounts = {DealEvent.from_bytes(m.value).record.id: m for m in events}
    assert DealEvent.from_bytes(amounts["r-2"].value).record.amount_usd == 2_000_000


def test_correction_of_an_earlier_run_is_keyed_by_its_company(
    cli, kafka: Settings, tmp_path: Path
) -> None:
    (tmp_path / "a.jsonl").write_bytes(_line(_funding("r-1")) + b"\n")
    correction = {"id": "c-1", "kind": "correction", "corrects": "r-1", "reported": "2024-04-01"}
    (tmp_path / "b.jsonl").write_text(json.dumps({**correction, "fields": {"amount_usd": 5}}))
    assert cli("ingest", str(tmp_path / "a.jsonl")).exit_code == 0
    assert cli("ingest", str(tmp_path / "b.jsonl")).exit_code == 0
    messages = asyncio.run(read_topic(kafka, kafka.topic(DEAL_EVENTS)))
    assert {m.key for m in messages} == {b"acme"}  # same partition as the record it corrects
    assert len({m.partition for m in messages}) == 1


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_byte_order_mark_is_accepted(cli, kafka: Settings, tmp_path: Path, suffix: str) -> None:
    feed = tmp_path / f"export{suffix}"
    if suffix == ".csv":
        body = "id,kind,date,company,amount_usd\r\nb-1,funding,2024-03-01,acme,5\r\n"
        body += "b-2,funding,2024-03-02,acme,6\r\n"
    else:
        body = json.dumps(_funding("b-1")) + "\n" + json.dumps(_funding("b-2")) + "\n"
    feed.write_bytes(b"\xef\xbb\xbf" + body.encode())
    result = cli("ingest", str(feed))
    assert result.exit_code == 0, result.output
    assert _ids(kafka) == ["b-1", "b-2"]


def test_hostile_csv_rows_cost_no_valid_row(cli, kafka: Settings, tmp_path: Path) -> None:
    header = b"id,kind,date,company,amount_usd,fields\n"
    rows = [
        b"c-1,funding,2024-03-01,acme,5,\n",
        b'c-big,funding,2024-03-01,acme,5,"' + b"x" * (MAX_LINE_BYTES + 10) + b'"\n',
        b"c-2,funding,2024-03-01,acme,\xff\xfe,\n",
        b"c-3,funding,2024-03-01,acme,1e308,\n",
        b"c-4,funding,2024-03-01,acme,6,\n",
    ]
    feed = tmp_path / "rows.csv"
    feed.write_bytes(header + b"".join(rows))
    result = cli("ingest", str(feed))
    assert result.exit_code == 2, result.output
    assert _ids(kafka) == ["c-1", "c-4"]
    reasons = {r["line"]: r["reason"] for r in _rejected(kafka)}
    assert sorted(reasons) == [3, 4, 5], reasons
    assert "limit" in reasons[3] and "UTF-8" in reasons[4] and "plausibility" in reasons[5]
