"""Regulators' and companies' press feeds (RSS 2.0 or Atom) into `probe` records, and into
review candidates for licensing deals and acquihires, by documented word rules
(docs/sources.md). The feed format is parsed by `feedparser`; the rules are ours."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

import feedparser

from dealwatch.sources.names import Resolver
from dealwatch.sources.outcomes import Emit, Malformed, Outcome, Review, Skip
from dealwatch.sources.regulator_actions import decide_action

#: Words that make an item a licensing / acquihire candidate (never a record by itself).
DEAL_WORDS = re.compile(
    r"\b(licensing agreement|licen[cs]es? (its )?(technology|models?)|non-exclusive licen[cs]e|"
    r"acqui-?hire|hires? (the )?(co-?)?founders?|joins? .{0,40} (team|company)|"
    r"acquires?|acquisition of)\b",
    re.IGNORECASE,
)


def _published(entry) -> dt.date | None:
    parsed = entry.get("published_parsed") or entry.get("updated_parsed")
    return dt.date(*parsed[:3]) if parsed else None


def parse_press_feed(
    data: bytes, authority: str | None, resolver: Resolver, feed_url: str
) -> Iterator[Outcome]:
    """Every item of one feed. With `authority` (a regulator's feed) items become probes;
    every feed's items may also become licensing/acquihire review candidates."""
    feed = feedparser.parse(data)
    if feed.bozo and not feed.entries:
        yield Malformed(f"not an RSS or Atom feed: {feed.bozo_exception}", feed_url)
        return
    for entry in feed.entries:
        link = entry.get("link") or feed_url
        guid = entry.get("id") or link
        title = entry.get("title", "")
        summary = entry.get("summary", "")
        text = f"{title}. {summary}"
        day = _published(entry)
        if day is None:
            yield Malformed(f"item {guid!r} has no publication date", link)
            continue
        named = resolver.mentioned(text)
        context = {"title": title, "link": link, "named": named, "published": day.isoformat()}
        if authority:
            subject = resolver.subject(named)
            yield _probe(authority, guid, link, day, (title, summary), named, subject, context)
        if DEAL_WORDS.search(text):
            yield Review(
                f"deal:{guid}",
                "licensing",
                "licensing or acquihire wording: a person decides the kind and the parties",
                {"date": day.isoformat(), "reported": day.isoformat(), "source": link},
                link,
                context,
            )


def _probe(authority, guid, link, day, words, named, subject, context) -> Outcome:
    record_id = f"{authority.lower()}-{guid}"
    verdict = decide_action(*words)
    action = verdict.action
    draft = {
        "id": record_id,
        "kind": "probe",
        "date": day.isoformat(),
        "reported": day.isoformat(),
        "authority": authority,
        "parties": named,
        "source": link,
    }
    if not named and action is None:
        return Skip("neither names a registry company nor reads as a probe", link)
    if not named:
        return Review(record_id, "probe", "names no registry company", draft, link, context)
    if action is None:
        return Review(record_id, "probe", verdict.because, draft, link, context)
    return Emit({**draft, "company": subject, "action": action}, link)
