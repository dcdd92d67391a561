"""What the commands at the edge cost against a big log: seconds and peak RSS of each, run as
a user runs it, against a topic prefix and database `bench.run` left behind (or any).

    python -m bench.edge_costs --prefix bench1c1cb0. --database sqlite:///PATH [--out docs/bench]

Measures `dealwatch ingest` of one new line with no local digest index (it builds one) and
again with it; `audit report`; `audit export`; `audit alerts`; and the scheduler's digest
(`bench.digest_cost`). Prints a table and saves `<date>-edges-<database>.json`. Ingesting
adds one record per run to that log (new ids), which no worker mirrors.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench.run import ROOT, peak_rss_mb, process_tree, run_identity, save_result
from dealwatch.services.config import Settings
from dealwatch.services.db.engine import backend
from dealwatch.services.ingest.digest_index import index_path


def measured(command: list[str], env: dict, ok: tuple[int, ...] = (0,)) -> dict:
    """Seconds and the largest peak RSS (MB) over the command's processes."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as output:
        process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
        peaks: dict[int, float] = {}
        while process.poll() is None:  # VmHWM only grows: the last reading is the peak
            for pid in process_tree(process.pid):
                peaks[pid] = max(peaks.get(pid, 0.0), peak_rss_mb(pid))
            time.sleep(0.1)
        if process.returncode not in ok:
            output.seek(0)
            raise RuntimeError(f"{command} failed: {output.read().decode()[-2000:]}")
    return {
        "seconds": round(time.perf_counter() - started, 1),
        "peak_rss_mb": round(max(peaks.values(), default=0.0), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prefix", required=True, help="the topic prefix of the log")
    parser.add_argument("--database", required=True, help="the database a worker filled")
    parser.add_argument("--day", default="2024-12-31")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "bench")
    args = parser.parse_args()
    env = {
        **os.environ,
        "DEALWATCH_TOPIC_PREFIX": args.prefix,
        "DATABASE_URL": args.database,
        "DEALWATCH_TODAY": args.day,
        "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
    }
    settings = Settings(dealwatch_topic_prefix=args.prefix)
    dealwatch = [sys.executable, "-m", "dealwatch"]
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="dealwatch-edges-") as work:
        line = Path(work) / "one.jsonl"

        def one_line() -> Path:
            record = {
                "id": f"edge-cost-{uuid.uuid4().hex[:12]}",
                "kind": "funding",
                "date": args.day,
                "company": "edge-cost-probe",
                "amount_usd": 1e6,
                "investors": ["fund"],
            }
            line.write_text(json.dumps(record) + "\n")
            return line

        index_path(settings).unlink(missing_ok=True)
        results["ingest_one_line_cold"] = measured([*dealwatch, "ingest", str(one_line())], env)
        results["ingest_one_line"] = measured([*dealwatch, "ingest", str(one_line())], env)
        results["audit_report"] = measured([*dealwatch, "audit", "report"], env, ok=(0, 3))
        export = Path(work) / "export"
        results["audit_export"] = measured(
            [*dealwatch, "audit", "export", "--output", str(export)], env
        )
        shutil.rmtree(export, ignore_errors=True)
        results["audit_alerts"] = measured([*dealwatch, "audit", "alerts"], env, ok=(0, 3))
        results["digest"] = measured(
            [sys.executable, "-m", "bench.digest_cost", "--database", args.database], env
        )
    report = {
        "prefix": args.prefix,
        "database": backend(args.database),
        "commands": results,
        **run_identity(),
    }
    for name, r in results.items():
        print(f"{name:<22} {r['seconds']:8.1f} s {r['peak_rss_mb']:8.1f} MB")
    save_result(args.out, f"edges-{report['database']}", report)


if __name__ == "__main__":
    main()
