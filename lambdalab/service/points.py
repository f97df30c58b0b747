"""The engine's side of one attempt's points on the virtual clock: its start, every AWS SDK call and
every sleep. Here its virtual time moves (by sleeps and a fixed cost per call, never by how long the
machine took), the scheduler interleaves it with the other invocations due at the same time, its
calls are journaled, and the faults armed at calls fire.
"""

from __future__ import annotations

import json
import threading
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

from lambdalab.errors import LambdaLabError
from lambdalab.observe.journal import Call, Journal
from lambdalab.runtime.environment import ExecutionEnvironment
from lambdalab.runtime.process import VirtualTimeout
from lambdalab.service.callfaults import AFTER, BEFORE, CallFaults, Pause
from lambdalab.service.scheduler import AFTER as AFTER_POINT
from lambdalab.service.scheduler import CALL, SLEEP, Scheduler, Turn

# Deterministic virtual costs: what an attempt's virtual duration is made of besides its sleeps.
CALL_COST_S = 0.002  # one AWS call, request to answer
INVOKE_COST_S = 0.001  # the runtime's own work around one handler run
INIT_COST_S = 0.15  # Init of a cold environment (interpreter start and the runtime), before the handler's imports
CRASHED = "crashed"


class AttemptPoints:
    """Answers the runtime's questions for one attempt (``__call__`` is the process's point handler)."""

    def __init__(self, *, function: str, request_id: str, start: float, timeout_s: float,
                 scheduler: Scheduler, faults: CallFaults, journal: Journal, turn: Turn,
                 engine_now: Callable[[], float] | None = None):
        self.function = function
        self.request_id = request_id
        self.now = start
        self.deadline = start + timeout_s
        self._scheduler = scheduler
        self._faults = faults
        self._journal = journal
        self._turn = turn
        self._counts: Counter[str] = Counter()
        self._open: deque[tuple[str, str, float]] = deque()  # calls whose outcome is still to come
        self._stopped_after: tuple[str, int, dict[str, Any]] | None = None  # the call, its nth, its params
        self._outside = False  # waiting on a nested invoke, outside the scheduler
        self._engine_now = engine_now

    # -- the process's point handler ------------------------------------------------------------
    def __call__(self, kind: str, payload: bytes) -> bytes | None:
        question: dict[str, Any] = json.loads(payload)
        for done in question.get("done", []):
            self._finish(str(done.get("outcome", "ok")))
        what = question.get("kind")
        if kind == "T" or what == "done":
            return None
        if what == "sleep":
            return self._reply(self._sleep(float(question.get("seconds", 0.0))))
        service, operation = str(question.get("service")), str(question.get("operation"))
        if what == "call":
            return self._reply(self._before(service, operation, question.get("params") or {}))
        if what == "after":
            return self._reply(self._after(service, operation, str(question.get("outcome", "ok"))))
        raise RuntimeError(f"unknown point {what!r}")

    def watch(self, env: ExecutionEnvironment) -> None:
        """The scheduler may see whether this attempt's process is blocked (``Scheduler`` stalls)."""
        self._turn.probe = env.cpu_seconds

    def end(self, cold: bool) -> float:
        """The attempt's virtual end (its calls without an outcome are closed as never answered)."""
        while self._open:
            self._finish(CRASHED)
        return self.now + INVOKE_COST_S + (INIT_COST_S if cold else 0.0)

    # -- points ---------------------------------------------------------------------------------
    def _sleep(self, seconds: float) -> dict[str, Any]:
        wake = self.now + max(0.0, seconds)
        if wake > self.deadline:
            self.now = self.deadline
            raise VirtualTimeout()
        self._scheduler.park(self._turn, wake, SLEEP)
        self.now = wake
        return {"action": "go"}

    def _before(self, service: str, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        call = f"{service}:{operation}"
        self._counts[call] += 1
        nth = self._counts[call]
        fault = self._faults.take(self.function, BEFORE, call, nth, params)
        if fault is not None and fault.action == "pause":
            self._wait_paused(fault.pause, call, CALL, operation)
        else:
            self._scheduler.park(self._turn, self.now, CALL, operation)  # where calls interleave
        start = self.now
        self.now += CALL_COST_S
        if fault is not None and fault.action == "crash":
            self._journal.record_call(Call(self.function, self.request_id, service, operation, start, start, CRASHED))
            return {"action": "crash"}
        if fault is not None and fault.action == "fail":
            self._journal.record_call(Call(self.function, self.request_id, service, operation, start, self.now,
                                           fault.error))
            return {"action": "fail", "error": fault.error, "status": 400,
                    "message": f"{fault.error} (a scripted fault)"}
        self._open.append((service, operation, start))
        nested = call == "lambda:Invoke" and params.get("InvocationType", "RequestResponse") == "RequestResponse"
        stop_after = nested or self._faults.wants_after(self.function, call)
        if stop_after:
            self._stopped_after = (call, nth, params)
        if nested:  # the invoked function needs the turn this one holds
            self._outside = True
            self._scheduler.leave(self._turn)
        return {"action": "go", "stop_after": stop_after}

    def _after(self, service: str, operation: str, outcome: str) -> dict[str, Any]:
        name = f"{service}:{operation}"
        call, nth, params = self._stopped_after or (name, self._counts[name], {})
        self._stopped_after = None
        self._finish(outcome)
        fault = self._faults.take(self.function, AFTER, call, nth, params)
        if self._outside:
            self._outside = False
            if fault is None or fault.action != "pause":
                self._scheduler.park(self._turn, self.now, AFTER_POINT, operation)
        if fault is None:
            return {"action": "go"}
        if fault.action == "pause":
            self._wait_paused(fault.pause, call, AFTER_POINT, operation)
            return {"action": "go"}
        if fault.action == "crash":
            return {"action": "crash"}
        return {"action": "lose"}

    def _wait_paused(self, pause: Pause | None, call: str, point: str, operation: str) -> None:
        if pause is None:
            return
        pause.request_id = self.request_id
        if threading.get_ident() == pause.armed_by:
            raise LambdaLabError(
                f"{self.function} reached its pause {pause.when} {pause.call} on the thread that armed it, "
                "which would then wait forever for resume(): invoke it from another thread, with "
                "invocation_type='Event', or through its event source")
        pause._on_resume = lambda: self._scheduler.hold(self._turn, False)
        pause._reached.set()
        self._scheduler.park(self._turn, self.now, point, operation, held=not pause._resumed.is_set())
        # It was held while the engine's clock went on: it resumes at the engine's time, and a
        # function held past its timeout is timed out, as Lambda would have done meanwhile.
        if self._engine_now is not None:
            self.now = max(self.now, self._engine_now())
        if self.now > self.deadline:
            self.now = self.deadline
            raise VirtualTimeout()

    def _finish(self, outcome: str) -> None:
        if not self._open:
            return
        service, operation, start = self._open.popleft()
        self._journal.record_call(Call(self.function, self.request_id, service, operation, start,
                                       start + CALL_COST_S, outcome))

    def _reply(self, answer: dict[str, Any]) -> bytes:
        answer["now"] = self.now
        return json.dumps(answer).encode()
