"""Regulators' and companies' press feeds (RSS 2.0 or Atom) into `probe` records, and every
item that announces a deal (funding, licensing, an acquisition) into a filled draft for a
person, by documented rules (docs/sources.md). The feed format is parsed by `feedparser`."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from html import unescape

import feedparser

from dealwatch.sources.announcements import Draft, deal_id, read_announcement
from dealwatch.sources.names import Resolver
from dealwatch.sources.outcomes import Emit, Malformed, Outcome, Review, Skip
from dealwatch.sources.regulator_actions import decide_action


def _published(entry) -> dt.date | None:
    parsed = entry.get("published_parsed") or entry.get("updated_parsed")
    return dt.date(*parsed[:3]) if parsed else None


def parse_press_feed(
    data: bytes,
    authority: str | None,
    resolver: Resolver,
    feed_url: str,
    owner: str | None = None,
    trust_auto: bool = False,
) -> Iterator[Outcome]:
    """Every item of one feed. With `authority` (a regulator's feed) items become probes; any
    item that announces a deal becomes a draft (`owner`: the newsroom's registry company;
    `trust_auto`: complete, confident drafts are emitted without a person)."""
    feed = feedparser.parse(data)
    if feed.bozo and not feed.entries:
        yield Malformed(f"not an RSS or Atom feed: {feed.bozo_exception}", feed_url)
        return
    for entry in feed.entries:
        link = entry.get("link") or feed_url
        guid = entry.get("id") or link
        title = entry.get("title", "")
        summary = _plain(entry.get("summary", ""))
        day = _published(entry)
        if day is None:
            yield Malformed(f"item {guid!r} has no publication date", link)
            continue
        named = resolver.mentioned(f"{title}. {summary}")
        context = {"title": title, "link": link, "named": named, "published": day.isoformat()}
        if authority:
            subject = resolver.subject(named)
            yield _probe(authority, guid, link, day, (title, summary), named, subject, context)
        deal = read_announcement(title, summary, resolver, owner)
        if isinstance(deal, Draft):
            yield _deal(deal, guid, link, day, context, trust_auto)


def _plain(html: str) -> str:
    """A feed item's summary as text (feeds carry HTML)."""
    return unescape(re.sub(r"<[^>]+>", " ", html))


def _deal(draft: Draft, guid, link, day, context, trust_auto: bool) -> Outcome:
    """A confident draft of a trusted source goes to the log; any other to a person, with the
    evidence beside it. The id is the item's, so emitting and accepting give one record."""
    key = f"deal:{guid}"
    record = {
        "id": deal_id(key),
        **draft.record(),
        "date": day.isoformat(),
        "reported": day.isoformat(),
        "source": link,
    }
    if trust_auto and draft.confident:
        return Emit(record, link)
    done = "complete" if draft.complete else "missing " + ", ".join(draft.missing)
    unmatched = f"; {len(draft.unmatched)} name(s) not in the registry" if draft.unmatched else ""
    reason = f"{draft.kind} draft, {done}{unmatched}"
    return Review(key, draft.kind, reason, record, link, {**context, **draft.evidence()})


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
