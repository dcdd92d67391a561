"""The pure core reproduces every number `seed-expected.json` gives for the seed feed."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from dealwatch.projections.projection import project
from tests.expected import (
    assert_breakdown,
    assert_row,
    assert_series,
    assert_watchlist,
    expected,
)
from tests.seed import seed_events, seed_roles

EXPECTED = expected()


def test_series_to_end_of_2024() -> None:
    projection = project(seed_events(), seed_roles(), dt.date(2024, 12, 31))
    rows = [dataclasses.asdict(r) for r in projection.series]
    assert_series(rows, EXPECTED["series_to_2024-12-31"])


@pytest.mark.parametrize("day", sorted(EXPECTED["as_of"]))
def test_evaluation_days(day: str) -> None:
    want = EXPECTED["as_of"][day]
    projection = project(seed_events(), seed_roles(), dt.date.fromisoformat(day))
    last = projection.series[-1]
    assert last.as_of.isoformat() == day
    assert_row(dataclasses.asdict(last), want["consolidation"], day)
    assert_breakdown(dict(last.by_incumbent), want["consolidation"]["by_incumbent"], day)
    watch = {s.company: dataclasses.asdict(s) for s in projection.watchlist}
    assert_watchlist(watch, want["watchlist"], day)


def test_alerts() -> None:
    projection = project(seed_events(), seed_roles(), dt.date(2024, 12, 31))
    record = sorted(
        (a.rule, a.subject, a.alert_key.split(":", 2)[2])
        for a in projection.alerts
        if a.rule
        not in ("consolidation_high", "hhi_concentrated", "runway_watch", "runway_critical")
    )
    assert record == sorted(
        (a["rule"], a["subject"], a["record"]) for a in EXPECTED["record_alerts"]
    )
    crossings = sorted(
        (a.rule, a.as_of.isoformat())
        for a in projection.alerts
        if a.rule in ("consolidation_high", "hhi_concentrated")
    )
    assert crossings == sorted(
        (a["rule"], a["as_of"]) for a in EXPECTED["threshold_alerts_to_2024-12-31"]
    )
    assert all(a.lineage for a in projection.alerts)
