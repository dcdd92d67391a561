"""How fast a replay could go with no database at all: the Python a replay cannot skip, in the
processes `dealwatch replay` uses, against the ceiling (bare getmany + json.loads) in the same
run on the same topic.

    python -m bench.replay_floor [--records 1000000] [--companies 100000] [--processes 2]

Each depth runs in `--processes` spawned processes, each reading its share of the partitions
with replay's own reader (services/log_reader.read_topic):

- `read`: the messages only;
- `decode`: and each decoded and validated as replay does (`worker.decoded_row`: the event,
  its schema, its mirror row);
- `prepare`: and each batch's records folded before the transaction (`prepare_batch`), the
  rows replay would write.

A depth's rate is its messages over its slowest process's time from first message to last
(process start-up left out). No SQL runs, so `prepare` bounds what any database path can
reach. Prints each rate and its ratio to the ceiling, and saves
`<date>-replay-floor.json`.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from bench.run import RESULTS, bare_aiokafka, run_identity, save_result, say, synthetic_log
from dealwatch.services.audit.processes import deal_event_partitions, partition_groups
from dealwatch.services.config import Settings
from dealwatch.services.kafka.topics import DEAL_EVENTS

DEPTHS = ("read", "decode", "prepare")


def _floor(settings: Settings, partitions: list[int], depth: str) -> tuple[int, float]:
    """In a child: read (and decode, and prepare) `partitions`; messages and seconds."""
    from dealwatch.projections.effective import LoggedEvent
    from dealwatch.services.audit.rebuild import BATCH
    from dealwatch.services.kafka.log_reader import read_topic
    from dealwatch.services.projection.batch import prepare_batch
    from dealwatch.services.runtime import tune_gc_for_batches
    from dealwatch.services.worker.app import decoded_row

    tune_gc_for_batches()

    async def run() -> tuple[int, float]:
        count, started, decoded = 0, None, []
        async for m in read_topic(settings, settings.topic(DEAL_EVENTS), partitions):
            if started is None:
                started = time.perf_counter()
            count += 1
            if depth == "read":
                continue
            _row, event = decoded_row(m.topic, m.partition, m.offset, m.value)
            decoded.append(LoggedEvent(event, (m.partition, m.offset)))
            if len(decoded) >= BATCH:
                if depth == "prepare":
                    prepare_batch(decoded)
                decoded = []
        if decoded and depth == "prepare":
            prepare_batch(decoded)
        return count, time.perf_counter() - (started or time.perf_counter())

    return asyncio.run(run())


def floor_rate(settings: Settings, groups: list[list[int]], depth: str) -> float:
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(len(groups), mp_context=context) as pool:
        results = list(pool.map(_floor, [settings] * len(groups), groups, [depth] * len(groups)))
    return sum(n for n, _ in results) / max(s for _, s in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--companies", type=int, default=100_000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    settings, _, _ = synthetic_log(args.records, args.companies, "floor")
    topic = settings.topic(DEAL_EVENTS)
    groups = partition_groups(asyncio.run(deal_event_partitions(settings)), args.processes)
    ceiling = asyncio.run(bare_aiokafka(settings, topic, args.records))
    say(f"ceiling_rps {ceiling:,.0f}")
    result = {"records": args.records, "processes": len(groups), "ceiling_rps": round(ceiling)}
    result |= run_identity()
    for depth in DEPTHS:
        rate = floor_rate(settings, groups, depth)
        result[f"{depth}_rps"] = round(rate)
        say(f"{depth}_rps {rate:,.0f} ({rate / ceiling:.3f} x ceiling)")
    save_result(args.out, "replay-floor", result)


if __name__ == "__main__":
    main()
