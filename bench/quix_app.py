"""The peer: a Quix Streams app keeping per-company state (RocksDB, changelog) over the same
topic. `python -m bench.quix_app TOPIC COUNT`; prints JSON with the measured rate."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import uuid


def main() -> None:
    from quixstreams import Application

    topic_name, count = sys.argv[1], int(sys.argv[2])
    app = Application(
        broker_address=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
        consumer_group=f"bench-quix-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        state_dir=tempfile.mkdtemp(prefix="dealwatch-quix-"),
        loglevel="WARNING",
    )
    topic = app.topic(topic_name, value_deserializer="json")
    seen = {"n": 0, "first": 0.0}

    def fold(value: dict, state) -> None:
        if not seen["first"]:
            seen["first"] = time.perf_counter()
        record = value["record"]
        state.set("raised", state.get("raised", 0.0) + (record.get("amount_usd") or 0.0))
        state.set("events", state.get("events", 0) + 1)
        seen["n"] += 1
        if seen["n"] >= count:
            elapsed = time.perf_counter() - seen["first"]
            print(
                json.dumps(
                    {
                        "mode": "quix",
                        "records": seen["n"],
                        "seconds": elapsed,
                        "rate": seen["n"] / elapsed,
                    }
                ),
                flush=True,
            )
            app.stop()

    app.dataframe(topic).update(fold, stateful=True)
    app.run()


if __name__ == "__main__":
    main()
