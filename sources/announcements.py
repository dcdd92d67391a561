"""Announcements (a newsroom's, an incumbent's, a regulator's item) into deal drafts: who
raised how much from whom, who licensed what to whom, who bought whom. Pure: title and text in,
a `Draft` (or why the item is no deal) out. The rules are in docs/sources.md ("Announcements").

Every field keeps the sentence it came from and a confidence: 0.9 when a pattern named it
outright ("led by X", "raises $N"), 0.6 when it was inferred (the first startup named is taken
as the company raising). Every named party is matched to the registry; a name that matches none
is kept on the draft and shown to the reviewer with the registry's nearest names (rapidfuzz),
never matched automatically and never dropped.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

from rapidfuzz import fuzz, process

from dealwatch.sources.amounts import Amount, find_amounts
from dealwatch.sources.names import Match, Resolver, normalise

SURE, OWNER, INFERRED = 0.9, 0.85, 0.6
CONFIDENT = 0.8  # a draft whose every required field is at least this sure is "confident"

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"“(])")
_KINDS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(pattern, re.IGNORECASE))
    for kind, pattern in (
        (
            "licensing",
            r"\b(licens(e|es|ing) agreement|non-exclusive (licen[cs]e|deal|agreement)|"
            r"licens\w*\b.{0,40}\b(technology|tech|models?|IP)|licensing fee|acqui-?hires?|"
            r"(co-?)?founders? (will )?(join|rejoin|return)|"
            r"(join|rejoin|return)(s|ing)? (to )?(microsoft|google|amazon|meta|nvidia))\b",
        ),
        (
            "acquisition",
            r"\b(acquires|acquired|to acquire|acquisition of|completes? (its |the )?acquisition|"
            r"agreed to buy|agreement to acquire)\b",
        ),
        (
            "funding",
            r"\b(raises?|raised|raising|secures?|secured|closes?|closed|announces?|completes?)"
            r"\b.{0,60}\b(funding|round|series [a-h]|financing|investment)\b|"
            r"\b(series [a-h]|seed round|funding round)\b|"
            r"\b(raises?|raised|raising|secures?|secured)\s+(a |an )?([$€£]|US\$|\d)|"
            r"\b(invests?|invested|investing|will invest|to invest)\b.{0,40}[$€£]|"
            r"[$€£][\d.,]+\s?(billion|million|bn|b|m)\b.{0,30}\binvestment (from|by|in)\b",
        ),
    )
)
#: A deal not yet made: talks, plans, a search for money, a sale explored (the title or the lead
#: says so). No draft: the deal, when made, is announced again.
_NOT_YET = re.compile(
    r"\b(in (advanced )?(talks|discussions)|talks to|closes? in on|close to (securing|raising|"
    r"finali[sz]ing|a deal)|seeks? (to raise|new funding|funding|[$€£]|US\$)|"
    r"plans? to raise|looking to raise|explores? (a )?(sale|options)|eyes)\b",
    re.IGNORECASE,
)
_CUMULATIVE = re.compile(
    r"\b(total (investment|funding|raised)|bring(s|ing)? (its|their|the) total|to date|"
    r"in total|so far|cumulative|since \d{4})\b",
    re.IGNORECASE,
)
_VALUATION = re.compile(
    r"(valuation of|valued at|valuing (it|the company) at)\s*$|^\s*(post-money |pre-money )?"
    r"valuation",
    re.IGNORECASE,
)
_ROUND = re.compile(r"\b(series [a-h]\d?|seed|pre-seed)\b", re.IGNORECASE)
_NAMES = r"(?P<names>[^.;:]+?)"
_NAMES_END = (
    r"(?=,? (?:with participation|alongside|and (?:other|existing|new) investors|as well as|"
    r"which drew|bringing|giving|that (?:values|valued)|valuing|to "
    r"(?:build|fund|accelerate|expand|support))|[.;:]|$)"
)
_INVESTORS: tuple[re.Pattern[str], ...] = tuple(
    re.compile(pattern, re.IGNORECASE)
    for pattern in (
        rf"\b(?:led|spearheaded|headed) by {_NAMES}{_NAMES_END}",
        rf"\binvestors?: {_NAMES}{_NAMES_END}",
        r"(?-i:(?P<names>\b[A-Z][\w&.']*(?: [A-Z][\w&.']*){0,2}))-led\b",  # "a SoftBank-led round"
        rf"\b(?:with participation from|participation from|joined by|alongside|backed by|"
        rf"investors (?:include|including)|participants include|from investors including|"
        rf"from investors|(?:additional )?support from|other backers include|"
        rf"investments? from(?: firms such as)?|as well as (?:existing |new )?investors) "
        rf"{_NAMES}{_NAMES_END}",
        r"(?:^|[.;] )(?P<names>[A-Z][^.;:]+?) (?:led the (?:round|financing|investment)|"
        r"(?:also )?participated)\b",
        rf"\binvestment (?:from|by) {_NAMES}{_NAMES_END}",
        rf"\b(?:the )?lead investors? (?:was|were|is|are) {_NAMES}{_NAMES_END}",
    )
)
#: "Amazon will invest up to $4 billion in Anthropic": the investor stands before the verb.
_STRATEGIC = re.compile(
    r"(?P<investor>[A-Z][\w.&'-]*(?: [A-Z][\w.&'-]*){0,3}) (?:will invest|invests|invested|"
    r"is investing|has invested|to invest|agreed to invest|makes? an? (?:additional )?)"
)
_FILLER = re.compile(
    r"^(?:the |and |existing |new |other |investors? |including |firms? |such as |"
    r"investment firms? |venture (?:capital )?firms? )+|\b(?:and others|among others|et al)\b.*$",
    re.IGNORECASE,
)
_FOUNDERS = re.compile(r"\b(co-?)?founders?\b.{0,80}\bjoin", re.IGNORECASE)
_STAFF_PCT = re.compile(r"(?P<pct>\d{1,3}) ?(?:%|per ?cent)[^.]{0,60}\b(staff|employees|team)\b")


@dataclass(frozen=True)
class Found:
    """One field of a draft: its value, how sure the rules are, and the sentence it rests on."""

    value: Any
    confidence: float
    sentence: str


@dataclass
class Draft:
    """A deal read from one item, for a person to accept (or for `trust: auto` to emit)."""

    kind: str
    fields: dict[str, Found] = field(default_factory=dict)
    unmatched: list[str] = field(default_factory=list)  # named, in no registry entry
    near: dict[str, list[str]] = field(default_factory=dict)  # unmatched -> nearest slugs
    notes: list[str] = field(default_factory=list)

    REQUIRED: ClassVar[dict[str, tuple[str, ...]]] = {
        "funding": ("company", "amount_usd"),
        "licensing": ("company", "licensee"),
        "acquisition": ("company", "acquirer"),
    }

    def set(self, name: str, value: Any, confidence: float, sentence: str) -> None:
        if value is not None and value != [] and name not in self.fields:
            self.fields[name] = Found(value, confidence, sentence)

    def value(self, name: str) -> Any:
        found = self.fields.get(name)
        return found.value if found else None

    @property
    def missing(self) -> list[str]:
        return [n for n in self.REQUIRED[self.kind] if n not in self.fields]

    @property
    def complete(self) -> bool:
        """Every field the record needs is filled (unmatched names are shown, not required)."""
        return not self.missing

    @property
    def confident(self) -> bool:
        """Complete, every required field named outright, and no party left unmatched: what a
        `trust: auto` source emits without a person."""
        if not self.complete or self.unmatched:
            return False
        return all(self.fields[n].confidence >= CONFIDENT for n in self.REQUIRED[self.kind])

    def evidence(self) -> dict[str, Any]:
        """What the reviewer sees beside the draft: each field's confidence and sentence, the
        names in no registry entry and the registry's nearest ones."""
        return {
            "fields": {
                name: {"value": f.value, "confidence": f.confidence, "sentence": f.sentence}
                for name, f in self.fields.items()
            },
            "unmatched": {name: self.near.get(name, []) for name in self.unmatched},
            "missing": self.missing,
        }

    def record(self) -> dict[str, Any]:
        """The feed record's fields found so far (no id, date or source: the poller's)."""
        values = {name: found.value for name, found in self.fields.items()}
        notes = list(self.notes)
        if self.unmatched:
            notes.append("named but not in the registry: " + ", ".join(self.unmatched))
        return {"kind": self.kind, **values} | ({"note": "; ".join(notes)} if notes else {})


def deal_id(key: str) -> str:
    """The record id of the deal a review item (or a trusted source) emits: one per item."""
    return f"deal-{hashlib.sha256(key.encode()).hexdigest()[:16]}"


@dataclass(frozen=True)
class NotADeal:
    reason: str


def sentences(title: str, text: str) -> list[str]:
    """The title, then the text's sentences."""
    body = " ".join(text.split())
    return [title.strip(), *(s for s in _SENTENCE_END.split(body) if s)]


def read_announcement(
    title: str, text: str, resolver: Resolver, owner: str | None = None
) -> Draft | NotADeal:
    """The deal an item announces, or why it announces none. `owner`: the registry company
    whose newsroom this is ("we have raised" is about it)."""
    said = sentences(title, text)
    if _NOT_YET.search(said[0]) or (len(said) > 1 and _NOT_YET.search(said[1])):
        return NotADeal("talks or plans, not a deal made")
    kind = _kind(said)
    if kind is None:
        return NotADeal("no funding, licensing or acquisition wording")
    draft = Draft(kind)
    if kind == "funding":
        _funding(draft, said, resolver)
    elif kind == "licensing":
        _licensing(draft, said, resolver)
    else:
        _acquisition(draft, said, resolver)
    if "company" not in draft.fields and owner and resolver.roles.get(owner) == "startup":
        draft.set("company", owner, OWNER, "(the newsroom's own company)")
    return draft


def _kind(said: list[str]) -> str | None:
    for sentence in said[:3]:  # the title and the lead decide
        for kind, words in _KINDS:
            if words.search(sentence):
                return kind
    return None


def _startups(resolver: Resolver, sentence: str) -> list[str]:
    return [s for s in resolver.mentioned(sentence) if resolver.roles.get(s) == "startup"]


def _company(draft: Draft, said: list[str], resolver: Resolver) -> None:
    for sentence in said:
        if startups := _startups(resolver, sentence):
            sure = SURE if len(startups) == 1 and sentence is said[0] else INFERRED
            draft.set("company", startups[0], sure, sentence)
            return


_COMMITMENT = re.compile(r"\bup to\s*$", re.IGNORECASE)
_TRANCHE = re.compile(r"\b(initial|upfront|up front|first tranche|first)\b", re.IGNORECASE)


def _tranche(said: list[str]) -> tuple[Amount, str] | None:
    """The first tranche of a commitment ("an initial $1.25 billion", "$500 million upfront"):
    what was invested on the day, where the headline says "up to $N"."""
    for sentence in said:
        for amount in find_amounts(sentence):
            near = (
                sentence[max(0, amount.start - 25) : amount.start]
                + sentence[amount.end : amount.end + 12]
            )
            if _TRANCHE.search(near) and amount.usd:
                return amount, sentence
    return None


def _round_amount(sentence: str) -> Amount | None:
    """The first sum in `sentence` that is neither a valuation nor a running total."""
    if _CUMULATIVE.search(sentence) and not re.search(r"\braise[sd]?\b", sentence, re.I):
        return None
    for amount in find_amounts(sentence):
        before, after = sentence[: amount.start], sentence[amount.end :]
        if _VALUATION.search(before) or _VALUATION.search(after[:40]):
            continue
        if _CUMULATIVE.search(before[-40:] + after[:40]):
            continue
        return amount
    return None


def _valuation(sentence: str) -> Amount | None:
    for amount in find_amounts(sentence):
        before, after = sentence[: amount.start], sentence[amount.end :]
        if _VALUATION.search(before) or _VALUATION.search(after[:40]):
            return amount
    return None


def _funding(draft: Draft, said: list[str], resolver: Resolver) -> None:
    _company(draft, said, resolver)
    commitment = any(_COMMITMENT.search(s[: a.start]) for s in said for a in find_amounts(s))
    if commitment and (first := _tranche(said)):
        draft.set("amount_usd", first[0].usd, SURE, first[1])
        draft.notes.append("the first tranche of a larger commitment")
    unconverted = None
    for sentence in said:
        amount = _round_amount(sentence)
        if amount is None:
            continue
        if amount.usd is None:
            converted = [
                a for a in find_amounts(sentence) if a.usd and 0 < a.start - amount.end <= 3
            ]
            if not converted:  # another sentence may give it in dollars
                unconverted = unconverted or amount.text
                continue
            # "600 million euros ($643.7 million)": the text converted it
            draft.set("amount_usd", converted[0].usd, SURE, sentence)
            draft.notes.append(f"{amount.text} converted in the text to {converted[0].text}")
        else:
            draft.set("amount_usd", amount.usd, SURE, sentence)
        break
    if unconverted and "amount_usd" not in draft.fields:
        draft.notes.append(f"amount {unconverted}: no dated rate ships to convert it")
    for sentence in said:
        if (valuation := _valuation(sentence)) and valuation.usd:
            draft.set("valuation_usd", valuation.usd, SURE, sentence)
            break
    for sentence in said:
        if found := _ROUND.search(sentence):
            draft.set("round", found.group(1).lower().replace(" ", "-"), SURE, sentence)
            break
    _investors(draft, said, resolver)


def _investors(draft: Draft, said: list[str], resolver: Resolver) -> None:
    investors: list[str] = []
    where: dict[str, str] = {}
    company = draft.value("company")
    for sentence in said:
        names = [m.group("names") for p in _INVESTORS for m in p.finditer(sentence)]
        names += [m.group("investor") for m in _STRATEGIC.finditer(sentence)]
        for written in (n for group in names for n in _split_names(group)):
            slug = _match(draft, written, resolver)
            if slug and slug != company and slug not in investors:
                investors.append(slug)
                where[slug] = sentence
    if investors:
        draft.set("investors", investors, SURE, where[investors[0]])


def _split_names(group: str) -> list[str]:
    parts = re.split(r",\s*(?:and\s+)?|\s+and\s+", group)
    names = []
    for part in parts:
        name = _FILLER.sub("", part).strip(" ,'\u2019\"")
        name = re.sub(r"^(?:its |their |[A-Z][a-z]+'s )", "", name)  # "Canada's Inovia Capital"
        if name and name[0].isupper() and len(name) <= 60:
            names.append(name)
    return names


def _match(draft: Draft, written: str, resolver: Resolver) -> str | None:
    """The registry slug `written` names, or None after keeping it as unmatched (with its
    nearest registry names for the reviewer)."""
    found = resolver.resolve(written)
    if isinstance(found, Match):
        return found.slug
    if written not in draft.unmatched:
        draft.unmatched.append(written)
        choices = {key: sorted(slugs)[0] for key, slugs in resolver.by_name.items()}
        near = process.extract(normalise(written), list(choices), scorer=fuzz.WRatio, limit=3)
        nearest = [choices[key] for key, score, _ in near if score >= 80]
        draft.near[written] = list(dict.fromkeys(nearest))  # one slug may have several names
    return None


def _counterparty(draft: Draft, name: str, said: list[str], resolver: Resolver) -> None:
    """The first incumbent named besides the company: the licensee, the acquirer. Sure when
    it is the only one its sentence names."""
    company = draft.value("company")
    for sentence in said:
        named = resolver.mentioned(sentence)
        incumbents = [s for s in named if s != company and resolver.roles.get(s) == "incumbent"]
        if incumbents:
            sure = SURE if len(incumbents) == 1 else INFERRED
            draft.set(name, incumbents[0], sure, sentence)
            return


def _licensing(draft: Draft, said: list[str], resolver: Resolver) -> None:
    _company(draft, said, resolver)
    _counterparty(draft, "licensee", said, resolver)
    for sentence in said:
        if not re.search(r"licen|fee|pay", sentence, re.I):
            continue
        if amounts := [a for a in find_amounts(sentence) if a.usd]:
            draft.set("fee_usd", amounts[0].usd, INFERRED, sentence)
            break
    for sentence in said:
        if _FOUNDERS.search(sentence):
            draft.set("founders_joined", True, SURE, sentence)
            break
    for sentence in said:
        if found := _STAFF_PCT.search(sentence):
            draft.set("staff_moved_pct", float(found.group("pct")), SURE, sentence)
            break


def _acquisition(draft: Draft, said: list[str], resolver: Resolver) -> None:
    _company(draft, said, resolver)
    _counterparty(draft, "acquirer", said, resolver)
    for sentence in said:
        if amounts := [a for a in find_amounts(sentence) if a.usd]:
            draft.set("price_usd", amounts[0].usd, INFERRED, sentence)
            break
