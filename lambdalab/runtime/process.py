"""One function process and its pipes: spawn it, exchange a message, collect its output, stop it.

One thread waits on the response pipe and the output pipe together with ``poll``: the response
arrives with no thread hand-off, output is drained while the handler runs (a handler printing
megabytes never blocks), and both the deadline and the watchdog (memory, liveness) are the poll's
timeout, so an invocation that answers within ``WATCH_INTERVAL_S`` pays nothing for them; the
interval doubles while a run goes on, up to ``MAX_WATCH_INTERVAL_S``.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from lambdalab.runtime import lifetime
from lambdalab.runtime.memory import MEMORY_LIMIT_ENFORCED, ProcessTree
from lambdalab.runtime.output import Output

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
READ_SIZE = 1 << 16  # a pipe's capacity; bigger reads cost an mmap per call
MAX_HEADER_BYTES = 4096
EXIT_GRACE_S = 1.0  # once the runtime closed its response pipe, how long it may take to exit
WATCH_INTERVAL_S = 0.005  # while waiting: is the process still there, and within its memory size?
MAX_WATCH_INTERVAL_S = 0.05  # the interval doubles up to this: a long run is not read 200 times a second
EXITED, TIMED_OUT, OUT_OF_MEMORY, GARBLED = "exited", "timed out", "out of memory", "garbled"
_KINDS = {b"N": "N", b"R": "R", b"P": "P", b"T": "T"}
POINT_KINDS = ("P", "T")  # a question (answered ``G``) or a note from the runtime's call points


class VirtualTimeout(Exception):
    """Raised by a point handler: the invocation's virtual deadline passed (a sleep past it)."""


# Answers a question (kind "P", payload) with the reply's bytes, or takes a note (kind "T": None).
PointHandler = Callable[[str, bytes], "bytes | None"]
_STATUSES = {b"ok": True, b"error": False}


class Message(NamedTuple):
    """What the runtime answered: kind ``N`` after Init, ``R`` after an invocation."""

    kind: str
    ok: bool
    payload: bytes
    max_memory_used_mb: int
    error_type: str | None


@dataclass(frozen=True)
class Stopped:
    """The process is gone: it exited, ran out of time or memory, or broke the protocol."""

    cause: str  # EXITED | TIMED_OUT | OUT_OF_MEMORY | GARBLED
    returncode: int
    peak_memory_mb: int
    detail: str = ""
    delivered: bool = True  # False: it was already dead when the request was sent


class FunctionProcess:
    """A runtime process in a session of its own, talking on dedicated pipes. It carries the engine's
    mark, and everything it starts is ended with it (``lifetime``)."""

    def __init__(self, command: list[str], args: list[str], env: dict[str, str], cwd: Path, output_limit: int):
        """Run ``command <request fd> <response fd> *args`` with fd 1 and 2 on one output pipe."""
        request_read, self._request = os.pipe()
        self._response, response_write = os.pipe()
        self._output, output_write = os.pipe()
        child_fds = (request_read, response_write, output_write)
        self.mark = lifetime.new_mark()
        try:
            self._popen = lifetime.spawn(lambda: subprocess.Popen(
                [*command, str(request_read), str(response_write), *args],
                env={**env, lifetime.ENGINE_MARK: self.mark}, cwd=cwd,
                stdin=subprocess.DEVNULL, stdout=output_write, stderr=output_write,
                pass_fds=(request_read, response_write), start_new_session=True,
            ))
        except BaseException:
            for fd in (*child_fds, self._request, self._response, self._output):
                os.close(fd)
            raise
        for fd in child_fds:
            os.close(fd)
        for fd in (self._request, self._response, self._output):
            os.set_blocking(fd, False)
        self.pid = self._popen.pid
        lifetime.started(self.pid, self.mark)
        self.tree = ProcessTree(self.pid)
        self.output = Output(output_limit)
        self.peak_memory_mb = 0
        self._buffer: bytes | bytearray = b""
        self._pending: memoryview | None = None  # the rest of a request the pipe could not take yet
        self._poller = select.poll()
        self._poller.register(self._response, select.POLLIN)
        self._poller.register(self._output, select.POLLIN)
        self._output_open = True
        self._closed = False
        self._stopping = threading.Lock()  # shutdown may stop the process while an exchange waits

    @property
    def running(self) -> bool:
        """Still running; where the OS allows, checked without reaping (the pid stays reserved)."""
        if self._popen.returncode is not None:
            return False
        if not hasattr(os, "waitid"):
            return self._popen.poll() is None
        try:
            return os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None
        except ChildProcessError:
            return False

    def cpu_seconds(self) -> float | None:
        """User and system CPU seconds, from /proc (None elsewhere, or once it is gone)."""
        try:
            with open(f"/proc/{self.pid}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
        except (OSError, IndexError, ValueError):
            return None

    # -- one exchange -----------------------------------------------------------------------------
    def exchange(self, request: bytes, deadline: float, memory_limit_mb: int,
                 on_point: PointHandler | None = None) -> Message | Stopped:
        """Send ``request`` (may be empty) and wait for the next message until ``deadline`` (monotonic).

        ``on_point`` answers the runtime's questions on the virtual clock; the time it takes (the
        invocation waiting its turn, or paused) does not count against ``deadline``."""
        if request:
            try:
                self._pending = self._write(memoryview(request))
            except OSError:  # nobody reads the request pipe: the process died while idle
                stopped = self._stop(EXITED, None, EXIT_GRACE_S)
                return Stopped(EXITED, stopped.returncode, stopped.peak_memory_mb, delivered=False)
            if self._pending is not None:
                self._poller.register(self._request, select.POLLOUT)
        try:
            return self._wait(deadline, memory_limit_mb, on_point)
        finally:
            if self._pending is not None:
                self._pending = None
                self._poller.unregister(self._request)

    def _wait(self, deadline: float, memory_limit_mb: int, on_point: PointHandler | None = None) -> Message | Stopped:
        interval = WATCH_INTERVAL_S
        next_watch = time.monotonic() + interval
        while True:
            now = time.monotonic()
            if now >= next_watch:
                ended = self._watch(memory_limit_mb)
                if ended is not None:
                    return ended
                interval = min(interval * 2, MAX_WATCH_INTERVAL_S)  # the peak (VmHWM) is kept: none is missed
                next_watch = now + interval
            if now >= deadline:
                self._over_memory(memory_limit_mb)  # the peak, for REPORT
                return self._stop(TIMED_OUT, signal.SIGKILL)
            events = self._poller.poll(int((min(deadline, next_watch) - now) * 1000) + 1)
            if len(events) > 1:
                events.sort(key=lambda event: event[0] != self._output)  # output before the answer
            answer: Message | Stopped | None = None
            for fd, _ in events:
                if fd == self._output:
                    self.drain_output()
                elif fd == self._response:
                    answer = self._read_response()
                elif self._pending is not None:
                    self._write_more(self._pending)
            while isinstance(answer, Message) and answer.kind in POINT_KINDS:
                began = time.monotonic()
                try:
                    self._answer_point(answer, on_point)
                except VirtualTimeout:
                    return self._stop(TIMED_OUT, signal.SIGKILL)
                except BaseException:  # the engine refused to go on (bad use of a fault): the run ends here
                    self._stop(EXITED, signal.SIGKILL)
                    raise
                waited = time.monotonic() - began
                deadline, next_watch = deadline + waited, next_watch + waited
                answer = self._take_message() if self._buffer else None
            if answer is not None:
                return answer

    def _answer_point(self, message: Message, on_point: PointHandler | None) -> None:
        if on_point is None:  # points are only installed on the virtual clock, which answers them
            raise RuntimeError(f"a {message.kind} message with no point handler")
        reply = on_point(message.kind, message.payload)
        if message.kind == "P":
            data = reply or b"{}"
            self._pending = self._write(memoryview(b"G %d\n" % len(data) + data))
            if self._pending is not None:
                self._poller.register(self._request, select.POLLOUT)

    def _watch(self, memory_limit_mb: int) -> Stopped | Message | None:
        """Over its memory size, it is killed. Gone while children it forked still hold its pipes open
        (so no end of file comes), what it wrote last still counts."""
        if MEMORY_LIMIT_ENFORCED and self._over_memory(memory_limit_mb):
            return self._stop(OUT_OF_MEMORY, signal.SIGKILL)
        if self.running:
            return None
        while True:
            try:
                data = os.read(self._response, READ_SIZE)
            except BlockingIOError:
                break
            if not data:
                break
            answer = self._feed(data)
            if answer is not None:
                return answer
        return self._stop(EXITED, None, EXIT_GRACE_S)

    def _write(self, view: memoryview) -> memoryview | None:
        try:
            written = os.write(self._request, view)
        except BlockingIOError:
            return view
        return view[written:] if written < len(view) else None

    def _write_more(self, pending: memoryview) -> None:
        try:
            self._pending = self._write(pending)
        except OSError:
            self._pending = None  # the runtime died mid-request: its response pipe will say so
        if self._pending is None:
            self._poller.unregister(self._request)

    def _read_response(self) -> Message | Stopped | None:
        data = os.read(self._response, READ_SIZE)
        if not data:
            return self._stop(EXITED, None, EXIT_GRACE_S)
        return self._feed(data)

    def _feed(self, data: bytes) -> Message | Stopped | None:
        if self._buffer:  # the rest of a long message: accumulate without copying it all each time
            if isinstance(self._buffer, bytes):
                self._buffer = bytearray(self._buffer)
            self._buffer += data
        else:
            self._buffer = data
        return self._take_message()

    def _take_message(self) -> Message | Stopped | None:
        buffer = self._buffer
        end = buffer.find(b"\n")
        if end < 0:
            return self._garbled() if len(buffer) > MAX_HEADER_BYTES else None
        fields = bytes(buffer[:end]).split(b" ")
        try:
            kind, ok, size, used = _KINDS[fields[0]], _STATUSES[fields[1]], int(fields[2]), int(fields[3])
        except (KeyError, IndexError, ValueError):
            return self._garbled()
        if size < 0 or len(fields) > 5:
            return self._garbled()
        stop = end + 1 + size
        if len(buffer) < stop:
            return None
        payload = bytes(buffer[end + 1:stop])
        self._buffer = bytes(buffer[stop:])
        error_type = fields[4].decode(errors="replace") if len(fields) == 5 else None
        return Message(kind, ok, payload, used, error_type)

    def _garbled(self) -> Stopped:
        sample, self._buffer = bytes(self._buffer[:80]), b""
        return self._stop(GARBLED, signal.SIGKILL, detail=repr(sample))

    def _over_memory(self, limit_mb: int) -> bool:
        memory = self.tree.resident_mb()
        if memory is None:
            return False
        self.peak_memory_mb = max(self.peak_memory_mb, memory[1])
        return memory[0] > limit_mb

    def drain_output(self) -> None:
        """Keep whatever fd 1/2 hold now, without waiting."""
        while self._output_open:
            try:
                chunk = os.read(self._output, READ_SIZE)
            except BlockingIOError:
                return
            if not chunk:  # every writer is gone
                self._output_open = False
                with contextlib.suppress(KeyError):
                    self._poller.unregister(self._output)
                return
            self.output.feed(chunk)

    # -- ending -----------------------------------------------------------------------------------
    def _stop(self, cause: str, sig: int | None, grace: float = 0.0, detail: str = "") -> Stopped:
        returncode = self.stop(sig, grace)
        return Stopped(cause, returncode, self.peak_memory_mb, detail)

    def stop(self, sig: int | None = signal.SIGTERM, grace: float = 0.0) -> int:
        """End the process and all it started: ``sig`` to its session, SIGKILL after ``grace`` seconds;
        then what it started outside its session, if it started anything."""
        with self._stopping:
            if self._popen.returncode is None:
                started_any = self.tree.started_any()
                if sig is not None:
                    self._signal_session(sig)
                if not self._exits_within(grace):
                    self._signal_session(signal.SIGKILL)
                    self._exits_within(None)
                self._signal_session(signal.SIGKILL)  # what it started, while its pid is still reserved
                self._popen.wait()
                if started_any:
                    lifetime.end_family(self.pid, self.mark, self.tree)
                lifetime.ended(self.pid)
            if not self._closed:
                self.drain_output()
            return self._popen.returncode

    def _exits_within(self, timeout: float | None) -> bool:
        """Wait for the process to exit, without reaping it where the OS allows."""
        if not hasattr(os, "waitid"):
            try:
                self._popen.wait(timeout)
            except subprocess.TimeoutExpired:
                return False
            return True
        end = None if timeout is None else time.monotonic() + timeout
        while self.running:
            if end is not None and time.monotonic() >= end:
                return False
            time.sleep(0.002)
        return True

    def _signal_session(self, sig: int) -> None:
        if self._popen.returncode is None:  # never signal a pid that may have been reused
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, sig)

    def close(self) -> None:
        """Stop the process if needed and release its pipes (once no exchange is waiting on them)."""
        self.stop(signal.SIGKILL)
        with self._stopping:
            if not self._closed:
                self._closed, self._output_open = True, False
                for fd in (self._request, self._response, self._output):
                    os.close(fd)
