"""How long a crashed worker keeps new events waiting: SIGKILL the caught-up worker, start it
again at once (as a supervisor would), ingest one new record, and time until SQL has mirrored
it. Median of `--runs`, with static group membership (the default) and without
(`DEALWATCH_WORKER_ID=off`, which waits out the dead member's session). Prints and saves
`docs/bench/<date>-restart-resume-<database>.json`.

    python -m bench.restart_resume [--records 2000] [--runs 5] [--database sqlite|URL]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import statistics
import time
import uuid
from pathlib import Path

from sqlalchemy import text

from bench.run import (
    DAY,
    RESULTS,
    Workers,
    fresh_database,
    log_env,
    one_worker_catch_up,
    process_tree,
    run_identity,
    save_result,
    say,
    synthetic_log,
)
from dealwatch.events.feed import Accepted
from dealwatch.events.records import parse_record
from dealwatch.services.config import Settings
from dealwatch.services.db.engine import make_sync_engine
from dealwatch.services.ingest.pipeline import Ingest


def kill(workers: Workers) -> None:
    """SIGKILL every process of the workers: no shutdown code runs, no LeaveGroup is sent."""
    for process in workers.processes:
        for pid in process_tree(process.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        process.wait()


async def one_record(settings: Settings, number: int) -> str:
    record = parse_record(
        {
            "id": f"restart-{number}-{uuid.uuid4().hex[:6]}",
            "kind": "funding",
            "date": DAY.isoformat(),
            "company": "startup-00001",
            "amount_usd": 1e6,
        }
    )
    async with Ingest(settings) as ingest:
        await ingest.put("restart", Accepted(1, record))
        await ingest.flush()
    return record.id


def mirrored(url: str, record_id: str, timeout: float = 180) -> float:
    """Seconds (perf_counter) when the event of `record_id` is in SQL."""
    engine = make_sync_engine(url)
    query = text("SELECT COUNT(*) FROM events WHERE record_id = :id")
    started = time.monotonic()
    try:
        while time.monotonic() - started < timeout:
            with engine.connect() as conn:
                if conn.execute(query, {"id": record_id}).scalar_one():
                    return time.perf_counter()
            time.sleep(0.05)
    finally:
        engine.dispose()
    raise TimeoutError(f"{record_id} not mirrored within {timeout:.0f}s")


def resume_times(settings: Settings, env: dict, url: str, runs: int, log: Path) -> list[float]:
    """`runs` crashes of a caught-up worker: SIGKILL -> the next new event mirrored, seconds."""
    workers = Workers(env, 1, log)
    times = []
    try:
        for number in range(runs):
            time.sleep(2)  # caught up and idle, as between news items
            kill(workers)
            killed = time.perf_counter()
            workers = Workers(env, 1, log.with_name(f"{log.stem}-{number}.log"))
            record_id = asyncio.run(one_record(settings, number))
            times.append(mirrored(url, record_id) - killed)
            say(f"run {number + 1}: {times[-1]:.2f} s from SIGKILL to the next event mirrored")
    finally:
        workers.stop()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--companies", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--dynamic-runs", type=int, default=2)
    parser.add_argument("--database", default="sqlite")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    settings, workdir, report = synthetic_log(args.records, args.companies, "restart")
    result: dict = {"what": "restart_resume_s", **run_identity(), "records": report.accepted}
    for mode, worker_id, runs in (
        ("static", None, args.runs),
        ("dynamic", "off", args.dynamic_runs),
    ):
        url = fresh_database(args.database, workdir, mode)
        env = {**log_env(settings, workdir), "DATABASE_URL": url}
        env["DEALWATCH_GROUP"] = f"{settings.dealwatch_topic_prefix}{mode}"
        if worker_id:
            env["DEALWATCH_WORKER_ID"] = worker_id
        rate = one_worker_catch_up(env, url, report.accepted, workdir / f"{mode}-first.log")
        say(f"{mode}: backlog read at {rate:,.0f}/s; crashing the worker {runs} times")
        times = resume_times(settings, env, url, runs, workdir / f"{mode}.log")
        result[mode] = {
            "runs_s": [round(t, 3) for t in times],
            "median_s": statistics.median(times),
        }
        say(f"{mode}: restart_resume_s median {result[mode]['median_s']:.2f} s")
    result["restart_resume_s"] = result["static"]["median_s"]
    result["session_timeout_s"] = Settings().dealwatch_session_timeout
    database = "sqlite" if args.database == "sqlite" else "postgresql"
    save_result(args.out, f"restart-resume-{database}", result)


if __name__ == "__main__":
    main()
