"""Scripted faults: make the next N attempts of a function throttle, fail or crash, and make an
event source deliver a message twice, on purpose.

AWS throttles under load, handlers fail and crash, and SQS, S3 and SNS deliver at least once, in ways
a lesson cannot wait for; these make each happen on cue, and the journal records them like the real
thing.
"""

from __future__ import annotations

import dataclasses
import threading
import weakref
from collections import Counter
from typing import TYPE_CHECKING

from lambdalab.errors import ACCOUNT_LIMIT, RESERVED_LIMIT, FunctionError
from lambdalab.runtime import reports
from lambdalab.runtime.outcomes import EXIT_ERROR, UNHANDLED

if TYPE_CHECKING:
    from lambdalab.runtime.environment import ExecutionEnvironment, InvocationResult
    from lambdalab.service.invoke import LambdaService

THROTTLE_REASONS = (ACCOUNT_LIMIT, RESERVED_LIMIT)


class Faults:
    def __init__(self, service: LambdaService):
        self._service = service

    def throttle(self, function: str, times: int = 1, reason: str = ACCOUNT_LIMIT) -> None:
        """The next ``times`` attempts get TooManyRequestsException with ``reason``."""
        if reason not in THROTTLE_REASONS:
            raise ValueError(f"reason must be one of {THROTTLE_REASONS}")
        self._service.force(function, [("throttle", reason)] * times)

    def fail(self, function: str, times: int = 1, message: str = "injected failure") -> None:
        """The next ``times`` attempts fail as if the handler raised ``Exception(message)``."""
        self._service.force(function, [("error", message)] * times)

    def crash(self, function: str, times: int = 1) -> None:
        """The next ``times`` attempts run the handler to its end, then the process dies before it
        answers: every side effect happened, yet Lambda reports ``Runtime.ExitError`` and resets the
        environment (for a batch source, the whole batch comes back)."""
        self._service.force(function, [("crash", "killed")] * times)

    def duplicate_delivery(self, source: str, times: int = 1) -> None:
        """The next ``times`` messages that event source ``source`` (a queue's logical id or name)
        receives are delivered twice, concurrently: at-least-once delivery, on cue. For S3 and SNS
        (a bucket's or topic's logical id or name) the next ``times`` deliveries to a function are
        queued twice, as two async invokes of the same event."""
        with _source_lock:
            _source_faults.setdefault(self._service, Counter())[("duplicate", source)] += times

    def replay(self, stream: str, times: int = 1) -> None:
        """The next ``times`` batches read from ``stream`` (a Kinesis stream's or DynamoDB table's
        logical id, name or stream ARN) are delivered once more right after they succeed, as when
        a checkpoint is lost: at-least-once delivery of a whole batch, on cue."""
        with _source_lock:
            _source_faults.setdefault(self._service, Counter())[("replay", stream)] += times

    def clear(self, function: str | None = None) -> None:
        self._service.clear_forced(function)
        if function is None:
            with _source_lock:
                _source_faults.pop(self._service, None)


# Faults armed for event sources, per service (Faults objects are made afresh on each access).
_source_faults: weakref.WeakKeyDictionary[LambdaService, Counter[tuple[str, str]]] = weakref.WeakKeyDictionary()
_source_lock = threading.Lock()


def take_source_fault(service: LambdaService, kind: str, *names: str) -> bool:
    """Consume one armed ``kind`` fault for a source known by any of ``names``; True if there was one."""
    with _source_lock:
        armed = _source_faults.get(service)
        for name in names:
            if armed and armed[(kind, name)] > 0:
                armed[(kind, name)] -= 1
                return True
    return False


def crashed(result: InvocationResult, env: ExecutionEnvironment, request_id: str) -> InvocationResult:
    """``result`` as if the process had been killed before it answered (a scripted crash)."""
    env.shutdown()
    message = reports.exit_message(request_id, -9)
    kept = [line for line in result.log_lines if not line.startswith(("END RequestId", "REPORT RequestId"))]
    lines = [*kept, message, EXIT_ERROR, reports.end_line(request_id),
             reports.report_line(request_id, result.duration_ms, env.memory_mb, result.max_memory_used_mb,
                                 status="error", error_type=EXIT_ERROR)]
    return dataclasses.replace(result, payload=FunctionError(EXIT_ERROR, message).to_bytes(),
                               function_error=UNHANDLED, error_type=EXIT_ERROR, log_lines=lines, reset=True)
