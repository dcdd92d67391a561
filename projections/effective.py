"""The effective view of the log (spec §2): duplicates, corrections, retractions, two clocks."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

from dealwatch.events.envelope import DealEvent
from dealwatch.events.errors import RecordError
from dealwatch.events.records import Correction, FeedRecord, parse_record

Position = tuple[int, ...]
"""Where an event sits in the log: (partition, offset) live, (line,) for a file."""


@dataclass(frozen=True)
class LoggedEvent:
    """An event and its position in the log."""

    event: DealEvent
    position: Position


@dataclass
class EffectiveView:
    """The records as known at `known_at`, with the events behind each and what was ignored."""

    records: dict[str, FeedRecord] = field(default_factory=dict)
    lineage: dict[str, tuple[str, ...]] = field(default_factory=dict)
    retracted: dict[str, tuple[str, ...]] = field(default_factory=dict)
    issues: list[str] = field(default_factory=list)
    issue_order: list[tuple] = field(default_factory=list)
    """Per issue, where it sits in `issues`' order: (0, position) for a duplicate record id,
    (1, known date, position) for a correction; lets a per-record fold rebuild the order."""

    def note(self, order: tuple, message: str) -> None:
        self.issues.append(message)
        self.issue_order.append(order)


def first_occurrences(events: Iterable[LoggedEvent]) -> list[LoggedEvent]:
    """One event per event id: the earliest in the log wins; later copies are duplicates."""
    first: dict[str, LoggedEvent] = {}
    for logged in events:
        seen = first.get(logged.event.event_id)
        if seen is None or logged.position < seen.position:
            first[logged.event.event_id] = logged
    return sorted(first.values(), key=lambda e: e.position)


def effective_view(events: Iterable[LoggedEvent], known_at: dt.date | None = None) -> EffectiveView:
    """Apply corrections in (reported, log order) to the records known at `known_at`."""
    view = EffectiveView()
    corrections: list[LoggedEvent] = []
    for logged in first_occurrences(events):
        record = logged.event.record
        if known_at is not None and record.known_on > known_at:
            continue
        if isinstance(record, Correction):
            corrections.append(logged)
        elif record.id in view.records:
            view.note(
                (0, logged.position),
                f"record id {record.id!r} appears in two events; kept the first",
            )
        else:
            view.records[record.id] = record
            view.lineage[record.id] = (logged.event.event_id,)
    corrections.sort(key=lambda e: (e.event.record.known_on, e.position))
    for logged in corrections:
        order = (1, logged.event.record.known_on.isoformat(), logged.position)
        _apply(view, logged.event.record, logged.event.event_id, order)  # type: ignore[arg-type]
    return view


def _apply(view: EffectiveView, correction: Correction, event_id: str, order: tuple) -> None:
    target_id = correction.corrects
    target = view.records.get(target_id)
    if target is None:
        state = "retracted" if target_id in view.retracted else "unknown"
        view.note(order, f"correction {correction.id!r} ignored: target {target_id!r} is {state}")
        return
    lineage = (*view.lineage[target_id], event_id)
    if correction.retract:
        del view.records[target_id]
        del view.lineage[target_id]
        view.retracted[target_id] = lineage
        return
    try:
        corrected = parse_record({**target.model_dump(), **(correction.fields or {})})
    except RecordError as exc:
        view.note(order, f"correction {correction.id!r} ignored: {exc}")
        return
    view.records[target_id] = corrected
    view.lineage[target_id] = lineage
