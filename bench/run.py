"""One run, one broker, one database: how fast dealwatch reads, folds and alerts, against the
bare consumers and a peer. Prints each figure and saves `docs/bench/<date>-<database>.json`.

    python -m bench.run [--records 1000000] [--companies 100000] [--database sqlite|URL]
                        [--alerts 20] [--late-alerts 10]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy import text

from dealwatch.services.config import Settings
from dealwatch.services.db.engine import make_sync_engine
from dealwatch.services.db.schema import upgrade
from dealwatch.services.ingest.pipeline import IngestReport, ingest_feed, ingest_registry
from dealwatch.services.kafka.clients import client_kwargs, topic_partitions
from dealwatch.services.kafka.local import ensure_broker
from dealwatch.services.kafka.topics import DEAL_EVENTS
from tests.synthetic import synthetic_records, write_jsonl, write_registry

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "bench"
DAY = dt.date(2024, 12, 31)  # the synthetic feed spans 2023-2024


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


async def bare_aiokafka(settings: Settings, topic: str, count: int) -> float:
    """The ceiling: getmany and json.loads, nothing else."""
    consumer = AIOKafkaConsumer(
        **client_kwargs(settings), enable_auto_commit=False, max_partition_fetch_bytes=4 << 20
    )
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in await topic_partitions(consumer, topic)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        n, started = 0, time.perf_counter()
        while n < count:
            for batch in (await consumer.getmany(timeout_ms=1000, max_records=10_000)).values():
                for message in batch:
                    json.loads(message.value)
                n += len(batch)
        return n / (time.perf_counter() - started)
    finally:
        await consumer.stop()


def synthetic_log(records: int, companies: int, name: str) -> tuple[Settings, Path, IngestReport]:
    """A synthetic feed and registry (`tests/synthetic.py`) ingested into a fresh topic prefix
    on the configured broker (started here when local): its settings, work directory and
    ingest report."""
    base = Settings()
    ensure_broker(base)
    settings = base.model_copy(update={"dealwatch_topic_prefix": f"{name}{uuid.uuid4().hex[:6]}."})
    workdir = Path(tempfile.mkdtemp(prefix=f"dealwatch-{name}-"))
    say(f"work files in {workdir}")
    feed = write_jsonl(synthetic_records(records, companies), workdir / "feed.jsonl")
    asyncio.run(ingest_registry(write_registry(workdir / "registry.csv"), settings))
    report = asyncio.run(ingest_feed([feed], settings))
    say(
        f"produced {report.accepted} records into {settings.dealwatch_topic_prefix} "
        f"({report.rate:,.0f}/s)"
    )
    return settings, workdir, report


def run_identity() -> dict:
    """The `commit` (of this checkout, from any directory) and `machine` a result was made on."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    return {
        "commit": commit or None,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}",
    }


def save_result(out: Path, name: str, result: dict) -> Path:
    """Save `result` as `out/<today>-<name>.json` (the layout of docs/bench) and say where."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{dt.date.today().isoformat()}-{name}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    say(f"saved {path}")
    return path


def log_env(settings: Settings, workdir: Path) -> dict:
    """The environment of a `dealwatch` child reading the synthetic log of `synthetic_log`
    (the same broker and prefix, its home in the work directory, the feed's evaluation day);
    add DATABASE_URL and DEALWATCH_GROUP for a worker."""
    return {
        **child_env(settings),
        "DEALWATCH_HOME": str(workdir),
        "DEALWATCH_TOPIC_PREFIX": settings.dealwatch_topic_prefix,
        "DEALWATCH_TODAY": DAY.isoformat(),
    }


def child_env(settings: Settings) -> dict:
    """The environment of a child process: this checkout importable, the same broker."""
    return {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
    }


def child_rate(module: str, args: list[str], env: dict, workdir: Path) -> float | None:
    """Run a reference consumer (`bench.faust_agents`, `bench.quix_app`); its printed rate."""
    done = subprocess.run(
        [sys.executable, "-m", module, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=7200,
        cwd=workdir,
    )
    output = done.stdout + done.stderr  # Faust sends print() to its log (stderr)
    lines = [line[line.index('{"mode"') :] for line in output.splitlines() if '{"mode"' in line]
    if not lines:
        say(f"{module} printed no result:\n{output[-3000:]}")
        return None
    return json.loads(lines[-1])["rate"]


class Workers:
    """`dealwatch worker` processes of one consumer group on one database."""

    def __init__(self, env: dict, count: int, log: Path) -> None:
        self.processes = []
        for i in range(count):
            out = log.with_suffix(f".{i}.log").open("wb")
            self.processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "dealwatch", "worker", "-l", "warn"],
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )

    def alive(self) -> bool:
        return all(p.poll() is None for p in self.processes)

    def stop(self) -> list[float]:
        """Stop them; the peak RSS (MB) of each (VmHWM, read just before they stop): the
        largest of the worker and its refresh processes (services/projection/refresh_pool)."""
        peaks = [max(map(peak_rss_mb, process_tree(p.pid))) for p in self.processes]
        for p in self.processes:
            p.terminate()
        for p in self.processes:
            p.wait(120)
        return peaks


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set (VmHWM), in MB. Not `wait4`'s ru_maxrss: on Linux a
    child's starts from its parent's at fork, and this parent holds the synthetic feed."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except FileNotFoundError:
        pass
    return 0.0


def cpu_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    with open("/proc/stat") as stat:
        fields = [int(v) for v in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def busy_share(before: tuple[int, int], after: tuple[int, int]) -> float:
    """How much of all cores was busy between two `cpu_ticks()` readings (0..1): a second
    worker cannot add what the first left unused."""
    return (after[0] - before[0]) / max(1, after[1] - before[1])


def count_rows(url: str, statement: str) -> int:
    engine = make_sync_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text(statement)).scalar_one()
    finally:
        engine.dispose()


CAUGHT_UP = (
    "SELECT CASE WHEN EXISTS (SELECT 1 FROM stale_companies) "
    "OR EXISTS (SELECT 1 FROM series_changes) THEN -1 ELSE (SELECT COUNT(*) FROM events) END"
)


def catch_up(url: str, workers: Workers, count: int, timeout: float = 7200) -> float:
    """Records/s from the first mirrored event until all are mirrored and folded, the
    companies they touched refreshed and the series merged (alerts come after: see
    `alerts of the backlog derived in`). A log small enough to land in one transaction is
    timed from the last look (every 0.2 s) that found nothing."""
    first = None
    started = time.monotonic()
    empty = (time.perf_counter(), 0)  # the last look that found nothing mirrored
    while True:
        n = count_rows(url, CAUGHT_UP)
        now = time.perf_counter()
        if not n:
            empty = (now, 0)
        elif first is None:  # a log read in one batch is all there at first sight
            first = empty if n >= count else (now, max(n, 0))
        if n >= count:
            return (count - first[1]) / max(now - first[0], 1e-9)
        if not workers.alive():
            raise RuntimeError("a worker exited; see its log")
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"workers read {n} of {count} events in {timeout:.0f}s")
        time.sleep(0.2)


def one_worker_catch_up(env: dict, url: str, count: int, log: Path) -> float:
    """Records/s of one `dealwatch worker` reading `count` events into the database at `url`
    (migrated here), stopped afterwards whatever happens."""
    upgrade(url)
    workers = Workers({**env, "DATABASE_URL": url}, 1, log)
    try:
        return catch_up(url, workers, count)
    finally:
        workers.stop()


def fresh_database(kind: str, workdir: Path, name: str) -> str:
    if kind == "sqlite":
        return f"sqlite:///{workdir / f'{name}.db'}"
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    database = f"bench_{name}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(
        make_url(kind).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{database}"'))
    admin.dispose()
    return make_url(kind).set(database=database).render_as_string(hide_password=False)


async def alert_latencies(
    settings: Settings, url: str, how_many: int, dated: dt.date
) -> list[float]:
    """Ingest one $3B round at a time (`services.ingest.pipeline.Ingest`: what `dealwatch
    ingest` does, its start-up aside: checked against the digest index, sent through the idempotent
    producer, its digest recorded); ms from the put until its alert is in the outbox."""
    from dealwatch.events.feed import Accepted
    from dealwatch.events.records import parse_record
    from dealwatch.services.ingest.pipeline import Ingest

    engine = make_sync_engine(url)
    query = text("SELECT COUNT(*) FROM alerts WHERE alert_key = :key")
    latencies = []
    async with Ingest(settings) as ingest:
        for i in range(how_many):
            record = parse_record(
                {
                    "id": f"bench-alert-{dated}-{i}-{uuid.uuid4().hex[:6]}",
                    "kind": "funding",
                    "date": dated.isoformat(),
                    "reported": DAY.isoformat(),
                    "company": f"startup-{i:05d}",
                    "amount_usd": 3e9,
                    "investors": ["microsoft"],
                }
            )
            key = {"key": f"mega_round:{record.company}:{record.id}"}
            started = time.perf_counter()
            await ingest.put("bench-alerts", Accepted(i + 1, record))
            await ingest.flush()
            while True:
                with engine.connect() as conn:
                    if conn.execute(query, key).scalar_one():
                        break
                if time.perf_counter() - started > 120:
                    raise TimeoutError(f"no alert for {record.id} in 120 s")
                await asyncio.sleep(0.005)
            latencies.append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(0.2)  # one at a time, as news arrives
    engine.dispose()
    return latencies


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants (`replay` folds in child processes)."""
    pids, i = [pid], 0
    while i < len(pids):
        try:
            with open(f"/proc/{pids[i]}/task/{pids[i]}/children") as children:
                pids.extend(int(c) for c in children.read().split())
        except FileNotFoundError:
            pass
        i += 1
    return pids


def replay(env: dict) -> tuple[float, float]:
    """`dealwatch replay`: seconds, and the largest peak RSS (MB) of its processes."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(
            [sys.executable, "-m", "dealwatch", "replay"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=errors,
        )
        peaks: dict[int, float] = {}
        while process.poll() is None:  # VmHWM only grows: the last reading is the peak
            for pid in process_tree(process.pid):
                peaks[pid] = max(peaks.get(pid, 0.0), peak_rss_mb(pid))
            time.sleep(0.2)
        peak = max(peaks.values(), default=0.0)
        if process.returncode != 0:
            errors.seek(0)
            raise RuntimeError(f"replay failed: {errors.read().decode()[-2000:]}")
    return time.perf_counter() - started, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--companies", type=int, default=100_000)
    parser.add_argument("--database", default="sqlite", help="sqlite, or a PostgreSQL URL")
    parser.add_argument("--alerts", type=int, default=20)
    parser.add_argument("--late-alerts", type=int, default=10)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    settings, workdir, _ = synthetic_log(args.records, args.companies, "bench")
    prefix = settings.dealwatch_topic_prefix
    topic = settings.topic(DEAL_EVENTS)
    env = log_env(settings, workdir)
    result: dict = {}
    result["ceiling_rps"] = asyncio.run(bare_aiokafka(settings, topic, args.records))
    say(f"ceiling_rps {result['ceiling_rps']:,.0f}")
    result["faust_bare_rps"] = child_rate(
        "bench.faust_agents", ["bare", topic, str(args.records)], env, workdir
    )
    say(f"faust_bare_rps {result['faust_bare_rps']}")
    rss: dict[str, float] = {}
    kind = "sqlite" if args.database == "sqlite" else "postgresql"
    for n in (1, 2):
        url = fresh_database(args.database, workdir, f"live{n}w")
        upgrade(url)
        worker_env = {**env, "DATABASE_URL": url, "DEALWATCH_GROUP": f"{prefix}bench-{n}w"}
        workers = Workers(worker_env, n, workdir / f"worker-{n}w")
        try:
            cpu = cpu_ticks()
            result[f"live_rps_{n}w"] = catch_up(url, workers, args.records)
            say(
                f"live_rps_{n}w {result[f'live_rps_{n}w']:,.0f} (machine busy "
                f"{busy_share(cpu, cpu_ticks()):.0%} of {os.cpu_count()} cores)"
            )
            if n == 1:
                from dealwatch.services.db.engine import make_async_engine
                from dealwatch.services.worker.catchup import wait_until_caught_up

                async def settled(url=url) -> float:
                    engine = make_async_engine(url)
                    try:
                        live = settings.model_copy(
                            update={"database_url": url, "dealwatch_today": DAY}
                        )
                        return await wait_until_caught_up(engine, live, timeout=7200)
                    finally:
                        await engine.dispose()

                say(f"alerts of the backlog derived in {asyncio.run(settled()):.1f}s more")
                live = settings.model_copy(update={"database_url": url})
                on_time = asyncio.run(alert_latencies(live, url, args.alerts, DAY))
                late = asyncio.run(
                    alert_latencies(live, url, args.late_alerts, DAY - dt.timedelta(days=300))
                )
                result["alert_latency_ms_p50"] = statistics.median(on_time)
                result["alert_latency_ms_p99"] = p(on_time, 0.99)
                result["late_alert_latency_ms_p99"] = p(late, 0.99)
                say(
                    f"alert latency ms, in sending order: {[round(x) for x in on_time]}; "
                    f"late: {[round(x) for x in late]}"
                )
                bench_db = url
        finally:
            peaks = workers.stop()
        rss[f"worker_{n}w"] = max(peaks)
    replay_env = {**env, "DATABASE_URL": bench_db}
    seconds, rss["replay"] = replay(replay_env)
    total = args.records + args.alerts + args.late_alerts
    result["replay_rps"] = total / seconds
    say(f"replay_rps {result['replay_rps']:,.0f} ({seconds:.1f}s)")
    result["rss_mb"] = rss
    try:
        import quixstreams  # noqa: F401
    except ImportError:
        say("quix_stateful_rps: null (install the `bench` extra: pip install -e '.[bench]')")
        result["quix_stateful_rps"] = None
    else:
        result["quix_stateful_rps"] = child_rate(
            "bench.quix_app", [topic, str(args.records)], env, workdir
        )
    result |= {"records": args.records, "companies": args.companies, "database": kind}
    result |= run_identity()
    print(json.dumps(result, indent=2))
    save_result(args.out, kind, result)
    say(f"bench database (replay --verify it): DATABASE_URL={bench_db}")


if __name__ == "__main__":
    main()
