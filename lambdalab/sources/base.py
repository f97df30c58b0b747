"""Event sources the engine drives: the async queue, stream and queue pollers.

Each source is a ``Poller``: ``poll()`` does the work that is due *now* (read a shard, receive a
batch, dispatch queued events), may run several invocations concurrently, waits for them, and says
whether it did anything. Anything that must happen later (a retry, a visibility timeout, a batching
window) is scheduled on the clock, never waited for. The virtual clock polls between its tasks, so
sources see time exactly as it jumps; the real clock polls from a background thread.
"""

from __future__ import annotations

import importlib
import threading
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from lambdalab.cloud import LocalCloud
    from lambdalab.config import FunctionConfig
    from lambdalab.service.invoke import LambdaService


class Poller(Protocol):
    def poll(self) -> bool:
        """Do what is due now; True if anything happened (the clock then polls again)."""

    def close(self) -> None:
        """Stop: no more invocations after this returns."""


class EventSourceMapping(Protocol):
    """An event-source mapping the Lambda API can show and change (Get/List/UpdateEventSourceMapping)."""

    uuid: str

    def describe(self) -> dict[str, Any]:
        """GetEventSourceMapping's answer for this mapping."""

    def update(self, **changes: Any) -> dict[str, Any]:
        """Apply UpdateEventSourceMapping's parameters (AWS names); answer as ``describe``."""


def update_changes(changes: dict[str, Any], *, service: LambdaService, function: FunctionConfig,
                   updatable: frozenset[str], source: str) -> dict[str, Any]:
    """UpdateEventSourceMapping's parameters that change something, or NotSupportedLocally for one
    the engine cannot change (moving the mapping to another function, a setting outside
    ``updatable``). ``UUID`` and the mapping's own FunctionName are dropped."""
    from lambdalab.errors import NotSupportedLocally

    changes = {k: v for k, v in changes.items() if k not in ("UUID", "FunctionName") or
               (k == "FunctionName" and service.function(str(v)) is not function)}
    if "FunctionName" in changes:
        raise NotSupportedLocally("moving a mapping to another function is not supported locally")
    refused = sorted(set(changes) - updatable)
    if refused:
        raise NotSupportedLocally(f"UpdateEventSourceMapping of {refused[0]} is not supported locally "
                                  f"for a {source} (supported: {', '.join(sorted(updatable))})")
    return changes


# One module per invocation model; each has ``attach(cloud)`` that adds its pollers (if the
# template gives it anything to do). Order is the polling order, which keeps runs repeatable.
SOURCE_MODULES: tuple[str, ...] = (
    "lambdalab.sources.sqs", "lambdalab.sources.asyncinvoke", "lambdalab.sources.streams")


class Sources:
    def __init__(self) -> None:
        self._pollers: list[Poller] = []
        self._lock = threading.RLock()  # one poll round at a time

    def add(self, poller: Poller) -> None:
        with self._lock:
            self._pollers.append(poller)

    def attach_all(self, cloud: LocalCloud) -> None:
        for name in SOURCE_MODULES:
            importlib.import_module(name).attach(cloud)

    def poll(self) -> bool:
        with self._lock:
            worked = False
            for poller in self._pollers:
                worked = poller.poll() or worked
            return worked

    def close(self) -> None:
        with self._lock:
            pollers, self._pollers = self._pollers, []
        for poller in reversed(pollers):
            poller.close()
