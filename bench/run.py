"""Consumer throughput on one broker in one run: bare aiokafka, bare Faust, naive Faust table,
and the dealwatch worker with its SQL writes. Prints and saves the figures.

    python -m bench.run [--records 100000] [--companies 10000] [--database sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy import text

from services.config import Settings
from services.db.engine import make_sync_engine
from services.db.schema import upgrade
from services.ingest import ingest_feed, ingest_registry
from services.kafka_clients import client_kwargs, topic_partitions
from services.kafka_local import ensure_broker
from services.topics import DEAL_EVENTS
from tests.synthetic import synthetic_records, write_jsonl, write_registry

RESULTS = Path(__file__).resolve().parents[1] / "docs" / "benchmarks"


async def bare_aiokafka(settings: Settings, topic: str, count: int) -> dict:
    """The ceiling: getmany and json.loads, nothing else."""
    consumer = AIOKafkaConsumer(
        **client_kwargs(settings),
        enable_auto_commit=False,
        max_partition_fetch_bytes=4 * 1024 * 1024,
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
        elapsed = time.perf_counter() - started
    finally:
        await consumer.stop()
    return {"mode": "aiokafka", "records": n, "seconds": elapsed, "rate": n / elapsed}


def faust_agent(mode: str, topic: str, count: int, env: dict, workdir: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "bench.faust_agents", mode, topic, str(count)],
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
        cwd=workdir,
    )
    output = done.stdout + done.stderr  # Faust sends print() to its log (stderr)
    lines = [
        line[line.index('{"mode"') :].strip() for line in output.splitlines() if '{"mode"' in line
    ]
    if not lines:
        raise RuntimeError(
            f"faust {mode} printed no result:\n{done.stdout[-2000:]}{done.stderr[-3000:]}"
        )
    return json.loads(lines[-1])


def dealwatch_worker(settings: Settings, count: int, env: dict, log: Path) -> dict:
    """`dealwatch worker` until SQL holds every event; the rate counts from the first row."""
    upgrade(settings.database_url)
    engine = make_sync_engine(settings.database_url)
    worker_env = {
        **env,
        "DATABASE_URL": settings.database_url,
        "DEALWATCH_TOPIC_PREFIX": settings.dealwatch_topic_prefix,
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "services", "worker", "-l", "warn"],
            env=worker_env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    first = None
    try:
        while True:
            with engine.connect() as conn:
                n = conn.execute(text("SELECT COUNT(*) FROM events")).scalar_one()
            now = time.perf_counter()
            if n and first is None:
                first = (now, n)
            if n >= count:
                break
            if process.poll() is not None:
                raise RuntimeError(f"worker exited: {log.read_text()[-3000:]}")
            time.sleep(0.2)
        elapsed = now - first[0]
        return {
            "mode": f"dealwatch worker ({settings.database_url.split(':')[0]})",
            "records": count - first[1],
            "seconds": elapsed,
            "rate": (count - first[1]) / elapsed,
        }
    finally:
        process.terminate()
        process.wait(60)
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--companies", type=int, default=10_000)
    parser.add_argument(
        "--database", default="sqlite", help="sqlite, or a PostgreSQL URL for the worker's tables"
    )
    args = parser.parse_args()
    base = Settings()
    ensure_broker(base)
    settings = base.model_copy(update={"dealwatch_topic_prefix": f"bench{uuid.uuid4().hex[:6]}."})
    workdir = Path(tempfile.mkdtemp(prefix="dealwatch-bench-"))
    feed = write_jsonl(synthetic_records(args.records, args.companies), workdir / "feed.jsonl")
    asyncio.run(ingest_registry(write_registry(workdir / "registry.csv"), settings))
    report = asyncio.run(ingest_feed([feed], settings))
    print(
        f"produced {report.accepted} records in {report.seconds:.1f}s "
        f"({report.rate:,.0f}/s, idempotent producer, acks=all)"
    )
    topic = settings.topic(DEAL_EVENTS)
    root = str(Path(__file__).resolve().parents[1])
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", ""),
        "DEALWATCH_HOME": str(workdir),
    }
    url = f"sqlite:///{workdir / 'bench.db'}" if args.database == "sqlite" else args.database
    results = [asyncio.run(bare_aiokafka(settings, topic, args.records))]
    print(results[-1])
    for mode in ("bare", "table"):
        results.append(faust_agent(mode, topic, args.records, env, workdir))
        print(results[-1])
    results.append(
        dealwatch_worker(
            settings.model_copy(update={"database_url": url}),
            args.records,
            env,
            workdir / "worker.log",
        )
    )
    print(results[-1])
    bare = next(r["rate"] for r in results if r["mode"] == "bare")
    summary = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}",
        "records": args.records,
        "companies": args.companies,
        "producer_rate": report.rate,
        "results": results,
        "worker_vs_bare_faust": results[-1]["rate"] / bare,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"consumers-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(summary, indent=2))
    print(f"\n{'consumer':<32}{'records/s':>12}{'vs bare Faust':>16}")
    for r in results:
        print(f"{r['mode']:<32}{r['rate']:>12,.0f}{r['rate'] / bare:>15.0%}")
    print(f"saved {out}")


if __name__ == "__main__":
    main()
