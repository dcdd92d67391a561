"""Polite HTTP for source polling (aiohttp): a declared User-Agent, a per-host request rate,
timeouts, retries with backoff that honour `Retry-After` (429, 503, and the SEC's 403), and
conditional GET (ETag / Last-Modified) so an unchanged feed costs one short answer."""

from __future__ import annotations

import asyncio
import email.utils
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp

RETRIED = {403, 429, 500, 502, 503, 504}


class FetchError(Exception):
    """A source could not be fetched; the message names the address and the last cause."""


@dataclass(frozen=True)
class Fetched:
    url: str
    status: int
    body: bytes | None  # None when the server answered 304 Not Modified
    validators: dict[str, str]


def retry_after(value: str | None, default: float) -> float:
    """Seconds to wait from a `Retry-After` header (seconds or an HTTP date)."""
    if not value:
        return default
    if value.strip().isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default
    return max(0.0, when.timestamp() - time.time())


class PoliteClient:
    """One client per poll; every request waits its turn for its host."""

    def __init__(
        self,
        user_agent: str,
        requests_per_second: float = 10.0,
        timeout: float = 30.0,
        attempts: int = 4,
        max_wait: float = 60.0,
    ) -> None:
        self.user_agent = user_agent
        self.interval = 1.0 / requests_per_second if requests_per_second > 0 else 0.0
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.attempts = attempts
        self.max_wait = max_wait
        self.next_slot: dict[str, float] = {}
        self.lock = asyncio.Lock()
        self.session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> PoliteClient:
        self.session = aiohttp.ClientSession(
            timeout=self.timeout,
            headers={"User-Agent": self.user_agent, "Accept-Encoding": "gzip, deflate"},
        )
        return self

    async def __aexit__(self, *_: object) -> None:
        if self.session is not None:
            await self.session.close()

    async def _turn(self, url: str) -> None:
        host = urlsplit(url).netloc
        async with self.lock:
            now = time.monotonic()
            slot = max(now, self.next_slot.get(host, now))
            self.next_slot[host] = slot + self.interval
        if slot > now:
            await asyncio.sleep(slot - now)

    async def get(self, url: str, validators: dict[str, str] | None = None) -> Fetched:
        assert self.session is not None, "use `async with PoliteClient(...)`"
        headers = {}
        if validators and validators.get("etag"):
            headers["If-None-Match"] = validators["etag"]
        if validators and validators.get("last_modified"):
            headers["If-Modified-Since"] = validators["last_modified"]
        last = "no attempt"
        for attempt in range(self.attempts):
            await self._turn(url)
            try:
                async with self.session.get(url, headers=headers) as response:
                    if response.status == 304:
                        return Fetched(url, 304, None, validators or {})
                    if response.status in RETRIED:
                        last = f"HTTP {response.status}"
                        wait = retry_after(response.headers.get("Retry-After"), 2.0**attempt)
                        if attempt + 1 < self.attempts:
                            await asyncio.sleep(min(wait, self.max_wait))
                        continue
                    if response.status >= 400:
                        raise FetchError(f"{url}: HTTP {response.status} {response.reason}")
                    body = await response.read()
                    kept = {
                        "etag": response.headers.get("ETag", ""),
                        "last_modified": response.headers.get("Last-Modified", ""),
                    }
                    return Fetched(url, response.status, body, {k: v for k, v in kept.items() if v})
            except (aiohttp.ClientError, TimeoutError) as error:
                last = f"{error.__class__.__name__}: {error}" if str(error) else repr(error)
                if attempt + 1 < self.attempts:
                    await asyncio.sleep(min(2.0**attempt, self.max_wait))
        raise FetchError(f"{url}: gave up after {self.attempts} attempts ({last})")
