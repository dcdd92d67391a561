"""How well the source rules read a labelled corpus of real items: per field, how many were
right, partly right (a party missed), sent to review, or wrong. Pure: the corpus is data and the
registry a Resolver; `dealwatch sources evaluate` prints the tally.

A corpus line is one published item, as JSON: `authority`, `published`, `url`, `title`,
`summary`, and `expected`, the record an analyst would write for it (`action`: null when the
item opens, ends or changes no case, so a person should look; `parties`: registry slugs).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from dealwatch.sources.announcements import Draft, read_announcement
from dealwatch.sources.names import Resolver
from dealwatch.sources.regulator_actions import decide_action

GRADES = ("right", "partly", "review", "wrong")


class CorpusError(ValueError):
    """A corpus line that cannot be evaluated; the message names the line and the reason."""


@dataclass(frozen=True)
class Graded:
    """One item's result: each field's grade, with what was expected and what came out."""

    url: str
    grades: dict[str, str]
    expected: dict[str, Any]
    found: dict[str, Any]


@dataclass
class Tally:
    """Grades counted per field, and the items that were wrong (to be shown to a person)."""

    counts: dict[str, Counter] = field(default_factory=dict)
    wrong: list[Graded] = field(default_factory=list)
    items: int = 0

    def add(self, graded: Graded) -> None:
        self.items += 1
        for name, grade in graded.grades.items():
            self.counts.setdefault(name, Counter())[grade] += 1
        if "wrong" in graded.grades.values():
            self.wrong.append(graded)


def read_corpus(lines: Iterable[str], where: str) -> Iterator[dict[str, Any]]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as error:
            raise CorpusError(f"{where}:{number}: not JSON: {error.msg}") from None
        missing = {"title", "url", "expected"} - set(item)
        if missing:
            raise CorpusError(f"{where}:{number}: missing {', '.join(sorted(missing))}")
        yield item


def grade_action(expected: str | None, found: str | None) -> str:
    if found == expected:
        return "right"
    return "review" if found is None else "wrong"


def grade_parties(expected: list[str], found: list[str]) -> str:
    """Right: the same companies; partly: some missed, none invented; wrong: one invented."""
    if set(found) - set(expected):
        return "wrong"
    return "right" if set(found) == set(expected) else "partly"


def grade_regulator_item(item: dict[str, Any], resolver: Resolver) -> Graded:
    title, summary = item["title"], item.get("summary", "")
    verdict = decide_action(title, summary)
    named = resolver.mentioned(f"{title}. {summary}")
    expected = item["expected"]
    grades = {
        "action": grade_action(expected.get("action"), verdict.action),
        "parties": grade_parties(expected.get("parties", []), named),
    }
    found = {"action": verdict.action, "because": verdict.because, "parties": named}
    return Graded(item["url"], grades, expected, found)


def evaluate_regulators(items: Iterable[dict[str, Any]], resolver: Resolver) -> Tally:
    tally = Tally()
    for item in items:
        tally.add(grade_regulator_item(item, resolver))
    return tally


#: The fields that make an announcement's draft "fully prefilled", per kind.
PREFILLED = {
    "funding": ("company", "amount_usd", "investors"),
    "licensing": ("company", "licensee"),
    "acquisition": ("company", "acquirer"),
}


def grade_value(expected: Any, found: Any) -> str:
    if found is None:
        return "right" if expected is None else "review"
    if isinstance(expected, int | float) and isinstance(found, int | float):
        return "right" if abs(found - expected) <= 0.01 * expected else "wrong"
    return "right" if found == expected else "wrong"


def grade_announcement(item: dict[str, Any], resolver: Resolver) -> Graded:
    """Kind (a deal found where there is none, or missed, is wrong), then each field the
    expected record names; `prefilled` is right when every field a person would otherwise type
    came out right."""
    expected = item["expected"]
    draft = read_announcement(item["title"], item.get("summary", ""), resolver, item.get("owner"))
    kind = draft.kind if isinstance(draft, Draft) else None
    grades = {"kind": "right" if kind == expected.get("kind") else "wrong"}
    found: dict[str, Any] = {"kind": kind}
    if isinstance(draft, Draft):
        found |= {name: draft.value(name) for name in draft.fields} | {"unmatched": draft.unmatched}
    if kind and kind == expected.get("kind"):
        for name in PREFILLED[kind]:
            if name == "investors":
                grades[name] = _grade_investors(expected.get(name, []), found.get(name) or [])
            else:
                grades[name] = grade_value(expected.get(name), found.get(name))
        whole = all(grades[name] == "right" for name in PREFILLED[kind])
        grades["prefilled"] = "right" if whole else "partly"
    return Graded(item["url"], grades, expected, found)


def _grade_investors(expected: list[str], found: list[str]) -> str:
    if not found and expected:
        return "review"
    return grade_parties(expected, found)


def evaluate_announcements(items: Iterable[dict[str, Any]], resolver: Resolver) -> Tally:
    tally = Tally()
    for item in items:
        tally.add(grade_announcement(item, resolver))
    return tally
