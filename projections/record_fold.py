"""One record's effective state from the events that concern it (spec §2).

The effective view is a fold per record id: its first event, then the corrections that name
it, in (reported, log order). Folding only the records a new event concerns gives the same
records, lineages and issues as `effective_view` over the whole log, so a live event costs
what its own record costs, not what the history costs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from dealwatch.events.records import Correction, FeedRecord
from dealwatch.projections.effective import LoggedEvent, effective_view

IssueOrder = tuple
"""Where an issue sits among all issues of the log (see `EffectiveView.issue_order`)."""


@dataclass(frozen=True)
class RecordFold:
    """A record as the log has it now: effective, retracted, or only named by corrections."""

    record_id: str
    record: FeedRecord | None
    lineage: tuple[str, ...]
    retracted: bool
    issues: tuple[tuple[IssueOrder, str], ...]


def target_of(record: FeedRecord) -> str:
    """The record id an event concerns: its own, or the one a correction names."""
    return record.corrects if isinstance(record, Correction) else record.id


def fold_record(
    record_id: str, events: Iterable[LoggedEvent], known_at: dt.date | None = None
) -> RecordFold:
    """Fold the events whose `target_of` is `record_id` (any others are ignored)."""
    own = [e for e in events if target_of(e.event.record) == record_id]
    if len(own) == 1 and not isinstance(own[0].event.record, Correction):
        return _only_record(record_id, own[0], known_at)
    view = effective_view(own, known_at)
    record = view.records.get(record_id)
    retracted = record_id in view.retracted
    lineage = view.retracted[record_id] if retracted else view.lineage.get(record_id, ())
    issues = tuple(zip(view.issue_order, view.issues, strict=True))
    return RecordFold(record_id, record, lineage, retracted, issues)


def _only_record(record_id: str, logged: LoggedEvent, known_at: dt.date | None) -> RecordFold:
    """The fold of a record's one event, most records of a backlog: what `effective_view`
    gives for it, without building a view (a fifth of a backlog's prepared folds)."""
    record = logged.event.record
    if known_at is not None and record.known_on > known_at:
        return RecordFold(record_id, None, (), False, ())
    return RecordFold(record_id, record, (logged.event.event_id,), False, ())
