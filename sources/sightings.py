"""One deal, many sightings (docs/sources.md): the same round arrives as a Form D, in the
startup's post, in an incumbent's post, in a regulator's item. A sighting whose company and kind
match a record in the log or a pending review item, within 30 days and (when both state an
amount) within 10 %, joins it instead of becoming a second record: what it adds (investors,
fields the record lacks, its link) reaches a logged record as a `correction`, so capital is
counted once. Pure: records (plain feed dicts) in, an outcome out.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from dealwatch.sources.outcomes import Emit, Outcome, Review, Skip

WINDOW_DAYS = 30
AMOUNT_TOLERANCE = 0.10
#: The deal kinds, each with its amount and its counterparty field.
DEALS: dict[str, tuple[str, str | None]] = {
    "funding": ("amount_usd", None),
    "licensing": ("fee_usd", "licensee"),
    "acquisition": ("price_usd", "acquirer"),
}
#: Fields a later sighting may fill when the record lacks them (it never overwrites one).
FILLABLE: dict[str, tuple[str, ...]] = {
    "funding": ("amount_usd", "round", "valuation_usd"),
    "licensing": ("fee_usd", "staff_moved_pct"),
    "acquisition": ("price_usd",),
}


@dataclass(frozen=True)
class Known:
    """A deal already seen: a record's effective fields in the log, or a pending item's draft
    (`review_key` set)."""

    record: dict[str, Any]
    review_key: str | None = None

    @property
    def in_log(self) -> bool:
        return self.review_key is None


@dataclass(frozen=True)
class JoinPending:
    """The sighting joins a pending review item: its draft becomes `draft`, `link` is added to
    the item's links, and no second item is queued."""

    key: str
    draft: dict[str, Any]
    link: str | None
    origin: str


def _day(record: dict[str, Any]) -> dt.date | None:
    value = record.get("date")
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        return None


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return True  # one does not say: the amounts cannot disagree
    return abs(a - b) <= AMOUNT_TOLERANCE * max(a, b)


def same_deal(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Company and kind equal, dates within 30 days, stated amounts within 10 %, and stated
    counterparties (a licensee, an acquirer) equal."""
    kind = a.get("kind")
    if kind not in DEALS or kind != b.get("kind") or not a.get("company"):
        return False
    if a.get("company") != b.get("company"):
        return False
    first, second = _day(a), _day(b)
    if first is None or second is None or abs((first - second).days) > WINDOW_DAYS:
        return False
    amount, party = DEALS[kind]
    if party and a.get(party) and b.get(party) and a[party] != b[party]:
        return False
    return _close(a.get(amount), b.get(amount))


def match(record: dict[str, Any], known: Iterable[Known]) -> Known | None:
    """The closest deal `record` is another sighting of (nearest date, then nearest amount);
    a record in the log wins a tie with a pending item."""
    amount = DEALS.get(record.get("kind", ""), ("", None))[0]
    candidates = [k for k in known if k.record.get("id") != record.get("id")]
    candidates = [k for k in candidates if same_deal(record, k.record)]
    if not candidates:
        return None

    def distance(k: Known) -> tuple[int, float, bool]:
        days = abs((_day(record) - _day(k.record)).days)  # type: ignore[operator]
        a, b = record.get(amount), k.record.get(amount)
        return days, abs(a - b) if a is not None and b is not None else 0.0, not k.in_log

    return min(candidates, key=distance)


def additions(target: dict[str, Any], sighting: dict[str, Any]) -> dict[str, Any]:
    """What `sighting` tells that `target` does not: investors it lacks (appended), fields it
    leaves empty, and the sighting's link beside its own."""
    added: dict[str, Any] = {}
    kind = target["kind"]
    if kind == "funding":
        listed = list(target.get("investors") or [])
        new = [s for s in sighting.get("investors") or [] if s not in listed]
        if new:
            added["investors"] = listed + new
    for name in FILLABLE[kind]:
        if target.get(name) is None and sighting.get(name) is not None:
            added[name] = sighting[name]
    if (
        kind == "licensing"
        and sighting.get("founders_joined")
        and not target.get("founders_joined")
    ):
        added["founders_joined"] = True
    link, cited = _link(sighting), target.get("source") or ""
    if link and link not in cited:
        added["source"] = f"{cited}; {link}" if cited else link
    return added


def _link(record: dict[str, Any]) -> str | None:
    """The sighting's address (a reviewed record's source carries "(reviewed by ...)")."""
    source = record.get("source")
    return source.split(" (reviewed by ", 1)[0] if source else None


def join_id(target_id: str, sighting_id: str) -> str:
    """One correction per (record, sighting): a re-poll or a second accept sends the same id."""
    return "join-" + hashlib.sha256(f"{target_id}|{sighting_id}".encode()).hexdigest()[:16]


def known_on(record: dict[str, Any]) -> str:
    return str(record.get("reported") or record.get("date"))


def join_correction(target: dict[str, Any], sighting: dict[str, Any]) -> dict[str, Any] | None:
    """The correction that adds `sighting` to the logged `target`, or None when it adds nothing.
    It is known when both are (the later of their known dates), so an as-of view never sees
    the join before the record it joins."""
    added = additions(target, sighting)
    if not added:
        return None
    return {
        "id": join_id(target["id"], sighting["id"]),
        "kind": "correction",
        "corrects": target["id"],
        "reported": max(known_on(target), known_on(sighting)),
        "fields": added,
        "source": sighting.get("source"),
        "note": f"another sighting of {target['id']}: {sighting['id']}",
    }


def sighting_of(outcome: Outcome) -> dict[str, Any] | None:
    """The deal a parser's outcome tells of (a record to emit, a draft for a person), or None
    (a skip, a problem, or no deal kind)."""
    if isinstance(outcome, Emit):
        record = outcome.record
    elif isinstance(outcome, Review):
        record = {**outcome.draft, "kind": outcome.draft.get("kind", outcome.kind)}
    else:
        return None
    return record if record.get("kind") in DEALS else None


def place(outcome: Outcome, known: Iterable[Known]) -> Outcome | JoinPending:
    """Where a parser's outcome goes once the deals already seen are known:

    - no match: unchanged;
    - a record to emit that matches a logged one: the correction adding what it tells, or a
      skip when it tells nothing new;
    - a record to emit that matches only a pending item: emitted (a confident record is not
      held back by a guess); accepting the item later joins it;
    - a draft that matches a logged record: still a person's, told which record it joins;
    - a draft that matches a pending item: joins that item.
    """
    record = sighting_of(outcome)
    if record is None:
        return outcome
    found = match(record, known)
    if found is None:
        return outcome
    target = found.record
    if isinstance(outcome, Emit):
        if not found.in_log:
            return outcome
        correction = join_correction(target, record)
        if correction is None:
            return Skip(f"another sighting of {target['id']}, telling nothing new", outcome.origin)
        return Emit(correction, outcome.origin)
    if found.in_log:
        told = ", ".join(additions(target, record)) or "nothing new"
        context = {**outcome.context, "joins": target["id"]}
        reason = f"{outcome.reason}; another sighting of {target['id']} (adds {told})"
        return Review(outcome.key, outcome.kind, reason, outcome.draft, outcome.origin, context)
    merged = {**target, **additions(target, record)}
    return JoinPending(found.review_key, merged, _link(record), outcome.origin)  # type: ignore[arg-type]
