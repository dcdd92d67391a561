"""One poll of one source: fetch, parse (pure, `sources/`), emit records through the same
validation and idempotent producer as `dealwatch ingest`, queue what needs a person, and keep
the source's checkpoint and health in SQL.

Exactly once per item: record ids come from the source's own identifiers and ingest drops an
identical re-send (docs/metrics.md §1.1), so a poll killed half way and run again emits only
what is missing. A checkpoint moves only after what it covers reached the log.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine

from dealwatch.alerts.outbox import PENDING
from dealwatch.events.errors import RecordError
from dealwatch.events.feed import Accepted, Rejected
from dealwatch.events.records import parse_record
from dealwatch.events.serialization import canonical_json
from dealwatch.services.config import Settings
from dealwatch.services.db.engine import session_factory
from dealwatch.services.db.log_mirror import dialect_insert
from dealwatch.services.db.models import Alert
from dealwatch.services.ingest.digest_index import DigestIndex
from dealwatch.services.ingest.pipeline import ingest_items
from dealwatch.services.kafka.log_reader import read_registry
from dealwatch.services.sources.config import SourceConfig
from dealwatch.services.sources.http import FetchError, PoliteClient
from dealwatch.services.sources.models import ReviewItem, SourceState, review_row
from dealwatch.services.sources.sightings import deals_seen, is_deal, join_pending
from dealwatch.sources.formd import Filing, funding_from_form_d, parse_form_index
from dealwatch.sources.names import Resolver
from dealwatch.sources.outcomes import Emit, Malformed, Outcome, Review, Skip
from dealwatch.sources.press import parse_press_feed
from dealwatch.sources.sightings import JoinPending, Known, place, sighting_of
from dealwatch.sources.tabular import ColumnMapping, parse_layoffs


class SourceFailed(Exception):
    """The source as a whole could not be read (fetch failed, document unusable)."""


@dataclass
class PollReport:
    source: str
    fetched: int = 0
    not_modified: int = 0
    emitted: int = 0
    duplicates: int = 0
    queued: int = 0
    skipped: int = 0
    joined: int = 0  # sightings that joined a pending item (docs/sources.md)
    problems: list[str] = field(default_factory=list)  # malformed items and rejected records


async def load_resolver(settings: Settings) -> Resolver:
    """The registry as the log holds it (aliases and CIKs included)."""
    return Resolver((await read_registry(settings)).values())


def user_agent(contact: str | None) -> str:
    return f"dealwatch/0.1 ({contact})" if contact else "dealwatch/0.1"


async def poll(
    settings: Settings,
    engine: AsyncEngine,
    source: SourceConfig,
    contact: str | None,
    since: dt.date | None = None,
    until: dt.date | None = None,
) -> PollReport:
    """Poll `source` once; records its success or failure (and alerts after repeated ones)."""
    report = PollReport(source.name)
    state = await _state(engine, source.name)
    try:
        resolver = await load_resolver(settings)
        client = PoliteClient(user_agent(contact), source.requests_per_second, source.timeout)
        async with client:
            if source.kind == "sec_formd":
                await _poll_formd(settings, engine, source, client, resolver, state, report,
                                  since, until)  # fmt: skip
            else:
                await _poll_document(settings, engine, source, client, resolver, state, report)
    except (SourceFailed, FetchError) as error:
        await _failed(engine, source, str(error), settings.slack_default_channel)
        raise SourceFailed(f"{source.name}: {error}") from error
    await _succeeded(engine, source.name, report)
    return report


async def _poll_document(settings, engine, source, client, resolver, state, report) -> None:
    validators = json.loads(state.validators or "{}")
    fetched = await client.get(source.url, validators.get(source.url))
    report.fetched += 1
    if fetched.body is None:
        report.not_modified += 1
        return
    if source.kind == "press":
        outcomes = list(
            parse_press_feed(
                fetched.body,
                source.authority,
                resolver,
                source.url,
                owner=source.owner,
                trust_auto=source.trust == "auto",
            )
        )
    else:
        mapping = ColumnMapping.from_config(source.mapping)
        outcomes = list(
            parse_layoffs(fetched.body, source.format, mapping, source.name, source.url, resolver)
        )
    whole = [o for o in outcomes if isinstance(o, Malformed) and o.origin == source.url]
    if whole and len(whole) == len(outcomes):
        raise SourceFailed(whole[0].reason)
    await _deliver(settings, engine, source.name, outcomes, report)
    validators[source.url] = fetched.validators
    await _save(engine, source.name, validators=json.dumps(validators))


async def _poll_formd(settings, engine, source, client, resolver, state, report, since, until):
    checkpoint = json.loads(state.checkpoint or "{}")
    today = settings.today()
    first = dt.date.fromisoformat(source.start) if source.start else today
    day = since or (
        dt.date.fromisoformat(checkpoint["next_day"]) if "next_day" in checkpoint else first
    )
    last = until or today
    emitted_ids = await DigestIndex.open(settings)  # what the log holds
    try:
        while day <= last:
            url = (
                f"{source.base_url}/Archives/edgar/daily-index/form/{day.year}/"
                f"QTR{(day.month - 1) // 3 + 1}/form.{day:%Y%m%d}.idx"
            )
            try:
                index = await client.get(url)
            except FetchError as error:
                if "HTTP 404" not in str(error):
                    raise
                index = None  # no index that day (weekend, holiday, not yet published)
            outcomes: list[Outcome] = []
            if index is not None and index.body is not None:
                report.fetched += 1
                for filing in parse_form_index(index.body):
                    if isinstance(filing, Malformed):
                        outcomes.append(Malformed(filing.reason, url))
                        continue
                    outcomes.append(
                        await _form_d(source, client, resolver, filing, emitted_ids, report)
                    )
            await _deliver(settings, engine, source.name, outcomes, report)
            await emitted_ids.refresh(settings)  # what _deliver just sent
            if index is None and day == today:
                break  # today's index is not out yet: poll it again next time
            day += dt.timedelta(days=1)
            if until is None:  # a backfill (a closed range) leaves the live checkpoint alone
                checkpoint = {"next_day": day.isoformat()}
                await _save(engine, source.name, checkpoint=json.dumps(checkpoint))
    finally:
        emitted_ids.close()


async def _form_d(source, client, resolver, filing: Filing, emitted_ids, report) -> Outcome:
    url = f"{source.base_url}{filing.document_path()}"
    try:
        document = await client.get(url)
    except FetchError as error:
        return Malformed(f"primary document not fetched: {error}", url)
    report.fetched += 1
    return funding_from_form_d(
        document.body or b"", filing, url, resolver, emitted_ids.__contains__
    )


async def _deliver(
    settings: Settings, engine: AsyncEngine, source: str, outcomes: Iterable[Outcome], report
) -> None:
    items: list[tuple[str, Accepted | Rejected]] = []
    this_poll: list[Known] = []  # records emitted by this poll, not yet projected
    for number, outcome in enumerate(outcomes, start=1):
        placed = await _placed(engine, source, outcome, this_poll, report)
        if isinstance(placed, Emit):
            items.append((placed.origin, _validated(number, placed.record)))
        elif isinstance(placed, Review):  # queued at once: a later sighting may join it
            report.queued += await queue_reviews(engine, source, [placed])
        elif isinstance(placed, Skip):
            report.skipped += 1
        elif isinstance(placed, Malformed):
            report.problems.append(f"{placed.origin}: {placed.reason}")
    if items:
        ingested = await ingest_items(items, settings)
        report.emitted += ingested.accepted
        report.duplicates += ingested.duplicates
        report.problems.extend(f"{o}: {r.reason}" for o, r in ingested.rejected)


async def _placed(
    engine: AsyncEngine, source: str, outcome: Outcome, this_poll: list[Known], report
) -> Outcome | None:
    """A deal sighting joins what it matches (sources/sightings.py): a logged record, a pending
    item, or a record emitted earlier in this poll. None: it joined a pending item."""
    record = _deal_of(outcome)
    if record is None:
        return outcome
    if isinstance(outcome, Review) and await _queued_before(engine, outcome.key):
        return outcome  # placed when first seen; queueing it again does nothing
    where = place(outcome, [*await deals_seen(engine, record), *this_poll])
    if isinstance(where, JoinPending):
        assert isinstance(outcome, Review)
        if await join_pending(engine, where, outcome, source):
            report.joined += 1
            return None
        where = outcome  # the item was decided meanwhile: this one waits on its own
    if isinstance(where, Emit) and is_deal(where.record):
        this_poll.append(Known(where.record))
    return where


def _deal_of(outcome: Outcome) -> dict | None:
    record = sighting_of(outcome)
    return record if record is not None and is_deal(record) else None


async def _queued_before(engine: AsyncEngine, key: str) -> bool:
    async with session_factory(engine)() as session:
        return await session.get(ReviewItem, key) is not None


def _validated(number: int, record: dict) -> Accepted | Rejected:
    raw = canonical_json(record).decode()
    try:
        return Accepted(number, parse_record(record), raw)
    except RecordError as error:
        return Rejected(number, record.get("id"), str(error), raw)


async def queue_reviews(engine: AsyncEngine, source: str, reviews: list[Review]) -> int:
    """Add items to the review queue once each (a re-poll finds them there); return how many
    are new."""
    if not reviews:
        return 0
    rows = [review_row(r, source) for r in {r.key: r for r in reviews}.values()]
    async with session_factory(engine)() as session, session.begin():
        result = await session.execute(
            dialect_insert(session, ReviewItem)
            .on_conflict_do_nothing(index_elements=["key"])
            .returning(ReviewItem.key),
            rows,
        )
        return len(result.all())


async def _state(engine: AsyncEngine, name: str) -> SourceState:
    async with session_factory(engine)() as session, session.begin():
        await session.execute(
            dialect_insert(session, SourceState)
            .values(name=name, consecutive_failures=0, emitted=0, queued=0)
            .on_conflict_do_nothing(index_elements=["name"])
        )
        return await session.get(SourceState, name)


async def _save(engine: AsyncEngine, name: str, **values) -> None:
    async with session_factory(engine)() as session, session.begin():
        state = await session.get(SourceState, name)
        for key, value in values.items():
            setattr(state, key, value)


async def _succeeded(engine: AsyncEngine, name: str, report: PollReport) -> None:
    async with session_factory(engine)() as session, session.begin():
        state = await session.get(SourceState, name)
        state.last_success = dt.datetime.now(dt.UTC)
        state.consecutive_failures = 0
        state.emitted += report.emitted
        state.queued += report.queued


async def _failed(engine: AsyncEngine, source: SourceConfig, error: str, channel: str) -> None:
    """Count the failure; at `failures_before_alert` in a row, an operations alert goes to the
    outbox (and so to Slack), once per source and day."""
    now = dt.datetime.now(dt.UTC)
    async with session_factory(engine)() as session, session.begin():
        state = await session.get(SourceState, source.name)
        state.last_error, state.last_error_at = error, now
        state.consecutive_failures += 1
        if state.consecutive_failures < source.failures_before_alert:
            return
        message = {
            "rule": "source_failing",
            "subject": source.name,
            "as_of": now.date().isoformat(),
            "title": f"Source {source.name} failed {state.consecutive_failures} times in a row",
            "facts": [["Last error", error[:300]], ["Last success", str(state.last_success)]],
            "source": source.url or source.base_url,
            "lineage": [],
        }
        await session.execute(
            dialect_insert(session, Alert)
            .values(
                alert_key=f"source_failing:{source.name}:{now.date().isoformat()}",
                rule="source_failing",
                subject=source.name,
                as_of=now.date(),
                fired_at=now,
                lineage="[]",
                message=canonical_json(message).decode(),
                channel=channel,
                delivery_state=PENDING,
                attempts=0,
            )
            .on_conflict_do_nothing(index_elements=["alert_key"])
        )
