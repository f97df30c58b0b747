"""moto's request dispatch: the one lock every request runs under, and two lists its server rebuilt
for every request, read once instead.

The server found each request's service by listing moto's package directory (about 0.6 ms of
``isdir`` calls a request), and its action by listing the response class's methods; neither list
ever changes.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from lambdalab.dataplane.patches.registry import Patch, released

BACKENDS = "moto.backends"
RESPONSES = "moto.core.responses"


class MotoLock:
    """One lock for every moto request: moto's backends are process-wide and not thread-safe.

    It remembers which thread holds it, so an SQS long poll can let go while it waits.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._mine = threading.local()

    @contextmanager
    def held(self, wait: bool = True) -> Iterator[bool]:
        """Hold the lock; without ``wait``, only if it is free now (yields whether it is held)."""
        if not self._lock.acquire(blocking=wait):
            yield False
            return
        self._mine.held = True
        try:
            yield True
        finally:
            self._mine.held = False
            self._lock.release()

    @contextmanager
    def released(self) -> Iterator[None]:
        """Let other requests run meanwhile, if this thread holds the lock (server mode)."""
        if not getattr(self._mine, "held", False):
            yield
            return
        self._mine.held = False
        self._lock.release()
        try:
            yield
        finally:
            self._lock.acquire()
            self._mine.held = True


MOTO_LOCK = MotoLock()


@functools.cache
def moto_modules() -> tuple[Any, ...]:
    """moto's services, listed once."""
    return tuple(released(BACKENDS, "list_of_moto_modules")())


@functools.cache
def action_names(clazz: type) -> frozenset[str]:
    """A response class's methods (its actions), listed once per class instead of per request."""
    return frozenset(released(RESPONSES, "method_names_from_class")(clazz))


PATCHES = (
    Patch(BACKENDS, "list_of_moto_modules", moto_modules,
          "the server listed moto's package directory to find every request's service", "4f741a10b065"),
    Patch(RESPONSES, "method_names_from_class", action_names,
          "the server listed a response class's methods to find every request's action", "9dbac89d082b"),
)
