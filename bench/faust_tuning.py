"""How far a bare Faust agent goes when tuned: each setting alone, then together, on one
topic in one run. Faust reads its settings from the environment (BROKER_MAX_POLL_RECORDS,
CONSUMER_MAX_FETCH_SIZE, STREAM_BUFFER_MAXSIZE); the agent's `take` size and window come from
BENCH_TAKE / BENCH_WITHIN.

    python -m bench.faust_tuning [--records 100000] [--companies 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import tempfile
import uuid
from pathlib import Path

from bench.run import RESULTS, child_env, child_rate, say
from services.config import Settings
from services.ingest import ingest_feed
from services.kafka_local import ensure_broker
from services.topics import DEAL_EVENTS
from tests.synthetic import synthetic_records, write_jsonl

VARIANTS: list[tuple[str, dict[str, str]]] = [
    ("defaults (take 2000 within 0.5 s)", {}),
    ("broker_max_poll_records=2000", {"BROKER_MAX_POLL_RECORDS": "2000"}),
    ("broker_max_poll_records=10000", {"BROKER_MAX_POLL_RECORDS": "10000"}),
    ("consumer_max_fetch_size=4 MiB", {"CONSUMER_MAX_FETCH_SIZE": str(4 << 20)}),
    ("stream_buffer_maxsize=16384", {"STREAM_BUFFER_MAXSIZE": "16384"}),
    ("take 10000 within 1 s", {"BENCH_TAKE": "10000", "BENCH_WITHIN": "1.0"}),
    ("take 500 within 0.1 s", {"BENCH_TAKE": "500", "BENCH_WITHIN": "0.1"}),
    ("garbage collector tuned as the worker's", {"BENCH_TUNE_GC": "1"}),
    (
        "all of: poll 10000, fetch 4 MiB, buffer 16384, take 10000",
        {
            "BROKER_MAX_POLL_RECORDS": "10000",
            "CONSUMER_MAX_FETCH_SIZE": str(4 << 20),
            "STREAM_BUFFER_MAXSIZE": "16384",
            "BENCH_TAKE": "10000",
            "BENCH_WITHIN": "1.0",
        },
    ),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--companies", type=int, default=10_000)
    args = parser.parse_args()
    base = Settings()
    ensure_broker(base)
    prefix = f"tune{uuid.uuid4().hex[:6]}."
    settings = base.model_copy(update={"dealwatch_topic_prefix": prefix})
    workdir = Path(tempfile.mkdtemp(prefix="dealwatch-tune-"))
    feed = write_jsonl(synthetic_records(args.records, args.companies), workdir / "feed.jsonl")
    asyncio.run(ingest_feed([feed], settings))
    topic = settings.topic(DEAL_EVENTS)
    env = child_env(settings)
    results = []
    for name, changes in VARIANTS:
        rate = child_rate(
            "bench.faust_agents", ["bare", topic, str(args.records)], {**env, **changes}, workdir
        )
        results.append({"variant": name, "settings": changes, "rps": rate})
        say(f"{name}: {rate:,.0f}/s" if rate else f"{name}: no result")
    out = RESULTS / f"{dt.date.today().isoformat()}-faust-tuning.json"
    RESULTS.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"records": args.records, "results": results}, indent=2) + "\n")
    say(f"saved {out}")


if __name__ == "__main__":
    main()
