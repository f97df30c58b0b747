"""The lines and messages Lambda writes itself: START, END, REPORT, INIT_REPORT, timeouts, exits."""

from __future__ import annotations

import math
import signal

from lambdalab.clock import iso_timestamp

VERSION = "$LATEST"

# Go's names for signals, which Lambda prints in "Runtime exited with error: signal: ..."
_SIGNAL_NAMES: dict[int, str] = {
    signal.SIGSEGV: "segmentation fault", signal.SIGKILL: "killed", signal.SIGABRT: "aborted",
    signal.SIGTERM: "terminated", signal.SIGBUS: "bus error", signal.SIGFPE: "floating point exception",
    signal.SIGILL: "illegal instruction", signal.SIGINT: "interrupt", signal.SIGHUP: "hangup",
    signal.SIGQUIT: "quit", signal.SIGPIPE: "broken pipe",
}


def start_line(request_id: str) -> str:
    return f"START RequestId: {request_id} Version: {VERSION}"


def end_line(request_id: str) -> str:
    return f"END RequestId: {request_id}"


def billed_ms(duration_ms: float) -> int:
    """Rounded up to the next millisecond [COST], at least 1. Rounded to the microsecond first: a
    duration on the virtual clock is a difference of epoch floats, noisy far below that."""
    return max(1, math.ceil(round(duration_ms, 3)))


def report_line(request_id: str, duration_ms: float, memory_mb: int, max_memory_used_mb: int, *,
                init_duration_ms: float | None = None, status: str | None = None,
                error_type: str | None = None) -> str:
    line = (f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
            f"Billed Duration: {billed_ms(duration_ms)} ms\tMemory Size: {memory_mb} MB\t"
            f"Max Memory Used: {max_memory_used_mb} MB")
    if init_duration_ms is not None:
        line += f"\tInit Duration: {init_duration_ms:.2f} ms"
    return "\t".join([line, *_status_fields(status, error_type)]) if status else line


def init_report_line(init_duration_ms: float, phase: str, status: str, error_type: str | None = None) -> str:
    fields = [f"INIT_REPORT Init Duration: {init_duration_ms:.2f} ms", f"Phase: {phase}"]
    return "\t".join(fields + _status_fields(status, error_type))


def _status_fields(status: str | None, error_type: str | None) -> list[str]:
    fields = [f"Status: {status}"] if status else []
    return fields + ([f"Error Type: {error_type}"] if error_type else [])




def timeout_message(request_id: str, deadline_epoch_ms: float, timeout_s: float) -> str:
    return f"{iso_timestamp(deadline_epoch_ms / 1000)} {request_id} Task timed out after {timeout_s:.2f} seconds"


def exit_message(request_id: str, returncode: int) -> str:
    """What Lambda reports when the runtime process ends during an invocation."""
    if returncode == 0:
        return f"RequestId: {request_id} Error: Runtime exited without providing a reason"
    if returncode > 0:
        reason = f"exit status {returncode}"
    else:
        name = _SIGNAL_NAMES.get(-returncode) or signal.strsignal(-returncode) or f"signal {-returncode}"
        reason = f"signal: {name.split(':')[0].lower()}"
    return f"RequestId: {request_id} Error: Runtime exited with error: {reason}"
