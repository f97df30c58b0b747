"""Executions on the engine's clock [SFN].

moto's interpreter runs each execution in threads of its own; its Lambda tasks reach the engine's
Lambda API and its waits come here (``lambdalab.dataplane.patches.stepfunctions``). A wait is a task
on the clock, so on the virtual clock it costs no wall time; an execution that is not waiting is
work under way, so ``run_until_idle`` does not return, and the clock does not move, before it waits
or ends.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import TYPE_CHECKING

from lambdalab.clock import BUSY_WAIT_S
from lambdalab.config import ACCOUNT_ID, REGION
from lambdalab.dataplane import patches
from lambdalab.dataplane.patches.stepfunctions import CLOCK
from lambdalab.dataplane.patches.stepfunctions_workers import WORKERS

if TYPE_CHECKING:
    from lambdalab.clock import Clock
    from lambdalab.service.scheduler import Scheduler


class Executions:
    """The poller of every execution of the template's state machines."""

    def __init__(self, clock: Clock, scheduler: Scheduler | None = None):
        self.clock = clock
        self.scheduler = scheduler
        self._lock = threading.Lock()
        self._waiting: Counter[str] = Counter()  # execution ARN -> its threads waiting on the clock
        self._due: dict[float, list[tuple[str, threading.Event]]] = {}  # instant -> waits ending then
        self._closed = False
        CLOCK.sleep = self.sleep
        CLOCK.now = clock.now  # executions dated on the engine's clock
        if scheduler is not None:  # no invocation runs while an execution's call may be on its way
            scheduler.set_on_the_way(lambda: WORKERS.on_the_way(self._waiting.__getitem__))
            WORKERS.on_change = scheduler.poke

    def sleep(self, execution_arn: str, seconds: float) -> None:
        """Wait ``seconds`` of the engine's clock. The clock's task itself marks the wait over, so
        the execution is work again before the clock looks for the next step; every wait due at the
        same instant ends in the same task (retries without jitter come back together, as on AWS)."""
        woken = threading.Event()
        due = round(self.clock.now() + seconds, 6)
        with self._lock:
            if self._closed:
                return
            self._waiting[execution_arn] += 1
            first = due not in self._due
            self._due.setdefault(due, []).append((execution_arn, woken))
        if first:
            self.clock.call_at(due, lambda: self._wake(due), label=f"states wait {execution_arn}")
        if self.scheduler is not None:
            self.scheduler.poke()
        woken.wait()

    def _wake(self, due: float) -> None:
        with self._lock:
            waiters = self._due.pop(due, [])
            for execution_arn, _ in waiters:
                self._waiting[execution_arn] -= 1
        for _, woken in waiters:
            woken.set()

    def running(self) -> list[str]:
        """ARNs of the executions under way: not ended, and some working thread on its way."""
        from moto.stepfunctions.parser.api import ExecutionStatus
        from moto.stepfunctions.parser.models import stepfunctions_parser_backends

        with patches.MOTO_LOCK.held():
            backend = stepfunctions_parser_backends[ACCOUNT_ID][REGION]
            arns = [e.execution_arn for e in backend._get_executions(ExecutionStatus.RUNNING)]
        # Idle when every working thread (a Map's iterations too) waits on the clock, or is inside an
        # invocation a fault holds at a pause (which does not hold the clock either).
        held = self.scheduler.held_of if self.scheduler is not None else (lambda arn: 0)
        return [arn for arn in arns if WORKERS.not_waiting(arn, self._waiting[arn]) > held(arn)]

    def poll(self) -> bool:
        """Busy while an execution is under way: the clock looks again shortly, and does not move."""
        if self._closed or not self.running():
            return False
        time.sleep(BUSY_WAIT_S)
        return True

    def close(self) -> None:
        with self._lock:
            self._closed = True
            wakes = [woken for waiters in self._due.values() for _, woken in waiters]
            self._due.clear()
        for woken in wakes:
            woken.set()
        CLOCK.sleep = lambda arn, seconds: time.sleep(seconds)
        CLOCK.now = time.time
        if self.scheduler is not None:
            self.scheduler.set_on_the_way(lambda: 0)
            WORKERS.on_change = lambda: None
