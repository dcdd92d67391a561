"""Two reference Faust agents, run as `python -m bench.faust_agents MODE TOPIC COUNT`.

`bare`: decode batches from `stream.take` and nothing else. `table`: update a Faust table
per event (the naive way to keep per-company state). Prints JSON with the measured rate.
BENCH_TUNE_GC=1 tunes the garbage collector as `dealwatch worker` does (services/runtime.py);
BENCH_BATCH_DRAIN=1 uses the worker's consumer (services/worker/faust_consumer.py)
instead of Faust's.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid

import faust


def main() -> None:
    mode, topic_name, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if os.environ.get("BENCH_TUNE_GC"):
        from dealwatch.services.runtime import tune_gc_for_batches

        tune_gc_for_batches()  # as the dealwatch worker does
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    app = faust.App(
        f"bench-{mode}-{uuid.uuid4().hex[:8]}",
        broker=f"kafka://{bootstrap}",
        store="memory://",
        web_enabled=False,
        consumer_auto_offset_reset="earliest",
        topic_partitions=6,
    )
    if os.environ.get("BENCH_BATCH_DRAIN"):
        from dealwatch.services.worker.faust_consumer import use_batch_drain

        use_batch_drain(app)
    topic = app.topic(
        topic_name, key_type=bytes, value_type=bytes, value_serializer="raw", key_serializer="raw"
    )
    seen = {"n": 0, "first": 0.0}
    table = (
        app.Table(f"bench-{mode}-state", default=float, partitions=6) if mode == "table" else None
    )

    def finish() -> None:
        elapsed = time.perf_counter() - seen["first"]
        print(
            json.dumps(
                {
                    "mode": mode,
                    "records": seen["n"],
                    "seconds": elapsed,
                    "rate": seen["n"] / elapsed,
                }
            ),
            flush=True,
        )
        os._exit(0)

    if mode == "bare":

        @app.agent(topic)
        async def bare(stream):
            size = int(os.environ.get("BENCH_TAKE", "2000"))
            within = float(os.environ.get("BENCH_WITHIN", "0.5"))
            async for batch in stream.take(size, within=within):
                if not seen["first"]:
                    seen["first"] = time.perf_counter()
                for value in batch:
                    json.loads(value)
                seen["n"] += len(batch)
                if seen["n"] >= count:
                    finish()
    else:

        @app.agent(topic)
        async def per_event(stream):
            async for event in stream.events():
                if not seen["first"]:
                    seen["first"] = time.perf_counter()
                record = json.loads(event.value)["record"]
                table[record["company"]] += record.get("amount_usd") or 0.0
                seen["n"] += 1
                if seen["n"] >= count:
                    finish()

    sys.argv = [sys.argv[0], "worker", "--without-web", "--loglevel", "warn"]
    app.main()


if __name__ == "__main__":
    main()
