"""Matching the names sources use ("Brisk Agents, Inc.", "PYLON CODE CORP") to registry slugs:
deterministic, documented in docs/sources.md; none or several matches is never a guess."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from dealwatch.events.registry import Company

LEGAL_FORMS = (
    "inc", "incorporated", "corp", "corporation", "co", "company", "llc", "l l c", "ltd",
    "limited", "lp", "plc", "gmbh", "ag", "sa", "s a", "s a s", "sas", "sarl", "bv", "nv",
    "ab", "oy", "kk", "pte", "pty",
)  # fmt: skip
_PUNCTUATION = re.compile(r"[^\w]+", re.UNICODE)
_TRAILING_FORM = re.compile(r"(?:\s(?:" + "|".join(re.escape(f) for f in LEGAL_FORMS) + r"))+$")


def normalise(name: str) -> str:
    """Case-folded, punctuation and white space collapsed, trailing legal forms dropped."""
    words = _PUNCTUATION.sub(" ", name.casefold().replace("_", " ")).strip()
    words = " ".join(words.split())
    stripped = _TRAILING_FORM.sub("", f" {words}").strip()
    return stripped or words


@dataclass(frozen=True)
class Match:
    """Exactly one registry slug."""

    slug: str


@dataclass(frozen=True)
class NoMatch:
    """None or several registry entries: the item goes to the review queue."""

    name: str
    candidates: tuple[str, ...]

    @property
    def reason(self) -> str:
        if not self.candidates:
            return f"{self.name!r} matches no registry company"
        return f"{self.name!r} matches several registry companies: {', '.join(self.candidates)}"


class Resolver:
    """Name (and SEC CIK) → slug, built from the registry."""

    def __init__(self, companies: Iterable[Company]) -> None:
        self.by_name: dict[str, set[str]] = defaultdict(set)
        self.by_cik: dict[str, str] = {}
        self.roles: dict[str, str] = {}
        for company in companies:
            self.roles[company.slug] = company.role
            for name in (company.name, company.slug.replace("-", " "), *company.aliases):
                if key := normalise(name):
                    self.by_name[key].add(company.slug)
            if company.cik:
                self.by_cik[company.cik.lstrip("0")] = company.slug

    def resolve(self, name: str, cik: str | None = None) -> Match | NoMatch:
        if cik and (slug := self.by_cik.get(cik.lstrip("0"))):
            return Match(slug)
        slugs = sorted(self.by_name.get(normalise(name), ()))
        return Match(slugs[0]) if len(slugs) == 1 else NoMatch(name, tuple(slugs))

    def subject(self, slugs: list[str]) -> str | None:
        """The subject of an item naming `slugs`: its first startup, else its first company."""
        startups = [s for s in slugs if self.roles.get(s) == "startup"]
        return (startups or slugs or [None])[0]

    def mentioned(self, text: str) -> list[str]:
        """Registry companies whose normalised name appears as whole words in `text`."""
        words = f" {normalise(text)} "
        found = {
            slug
            for key, slugs in self.by_name.items()
            if len(key) > 2 and f" {key} " in words
            for slug in slugs
        }
        return sorted(found)
