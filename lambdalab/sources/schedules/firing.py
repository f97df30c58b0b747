"""Fire each enabled schedule when the clock passes its times [SCHED].

Firings are background tasks on the clock: ``advance`` runs every one it passes, in order, and
``run_until_idle`` runs those the work it drives passes, but a schedule is never work by itself, so
``run_until_idle`` returns once the rest is done. Each firing invokes its function targets
asynchronously (``InvocationType=Event``), so Lambda's async retries, DLQ and destinations apply as to
any asynchronous event, and starts an execution of its state-machine targets (StartExecution, the
event or the target's ``Input`` as the execution's input), which runs as any other execution.
A rule's ``rate`` first fires one period after the cloud starts (EventBridge: about a period after
the rule is created); a schedule's ``rate`` fires at once, or at its ``StartDate``, then every
period; ``cron`` fires at each matching minute; ``at`` once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from lambdalab.config import ACCOUNT_ID, REGION
from lambdalab.sources.schedules.cron import Cron
from lambdalab.sources.schedules.events import payload
from lambdalab.sources.schedules.expressions import At, Rate, epoch_of, next_cron
from lambdalab.sources.schedules.rules import RULE, Schedule

if TYPE_CHECKING:
    from lambdalab.clock import Clock, _Task
    from lambdalab.service.invoke import LambdaService


def next_firing(schedule: Schedule, after: float | None, created: float) -> float | None:
    """The schedule's firing strictly after ``after``, or its first one (``after`` None: a schedule's
    rate starts at once, at ``created``), within its StartDate and EndDate."""
    expression = schedule.expression
    begin = max(created, schedule.start or created)
    when: float | None
    if isinstance(expression, Rate):
        first = created + expression.seconds if schedule.kind == RULE else begin
        steps = 0 if after is None else max(0, (after - first) // expression.seconds + 1)
        when = first + steps * expression.seconds
    elif isinstance(expression, Cron):
        when = next_cron(expression, max(created if after is None else after, begin - 1), schedule.zone)
    else:
        assert isinstance(expression, At)
        when = epoch_of(expression.moment, schedule.zone)
        when = when if when >= created and (after is None or when > after) else None
    if when is not None and schedule.end is not None and when > schedule.end:
        return None
    return when


class Firings:
    """The enabled schedules of a cloud, each with its next firing on the clock (a Poller)."""

    def __init__(self, clock: Clock, service: LambdaService, schedules: list[Schedule],
                 start_execution: Callable[[str, str], None] | None = None):
        self._clock = clock
        self._service = service
        self._start_execution = start_execution  # (state machine ARN, input JSON text)
        self._created = clock.now()
        self._lock = threading.Lock()
        self._tasks: dict[str, _Task] = {}
        self._closed = False
        self.fired: dict[str, int] = {s.logical_id: 0 for s in schedules}
        for schedule in schedules:
            if schedule.enabled:
                self._plan(schedule, None)

    def _plan(self, schedule: Schedule, after: float | None) -> None:
        when = next_firing(schedule, after, self._created)
        if when is None:
            return
        with self._lock:
            if self._closed:
                return
            self._tasks[schedule.logical_id] = self._clock.call_at(
                when, lambda: self._fire(schedule, when), label=f"schedule:{schedule.logical_id}", background=True)

    def _fire(self, schedule: Schedule, when: float) -> None:
        with self._lock:
            if self._closed:
                return
            self.fired[schedule.logical_id] += 1
        for target in schedule.targets:
            body = payload(schedule, target, when, account=ACCOUNT_ID, region=REGION)
            if target.state_machine:
                assert self._start_execution is not None, "a state-machine target needs start_execution"
                self._start_execution(target.arn, body.decode())
            else:
                self._service.invoke(target.arn, body, invocation_type="Event", source=schedule.source)
        self._plan(schedule, when)

    def poll(self) -> bool:
        return False

    def close(self) -> None:
        with self._lock:
            self._closed = True
            tasks, self._tasks = self._tasks, {}
        for task in tasks.values():
            task.cancelled = True
