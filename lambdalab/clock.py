"""One scheduler owns time: a virtual clock that jumps to the next due event, or the wall clock.

Retry backoffs, visibility timeouts and event ages are scheduled here. On the virtual clock they
cost no wall time: ``run_until_idle`` jumps straight to each due event. A handler's own run is
measured in wall time and moves virtual time forward (``observe``).
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

# 2026-01-01T00:00:00Z: virtual runs start here so printed timestamps repeat run after run.
VIRTUAL_EPOCH = 1767225600.0
# run_until_idle stops after this much virtual time, so a poller that never settles cannot spin.
IDLE_HORIZON_S = 30 * 24 * 3600.0


@dataclass(order=True)
class _Task:
    due: float
    seq: int
    action: Callable[[], None] = field(compare=False)
    label: str = field(compare=False, default="")
    cancelled: bool = field(compare=False, default=False)


class Clock:
    """Base scheduler; subclasses decide how time passes."""

    virtual = False

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._tasks: list[_Task] = []
        self._seq = itertools.count()
        self.start = self.now()

    def now(self) -> float:
        raise NotImplementedError

    def call_at(self, due: float, action: Callable[[], None], label: str = "") -> _Task:
        with self._lock:
            task = _Task(due, next(self._seq), action, label)
            heapq.heappush(self._tasks, task)
        self._wake()
        return task

    def call_later(self, delay: float, action: Callable[[], None], label: str = "") -> _Task:
        return self.call_at(self.now() + delay, action, label)

    def pending(self) -> int:
        with self._lock:
            return sum(1 for t in self._tasks if not t.cancelled)

    def observe(self, end: float) -> None:
        """An invocation ended at virtual time ``end`` (only the virtual clock cares)."""

    def advance(self, seconds: float) -> None:
        raise NotImplementedError

    def run_until_idle(self, horizon_s: float = IDLE_HORIZON_S) -> int:
        raise NotImplementedError

    def _pop_due(self, limit: float) -> _Task | None:
        with self._lock:
            while self._tasks and self._tasks[0].cancelled:
                heapq.heappop(self._tasks)
            if self._tasks and self._tasks[0].due <= limit:
                return heapq.heappop(self._tasks)
            return None

    def _wake(self) -> None:
        pass

    def close(self) -> None:
        with self._lock:
            self._tasks.clear()


class VirtualClock(Clock):
    """Time moves only when asked to, or by the measured length of handler runs."""

    virtual = True

    def __init__(self, start: float = VIRTUAL_EPOCH):
        self._now = start
        super().__init__()

    def now(self) -> float:
        with self._lock:
            return self._now

    def observe(self, end: float) -> None:
        with self._lock:
            self._now = max(self._now, end)

    def advance(self, seconds: float) -> None:
        """Move time forward, running every task that falls due on the way, in order."""
        target = self.now() + seconds
        while (task := self._pop_due(target)) is not None:
            with self._lock:
                self._now = max(self._now, task.due)
            task.action()
        with self._lock:
            self._now = max(self._now, target)

    def run_until_idle(self, horizon_s: float = IDLE_HORIZON_S) -> int:
        """Run tasks, jumping to each due time, until none is left; returns how many ran."""
        limit = self.now() + horizon_s
        ran = 0
        while (task := self._pop_due(limit)) is not None:
            with self._lock:
                self._now = max(self._now, task.due)
            task.action()
            ran += 1
        return ran


class RealClock(Clock):
    """Wall-clock time; a background thread runs tasks when they fall due (``lambdalab up``)."""

    def __init__(self) -> None:
        super().__init__()
        self._cond = threading.Condition(self._lock)
        self._stopped = False
        self._thread = threading.Thread(target=self._loop, name="lambdalab-clock", daemon=True)
        self._thread.start()

    def now(self) -> float:
        return time.time()

    def _wake(self) -> None:
        with self._cond:
            self._cond.notify()

    def _loop(self) -> None:
        while True:
            with self._cond:
                if self._stopped:
                    return
                wait = self._tasks[0].due - self.now() if self._tasks else None
                if wait is None or wait > 0:
                    self._cond.wait(timeout=wait)
                    continue
            task = self._pop_due(self.now())
            if task is not None:
                threading.Thread(target=task.action, name=f"task:{task.label}", daemon=True).start()

    def advance(self, seconds: float) -> None:
        raise RuntimeError("advance() needs clock='virtual'; on the real clock time passes by itself")

    def run_until_idle(self, horizon_s: float = IDLE_HORIZON_S) -> int:
        """Wait (wall time) until no task is pending."""
        deadline = time.time() + horizon_s
        while self.pending() and time.time() < deadline:
            time.sleep(0.01)
        return 0

    def close(self) -> None:
        with self._cond:
            self._stopped = True
            self._tasks.clear()
            self._cond.notify()
        self._thread.join(timeout=2)
