"""Which data-plane resources took a write: lets a poller skip a read that cannot find anything new.

The virtual clock polls every event source before each task it runs, and a throttled burst is
thousands of tasks: reading every shard and queue each time was most of a lab check's wall time.
moto's models note here each change that can give a poller something to read (a message added or
made visible again, a Kinesis record, a DynamoDB stream record), through ``lambdalab.dataplane.patches``.
A poller remembers ``version()`` from before a read that found the resource empty and, while it
is unchanged, the same read would answer the same, so it is not sent.

While moto runs unpatched (benchmarks), nothing is noted, so ``version()`` never repeats then, and
no version from before matches one from after.
"""

from __future__ import annotations

import itertools
import threading
from collections import Counter

_lock = threading.Lock()
_versions: Counter[tuple[str, str]] = Counter()
_untracked = itertools.count(-1, -1)  # versions that match nothing
_epoch = 0  # counts the times tracking was switched
_tracking = True


def note(service: str, name: str) -> None:
    """``service``'s resource ``name`` (queue, stream or table name) changed."""
    with _lock:
        _versions[(service, name)] += 1


def version(service: str, name: str) -> tuple[int, int]:
    """A value that changes whenever ``note`` is called for this resource."""
    with _lock:
        return (_epoch, _versions[(service, name)] if _tracking else next(_untracked))


def set_tracking(on: bool) -> None:
    """Off while moto's unpatched models run: they note nothing, so no version may be trusted."""
    global _tracking, _epoch
    with _lock:
        _tracking, _epoch = on, _epoch + 1
