"""The demo's data, shipped inside the package so that a wheel runs `dealwatch demo` from any
directory: 33 real 2019-2024 records (`seed-feed.jsonl`), their company registry
(`companies.csv`) and the numbers the spec gives for them (`seed-expected.json`)."""

from __future__ import annotations

from pathlib import Path

SEED_DIR = Path(__file__).resolve().parent
SEED_FEED = SEED_DIR / "seed-feed.jsonl"
SEED_REGISTRY = SEED_DIR / "companies.csv"
SEED_EXPECTED = SEED_DIR / "seed-expected.json"
