"""Where a backlog batch's time goes, without Kafka or Faust: synthetic events mirrored and
folded with the worker's own functions, in 2,000-event transactions, timed per phase.

    python -m bench.fold_phases [--records 100000] [--database URL]

Prints seconds per phase (decode, prepare, mirror insert, fold, commit, the final company
refresh; the first two run before each transaction in the worker) and
the rate; nothing is saved. A profiler's view of the same loop: `python -m cProfile -s
cumulative -m bench.fold_phases`.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import datetime as dt
import tempfile
import time

from dealwatch.events.envelope import DealEvent
from dealwatch.events.records import parse_record
from dealwatch.projections.effective import LoggedEvent
from dealwatch.services.db.engine import make_async_engine, session_factory
from dealwatch.services.db.log_mirror import Consumed, Message, write_events
from dealwatch.services.db.schema import upgrade
from dealwatch.services.projection.batch import fold_batch, prepare_batch
from dealwatch.services.projection.stale import refresh_stale
from dealwatch.services.runtime import tune_gc_for_batches
from dealwatch.services.worker.app import BATCH_SIZE, decoded_row
from tests.synthetic import synthetic_records

DAY = dt.date(2024, 12, 31)
TOPIC = "deal-events"


async def run(url: str, payloads: list[bytes]) -> collections.Counter:
    spent: collections.Counter = collections.Counter()
    engine = make_async_engine(url)
    try:
        for start in range(0, len(payloads), BATCH_SIZE):
            clock = time.perf_counter()
            rows, events, messages = [], [], []
            for offset, value in enumerate(payloads[start : start + BATCH_SIZE], start):
                row, event = decoded_row(TOPIC, 0, offset, value)
                rows.append(row)
                events.append(LoggedEvent(event, (0, offset)))
                messages.append(Message(TOPIC, 0, offset, value))
            spent["decode"] += time.perf_counter() - clock
            clock = time.perf_counter()
            prepared = prepare_batch(events)  # the worker's, before the transaction
            spent["prepare"] += time.perf_counter() - clock
            async with session_factory(engine)() as session, session.begin():
                clock = time.perf_counter()
                await write_events(session, rows, [Consumed(TOPIC, 0, offset + 1)], messages)
                spent["mirror insert"] += time.perf_counter() - clock
                clock = time.perf_counter()
                await fold_batch(session, events, DAY, live=False, prepared=prepared)
                spent["fold"] += time.perf_counter() - clock
                clock = time.perf_counter()
            spent["commit"] += time.perf_counter() - clock
        clock = time.perf_counter()
        await refresh_stale(engine, DAY)
        spent["company refresh"] += time.perf_counter() - clock
    finally:
        await engine.dispose()
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--database", default=None, help="a fresh database URL (default: SQLite)")
    args = parser.parse_args()
    records = synthetic_records(args.records, max(1, args.records // 10))
    payloads = [DealEvent.of(parse_record(r)).to_bytes() for r in records]
    url = args.database or f"sqlite:///{tempfile.mkdtemp(prefix='dealwatch-fold-')}/fold.db"
    upgrade(url)
    tune_gc_for_batches()  # as the worker and replay do
    spent = asyncio.run(run(url, payloads))
    total = sum(spent.values())
    for phase, seconds in spent.items():
        print(f"{phase:16s} {seconds:7.2f} s  {seconds / len(payloads) * 1e6:6.1f} µs/event")
    print(f"{'total':16s} {total:7.2f} s  {len(payloads) / total:,.0f} events/s")


if __name__ == "__main__":
    main()
