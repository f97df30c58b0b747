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
from datetime import datetime, timezone

# 2026-01-01T00:00:00Z: virtual runs start here so printed timestamps repeat run after run.
VIRTUAL_EPOCH = 1767225600.0
# run_until_idle stops after this much virtual time, so a poller that never settles cannot spin.
IDLE_HORIZON_S = 30 * 24 * 3600.0
# A source that reports work forever without time moving is a bug; stop it loudly.
MAX_STEPS = 1_000_000
# How often the real clock polls event sources when they had nothing to do.
REAL_POLL_INTERVAL_S = 0.1
# How often the virtual clock looks again while an invocation in another thread is under way.
BUSY_WAIT_S = 0.002


@dataclass(order=True)
class _Task:
    due: float
    seq: int
    action: Callable[[], None] = field(compare=False)
    label: str = field(compare=False, default="")
    cancelled: bool = field(compare=False, default=False)
    # A firing of a schedule: due when time passes it, but never work that keeps run_until_idle going.
    background: bool = field(compare=False, default=False)


def _no_sources() -> bool:
    return False


class Clock:
    """Base scheduler; subclasses decide how time passes."""

    virtual = False

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._tasks: list[_Task] = []
        self._seq = itertools.count()
        self._poll: Callable[[], bool] = _no_sources
        self.start = self.now()

    def now(self) -> float:
        raise NotImplementedError

    def call_at(self, due: float, action: Callable[[], None], label: str = "", *,
                background: bool = False) -> _Task:
        with self._lock:
            task = _Task(due, next(self._seq), action, label, background=background)
            heapq.heappush(self._tasks, task)
        self._wake()
        return task

    def call_later(self, delay: float, action: Callable[[], None], label: str = "") -> _Task:
        return self.call_at(self.now() + delay, action, label)

    def pending(self) -> int:
        """Tasks still to run, background tasks (schedules) aside."""
        with self._lock:
            return sum(1 for t in self._tasks if not t.cancelled and not t.background)

    def observe(self, end: float) -> None:
        """An invocation ended at virtual time ``end`` (only the virtual clock cares)."""

    def set_poll(self, poll: Callable[[], bool]) -> None:
        """``poll`` does whatever event-source work is due now and says whether it did any.

        The virtual clock calls it between tasks, so sources see time exactly as it jumps; the
        real clock calls it from a background thread.
        """
        self._poll = poll

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
    """Time moves only when asked to, or by the length of invocations on the engine's clock."""

    virtual = True

    def __init__(self, start: float = VIRTUAL_EPOCH):
        self._now = start
        self._busy: Callable[[], bool] = _no_sources
        super().__init__()

    def set_busy(self, busy: Callable[[], bool]) -> None:
        """``busy()`` says an invocation is under way in another thread (one resumed from a pause, an
        HTTP request's): time does not move past it until it is done, whatever the machine's speed."""
        self._busy = busy

    def now(self) -> float:
        with self._lock:
            return self._now

    def observe(self, end: float) -> None:
        with self._lock:
            self._now = max(self._now, end)

    def advance(self, seconds: float) -> None:
        """Move time forward, running every task and poll that falls due on the way, in order."""
        target = self.now() + seconds
        self._drive(target, idle=False)
        with self._lock:
            self._now = max(self._now, target)

    def run_until_idle(self, horizon_s: float = IDLE_HORIZON_S) -> int:
        """Poll sources and run tasks, jumping to each due time, until nothing is left to do.

        Returns how many steps (polls that did work, tasks) ran. Stops at ``horizon_s`` of virtual
        time so a source that never settles cannot spin forever. A background task (a schedule's
        firing) runs only when due now or when other work carries time past it.
        """
        return self._drive(self.now() + horizon_s, idle=True)

    def _drive(self, limit: float, *, idle: bool) -> int:
        steps = 0
        while steps < MAX_STEPS:
            if self._poll():
                steps += 1
                continue
            task = self._pop_due(limit)
            if task is not None and idle and task.background and task.due > self._now and not self.pending():
                with self._lock:
                    heapq.heappush(self._tasks, task)
                task = None  # only schedules are left: they are not work
            if (task is None or task.due > self._now) and self._busy():
                if task is not None:
                    with self._lock:
                        heapq.heappush(self._tasks, task)
                time.sleep(BUSY_WAIT_S)  # what it settles may be due now: poll again first
                continue
            if task is None:
                return steps
            with self._lock:
                self._now = max(self._now, task.due)
            task.action()
            steps += 1
        raise RuntimeError(f"the local cloud did not settle after {MAX_STEPS} steps: a source keeps finding work")


class RealClock(Clock):
    """Wall-clock time; background threads run tasks when they fall due and poll event sources
    (``lambdalab up``)."""

    def __init__(self) -> None:
        super().__init__()
        self._cond = threading.Condition(self._lock)
        self._stopped = threading.Event()
        self._busy = 0  # tasks running, plus 1 while a poll is finding work
        self._thread = threading.Thread(target=self._loop, name="lambdalab-clock", daemon=True)
        self._thread.start()
        self._poller: threading.Thread | None = None

    def now(self) -> float:
        return time.time()

    def _wake(self) -> None:
        with self._cond:
            self._cond.notify()

    def set_poll(self, poll: Callable[[], bool]) -> None:
        super().set_poll(poll)
        if self._poller is None:
            self._poller = threading.Thread(target=self._poll_loop, name="lambdalab-sources", daemon=True)
            self._poller.start()

    def _poll_loop(self) -> None:
        while not self._stopped.is_set():
            with self._lock:
                self._busy += 1
            try:
                worked = self._poll()
            finally:
                with self._lock:
                    self._busy -= 1
            if not worked:
                self._stopped.wait(REAL_POLL_INTERVAL_S)

    def _loop(self) -> None:
        while True:
            with self._cond:
                if self._stopped.is_set():
                    return
                wait = self._tasks[0].due - self.now() if self._tasks else None
                if wait is None or wait > 0:
                    self._cond.wait(timeout=wait)
                    continue
            task = self._pop_due(self.now())
            if task is not None:
                with self._lock:
                    self._busy += 1
                threading.Thread(target=self._run, args=(task,), name=f"task:{task.label}", daemon=True).start()

    def _run(self, task: _Task) -> None:
        try:
            task.action()
        finally:
            with self._lock:
                self._busy -= 1

    def advance(self, seconds: float) -> None:
        raise RuntimeError("advance() needs clock='virtual'; on the real clock time passes by itself")

    def run_until_idle(self, horizon_s: float = IDLE_HORIZON_S) -> int:
        """Wait (wall time) until no task is pending or running and the sources found no work."""
        deadline = time.time() + horizon_s
        quiet_since: float | None = None
        while time.time() < deadline:
            with self._lock:
                idle = not self._busy and not self.pending()
            if not idle:
                quiet_since = None
            elif quiet_since is None:
                quiet_since = time.time()
            elif time.time() - quiet_since > 2 * REAL_POLL_INTERVAL_S:
                break  # at least one full poll round found nothing
            time.sleep(0.01)
        return 0

    def close(self) -> None:
        self._stopped.set()
        with self._cond:
            self._tasks.clear()
            self._cond.notify()
        self._thread.join(timeout=2)
        if self._poller is not None:
            self._poller.join(timeout=5)


def iso_timestamp(epoch: float) -> str:
    """``2026-01-01T00:01:00.123Z``: how AWS writes a time in records, log lines and its own
    messages (UTC, milliseconds, truncated)."""
    moment = datetime.fromtimestamp(epoch, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
