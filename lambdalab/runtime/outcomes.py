"""How an invocation is reported: its result, and what Lambda says when the function did not answer.

A timeout, a runtime that exits, dies or goes over its memory size, and a failed Init each have
their own payload, error type and log lines [ENV],[TMO],[TRBL]; all of them reset the environment.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from lambdalab.errors import FunctionError
from lambdalab.runtime import reports
from lambdalab.runtime.process import GARBLED, OUT_OF_MEMORY, TIMED_OUT, Message, Stopped
from lambdalab.strenum import StrEnum


class ErrorType(StrEnum):
    """The ``errorType`` Lambda reports when the function did not answer."""

    TIMEOUT = "Sandbox.Timedout"
    EXIT = "Runtime.ExitError"
    OUT_OF_MEMORY = "Runtime.OutOfMemory"


class FunctionErrorKind(StrEnum):
    """Invoke's ``FunctionError`` (``X-Amz-Function-Error``): ``Unhandled`` for every error, as the
    reference advises."""

    UNHANDLED = "Unhandled"


@dataclass(frozen=True)
class InvocationResult:
    """One invocation as Lambda reports it: payload, error, log lines and the REPORT figures."""

    payload: bytes
    function_error: str | None
    error_type: str | None
    log_lines: list[str]
    cold: bool
    reset: bool
    duration_ms: float
    init_duration_ms: float | None
    max_memory_used_mb: int


class Attempt:
    """What one invoke gathers on its way to a result: its clock and its log lines."""

    __slots__ = ("request_id", "epoch_ms", "memory_mb", "started", "deadline", "deadline_epoch_ms", "cold",
                 "init_duration_ms", "before_start", "lines")

    def __init__(self, request_id: str, epoch_ms: int, memory_mb: int):
        self.request_id = request_id
        self.epoch_ms = epoch_ms
        self.memory_mb = memory_mb
        self.started = time.perf_counter()
        self.deadline = 0.0  # monotonic, once the function's clock started
        self.deadline_epoch_ms = 0
        self.cold = False
        self.init_duration_ms: float | None = None  # a successful Init's, shown in REPORT
        self.before_start: list[str] = []
        self.lines: list[str] = []

    def start_clock(self, timeout_s: float, elapsed_ms: float = 0.0) -> None:
        self.started = time.perf_counter()
        self.deadline = time.monotonic() + timeout_s
        self.deadline_epoch_ms = int(self.epoch_ms + elapsed_ms + timeout_s * 1000)

    def log_lines(self, duration_ms: float, max_memory_used_mb: int, status: str | None = None,
                  error_type: str | None = None) -> list[str]:
        rid = self.request_id
        report = reports.report_line(rid, duration_ms, self.memory_mb, max_memory_used_mb,
                                     init_duration_ms=self.init_duration_ms, status=status, error_type=error_type)
        return [*self.before_start, reports.start_line(rid), *self.lines, reports.end_line(rid), report]

    def failed(self, payload: bytes, error_type: str, max_memory_used_mb: int, status: str,
               init_ms: float | None = None) -> InvocationResult:
        """A result that resets the environment."""
        duration_ms = (time.perf_counter() - self.started) * 1000
        lines = self.log_lines(duration_ms, max_memory_used_mb, status, error_type if status == "error" else None)
        return InvocationResult(payload, FunctionErrorKind.UNHANDLED, error_type, lines, self.cold, True, duration_ms,
                                self.init_duration_ms if init_ms is None else init_ms, max_memory_used_mb)


def timed_out(attempt: Attempt, stopped: Stopped, timeout_s: float, init_ms: float | None = None) -> InvocationResult:
    """``<ts> <request id> Task timed out after 3.00 seconds``, ts being the deadline on the engine's clock."""
    message = reports.timeout_message(attempt.request_id, attempt.deadline_epoch_ms, timeout_s)
    attempt.lines.append(message)
    payload = json.dumps({"errorMessage": message}).encode()
    return attempt.failed(payload, ErrorType.TIMEOUT, stopped.peak_memory_mb, "timeout", init_ms)


def function_failed(attempt: Attempt, stopped: Stopped, timeout_s: float,
                    init_ms: float | None = None) -> InvocationResult:
    """The process ended mid-invocation: timeout, exit, crash, out of memory or an unreadable answer."""
    if stopped.cause == TIMED_OUT:
        return timed_out(attempt, stopped, timeout_s, init_ms)
    error_type, memory = ErrorType.EXIT, stopped.peak_memory_mb
    if stopped.cause == OUT_OF_MEMORY:
        error_type, memory = ErrorType.OUT_OF_MEMORY, attempt.memory_mb
    if stopped.cause == GARBLED:
        message = f"RequestId: {attempt.request_id} Error: Runtime sent an invalid response: {stopped.detail}"
    else:
        message = reports.exit_message(attempt.request_id, stopped.returncode)
    attempt.lines += [message, error_type]
    return attempt.failed(FunctionError(error_type, message).to_bytes(), error_type, memory, "error", init_ms)


def init_failed(attempt: Attempt, error: Message | Stopped, phase: str, init_ms: float,
                timeout_s: float) -> InvocationResult:
    """Init failed: the runtime's own error body when it reported one, else how the process ended."""
    if isinstance(error, Message):
        error_type = error.error_type or "Unknown"
        attempt.before_start.append(reports.init_report_line(init_ms, phase, "error", error_type))
        return attempt.failed(error.payload, error_type, error.max_memory_used_mb, "error", init_ms)
    if error.cause != TIMED_OUT:
        error_type = ErrorType.OUT_OF_MEMORY if error.cause == OUT_OF_MEMORY else ErrorType.EXIT
        attempt.before_start.append(reports.init_report_line(init_ms, phase, "error", error_type))
    return function_failed(attempt, error, timeout_s, init_ms)
