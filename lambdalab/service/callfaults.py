"""Faults at a function's AWS calls: pause there, crash there, fail the call, lose its answer.

A call is named as boto3 names it, ``"service:Operation"`` (``"dynamodb:PutItem"``, ``"sns:Publish"``);
``nth`` counts that call within one invocation (1 = its first); ``where`` is an optional predicate on
the request's parameters (as the handler passed them to boto3). These exist only on the virtual
clock, where every AWS call is a point the engine controls.
"""

from __future__ import annotations

import difflib
import functools
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lambdalab.errors import LambdaLabError

CALL_NAME = re.compile(r"^[a-z0-9-]+:\w+$")  # service:Operation, the operation capitalised
BEFORE, AFTER = "before", "after"
Predicate = Callable[[dict[str, Any]], bool]


def check_call_name(call: str) -> str:
    """``call`` if it names an operation of an AWS service botocore knows, else a clear error."""
    if not isinstance(call, str) or not CALL_NAME.match(call) or not call.split(":")[1][0].isupper():
        raise LambdaLabError(f"{call!r} is not a call name: write it as boto3 names it, e.g. 'dynamodb:PutItem'")
    service, operation = call.split(":")
    if service not in _services():
        raise LambdaLabError(f"{call!r}: boto3 has no service {service!r} (as in boto3.client({service!r}))")
    operations = _operations(service)
    if operation not in operations:
        close = difflib.get_close_matches(operation, operations, n=1)
        hint = f"; did you mean {service}:{close[0]}?" if close else ""
        raise LambdaLabError(f"{call!r}: {service} has no operation {operation!r}{hint}")
    return call


@functools.cache
def _services() -> frozenset[str]:
    import botocore.session  # lazy: the engine has it loaded by then; a check of a name costs ~0.1 s once

    return frozenset(botocore.session.get_session().get_available_services())


@functools.cache
def _operations(service: str) -> tuple[str, ...]:
    import botocore.session

    return tuple(botocore.session.get_session().get_service_model(service).operation_names)


@dataclass(eq=False)
class Pause:
    """A pause armed at one point of one function's calls. The first invocation that reaches it
    waits there until ``resume()``; meanwhile the rest of the cloud goes on."""

    function: str
    when: str  # BEFORE | AFTER
    call: str
    nth: int
    where: Predicate | None
    _reached: threading.Event = field(default_factory=threading.Event)
    _resumed: threading.Event = field(default_factory=threading.Event)
    request_id: str | None = None
    _on_resume: Callable[[], None] | None = None
    armed_by: int = field(default_factory=threading.get_ident)  # the thread that armed it

    @property
    def reached(self) -> bool:
        """An invocation is waiting here (or was, before ``resume``)."""
        return self._reached.is_set()

    def resume(self) -> None:
        """Let the waiting invocation go on."""
        if self._resumed.is_set():
            raise LambdaLabError(f"this pause of {self.function} {self.when} {self.call} was already resumed")
        if not self._reached.is_set():
            raise LambdaLabError(f"no invocation of {self.function} has reached {self.when} {self.call} "
                                 f"(nth={self.nth}) yet: nothing to resume")
        self._resumed.set()
        if self._on_resume is not None:
            self._on_resume()

    def wait_reached(self, timeout: float) -> bool:
        return self._reached.wait(timeout)

    def __repr__(self) -> str:
        state = "resumed" if self._resumed.is_set() else "reached" if self.reached else "armed"
        return f"Pause({self.function} {self.when} {self.call} nth={self.nth}: {state})"


@dataclass(eq=False)
class _Armed:
    function: str
    when: str
    call: str
    nth: int
    action: str  # pause | crash | fail | lose
    times: int = 1
    where: Predicate | None = None
    error: str = ""
    pause: Pause | None = None

    def matches(self, function: str, when: str, call: str, nth: int, params: dict[str, Any]) -> bool:
        if (self.function, self.when, self.call) != (function, when, call) or self.times <= 0:
            return False
        if self.action in ("fail", "lose"):
            return self.where is None or bool(self.where(params))
        return self.nth == nth and (self.where is None or bool(self.where(params)))


class CallFaults:
    """What is armed at the calls of every function of one service."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: list[_Armed] = []

    def arm(self, armed: _Armed) -> None:
        with self._lock:
            self._armed.append(armed)

    def take(self, function: str, when: str, call: str, nth: int, params: dict[str, Any]) -> _Armed | None:
        """The fault that fires at this point, consumed; None when nothing is armed here."""
        with self._lock:
            for armed in self._armed:
                if armed.matches(function, when, call, nth, params or {}):
                    armed.times -= 1
                    if armed.times <= 0:
                        self._armed.remove(armed)
                    return armed
        return None

    def wants_after(self, function: str, call: str) -> bool:
        """Something is armed after this call: the runtime must stop there instead of just noting it."""
        with self._lock:
            return any(a.function == function and a.when == AFTER and a.call == call for a in self._armed)

    def clear(self, function: str | None = None) -> None:
        with self._lock:
            self._armed = [a for a in self._armed if function is not None and a.function != function]

    def armed(self) -> list[_Armed]:
        with self._lock:
            return list(self._armed)


def point_of(before: str | None, after: str | None) -> tuple[str, str]:
    """(BEFORE|AFTER, call) from exactly one of ``before=`` / ``after=``."""
    if (before is None) == (after is None):
        raise LambdaLabError("name exactly one point: before='service:Operation' or after='service:Operation'")
    return (BEFORE, check_call_name(before)) if before is not None else (AFTER, check_call_name(str(after)))


def armed(function: str, when: str, call: str, action: str, *, nth: int = 1, times: int = 1,
          where: Predicate | None = None, error: str = "") -> _Armed:
    if not isinstance(nth, int) or nth < 1:
        raise LambdaLabError(f"nth counts calls within one invocation from 1, got {nth!r}")
    if not isinstance(times, int) or times < 1:
        raise LambdaLabError(f"times must be a whole number of at least 1, got {times!r}")
    if where is not None and not callable(where):
        raise LambdaLabError("where must be a function of the request's parameters")
    return _Armed(function, when, call, nth, action, times, where, error)
