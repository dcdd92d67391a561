"""A synthetic feed of many companies, for restart tests and benchmarks."""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path

INCUMBENTS = ["microsoft", "alphabet", "amazon", "nvidia", "meta"]


def synthetic_records(count: int, companies: int, seed: int = 7) -> list[dict]:
    """`count` valid feed records over `companies` startups, dates spread over 2023-2024."""
    rng = random.Random(seed)
    start = dt.date(2023, 1, 1)
    records = []
    for i in range(count):
        company = f"startup-{rng.randrange(companies):05d}"
        day = (start + dt.timedelta(days=rng.randrange(730))).isoformat()
        kind = rng.choices(
            ["funding", "financials", "layoff", "licensing", "acquisition"], [70, 15, 8, 4, 3]
        )[0]
        record: dict = {"id": f"syn-{i:07d}", "kind": kind, "date": day, "company": company}
        if kind == "funding":
            record |= {
                "amount_usd": rng.randrange(1, 500) * 1_000_000,
                "investors": rng.sample([*INCUMBENTS, "a16z", "sequoia", "thrive"], 2),
            }
        elif kind == "financials":
            record |= {
                "costs_annual_usd": rng.randrange(10, 300) * 1_000_000,
                "revenue_annual_usd": rng.randrange(0, 200) * 1_000_000,
                "cash_usd": rng.randrange(10, 900) * 1_000_000,
            }
        elif kind == "layoff":
            record |= {"pct": rng.randrange(1, 40)}
        elif kind == "licensing":
            record |= {
                "licensee": rng.choice(INCUMBENTS),
                "fee_usd": rng.randrange(0, 900) * 1e6,
                "staff_moved_pct": rng.randrange(0, 100),
            }
        else:
            record |= {"acquirer": rng.choice(INCUMBENTS), "price_usd": rng.randrange(1, 900) * 1e6}
        records.append(record)
    return records


def write_jsonl(records: list[dict], path: Path) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def write_registry(path: Path) -> Path:
    rows = ["slug,name,role,country"]
    rows += [f"{name},{name.title()},incumbent,US" for name in INCUMBENTS]
    rows += [f"{name},{name.title()},investor,US" for name in ("a16z", "sequoia", "thrive")]
    path.write_text("\n".join(rows) + "\n")
    return path
