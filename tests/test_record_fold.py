"""A record's fold (projections/record_fold.py) is what the whole log's effective view says of
that record, for any log and either clock: the one-event shortcut included."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from dealwatch.projections.effective import effective_view
from dealwatch.projections.record_fold import fold_record, target_of
from tests.random_logs import logs


@given(
    log=logs(), known_at=st.one_of(st.none(), st.dates(dt.date(2024, 6, 1), dt.date(2025, 3, 1)))
)
def test_each_records_fold_is_the_whole_views(log, known_at) -> None:
    events = [e for batch in log[0] for e in batch]
    view = effective_view(events, known_at)
    issues = []
    for target in {target_of(e.event.record) for e in events}:
        fold = fold_record(target, events, known_at)
        assert fold.record == view.records.get(target)
        assert fold.retracted == (target in view.retracted)
        expected = view.retracted.get(target) or view.lineage.get(target, ())
        assert fold.lineage == expected
        issues.extend(fold.issues)
    assert sorted(issues) == sorted(zip(view.issue_order, view.issues, strict=True))
