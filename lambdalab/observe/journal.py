"""Every invocation attempt, in order, with its outcome in AWS's words; tables and timelines.

The journal keeps exact virtual times. What it prints rounds them to offsets from the cloud's
start, so a notebook's output is the same every run even though handler durations vary by ms.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from lambdalab.observe import cost as pricing
from lambdalab.observe.outcome import Outcome
from lambdalab.observe.timeline import plot_timeline
from lambdalab.runtime import reports


@dataclass(frozen=True)
class Invocation:
    """One attempt. ``detail`` is the error type (``KeyError``, ``Sandbox.Timedout``) or throttle Reason."""

    request_id: str
    function: str
    source: str  # "invoke", "lambda-api", "apigateway:OrdersApi", "states:OrderFlow", ...
    invocation_type: str  # RequestResponse | Event
    attempt: int
    env_id: str | None
    cold: bool
    start: float  # virtual epoch seconds
    end: float
    outcome: Outcome
    detail: str | None = None
    stop_reason: str | None = None  # why no further attempt follows, when that matters
    memory_mb: int | None = None  # the function's MemorySize when the attempt ran
    execution: str | None = None  # ARN of the state machine execution whose task this was [SFN]

    @property
    def duration(self) -> float:
        return self.end - self.start

    @property
    def billed_ms(self) -> int:
        """The billed duration [COST]: 0 for a throttled request, which never ran."""
        return 0 if self.outcome == Outcome.THROTTLED else reports.billed_ms(self.duration * 1000)

    @property
    def gb_seconds(self) -> float:
        return pricing.gb_seconds(self.billed_ms, self.memory_mb or 0)

    @property
    def cost(self) -> float:
        """USD at AWS's on-demand x86 prices in us-east-1 [COST]; a throttle costs nothing."""
        if self.outcome == Outcome.THROTTLED:
            return 0.0
        return pricing.PRICE_PER_REQUEST + self.gb_seconds * pricing.PRICE_PER_GB_SECOND


@dataclass(frozen=True)
class Call:
    """One AWS SDK call a function made (virtual clock only): ``outcome`` is ``"ok"`` or the error
    code (``ConditionalCheckFailedException``), ``"crashed"`` when the process died at it."""

    function: str
    request_id: str
    service: str
    operation: str
    start: float  # virtual epoch seconds
    end: float
    outcome: str

    @property
    def name(self) -> str:
        """As boto3 and the faults name it: ``dynamodb:PutItem``."""
        return f"{self.service}:{self.operation}"


@dataclass(frozen=True)
class AlarmChange:
    """A CloudWatch alarm changed state [ALARM], evaluated at ``at`` (a period boundary)."""

    alarm: str
    at: float  # virtual epoch seconds
    old_state: str  # OK | ALARM | INSUFFICIENT_DATA
    new_state: str
    reason: str


class Journal:
    def __init__(self, origin: float):
        self.origin = origin
        self._items: list[Invocation] = []
        self._calls: list[Call] = []
        self._lock = threading.Lock()
        self._listeners: list[Callable[[Invocation], None]] = []
        self._alarm_changes: list[AlarmChange] = []

    def subscribe(self, listener: Callable[[Invocation], None]) -> None:
        """Have ``listener`` told of every attempt recorded from now on (after it is recorded)."""
        with self._lock:
            self._listeners.append(listener)

    def record_call(self, call: Call) -> None:
        with self._lock:
            self._calls.append(call)

    def calls(self, function: str | None = None) -> list[Call]:
        """Every AWS call functions made, in the order they were made (virtual clock only)."""
        with self._lock:
            calls = list(self._calls)
        return [c for c in calls if function is None or c.function == function]

    def calls_table(self, function: str | None = None) -> str:
        """Who called what, when: one line per call, times in ms from the cloud's start."""
        lines = [f"{'ms':>8}  {'function':20} {'request':10} {'call':28} outcome"]
        for c in self.calls(function):
            lines.append(f"{(c.start - self.origin) * 1000:8.0f}  {c.function:20} {c.request_id[:8]:10} "
                         f"{c.name:28} {c.outcome}")
        return "\n".join(lines) if len(lines) > 1 else "(no calls)"

    def record_alarm_change(self, change: AlarmChange) -> None:
        with self._lock:
            self._alarm_changes.append(change)

    def alarm_changes(self, alarm: str | None = None) -> list[AlarmChange]:
        """Every state change of the local CloudWatch alarms, in order [ALARM]."""
        with self._lock:
            changes = list(self._alarm_changes)
        return [c for c in changes if alarm is None or c.alarm == alarm]

    def record(self, item: Invocation) -> None:
        with self._lock:
            self._items.append(item)
            listeners = list(self._listeners)
        for listener in listeners:
            listener(item)

    def set_stop_reason(self, request_id: str, attempt: int, reason: str) -> None:
        """Say why no attempt follows the latest entry of ``request_id``'s ``attempt`` (e.g. ``RetriesExhausted``)."""
        with self._lock:
            for index in range(len(self._items) - 1, -1, -1):
                item = self._items[index]
                if item.request_id == request_id and item.attempt == attempt:
                    self._items[index] = replace(item, stop_reason=reason)
                    return

    def invocations(self, function: str | None = None, *, outcome: str | None = None) -> list[Invocation]:
        with self._lock:
            items = list(self._items)
        return [
            i for i in items
            if (function is None or i.function == function) and (outcome is None or i.outcome == outcome)
        ]

    def counts(self, function: str | None = None) -> Counter[str]:
        """How many attempts ended each way, e.g. ``{'Success': 18, 'Throttled': 2}``."""
        counts: Counter[str] = Counter(i.outcome for i in self.invocations(function))
        return counts

    def cost(self, function: str | None = None) -> float:
        """What the attempts so far would cost on AWS, in USD [COST] (free tier not counted)."""
        return sum(i.cost for i in self.invocations(function))

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._calls.clear()
            self._alarm_changes.clear()

    def rows(self, function: str | None = None, precision: int = 0) -> list[dict[str, Any]]:
        """Plain rows for printing; times are offsets from the cloud's start, rounded; ``cost`` is
        the attempt's on AWS in dollars [COST]. A ``stop`` column (why no attempt follows) appears
        when any row has one."""
        items = self.invocations(function)
        stops = any(i.stop_reason for i in items)
        return [
            {
                "t": round(i.start - self.origin, precision) if precision else int(i.start - self.origin),
                "function": i.function,
                "source": i.source,
                "attempt": i.attempt,
                "env": i.env_id or "-",
                "start": "cold" if i.cold else ("warm" if i.env_id else "-"),
                "outcome": i.outcome,
                "detail": i.detail or "",
                "cost": pricing.dollars(i.cost),
                **({"stop": i.stop_reason or ""} if stops else {}),
            }
            for i in items
        ]

    def table(self, function: str | None = None, precision: int = 0) -> str:
        """A fixed-width text table of ``rows`` (what notebooks print)."""
        rows = self.rows(function, precision)
        if not rows:
            return "(no invocations)"
        headers = list(rows[0])
        widths = {h: max(len(h), *(len(str(r[h])) for r in rows)) for h in headers}
        lines = ["  ".join(h.ljust(widths[h]) for h in headers).rstrip()]
        lines += ["  ".join(str(r[h]).ljust(widths[h]) for h in headers).rstrip() for r in rows]
        return "\n".join(lines)

    def plot(self, function: str | None = None, ax: Any = None, title: str | None = None) -> Any:
        return plot_timeline(self.invocations(function), self.origin, ax=ax, title=title)
