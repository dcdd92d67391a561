"""Where a backlog's live cost goes: the real worker (`services.worker.app.create_app`, Faust,
the write-ahead) catching up one log three times, its batch write cut down each time.

    python -m bench.worker_parts [--records 200000] [--companies 20000] [--out docs/bench]

- `decode`: Faust and `decode_batch` only (no SQL);
- `mirror`: the worker's `write_batch` with `fold_batch` switched off (the mirror alone);
- `full`: what `dealwatch worker` does (mirror and fold).

The differences are what each part costs inside the worker, next to `bench.fold_phases`,
which times the same functions alone: a part that costs more here than there waits for the
GIL that Faust's threads and the database's thread share (docs/benchmarks.md). Prints each
rate and saves `<date>-worker-parts-sqlite.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from bench.run import RESULTS, log_env, save_result, say, synthetic_log

MODES = ("decode", "mirror", "full")


def child(mode: str, count: int, result: Path) -> None:
    """In a child process: the worker with its batch write cut down to `mode`; writes the
    rate to `result` once `count` events were handed to the write, then exits (a file, not
    stdout: Faust's worker sends stdout to its log)."""
    import dealwatch.services.worker.app as worker
    from dealwatch.services.config import get_settings
    from dealwatch.services.projection.records import FoldOutcome

    write = worker.Projections.write_batch
    seen = {"events": 0, "first": 0.0}

    async def no_fold(*_args, **_kwargs) -> FoldOutcome:
        return FoldOutcome()

    if mode == "mirror":
        worker.fold_batch = no_fold  # write_batch mirrors the batch and folds nothing

    async def write_batch(self, batch) -> None:
        seen["first"] = seen["first"] or time.perf_counter()
        if mode != "decode":
            await write(self, batch)
        seen["events"] += len(batch.messages)
        if seen["events"] >= count:
            seconds = time.perf_counter() - seen["first"]
            result.write_text(json.dumps({"mode": mode, "rate": seen["events"] / seconds}))
            os._exit(0)

    worker.Projections.write_batch = write_batch
    app = worker.create_app(get_settings())
    sys.argv = ["bench.worker_parts", "worker", "--without-web", "--loglevel", "warn"]
    app.main()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--companies", type=int, default=20_000)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.count, args.result)
        return
    from dealwatch.services.db.schema import upgrade

    settings, workdir, report = synthetic_log(args.records, args.companies, "parts")
    prefix = settings.dealwatch_topic_prefix
    count = report.accepted * 19 // 20  # the last batch may wait for take_events' window
    rates: dict[str, float] = {}
    for mode in MODES:
        url = f"sqlite:///{workdir / f'{mode}.db'}"
        upgrade(url)
        env = {**log_env(settings, workdir), "DATABASE_URL": url, "DEALWATCH_GROUP": prefix + mode}
        rate_file = workdir / f"{mode}.json"
        cut_down = ["--child", mode, "--count", str(count), "--result", str(rate_file)]
        done = subprocess.run(
            [sys.executable, "-m", "bench.worker_parts", *cut_down],
            env=env,
            capture_output=True,
            text=True,
            timeout=3600,
        )
        if not rate_file.exists():
            raise SystemExit(
                f"the {mode} worker (exit {done.returncode}) measured no rate:\n"
                + done.stderr[-3000:]
            )
        rates[mode] = json.loads(rate_file.read_text())["rate"]
        say(f"{mode:7s} {rates[mode]:,.0f} events/s")
    result = {"records": report.accepted, "companies": args.companies, "rates": rates}
    save_result(args.out, "worker-parts-sqlite", result)


if __name__ == "__main__":
    main()
