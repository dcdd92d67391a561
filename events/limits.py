"""What a feed line may hold, and what values are plausible (docs/metrics.md §1.1).

A line past these limits is rejected with the limit in its reason; the rest of the file is
still read. The bounds keep a typo (`1e308`, `0001-01-01`) out of the index."""

from __future__ import annotations

import datetime as dt

#: Bytes in one feed line (JSONL) or one CSV row: far above any real record, far below Kafka's
#: default 1 MB message limit, so a valid line always fits in one message.
MAX_LINE_BYTES = 64 * 1024
#: Nesting of arrays and objects in one record; the schema needs 3 (a correction's `fields`).
MAX_DEPTH = 16
#: Any amount in US dollars: $10 trillion, above the value of any company that ever existed.
MAX_USD = 1e13
#: Event and known dates: from the first commercial computers to the end of this century.
MIN_DATE = dt.date(1950, 1, 1)
MAX_DATE = dt.date(2099, 12, 31)
#: People in one layoff: ten million, above the largest employer's headcount.
MAX_HEADCOUNT = 10_000_000
