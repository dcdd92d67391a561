"""What the log holds per record id, looked up without reading the history each time.

`deal-events.digests` (services/ingest/record_digests.py) is a compacted topic, and Kafka has no
lookup by key: reading it whole on every `dealwatch ingest` cost 10 s and 590 MB at a million
records for a one-line file. `DigestIndex` keeps a copy in a SQLite file under DEALWATCH_HOME
(one per broker and topic) and, when opened, reads only what the topic gained since: ingest's
cost follows the change. The copy is derived, never trusted: each partition's last indexed
message is read again and must be the same (offset, key, bytes), else the file is rebuilt
from the topic (a recreated topic, retention, a damaged file). `scratch=True` builds a fresh
one in a temporary file, for the audit, which must not rely on local state.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import sqlite3
import tempfile
from pathlib import Path

from dealwatch.services.config import Settings
from dealwatch.services.ingest.record_digests import RecordDigest
from dealwatch.services.kafka.log_reader import read_topic
from dealwatch.services.kafka.topics import DIGESTS

SCHEMA = """
CREATE TABLE IF NOT EXISTS digests (
    record_id TEXT PRIMARY KEY, sha256 TEXT NOT NULL, source TEXT NOT NULL, company TEXT
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS positions (
    partition INTEGER PRIMARY KEY, last_offset INTEGER NOT NULL, last_message TEXT NOT NULL
);
"""
CHUNK = 5_000  # messages per transaction while catching up


class _Stale(Exception):
    """The file no longer matches the topic: rebuild it."""


def index_path(settings: Settings) -> Path:
    """One file per broker and topic, under DEALWATCH_HOME."""
    topic = settings.topic(DIGESTS)
    where = hashlib.sha256(f"{settings.kafka_bootstrap_servers}|{topic}".encode()).hexdigest()
    return settings.home / "digest-index" / f"{topic}-{where[:12]}.sqlite"


def _fingerprint(key: bytes | None, value: bytes | None) -> str:
    return hashlib.sha256((key or b"") + b"\0" + (value or b"")).hexdigest()


def _row(key: bytes | None, value: bytes | None) -> tuple | None:
    if key is None or value is None:
        return None
    try:
        d = RecordDigest(**json.loads(value))
    except (ValueError, TypeError):
        return None  # not written by dealwatch: ignored rather than block every ingest
    return (key.decode(), d.sha256, d.source, d.company)


class DigestIndex:
    """Record id -> `RecordDigest` for every record the digests topic holds, plus what this
    process sent since it opened the index (`add`, `discard`)."""

    def __init__(self, connection: sqlite3.Connection | None, path: Path, temporary: bool) -> None:
        self.connection = connection
        self.path = path
        self.temporary = temporary
        self.added: dict[str, RecordDigest] = {}
        self.read = 0  # new messages indexed by `refresh` (the re-read last ones aside)

    @classmethod
    async def open(cls, settings: Settings, scratch: bool = False) -> DigestIndex:
        """The index caught up with the topic's current end."""
        if scratch:
            path = Path(tempfile.mkdtemp(prefix="dealwatch-digests-")) / "index.sqlite"
        else:
            path = index_path(settings)
            path.parent.mkdir(parents=True, exist_ok=True)
        index = cls(None, path, scratch)
        try:
            await index.refresh(settings)
        except BaseException:
            index.close()
            raise
        return index

    async def refresh(self, settings: Settings) -> None:
        """Read what the topic gained since the index last did (rebuilt if it no longer
        matches the topic)."""
        try:
            if self.connection is None:
                self.connection = _connect(self.path)
            await self._catch_up(settings)
        except (_Stale, sqlite3.DatabaseError):
            self._forget()
            self.connection = _connect(self.path)
            await self._catch_up(settings)

    def _forget(self) -> None:
        if self.connection is not None:
            self.connection.close()
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        self.connection = None  # type: ignore[assignment]
        self.read = 0

    async def _catch_up(self, settings: Settings) -> None:
        stored = {
            p: (offset, fingerprint)
            for p, offset, fingerprint in self.connection.execute(
                "SELECT partition, last_offset, last_message FROM positions"
            )
        }
        start = {p: offset for p, (offset, _) in stored.items()}
        checked: set[int] = set()
        rows: list[tuple] = []
        last: dict[int, tuple[int, str]] = {}
        async for m in read_topic(settings, settings.topic(DIGESTS), start=start):
            fingerprint = _fingerprint(m.key, m.value)
            if m.partition in stored and m.partition not in checked:
                if (m.offset, fingerprint) != stored[m.partition]:
                    raise _Stale(f"partition {m.partition} changed at offset {m.offset}")
                checked.add(m.partition)
                continue
            self.read += 1
            row = _row(m.key, m.value)
            if row is not None:
                rows.append(row)
            last[m.partition] = (m.offset, fingerprint)
            if len(rows) >= CHUNK:
                self._write(rows, last)
                rows, last = [], {}
        if set(stored) - checked:
            raise _Stale("a partition no longer holds its last indexed message")
        self._write(rows, last)

    def _write(self, rows: list[tuple], last: dict[int, tuple[int, str]]) -> None:
        with self.connection:  # one transaction: rows and where they end
            self.connection.executemany("INSERT OR REPLACE INTO digests VALUES (?, ?, ?, ?)", rows)
            self.connection.executemany(
                "INSERT INTO positions VALUES (?, ?, ?) ON CONFLICT (partition) DO UPDATE "
                "SET last_offset = excluded.last_offset, last_message = excluded.last_message "
                "WHERE excluded.last_offset > positions.last_offset",
                [(p, offset, fingerprint) for p, (offset, fingerprint) in last.items()],
            )

    def get(self, record_id: str) -> RecordDigest | None:
        if record_id in self.added:
            return self.added[record_id]
        found = self.connection.execute(
            "SELECT sha256, source, company FROM digests WHERE record_id = ?", (record_id,)
        ).fetchone()
        return RecordDigest(*found) if found else None

    def __contains__(self, record_id: object) -> bool:
        return isinstance(record_id, str) and self.get(record_id) is not None

    def add(self, record_id: str, digest: RecordDigest) -> None:
        """Known from now on in this process (its digest reaches the topic later)."""
        self.added[record_id] = digest

    def discard(self, record_id: str) -> None:
        """Forget what `add` said (the broker refused the record after all)."""
        self.added.pop(record_id, None)

    def close(self) -> None:
        if self.connection is not None:
            with contextlib.suppress(sqlite3.Error):
                self.connection.close()
            self.connection = None  # type: ignore[assignment]
        if self.temporary:
            shutil.rmtree(self.path.parent, ignore_errors=True)


def _connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, timeout=30, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.executescript(SCHEMA)
    connection.isolation_level = ""  # `with connection:` is a transaction
    return connection
