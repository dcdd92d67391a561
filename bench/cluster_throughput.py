"""Ingest and one worker's catch-up on a 3-node cluster (3 replicas, 2 in sync) beside the
single broker, in one run on one machine: the price of replication as ratios. Prints and saves
`docs/bench/<date>-cluster-<database>.json`.

    python -m bench.cluster_throughput [--records 50000] [--companies 5000] [--port 19192]

The single broker is the configured one (started when local, as `bench.run` does); the cluster
is started in a temporary home on ports PORT..PORT+5 and stopped at the end. All four
processes share the machine, so the ratios, not the rates, are what carry to another one.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import uuid
from pathlib import Path

from bench.run import (
    RESULTS,
    fresh_database,
    log_env,
    one_worker_catch_up,
    run_identity,
    save_result,
    say,
)
from dealwatch.services.config import Settings
from dealwatch.services.ingest.pipeline import ingest_feed, ingest_registry
from dealwatch.services.kafka import local as kafka_local
from dealwatch.services.kafka.local import ensure_broker
from tests.synthetic import synthetic_records, write_jsonl, write_registry


def measure(name: str, settings: Settings, feed: Path, registry: Path, args, workdir: Path) -> dict:
    settings = settings.model_copy(
        update={"dealwatch_topic_prefix": f"{name}{uuid.uuid4().hex[:6]}."}
    )
    asyncio.run(ingest_registry(registry, settings))
    report = asyncio.run(ingest_feed([feed], settings))
    say(f"{name}: ingested {report.accepted} records at {report.rate:,.0f}/s")
    url = fresh_database(args.database, workdir, name)
    env = log_env(settings, workdir)
    rate = one_worker_catch_up(env, url, report.accepted, workdir / f"{name}.log")
    say(f"{name}: one worker caught up at {rate:,.0f}/s")
    return {"ingest_per_s": round(report.rate), "catch_up_1w_per_s": round(rate)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--companies", type=int, default=5_000)
    parser.add_argument("--port", type=int, default=19192)
    parser.add_argument("--database", default="sqlite")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="dealwatch-cluster-bench-"))
    feed = write_jsonl(synthetic_records(args.records, args.companies), workdir / "feed.jsonl")
    registry = write_registry(workdir / "registry.csv")
    single = Settings()
    ensure_broker(single)
    local = single.model_copy(
        update={"dealwatch_home": workdir / "cluster", "dealwatch_kafka_port": args.port}
    )
    kafka_local.up(local, 180.0, brokers=3)
    try:
        cluster = local.model_copy(
            update={"kafka_bootstrap_servers": kafka_local.cluster_bootstrap(local)}
        )
        result = {"what": "cluster vs single broker", **run_identity(), "records": args.records}
        result["single"] = measure("single", single, feed, registry, args, workdir)
        result["cluster3"] = measure("cluster", cluster, feed, registry, args, workdir)
    finally:
        kafka_local.down(local)
    for figure in ("ingest_per_s", "catch_up_1w_per_s"):
        ratio = result["cluster3"][figure] / result["single"][figure]
        result[f"{figure}_ratio"] = round(ratio, 3)
        say(f"{figure}: cluster / single = {ratio:.3f}")
    database = "sqlite" if args.database == "sqlite" else "postgresql"
    save_result(args.out, f"cluster-{database}", result)


if __name__ == "__main__":
    main()
