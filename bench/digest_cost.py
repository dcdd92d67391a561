"""What the scheduler's digest costs on a database a worker filled: from the tables (what
`dealwatch scheduler` runs), or from the whole log in memory (`projections.digest.digest()`,
the specification, what it ran before). Each in a process of its own, for a clean peak RSS.

    python -m bench.digest_cost --database URL [--day 2024-12-31] [--days 30] [--whole-log]

Prints seconds, peak RSS (MB) and whether both agree when both ran; nothing is saved.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import resource
import subprocess
import sys
import time

from sqlalchemy import select

from dealwatch.events.envelope import DealEvent
from dealwatch.projections.digest import digest
from dealwatch.projections.effective import LoggedEvent
from dealwatch.services.db.engine import make_async_engine, session_factory
from dealwatch.services.db.models import Event
from dealwatch.services.projection.digest import digest_from_tables
from dealwatch.services.projection.projector import load_registry


async def measure(url: str, day: dt.date, days: int, window_days: int, whole_log: bool) -> dict:
    engine = make_async_engine(url)
    try:
        async with session_factory(engine)() as session:
            roles = {slug: e.role for slug, e in (await load_registry(session)).items()}
            clock = time.perf_counter()
            if whole_log:
                result = await session.stream(select(Event.payload, Event.partition, Event.offset))
                events = [
                    LoggedEvent(DealEvent.from_bytes(payload), (partition, offset))
                    async for payload, partition, offset in result
                ]
                summary = digest(events, roles, day, days, window_days)
            else:
                summary = await digest_from_tables(session, roles, day, days, window_days)
            seconds = time.perf_counter() - clock
    finally:
        await engine.dispose()
    return {
        "way": "whole log" if whole_log else "tables",
        "seconds": round(seconds, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "facts": [list(f) for f in summary.facts()],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", required=True)
    parser.add_argument("--day", type=dt.date.fromisoformat, default=dt.date(2024, 12, 31))
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--window-days", type=int, default=365)
    parser.add_argument("--whole-log", action="store_true", help="also the whole-log way")
    parser.add_argument("--one", choices=["tables", "log"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        found = asyncio.run(
            measure(args.database, args.day, args.days, args.window_days, args.one == "log")
        )
        print(json.dumps(found))
        return
    results = []
    for way in ["tables", "log"] if args.whole_log else ["tables"]:
        command = [sys.executable, "-m", "bench.digest_cost", *sys.argv[1:], "--one", way]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    for r in results:
        print(f"{r['way']:<10} {r['seconds']:8.1f} s  {r['peak_rss_mb']:8.1f} MB peak RSS")
    if len(results) == 2:
        print("same digest" if results[0]["facts"] == results[1]["facts"] else "DIGESTS DIFFER")


if __name__ == "__main__":
    main()
