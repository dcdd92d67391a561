"""The Faust worker: mirrors the log into SQL in batches and keeps the projections current.

Run it with `dealwatch worker`, or
`faust -A dealwatch.services.worker.faust_app worker --without-web -l info`.
Any number of workers may join one consumer group: each mirrors and folds the partitions it
is assigned (docs/incremental.md); only the merge of the series is global (see
`services.projection.projector`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import faust
from sqlalchemy.ext.asyncio import AsyncEngine

from dealwatch.alerts.rules_config import RulesConfig, load_rules
from dealwatch.events.envelope import DealEvent
from dealwatch.projections.effective import LoggedEvent
from dealwatch.projections.record_fold import target_of
from dealwatch.services.config import Settings, get_settings
from dealwatch.services.db.engine import make_async_engine, redact, session_factory
from dealwatch.services.db.log_mirror import (
    Consumed,
    Message,
    consumed_of,
    write_events,
    write_registry,
)
from dealwatch.services.kafka.topics import COMPANIES, DEAL_EVENTS
from dealwatch.services.logs import one_line
from dealwatch.services.projection.batch import fold_batch, prepare_batch
from dealwatch.services.projection.projector import Projector
from dealwatch.services.projection.records import Prepared, merge_prepared
from dealwatch.services.projection.refresh_pool import RefreshPool
from dealwatch.services.runtime import FreeMemoryReleaser, tune_gc_for_batches
from dealwatch.services.worker.catchup import LogEnds, lag
from dealwatch.services.worker.faust_consumer import use_batch_drain
from dealwatch.services.worker.group_commit import GroupCommit
from dealwatch.services.worker.identity import worker_instance_id
from dealwatch.services.worker.waiting import DATABASE_ABSENT, keep_trying

log = logging.getLogger("dealwatch.worker")

# Events per transaction during a backlog. Each batch dirties about one page per event in each
# index keyed at random (event, record, target, company): larger batches touch the same pages
# more than once, so each commit writes less per event (bench.fold_phases at 500k events on
# SQLite: 140 µs an event at 2,000, 116 at 5,000, 103 at 10,000), at the cost of memory held.
BATCH_SIZE = 5_000
BATCH_WITHIN = 0.1  # a trickle of live events waits at most this long for its batch
# Records one poll of the consumer may return. Faust's default (no limit) hands over all
# that was fetched: during a 1M backlog each poll returned ~104,000 records, held as Python
# objects while Faust fed them to the stream (~85 MB of the worker's peak; the fetched bytes
# themselves are compact). One batch's worth keeps a poll to what the next batch needs.
MAX_POLL_RECORDS = BATCH_SIZE
# Events that may wait for the next transaction while one is in flight (group commit,
# services/worker/group_commit.py): during a backlog each transaction takes what arrived during the
# previous one. One batch's worth bounds the decoded events held (a 200k backlog on SQLite:
# ~5,600 events/s with one batch in flight and the agent waiting for it, ~6,900 with this).
MAX_WAITING = BATCH_SIZE
# Messages Faust may buffer for the agent (its default: 4,096). While a transaction is in
# flight Faust keeps reading into this buffer; the default filled within a fraction of one
# transaction (a 200k backlog with group commit: ~6,900 events/s at 4,096, ~7,500 at 16,384).
# At a million events 16,384 took the worker's peak RSS to 412 MB (over the 400 MB budget).
STREAM_BUFFER = 8_192
STALE_REFRESH_EVERY = 300.0  # s: while a backlog is read, its companies are refreshed this often


def event_row(topic: str, partition: int, offset: int, value: bytes) -> dict[str, Any]:
    """The `events` row of one log message."""
    return decoded_row(topic, partition, offset, value)[0]


def decoded_row(
    topic: str, partition: int, offset: int, value: bytes
) -> tuple[dict[str, Any], DealEvent]:
    """The `events` row of one log message, and the event it decodes to."""
    event = DealEvent.from_bytes(value)
    record = event.record
    return {
        "event_id": event.event_id,
        "record_id": record.id,
        "target_id": target_of(record),
        "kind": record.kind,
        "date": record.date,
        "reported": record.known_on,
        "company": record.company,
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "payload": value.decode(),
    }, event


def _credentials(settings: Settings) -> Any:
    if settings.kafka_sasl_mechanism:
        password = settings.kafka_sasl_password
        return faust.SASLCredentials(
            username=settings.kafka_sasl_username,
            password=password.get_secret_value() if password else None,
            mechanism=settings.kafka_sasl_mechanism,
            ssl_context=_ssl(settings),
        )
    return _ssl(settings)


def _ssl(settings: Settings) -> ssl.SSLContext | None:
    if "SSL" not in settings.kafka_security_protocol:
        return None
    cafile = str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None
    return ssl.create_default_context(cafile=cafile)


@dataclass(frozen=True)
class DecodedBatch:
    """One `take_events` batch, decoded, ready for its transaction."""

    rows: list[dict[str, Any]]
    decoded: list[LoggedEvent]
    messages: list[Message]
    consumed: list[Consumed]
    live: bool
    prepared: dict[str, Prepared] = field(default_factory=dict)
    """Folds made before the transaction (services/projection/records.prepare)."""


def merged(batches: Sequence[DecodedBatch]) -> DecodedBatch:
    """Batches that waited for one transaction, as one batch (in log order); live when the
    latest was read at the log's end."""
    if len(batches) == 1:
        return batches[0]
    messages = [message for b in batches for message in b.messages]
    return DecodedBatch(
        [row for b in batches for row in b.rows],
        [event for b in batches for event in b.decoded],
        messages,
        consumed_of(messages),
        batches[-1].live,
        merge_prepared(b.prepared for b in batches),
    )


class Projections:
    """The worker's SQL side: one engine, the rules, and the projector run on a timer."""

    def __init__(self, settings: Settings, rules: RulesConfig) -> None:
        self.settings = settings
        self.rules = rules
        self._engine: AsyncEngine | None = None
        self._projector: Projector | None = None
        self.log_ends = LogEnds(settings)
        self.last_projection = 0.0
        self.last_refresh = time.monotonic()
        self._wake: asyncio.Event | None = None
        self.release_memory = FreeMemoryReleaser()
        self.owned: Callable[[], set[int] | None] = lambda: None
        """The deal-events partitions this worker is assigned (None: all, no group)."""
        self.live: Callable[[Sequence[faust.types.EventT]], bool] = lambda events: (
            len(events) < BATCH_SIZE
        )
        """Whether a batch was read at the log's end (live news) rather than from a backlog."""

    @property
    def wake(self) -> asyncio.Event:
        """Set by each mirrored batch: the projector runs at once rather than at its next tick."""
        if self._wake is None:  # created inside the worker's event loop
            self._wake = asyncio.Event()
        return self._wake

    async def keep_projected(self) -> None:
        """Project after every mirrored batch, and every projection interval regardless."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self.wake.wait(), self.settings.dealwatch_projection_interval
                )
            self.wake.clear()
            await self.project()

    @property
    def engine(self) -> AsyncEngine:
        if self._engine is None:  # created inside the worker's event loop
            self._engine = make_async_engine(self.settings.database_url)
        return self._engine

    async def close(self) -> None:
        """Release the broker client and the database connections."""
        await self.log_ends.close()
        if self._projector is not None and self._projector.refresh_pool is not None:
            self._projector.refresh_pool.close()
        if self._engine is not None:
            await self._engine.dispose()

    def decode_batch(self, events: Sequence[faust.types.EventT]) -> DecodedBatch:
        """A batch's `events` rows, decoded events, chain messages and prepared folds (pure
        Python: runs while the previous transaction is in SQL)."""
        rows, decoded = [], []
        for e in events:
            m = e.message
            try:
                row, event = decoded_row(m.topic, m.partition, m.offset, m.value)
                rows.append(row)
                decoded.append(LoggedEvent(event, (m.partition, m.offset)))
            except ValueError as error:  # not written by dealwatch's ingest: keep going
                log.error(
                    "skipped undecodable event at %s[%s]@%s: %s",
                    m.topic,
                    m.partition,
                    m.offset,
                    error,
                )
        messages = [
            Message(e.message.topic, e.message.partition, e.message.offset, e.message.value)
            for e in events
        ]
        return DecodedBatch(
            rows,
            decoded,
            messages,
            consumed_of(messages),
            self.live(events),
            prepare_batch(decoded),
        )

    async def write_batch(self, batch: DecodedBatch) -> None:
        """Mirror and fold one batch in one transaction."""
        started = time.perf_counter()
        async with session_factory(self.engine)() as session, session.begin():
            await write_events(session, batch.rows, batch.consumed, batch.messages)
            await fold_batch(
                session,
                batch.decoded,
                self.settings.today(),
                live=batch.live,
                prepared=batch.prepared,
                thresholds=self.rules.thresholds,
            )
        self.wake.set()
        self.release_memory()
        log.debug(
            "mirrored and folded %d events in %.3fs",
            len(batch.messages),
            time.perf_counter() - started,
        )

    async def mirror_registry(self, events: Sequence[faust.types.EventT]) -> None:
        latest: dict[str, dict | None] = {}
        for e in events:
            slug = e.message.key.decode()
            latest[slug] = None if e.message.value is None else registry_row(e.message.value)
        entries = [row for row in latest.values() if row is not None]
        removed = [slug for slug, row in latest.items() if row is None]
        read = [Message(*e.message.tp, e.message.offset, None) for e in events]
        async with session_factory(self.engine)() as session, session.begin():
            await write_registry(session, entries, removed, consumed_of(read))
        self.wake.set()

    async def project(self) -> None:
        s = self.settings
        if self._projector is None:
            self._projector = Projector(
                self.engine, self.rules, RefreshPool(self.settings.database_url)
            )
        try:
            behind = await lag(self.engine, await self.log_ends.offsets())
            since = time.monotonic() - self.last_projection
            if behind and since < s.dealwatch_backlog_projection_interval:
                return  # reading a backlog: mirror first, project now and then
            self.last_projection = time.monotonic()
            refresh = not behind or time.monotonic() - self.last_refresh > STALE_REFRESH_EVERY
            if refresh:
                self.last_refresh = time.monotonic()
            outcome = await self._projector.run(
                s.today(),
                s.dealwatch_window_days,
                record_alerts=behind == 0,
                refresh_stale=refresh,
                partitions=self.owned(),
            )
        except DATABASE_ABSENT as error:  # away (a restart): the next tick tries again
            log.warning("projection waits for the database: %s", one_line(error))
            return
        except Exception:  # anything else: said in full, and the next tick tries again
            log.exception("projection failed; retrying at the next tick")
            return
        finally:
            self.release_memory()
        if not outcome.skipped:
            log.info(
                "projected as of %s in %.2fs: %d series rows rewritten of %d, %d new alerts%s",
                outcome.evaluation_day,
                outcome.seconds,
                outcome.rows_written,
                outcome.series_rows,
                outcome.alerts_added,
                f" (alerts wait: {behind} messages still to read)" if behind else "",
            )


def registry_row(value: bytes) -> dict:
    import json

    from dealwatch.events.registry import Company

    return Company.model_validate(json.loads(value)).sql_row()


def create_app(settings: Settings | None = None) -> faust.App:
    """The Faust app; its id is the consumer group, so workers with one prefix share the work."""
    settings = settings or get_settings()
    tune_gc_for_batches()
    rules = load_rules(settings.dealwatch_rules_file, settings.slack_default_channel)
    projections = Projections(settings, rules)
    servers = [f"kafka://{h.strip()}" for h in settings.kafka_bootstrap_servers.split(",")]
    app = faust.App(
        settings.group_id(),
        broker=servers,
        broker_credentials=_credentials(settings),
        store="memory://",
        datadir=str(settings.home / "faust"),
        web_enabled=False,
        consumer_auto_offset_reset="earliest",
        topic_allow_declare=False,
        topic_disable_leader=True,
        producer_acks=-1,
        broker_max_poll_records=MAX_POLL_RECORDS,
        stream_buffer_maxsize=STREAM_BUFFER,
        Monitor="dealwatch.services.worker.faust_monitor:LeanMonitor",
        consumer_group_instance_id=worker_instance_id(settings),
        broker_session_timeout=settings.dealwatch_session_timeout,
        broker_heartbeat_interval=settings.dealwatch_session_timeout / 4,
    )
    use_batch_drain(app)
    raw = {
        "key_type": bytes,
        "value_type": bytes,
        "key_serializer": "raw",
        "value_serializer": "raw",
    }
    deal_events = app.topic(settings.topic(DEAL_EVENTS), **raw)
    companies = app.topic(settings.topic(COMPANIES), **raw)

    @app.agent(deal_events, name="mirror-events")
    async def mirror_events(stream: faust.StreamT) -> None:
        def write(batches) -> Awaitable[None]:
            """One transaction; when the database is away, the same batches again once it
            answers (DEALWATCH_CONNECT_TIMEOUT; then the worker stops to read them again)."""
            return keep_trying(
                f"the database at {redact(settings.database_url)}",
                lambda: projections.write_batch(merged(batches)),
                DATABASE_ABSENT,
                settings.dealwatch_connect_timeout,
                log.warning,
            )

        commits = GroupCommit(
            write,
            app.crash,
            max_waiting=MAX_WAITING,
        )
        try:
            async for batch in stream.take_events(BATCH_SIZE, within=BATCH_WITHIN):
                await commits.submit(batch, projections.decode_batch(batch))
        finally:
            await commits.drain()  # a clean stop finishes the batches submitted

    @app.agent(companies, name="mirror-registry")
    async def mirror_registry(stream: faust.StreamT) -> None:
        async for batch in stream.take_events(BATCH_SIZE, within=BATCH_WITHIN):
            await projections.mirror_registry(batch)

    def owned() -> set[int]:
        """This worker's deal-events partitions (none while a rebalance is under way)."""
        topic = deal_events.get_topic_name()
        try:
            assigned = app.consumer.assignment()
        except Exception:  # the consumer is not started yet: nothing is ours to refresh
            return set()
        return {tp.partition for tp in assigned if tp.topic == topic}

    projections.owned = owned

    def at_log_end(events: Sequence[faust.types.EventT]) -> bool:
        """Nothing more waits in the batch's partitions (the consumer's high-water marks)."""
        ends: dict = {}
        for e in events:
            ends[e.message.tp] = max(ends.get(e.message.tp, 0), e.message.offset + 1)
        try:
            return all((app.consumer.highwater(tp) or 0) <= end for tp, end in ends.items())
        except Exception:  # no high-water mark yet: a full batch means more is waiting
            return len(events) < BATCH_SIZE

    projections.live = at_log_end

    @app.task
    async def keep_projected() -> None:
        await projections.keep_projected()

    @app.on_before_shutdown.connect
    async def close_clients(app: faust.App, **_: object) -> None:
        await projections.close()

    app.dealwatch_projections = projections  # type: ignore[attr-defined]
    return app
