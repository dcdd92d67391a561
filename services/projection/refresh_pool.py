"""Company refreshes read and computed in processes of their own, written by the caller.

A refresh's reading, decoding and computing (`companies.read_inputs`, `company_rows`) needs
no write transaction (projection/stale.py confirms what it wrote), and it is most of the
cost: at the end of a 1M backlog, ~90 % of 16 s for 100,000 companies, in one process and
so on one core while the other idles. Chunks handed to a few spawned processes run side by
side; the caller keeps writing the chunks that are done. Used only for a refresh of at
least a full chunk (small refreshes stay in the caller: no processes are started for them).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from dealwatch.services.projection.companies import CompanyRows, company_rows, read_inputs_sync

_engine: Engine | None = None  # each process's own connection pool


class RefreshPool:
    """Up to `processes` refresh processes for the database at `url`, started on first use
    and kept until `close`; each takes `chunk` companies at a time."""

    def __init__(self, url: str, processes: int | None = None, chunk: int = 2_000) -> None:
        self.url = url
        self.processes = processes or os.cpu_count() or 1
        self.chunk = chunk
        self._executor: ProcessPoolExecutor | None = None

    async def rows(self, slugs: list[str], day: dt.date) -> CompanyRows:
        """The refresh rows of `slugs` as of `day`, read and computed in a pool process."""
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                self.processes,
                mp_context=multiprocessing.get_context("spawn"),  # no copy of this loop
                initializer=_start,
                initargs=(self.url,),
            )
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, _rows, slugs, day)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(cancel_futures=True)
            self._executor = None


def _start(url: str) -> None:
    global _engine
    from dealwatch.services.db.engine import make_sync_engine
    from dealwatch.services.runtime import tune_gc_for_batches

    tune_gc_for_batches()
    _engine = make_sync_engine(url)


def _rows(slugs: list[str], day: dt.date) -> CompanyRows:
    assert _engine is not None, "the pool's initializer did not run"
    with Session(_engine) as session:
        return company_rows(read_inputs_sync(session, slugs, day), day)
