"""Faust workers as separate processes, started the way a user starts them (`dealwatch worker`)."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import text

from dealwatch.services.config import Settings
from dealwatch.services.db.engine import make_async_engine, make_sync_engine
from dealwatch.services.worker.catchup import wait_until_caught_up


def cli_env(settings: Settings) -> dict[str, str]:
    """The environment a user's `dealwatch` command would run with, for `settings`."""
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "DEALWATCH_TOPIC_PREFIX": settings.dealwatch_topic_prefix,
        "DATABASE_URL": settings.database_url,
        "DEALWATCH_PROJECTION_INTERVAL": "0.5",
    }
    if settings.dealwatch_today:
        env["DEALWATCH_TODAY"] = settings.dealwatch_today.isoformat()
    if settings.dealwatch_rules_file:
        env["DEALWATCH_RULES_FILE"] = str(settings.dealwatch_rules_file)
    return env


class Worker:
    """`python -m dealwatch worker` with its own environment and log file."""

    def __init__(self, settings: Settings, log: Path, env: dict[str, str] | None = None) -> None:
        self.settings = settings
        self.log = log
        env = {**cli_env(settings), **(env or {})}
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "dealwatch", "worker"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


def catch_up(settings: Settings, timeout: float = 120.0) -> float:
    async def run() -> float:
        engine = make_async_engine(settings.database_url)
        try:
            return await wait_until_caught_up(engine, settings, timeout)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def run_worker_until_caught_up(settings: Settings, log: Path, timeout: float = 120.0) -> None:
    worker = Worker(settings, log)
    try:
        catch_up(settings, timeout)
    except TimeoutError as error:
        raise AssertionError(f"{error}\n--- worker log ---\n{worker.output()}") from error
    finally:
        worker.stop()


TABLES = {
    "consolidation": "as_of, window_days, idx, hhi, incumbent_capital_usd, total_capital_usd, "
    "absorptions",
    "consolidation_by_incumbent": "as_of, incumbent, capital_usd",
    "watchlist": "company, status, monthly_burn_usd, cash_usd, runway_months, as_of",
    "companies": "slug, name, role, country, total_raised_usd, last_valuation_usd, status, "
    "absorbed_by",
    "deals": "record_id, kind, date, company, counterparties, amount_usd, reverse_acquihire",
    "alerts": "alert_key, rule, subject, as_of, lineage, message, channel",
    "events": "event_id, record_id, kind, date, reported, company, payload",
}


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date) else value


def dump_tables(url: str, with_positions: bool = False) -> dict[str, list[tuple]]:
    """Every projection table, sorted, as plain values (dates as ISO text)."""
    engine = make_sync_engine(url)
    try:
        with engine.connect() as conn:
            dump = {}
            for table, columns in TABLES.items():
                if table == "events" and with_positions:
                    columns += ', partition, "offset"'
                rows = conn.execute(text(f"SELECT {columns} FROM {table}")).all()
                dump[table] = sorted(tuple(_plain(v) for v in row) for row in rows)
            return dump
    finally:
        engine.dispose()
