"""Scripted faults: make the next N attempts of a function throttle, fail or crash, and make an
event source deliver a message twice, on purpose.

AWS throttles under load, handlers fail and crash, and SQS, S3 and SNS deliver at least once, in ways
a lesson cannot wait for; these make each happen on cue, and the journal records them like the real
thing. Each Lambda service owns one ``Faults``: the service takes the function faults as it runs
attempts, the event sources take theirs as they deliver.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import Counter, defaultdict, deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from lambdalab.errors import ACCOUNT_LIMIT, RESERVED_LIMIT, FunctionError, LambdaLabError
from lambdalab.runtime import reports
from lambdalab.runtime.outcomes import ErrorType, FunctionErrorKind
from lambdalab.service.callfaults import AFTER, CallFaults, Pause, Predicate, armed, check_call_name, point_of
from lambdalab.service.scheduler import Scheduler

if TYPE_CHECKING:
    from lambdalab.config import FunctionConfig
    from lambdalab.runtime.environment import ExecutionEnvironment, InvocationResult

THROTTLE_REASONS = (ACCOUNT_LIMIT, RESERVED_LIMIT)


class Faults:
    """The faults armed on one Lambda service; ``function`` finds a function by any of its names.

    Faults at AWS calls (``pause``, ``crash(before=/after=)``, ``fail_call``, ``lose_response``) and
    ``schedule`` need the virtual clock, where every call a function makes is a point the engine
    controls (``lambdalab.service.points``)."""

    def __init__(self, function: Callable[[str], FunctionConfig], calls: CallFaults | None = None,
                 scheduler: Scheduler | None = None, *, virtual: bool = False):
        self._function = function
        self._calls = calls or CallFaults()
        self._scheduler = scheduler or Scheduler()
        self._virtual = virtual
        self._lock = threading.Lock()
        self._forced: defaultdict[str, deque[tuple[str, str]]] = defaultdict(deque)  # by FunctionName
        self._armed: Counter[tuple[str, str]] = Counter()  # (kind, source name) -> deliveries left

    def throttle(self, function: str, times: int = 1, reason: str = ACCOUNT_LIMIT) -> None:
        """The next ``times`` attempts get TooManyRequestsException with ``reason``."""
        if reason not in THROTTLE_REASONS:
            raise ValueError(f"reason must be one of {THROTTLE_REASONS}")
        self._force(function, [("throttle", reason)] * times)

    def fail(self, function: str, times: int = 1, message: str = "injected failure") -> None:
        """The next ``times`` attempts fail as if the handler raised ``Exception(message)``."""
        self._force(function, [("error", message)] * times)

    def crash(self, function: str, times: int = 1, *, before: str | None = None, after: str | None = None,
              nth: int = 1) -> None:
        """The function's process dies, and Lambda reports ``Runtime.ExitError`` and resets the
        environment (for a batch source, the whole batch comes back).

        With neither ``before`` nor ``after``: the next ``times`` attempts run the handler to its end,
        then die before answering (every side effect happened). With ``before="dynamodb:PutItem"``
        or ``after=...``: the next ``times`` invocations that reach the ``nth`` such call die right
        there, as ``os._exit`` would: what came before it happened, what comes after does not."""
        if before is None and after is None:
            self._force(function, [("crash", "killed")] * times)
            return
        when, call = point_of(before, after)
        self._calls.arm(armed(self._name(function, calls=True), when, call, "crash", nth=nth, times=times))

    def pause(self, function: str, *, before: str | None = None, after: str | None = None, nth: int = 1,
              where: Predicate | None = None) -> Pause:
        """The next invocation of ``function`` that reaches the ``nth`` ``before``/``after`` call
        (whose request parameters satisfy ``where``, if given) waits there until ``resume()``.
        Meanwhile ``run_until_idle()`` returns once everything else is done, and a check can deliver
        duplicates, invoke again or ``advance`` the clock past a lock's expiry."""
        when, call = point_of(before, after)
        fault = armed(self._name(function, calls=True), when, call, "pause", nth=nth, where=where)
        fault.pause = Pause(fault.function, when, call, nth, where)
        self._calls.arm(fault)
        return fault.pause

    def fail_call(self, function: str, call: str, error: str = "ThrottlingException", times: int = 1,
                  where: Predicate | None = None) -> None:
        """The function's next ``times`` ``call`` s fail with the AWS error code ``error``, raised as
        botocore raises it (``ClientError``, or the client's modeled exception); nothing is committed."""
        if not isinstance(error, str) or not error:
            raise LambdaLabError("error must be an AWS error code, e.g. 'ThrottlingException'")
        self._calls.arm(armed(self._name(function, calls=True), "before", check_call_name(call), "fail",
                              times=times, where=where, error=error))

    def lose_response(self, function: str, call: str, times: int = 1, where: Predicate | None = None) -> None:
        """The function's next ``times`` ``call`` s commit, then the handler sees a timeout instead of
        the answer (botocore's ``ReadTimeoutError``): did it happen or not?"""
        self._calls.arm(armed(self._name(function, calls=True), AFTER, check_call_name(call), "lose",
                              times=times, where=where))

    def schedule(self, policy: str) -> None:
        """How invocations due at the same virtual instant interleave, call by call: ``"seeded"``
        (the default: a seeded order, the same every run) or ``"reads-first"`` (every read of every
        such invocation before any write: how check-then-put races are provoked)."""
        self._require_virtual("schedule")
        self._scheduler.set_policy(policy)

    def _name(self, function: str, *, calls: bool = False) -> str:
        if calls:
            self._require_virtual("faults at AWS calls")
        return self._function(function).FunctionName

    def _require_virtual(self, what: str) -> None:
        if not self._virtual:
            raise LambdaLabError(f"{what} need clock='virtual': on the real clock the engine does not "
                                 "stand between a function and its AWS calls")

    def duplicate_delivery(self, source: str, times: int = 1) -> None:
        """The next ``times`` messages that event source ``source`` (a queue's logical id or name)
        receives are delivered twice, concurrently: at-least-once delivery, on cue. For S3 and SNS
        (a bucket's or topic's logical id or name) the next ``times`` deliveries to a function are
        queued twice, as two async invokes of the same event."""
        with self._lock:
            self._armed[("duplicate", source)] += times

    def replay(self, stream: str, times: int = 1) -> None:
        """The next ``times`` batches read from ``stream`` (a Kinesis stream's or DynamoDB table's
        logical id, name or stream ARN) are delivered once more right after they succeed, as when
        a checkpoint is lost: at-least-once delivery of a whole batch, on cue."""
        with self._lock:
            self._armed[("replay", stream)] += times

    def clear(self, function: str | None = None) -> None:
        """Disarm one function's faults, or (no ``function``) every fault, the sources' too."""
        name = None if function is None else self._function(function).FunctionName
        self._calls.clear(name)
        if function is None:
            self._scheduler.set_policy("seeded")
        with self._lock:
            if name is not None:
                self._forced.pop(name, None)
                return
            self._forced.clear()
            self._armed.clear()

    # -- taken by the service and the event sources ---------------------------------------------
    def next_forced(self, function_name: str) -> tuple[str, str] | None:
        """The outcome scripted for a function's next attempt, consumed: (kind, reason or message)."""
        with self._lock:
            queue = self._forced.get(function_name)
            return queue.popleft() if queue else None

    def take_source_fault(self, kind: str, *names: str) -> bool:
        """Consume one armed ``kind`` fault for a source known by any of ``names``; True if there was one."""
        with self._lock:
            for name in names:
                if self._armed[(kind, name)] > 0:
                    self._armed[(kind, name)] -= 1
                    return True
        return False

    def _force(self, function: str, outcomes: list[tuple[str, str]]) -> None:
        name = self._function(function).FunctionName
        with self._lock:
            self._forced[name].extend(outcomes)


def crashed(result: InvocationResult, env: ExecutionEnvironment, request_id: str) -> InvocationResult:
    """``result`` as if the process had been killed before it answered (a scripted crash)."""
    env.shutdown()
    message = reports.exit_message(request_id, -9)
    kept = [line for line in result.log_lines if not line.startswith(("END RequestId", "REPORT RequestId"))]
    lines = [*kept, message, ErrorType.EXIT, reports.end_line(request_id),
             reports.report_line(request_id, result.duration_ms, env.memory_mb, result.max_memory_used_mb,
                                 status="error", error_type=ErrorType.EXIT)]
    return dataclasses.replace(result, payload=FunctionError(ErrorType.EXIT, message).to_bytes(),
                               function_error=FunctionErrorKind.UNHANDLED, error_type=ErrorType.EXIT,
                               log_lines=lines, reset=True)
