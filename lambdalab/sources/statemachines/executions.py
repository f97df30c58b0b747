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

if TYPE_CHECKING:
    from lambdalab.clock import Clock


class Executions:
    """The poller of every execution of the template's state machines."""

    def __init__(self, clock: Clock):
        self.clock = clock
        self._lock = threading.Lock()
        self._waiting: Counter[str] = Counter()  # execution ARN -> its threads waiting on the clock
        self._wakes: list[threading.Event] = []
        self._closed = False
        CLOCK.sleep = self.sleep

    def sleep(self, execution_arn: str, seconds: float) -> None:
        """Wait ``seconds`` of the engine's clock. The clock's task itself marks the wait over, so
        the execution is work again before the clock looks for the next step."""
        woken = threading.Event()

        def wake() -> None:
            with self._lock:
                self._waiting[execution_arn] -= 1
            woken.set()

        with self._lock:
            if self._closed:
                return
            self._waiting[execution_arn] += 1
            self._wakes.append(woken)
        self.clock.call_later(seconds, wake, label=f"states wait {execution_arn}")
        woken.wait()
        with self._lock:
            self._wakes.remove(woken)

    def running(self) -> list[str]:
        """ARNs of the executions under way (neither ended nor waiting on the clock)."""
        from moto.stepfunctions.parser.api import ExecutionStatus
        from moto.stepfunctions.parser.models import stepfunctions_parser_backends

        with patches.MOTO_LOCK.held():
            backend = stepfunctions_parser_backends[ACCOUNT_ID][REGION]
            arns = [e.execution_arn for e in backend._get_executions(ExecutionStatus.RUNNING)]
        with self._lock:
            return [arn for arn in arns if self._waiting[arn] <= 0]

    def poll(self) -> bool:
        """Busy while an execution is under way: the clock looks again shortly, and does not move."""
        if self._closed or not self.running():
            return False
        time.sleep(BUSY_WAIT_S)
        return True

    def close(self) -> None:
        with self._lock:
            self._closed = True
            wakes = list(self._wakes)
        for woken in wakes:
            woken.set()
        CLOCK.sleep = lambda arn, seconds: time.sleep(seconds)
