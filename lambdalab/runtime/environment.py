"""One execution environment: a function process with Lambda's lifecycle [ENV].

Init runs on the first invoke (cold), limited to ``INIT_TIMEOUT_S``; when it runs out, Init is
retried as part of the invoke, under the function timeout. Warm invokes reuse the process, so
module globals survive. A crash, a timeout or going over the memory size resets the environment
(``reset``); the timeout and the memory size are enforced on the real process by this parent, the
memory size on every process the function started too (``memory.ProcessTree``), and nothing the
function started outlives the environment (``lifetime``).

An environment whose process died between invokes (killed from outside) is not ``alive``; invoking
it anyway starts a new process, cold, as Lambda re-initialises a reset environment. Invoking one
that was ``shutdown()`` raises ``EnvironmentShutDown``.

``MEMORY_LIMIT_ENFORCED`` is False where ``/proc`` is missing (macOS): there the memory size is
reported but not enforced.
"""

from __future__ import annotations

import re
import signal
import sys
import threading
import time
from dataclasses import InitVar, dataclass
from pathlib import Path

from lambdalab.runtime import reports
from lambdalab.runtime.memory import MEMORY_LIMIT_ENFORCED
from lambdalab.runtime.outcomes import (
    Attempt,
    FunctionErrorKind,
    InvocationResult,
    function_failed,
    init_failed,
    timed_out,
)
from lambdalab.runtime.process import (
    GARBLED,
    OUT_OF_MEMORY,
    TIMED_OUT,
    FunctionProcess,
    Message,
    PointHandler,
    Stopped,
)

__all__ = ["MEMORY_LIMIT_ENFORCED", "EnvironmentShutDown", "ExecutionEnvironment", "InvocationResult"]

INIT_TIMEOUT_S = 10.0
LOG_BYTES_PER_INVOKE = 256 * 1024
SHUTDOWN_GRACE_S = 0.5
BOOTSTRAP = Path(__file__).with_name("bootstrap.py")
# RLIMIT_AS of the process, a safety net behind the watchdog. Generous: every thread reserves stack
# and malloc arenas (boto3 with 20 threads maps ~1.2 GB while using 50 MB).
ADDRESS_SPACE_PER_MEMORY_MB = 8
ADDRESS_SPACE_HEADROOM_MB = 4096
_REQUEST_ID = re.compile(r"\S+")


class EnvironmentShutDown(RuntimeError):
    """``invoke`` was called after ``shutdown()``."""


@dataclass(eq=False, kw_only=True)
class ExecutionEnvironment:
    """A function's process, started by the first invoke and reused while it stays healthy.

    Its settings are the function's as Lambda's reserved variables name them, and the limits the
    parent enforces; ``environ`` is the function's own variables."""

    env_id: str
    function_name: str
    handler: str
    code_dir: Path
    timeout_s: float
    memory_mb: int
    environ: InitVar[dict[str, str]]
    function_arn: str
    log_group: str
    log_stream: str
    init_timeout_s: float = INIT_TIMEOUT_S
    virtual: bool = False  # the engine's virtual clock: the handler's time is the engine's, with call points

    def __post_init__(self, environ: dict[str, str]) -> None:
        code_dir, self.code_dir = self.code_dir, Path(self.code_dir)
        self._environ = {  # Lambda's reserved variables, unless the caller set them
            "AWS_LAMBDA_FUNCTION_NAME": self.function_name, "AWS_LAMBDA_FUNCTION_VERSION": reports.VERSION,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.memory_mb), "AWS_LAMBDA_LOG_GROUP_NAME": self.log_group,
            "AWS_LAMBDA_LOG_STREAM_NAME": self.log_stream, "_HANDLER": self.handler,
            "LAMBDA_TASK_ROOT": str(code_dir), **environ,
        }
        self._process: FunctionProcess | None = None
        self._on_point: PointHandler | None = None
        self._busy = threading.Lock()
        self._closed = False

    @property
    def alive(self) -> bool:
        """The process is running and can take the next invoke warm."""
        process = self._process
        return not self._closed and process is not None and process.running

    def cpu_seconds(self) -> float | None:
        """CPU time the process has used (Linux), or None: how the scheduler tells a blocked process."""
        process = self._process
        return None if process is None else process.cpu_seconds()

    # -- invoke -----------------------------------------------------------------------------------
    def invoke(self, request_id: str, body: bytes, *, client_context: str | None = None,
               now_epoch_ms: int | None = None, on_point: PointHandler | None = None) -> InvocationResult:
        """One invocation, with Init first when cold. ``now_epoch_ms``: its start on the engine's clock;
        ``on_point`` answers the runtime's call and sleep points (virtual clock only)."""
        if not _REQUEST_ID.fullmatch(request_id):
            raise ValueError(f"invalid request id: {request_id!r}")
        epoch_ms = int(time.time() * 1000) if now_epoch_ms is None else now_epoch_ms
        context = "".join(client_context.split()) if client_context else "-"
        self._on_point = on_point
        with self._busy:
            if self._closed:
                raise EnvironmentShutDown(f"execution environment {self.env_id} is shut down")
            if self._process is not None:
                attempt = Attempt(request_id, epoch_ms, self.memory_mb)
                outcome = self._send(attempt, body, context)
                if not isinstance(outcome, Stopped) or outcome.delivered:
                    return self._result(attempt, outcome)
            attempt = Attempt(request_id, epoch_ms, self.memory_mb)  # new, or its process died while idle
            failed = self._cold_start(attempt)
            return failed if failed is not None else self._result(attempt, self._send(attempt, body, context))

    def _send(self, attempt: Attempt, body: bytes, context: str) -> Message | Stopped:
        process = self._process
        assert process is not None
        if not attempt.deadline:
            attempt.start_clock(self.timeout_s)
        if self.virtual:  # the handler's clock is the engine's, which has not moved since the start
            remaining_ms = int(self.timeout_s * 1000)
        else:
            remaining_ms = max(1, int((attempt.deadline - time.monotonic()) * 1000))
        offset_ms = attempt.epoch_ms - int(time.time() * 1000)
        header = f"I {attempt.request_id} {len(body)} {remaining_ms} {offset_ms} {context} {attempt.epoch_ms}\n"
        outcome = process.exchange(header.encode() + body, attempt.deadline, self.memory_mb, self._on_point)
        attempt.lines += process.output.take_lines()
        return outcome

    def _result(self, attempt: Attempt, outcome: Message | Stopped) -> InvocationResult:
        if isinstance(outcome, Message) and outcome.kind == "R" and not self._over_memory(outcome):
            duration_ms = (time.perf_counter() - attempt.started) * 1000
            error_type = None if outcome.ok else outcome.error_type or "Unknown"
            watched = self._process.peak_memory_mb if self._process is not None else 0
            used = max(outcome.max_memory_used_mb, watched)
            lines = attempt.log_lines(duration_ms, used)
            return InvocationResult(outcome.payload, error_type and FunctionErrorKind.UNHANDLED, error_type, lines,
                                    attempt.cold, False, duration_ms, attempt.init_duration_ms, used)
        return self._reset(function_failed(attempt, self._stopped(outcome), self.timeout_s))

    def _cold_start(self, attempt: Attempt) -> InvocationResult | None:
        """Init; on a timeout, Init again under the function timeout. A result only when Init failed."""
        attempt.cold = True
        outcome, init_ms = self._init(attempt, time.monotonic() + self.init_timeout_s)
        phase = "init"
        if isinstance(outcome, Stopped) and outcome.cause == TIMED_OUT:
            attempt.before_start.append(reports.init_report_line(self.init_timeout_s * 1000, phase, "timeout"))
            attempt.start_clock(self.timeout_s, elapsed_ms=self.init_timeout_s * 1000)
            outcome, init_ms = self._init(attempt, attempt.deadline)
            phase = "invoke"  # this Init counts in the invoke's Duration
            if isinstance(outcome, Stopped) and outcome.cause == TIMED_OUT:
                return self._reset(timed_out(attempt, outcome, self.timeout_s, init_ms))
        if isinstance(outcome, Message) and outcome.kind == "N" and outcome.ok and not self._over_memory(outcome):
            attempt.init_duration_ms = init_ms if phase == "init" else None
            return None
        error = outcome if isinstance(outcome, Message) and outcome.kind == "N" else self._stopped(outcome)
        return self._reset(init_failed(attempt, error, phase, init_ms, self.timeout_s))

    def _init(self, attempt: Attempt, deadline: float) -> tuple[Message | Stopped, float]:
        self._discard_process()
        began = time.perf_counter()
        offset_ms = attempt.epoch_ms - int(time.time() * 1000)
        args = [self.handler, self.function_arn, str(self._address_space_mb()), str(offset_ms),
                "virtual" if self.virtual else "real", str(attempt.epoch_ms)]
        self._process = process = FunctionProcess([sys.executable, str(BOOTSTRAP)], args, self._environ,
                                                  self.code_dir, LOG_BYTES_PER_INVOKE)
        outcome = process.exchange(b"", deadline, self.memory_mb, self._on_point)
        attempt.before_start += process.output.take_lines()
        return outcome, (time.perf_counter() - began) * 1000

    def _over_memory(self, message: Message) -> bool:
        """A peak over the memory size between two watchdog reads still ends the invocation, as on AWS."""
        return MEMORY_LIMIT_ENFORCED and message.max_memory_used_mb > self.memory_mb

    def _stopped(self, outcome: Message | Stopped) -> Stopped:
        """A message that ends the environment (over memory, out of order) as the process's end."""
        if isinstance(outcome, Stopped):
            return outcome
        assert self._process is not None
        returncode = self._process.stop(signal.SIGKILL)
        if self._over_memory(outcome):
            return Stopped(OUT_OF_MEMORY, returncode, self.memory_mb)
        return Stopped(GARBLED, returncode, self._process.peak_memory_mb, f"a {outcome.kind} message out of order")

    def _reset(self, result: InvocationResult) -> InvocationResult:
        self._discard_process()
        return result

    # -- ending -----------------------------------------------------------------------------------
    def _address_space_mb(self) -> int:
        return self.memory_mb * ADDRESS_SPACE_PER_MEMORY_MB + ADDRESS_SPACE_HEADROOM_MB

    def _discard_process(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.close()

    def shutdown(self) -> None:
        """Stop the process (SIGTERM, SIGKILL after a short grace) and release it; safe to call twice."""
        self._closed = True
        process = self._process
        if process is not None:
            process.stop(signal.SIGTERM, SHUTDOWN_GRACE_S)  # also ends an invoke in progress
        with self._busy:
            self._discard_process()

    def __repr__(self) -> str:
        return f"ExecutionEnvironment({self.env_id!r}, {self.function_name!r}, alive={self.alive})"
