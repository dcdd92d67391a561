"""The worker's static group membership id (Kafka's group.instance.id, KIP-345).

A static member that restarts under the same id gets its partitions back at once: the group
does not wait out the dead member's session. Two live workers must never share an id (the
second fences the first), so the default id is `HOST-N`, N the lowest slot free on this host:
each worker holds an exclusive lock on `DEALWATCH_HOME/worker-slots/N.lock` while it lives. The
kernel drops the lock of a killed worker, so its replacement takes the same slot and id.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import socket
from pathlib import Path

from dealwatch.services.config import Settings

DISABLED = {"off", "none", "dynamic"}
_held: list[int] = []  # the slot lock's descriptor, open for the life of the process


def worker_instance_id(settings: Settings) -> str | None:
    """DEALWATCH_WORKER_ID, or `HOST-N` from the lowest free slot; None when disabled."""
    chosen = settings.dealwatch_worker_id
    if chosen is not None:
        return None if chosen.strip().lower() in DISABLED else chosen.strip()
    slot = _take_slot(settings.home / "worker-slots")
    home = hashlib.sha256(str(settings.home).encode()).hexdigest()[:6]  # two homes, one host
    return f"{socket.gethostname()}-{home}-{slot}"


def _take_slot(folder: Path) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    slot = 0
    while True:
        descriptor = os.open(folder / f"{slot}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            slot += 1
            continue
        _held.append(descriptor)
        return slot
