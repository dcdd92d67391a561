"""Faust's monitor without its per-event statistics, for the worker (Faust's `Monitor`
setting). Faust's default monitor counts every message and stream event by topic, stream
and task and times each one; only its web pages read those figures, and the worker runs
without them. What Faust itself reads is kept: the time each partition's stream last took an
event (the consumer's "stream is idle" warnings) and the partitions' end offsets."""

from __future__ import annotations

from time import monotonic
from typing import Any

from faust.sensors.monitor import Monitor


class LeanMonitor(Monitor):
    """Faust's `Monitor` keeping only what Faust's own consumer reads."""

    def on_message_in(self, tp: Any, offset: int, message: Any) -> None:
        return None

    def on_stream_event_in(self, tp: Any, offset: int, stream: Any, event: Any) -> None:
        self.stream_inbound_time[tp] = monotonic()  # read by Faust's stall warnings
        return None

    def on_stream_event_out(self, *args: Any, **kwargs: Any) -> None:
        return None

    def on_message_out(self, tp: Any, offset: int, message: Any) -> None:
        return None
