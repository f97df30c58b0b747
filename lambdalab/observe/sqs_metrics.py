"""SQS's queue metrics moto lacks [SQS-MET]: ``ApproximateNumberOfMessagesVisible`` (Count) and
``ApproximateAgeOfOldestMessage`` (Seconds), namespace ``AWS/SQS``, dimension ``QueueName``, one
datapoint a minute for each queue of the template, on the cloud's clock, so that an alarm on a
dead-letter queue's depth can fire and ``get_metric_statistics`` reads them as on AWS.

A minute's datapoint is the queue as the engine finds it when its clock is first seen past that
minute (the queue at the minute's end). A minute the clock jumped over, with nothing run in it,
gets that same value: nothing changed the queue meanwhile. The clock moves only when something is
due, so a queue an alarm watches asks for a look at the next minute's start whenever it changed;
other queues are read when time moves anyway, and never keep the cloud from being idle.

moto stamps a message with the wall clock; its age on the cloud's clock comes from when the
engine first saw the wall clock pass its send time (``_Stamps``).
"""

from __future__ import annotations

import bisect
import math
import time
from collections.abc import Callable
from typing import Any

from lambdalab.clock import Clock
from lambdalab.config import ACCOUNT_ID, REGION
from lambdalab.dataplane import datachanges
from lambdalab.dataplane.patches import MOTO_LOCK
from lambdalab.observe.metrics import cloudwatch_backend, moto_timestamp

NAMESPACE = "AWS/SQS"
VISIBLE, OLDEST_AGE = "ApproximateNumberOfMessagesVisible", "ApproximateAgeOfOldestMessage"
MINUTE = 60.0
# After a long jump of the clock, the minutes published at most (the latest ones): an alarm
# looks back a few periods, and a day of identical datapoints would only slow every read.
MAX_BACKFILL_MINUTES = 60
_MAX_STAMPS = 100_000


class _Stamps:
    """(wall ms, cloud time) at each poll: the cloud time at which a wall-clock stamp was made is
    that of the first poll after it (the step that made it ran just before that poll)."""

    def __init__(self) -> None:
        self._walls: list[float] = []
        self._times: list[float] = []

    def note(self, now: float) -> None:
        if self._times and self._times[-1] == now:
            return
        self._walls.append(time.time() * 1000)
        self._times.append(now)
        if len(self._walls) > _MAX_STAMPS:
            del self._walls[:_MAX_STAMPS // 2], self._times[:_MAX_STAMPS // 2]

    def cloud_time(self, wall_ms: float, now: float) -> float:
        at = bisect.bisect_left(self._walls, wall_ms)
        return self._times[at] if at < len(self._times) else now


class SqsMetrics:
    """Publishes the template's queue metrics each minute (a ``Poller``; ``sample`` is also called
    by the alarm evaluator before it evaluates, so a boundary's datapoint is there first)."""

    def __init__(self, clock: Clock, queues: list[str]) -> None:
        self._clock = clock
        self._queues = sorted(set(queues))
        self._next_minute = _minute(clock.now())  # the first minute not yet published
        self._stamps = _Stamps()
        self._watched: Callable[[str], bool] = lambda name: False
        self._seen: dict[str, tuple[Any, ...]] = {}  # queue -> its signature when last published
        self._looks: set[float] = set()  # minute starts a look is scheduled at

    def watch(self, watched: Callable[[str], bool]) -> None:
        """``watched(queue)`` says an alarm reads the queue's metrics: its changes schedule a look."""
        self._watched = watched

    # -- the poller --------------------------------------------------------------------------------
    def poll(self) -> bool:
        now = self._clock.now()
        if self._clock.virtual:
            self._stamps.note(now)
        if not self._queues:
            return False
        self.sample(wait=False)
        if self._clock.virtual:  # the real clock polls on its own, every minute included
            self._look_again_if_changed(now)
        return False  # publishing is never work the clock must poll again for

    def close(self) -> None:
        pass

    def sample(self, wait: bool = True) -> None:
        """Publish every complete minute not yet published (the latest ``MAX_BACKFILL_MINUTES``)."""
        now = self._clock.now()
        current = _minute(now)
        if not self._queues or current <= self._next_minute:
            return
        first = max(self._next_minute, current - MAX_BACKFILL_MINUTES * MINUTE)
        minutes = [first + i * MINUTE for i in range(int(round((current - first) / MINUTE)))]
        from moto.sqs.models import sqs_backends

        with MOTO_LOCK.held(wait=wait) as held:
            if not held:
                return
            queues = sqs_backends[ACCOUNT_ID][REGION].queues
            datums: list[dict[str, Any]] = []
            for name in self._queues:
                queue = queues.get(name)
                if queue is None:
                    continue
                visible, age = self._measure(queue, now)
                self._seen[name] = _signature(queue)
                dimensions = [{"Name": "QueueName", "Value": name}]
                for minute in minutes:
                    stamp = moto_timestamp(minute)
                    datums += [
                        {"MetricName": VISIBLE, "Value": visible, "Unit": "Count", "Timestamp": stamp,
                         "Dimensions": dimensions},
                        {"MetricName": OLDEST_AGE, "Value": age, "Unit": "Seconds", "Timestamp": stamp,
                         "Dimensions": dimensions},
                    ]
            if datums:
                cloudwatch_backend().put_metric_data(NAMESPACE, datums)
        self._next_minute = current

    # -- inside ------------------------------------------------------------------------------------
    def _measure(self, queue: Any, now: float) -> tuple[float, float]:
        visible = float(queue.approximate_number_of_messages)
        sent = [m.sent_timestamp for m in queue._messages if m.sent_timestamp is not None]
        if not sent:
            return visible, 0.0
        oldest = min(sent)
        at = self._stamps.cloud_time(oldest, now) if self._clock.virtual else oldest / 1000
        return visible, float(max(0, math.floor(now - at)))

    def _look_again_if_changed(self, now: float) -> None:
        """A watched queue that changed since its last datapoint: look again at the next minute."""
        from moto.sqs.models import sqs_backends

        watched = [name for name in self._queues if self._watched(name)]
        look_at = _minute(now) + MINUTE
        if not watched or look_at in self._looks:
            return
        changed = False
        with MOTO_LOCK.held(wait=False) as held:
            if not held:
                return
            queues = sqs_backends[ACCOUNT_ID][REGION].queues
            for name in watched:
                queue = queues.get(name)
                if queue is not None and _signature(queue) != self._seen.get(name):
                    changed = True
                    break
        if changed:
            self._looks.add(look_at)
            self._clock.call_at(look_at, lambda: self._look(look_at), "sqs-metrics")

    def _look(self, at: float) -> None:
        self._looks.discard(at)
        self.sample()


def _signature(queue: Any) -> tuple[Any, ...]:
    """Changes whenever a message is added, deleted or made visible again (cheap: no scan)."""
    return len(queue._messages), datachanges.version("sqs", queue.name)


def _minute(at: float) -> float:
    return math.floor(at / MINUTE) * MINUTE
