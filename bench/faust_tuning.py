"""How far a bare Faust agent goes when tuned: each setting alone, then together, on one
topic in one run. Faust reads its settings from the environment (BROKER_MAX_POLL_RECORDS,
CONSUMER_MAX_FETCH_SIZE, STREAM_BUFFER_MAXSIZE); the agent's `take` size and window come from
BENCH_TAKE / BENCH_WITHIN; BENCH_BATCH_DRAIN swaps in the worker's consumer
(services/worker/faust_consumer.py).

    python -m bench.faust_tuning [--records 100000] [--companies 10000]
"""

from __future__ import annotations

import argparse

from bench.run import RESULTS, child_env, child_rate, save_result, say, synthetic_log
from dealwatch.services.kafka.topics import DEAL_EVENTS

FETCH_4_MIB = str(4 << 20)  # CONSUMER_MAX_FETCH_SIZE, as the ceiling reads (bench.run)

VARIANTS: list[tuple[str, dict[str, str]]] = [
    ("defaults (take 2000 within 0.5 s)", {}),
    ("broker_max_poll_records=2000", {"BROKER_MAX_POLL_RECORDS": "2000"}),
    ("broker_max_poll_records=10000", {"BROKER_MAX_POLL_RECORDS": "10000"}),
    ("consumer_max_fetch_size=4 MiB", {"CONSUMER_MAX_FETCH_SIZE": FETCH_4_MIB}),
    ("stream_buffer_maxsize=16384", {"STREAM_BUFFER_MAXSIZE": "16384"}),
    ("take 10000 within 1 s", {"BENCH_TAKE": "10000", "BENCH_WITHIN": "1.0"}),
    ("take 500 within 0.1 s", {"BENCH_TAKE": "500", "BENCH_WITHIN": "0.1"}),
    ("garbage collector tuned as the worker's", {"BENCH_TUNE_GC": "1"}),
    ("the worker's consumer: one flow race per batch", {"BENCH_BATCH_DRAIN": "1"}),
    (
        "the worker's consumer and fetch 4 MiB",
        {"BENCH_BATCH_DRAIN": "1", "CONSUMER_MAX_FETCH_SIZE": FETCH_4_MIB},
    ),
    (
        "all of: poll 10000, fetch 4 MiB, buffer 16384, take 10000",
        {
            "BROKER_MAX_POLL_RECORDS": "10000",
            "CONSUMER_MAX_FETCH_SIZE": FETCH_4_MIB,
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
    settings, workdir, _ = synthetic_log(args.records, args.companies, "tune")
    topic = settings.topic(DEAL_EVENTS)
    env = child_env(settings)
    results = []
    for name, changes in VARIANTS:
        rate = child_rate(
            "bench.faust_agents", ["bare", topic, str(args.records)], {**env, **changes}, workdir
        )
        results.append({"variant": name, "settings": changes, "rps": rate})
        say(f"{name}: {rate:,.0f}/s" if rate else f"{name}: no result")
    save_result(RESULTS, "faust-tuning", {"records": args.records, "results": results})


if __name__ == "__main__":
    main()
