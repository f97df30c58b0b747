"""Lambda's CloudWatch metrics [MET]: what the engine observes, as datapoints in namespace
``AWS/Lambda`` with dimension ``FunctionName``, on the cloud's clock, in AWS's units, so a learner
reads them with ``cloudwatch.get_metric_statistics`` as on AWS.

Per attempt (from the journal): ``Invocations`` and ``Errors`` (Count; ``Errors`` is 0 or 1 for
every invocation, so its Average is the error rate), ``Throttles`` (Count; a throttled attempt is not
an invocation), ``Duration`` (Milliseconds) and ``ConcurrentExecutions`` (Count: how many runs of
the function overlapped at the start of one; read its Maximum). From the sources: ``IteratorAge``
(stream mappings), ``AsyncEventsReceived``, ``AsyncEventAge`` and ``AsyncEventsDropped`` (the
async queue). A datapoint's timestamp is when the attempt began (the event was queued, dropped).

Datapoints wait in a buffer and go to moto's CloudWatch in-process (no HTTP), all at once: at once
when moto is free, else at the next flush (every poll of the sources, and ``close``). Publishing
never waits for moto where an invocation ends, and changes nothing the journal records.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from lambdalab.config import ACCOUNT_ID, REGION
from lambdalab.dataplane.patches import MOTO_LOCK
from lambdalab.observe.journal import Invocation
from lambdalab.observe.outcome import Outcome

NAMESPACE = "AWS/Lambda"
COUNT, MILLISECONDS = "Count", "Milliseconds"
MAX_DATUMS_PER_CALL = 1000  # PutMetricData's limit
# How far back a run still counts for ConcurrentExecutions: past the longest run seen, plus this.
_OVERLAP_MARGIN_S = 60.0

Datum = dict[str, Any]
Publish = Callable[[list[Datum], bool], bool]


def cloudwatch_backend() -> Any:
    """The data plane's CloudWatch, in-process (hold moto's lock while using it)."""
    from moto.cloudwatch.models import cloudwatch_backends

    return cloudwatch_backends[ACCOUNT_ID][REGION]


def moto_timestamp(at: float) -> datetime:
    """An epoch time as moto keeps times: UTC, without a zone."""
    return datetime.fromtimestamp(at, tz=timezone.utc).replace(tzinfo=None)


def put_in_moto(datums: list[Datum], wait: bool) -> bool:
    """PutMetricData into the data plane's CloudWatch, in-process, under moto's lock; without
    ``wait``, only if no request holds the lock now (False: nothing was put)."""
    with MOTO_LOCK.held(wait=wait) as held:
        if not held:
            return False
        backend = cloudwatch_backend()
        for first in range(0, len(datums), MAX_DATUMS_PER_CALL):
            backend.put_metric_data(NAMESPACE, datums[first:first + MAX_DATUMS_PER_CALL])
    return True


class LambdaMetrics:
    """Turns attempts, record ages and async events into ``AWS/Lambda`` datapoints (a ``Poller``:
    each poll of the sources flushes what waits)."""

    def __init__(self, publish: Publish = put_in_moto) -> None:
        self._publish = publish
        self._buffer: list[Datum] = []
        self._lock = threading.Lock()  # the buffer and the runs below
        self._flushing = threading.Lock()  # one flush at a time, so datapoints keep their order
        self._runs: dict[str, list[tuple[float, float]]] = {}  # function -> (start, end), by start
        self._longest = 0.0
        self._latest_start = 0.0

    # -- what the engine observes ----------------------------------------------------------------
    def attempt(self, item: Invocation) -> None:
        """One journaled attempt (a journal listener)."""
        fn, at = item.function, item.start
        if item.outcome == Outcome.THROTTLED:
            self._add(fn, at, ("Throttles", 1, COUNT))
        else:
            self._add(fn, at, ("Invocations", 1, COUNT),
                      ("Errors", 1 if item.outcome == Outcome.ERROR else 0, COUNT),
                      ("Duration", round(max(0.0, item.duration) * 1000, 3), MILLISECONDS),
                      *self._concurrency(fn, item.start, item.end))
        self.flush(wait=False)

    def iterator_age(self, function: str, at: float, age_s: float) -> None:
        """A stream batch invoked at ``at``: its last record was written ``age_s`` before."""
        self._add(function, at, ("IteratorAge", _ms(age_s), MILLISECONDS))

    def async_event_received(self, function: str, at: float) -> None:
        self._add(function, at, ("AsyncEventsReceived", 1, COUNT))
        self.flush(wait=False)

    def async_event_age(self, function: str, at: float, age_s: float) -> None:
        """A queued event invoked at ``at``, ``age_s`` after it was queued."""
        self._add(function, at, ("AsyncEventAge", _ms(age_s), MILLISECONDS))

    def async_event_dropped(self, function: str, at: float) -> None:
        """An event given up (retries exhausted, too old, zero reserved concurrency)."""
        self._add(function, at, ("AsyncEventsDropped", 1, COUNT))
        self.flush(wait=False)

    # -- publishing --------------------------------------------------------------------------------
    def flush(self, wait: bool = True) -> None:
        """Put what waits; without ``wait``, only if nothing else is putting and moto is free now."""
        if not self._flushing.acquire(blocking=wait):
            return
        try:
            with self._lock:
                datums, self._buffer = self._buffer, []
            if datums and not self._publish(datums, wait):
                with self._lock:
                    self._buffer[:0] = datums
        finally:
            self._flushing.release()

    def poll(self) -> bool:
        self.flush()
        return False  # flushing is never work the clock must poll again for

    def close(self) -> None:
        self.flush()

    # -- inside ------------------------------------------------------------------------------------
    def _add(self, function: str, at: float, *metrics: tuple[str, float, str]) -> None:
        stamp = moto_timestamp(at)
        dimensions = [{"Name": "FunctionName", "Value": function}]
        with self._lock:
            self._buffer.extend({"MetricName": name, "Value": value, "Unit": unit, "Timestamp": stamp,
                                 "Dimensions": dimensions} for name, value, unit in metrics)

    def _concurrency(self, function: str, start: float, end: float) -> list[tuple[str, float, str]]:
        """ConcurrentExecutions at this run's start, and again at the start of every run already
        known that began while this one ran (runs are journaled as they end, not as they begin).
        Each value is the count at one instant; their Maximum per period is the metric."""
        with self._lock:
            runs = self._runs.setdefault(function, [])
            self._longest = max(self._longest, end - start)
            self._latest_start = max(self._latest_start, start)
            horizon = self._latest_start - 2 * self._longest - _OVERLAP_MARGIN_S
            if runs and runs[0][0] < horizon:
                del runs[:bisect.bisect_left(runs, (horizon, horizon))]
            bisect.insort(runs, (start, end))
            instants = [start] + [s for s, _ in runs[bisect.bisect_right(runs, (start, end)):] if s < end]
            window = runs[bisect.bisect_left(runs, (start - self._longest, -1.0)):]
            counts = [max(1, sum(1 for s, e in window if s <= t < e)) for t in instants]
        stamps = [(t, c) for t, c in zip(instants, counts, strict=True)]
        first, *others = stamps
        for t, c in others:  # a later instant: its own timestamp
            self._add(function, t, ("ConcurrentExecutions", c, COUNT))
        return [("ConcurrentExecutions", first[1], COUNT)]


def _ms(seconds: float) -> float:
    return round(max(0.0, seconds) * 1000, 3)
