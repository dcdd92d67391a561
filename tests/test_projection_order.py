"""Property: the projection is a function of the effective view, not of arrival order."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from dealwatch.projections.effective import LoggedEvent
from dealwatch.projections.projection import project
from tests.scenarios import extra_events
from tests.seed import seed_events, seed_roles

EVENTS = [e.event for e in seed_events()] + extra_events()
ROLES = seed_roles()
DAY = dt.date(2024, 12, 31)


def _logged(events) -> list[LoggedEvent]:
    return [LoggedEvent(e, (i,)) for i, e in enumerate(events)]


def _in_date_order():
    ordered = sorted(EVENTS, key=lambda e: (e.record.known_on, e.record.id))
    return project(_logged(ordered), ROLES, DAY)


BASELINE = _in_date_order()


def test_scenario_changes_what_it_should() -> None:
    companies = {c.slug: c for c in BASELINE.companies}
    assert companies["tinyco"].total_raised_usd == 20_000_000  # corrected amount
    assert "ghostco" not in {s.company for s in BASELINE.watchlist}  # retracted acquisition
    assert BASELINE.retracted_event_ids
    assert not any("ghostco" in a.alert_key for a in BASELINE.alerts)
    march = {r.as_of: r for r in BASELINE.series}[dt.date(2024, 3, 1)]
    assert dict(march.by_incumbent)["microsoft"] > 0


@settings(max_examples=60, deadline=None)
@given(
    order=st.permutations(range(len(EVENTS))),
    duplicates=st.lists(st.integers(0, len(EVENTS) - 1), max_size=8),
)
def test_arrival_order_and_duplicates_do_not_matter(order, duplicates) -> None:
    arrived = [EVENTS[i] for i in order] + [EVENTS[i] for i in duplicates]
    assert project(_logged(arrived), ROLES, DAY).to_json() == BASELINE.to_json()
