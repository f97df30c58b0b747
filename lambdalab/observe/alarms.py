"""CloudWatch metric alarms evaluated on the cloud's clock [ALARM]: moto stores alarms but never
evaluates them, so this does, as CloudWatch does, and sets their state in moto (``describe_alarms``
shows it, with AWS's reason text and reason data).

At each period boundary an alarm looks at its last ``EvaluationPeriods`` periods: each period's
``Statistic`` (or percentile ``ExtendedStatistic``) of the metric's datapoints (same namespace,
name and exactly the same dimensions), compared with ``Threshold``. ``DatapointsToAlarm`` breaching
periods of them put it in ALARM, fewer in OK; ``TreatMissingData`` says what a period without data
counts as: ``notBreaching`` (good), ``breaching`` (bad), ``missing`` (not counted; all missing is
INSUFFICIENT_DATA) or ``ignore`` (not counted; all missing keeps the state). A new alarm starts in
INSUFFICIENT_DATA. Each change is noted in the journal (``journal.alarm_changes()``) and, when the
alarm's actions for the new state name an SNS topic, published to it in CloudWatch's JSON shape.

Evaluation costs nothing between boundaries: an alarm asks the clock for its next boundary only
while its state could still change there (data in its window, a state that just changed). Once its
window is empty, or holds a sampled metric (SQS) that repeats one value, it waits for a datapoint
that could change it, so an idle cloud stays idle (the real clock needs no such request: its
polls, many a second, meet every boundary). Alarms created later with ``put_metric_alarm``
are evaluated too; metric math and anomaly detection alarms are left as moto keeps them.
"""

from __future__ import annotations

import bisect
import json
import math
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from lambdalab.clock import Clock
from lambdalab.config import ACCOUNT_ID, REGION
from lambdalab.dataplane.patches import MOTO_LOCK
from lambdalab.observe.journal import AlarmChange, Journal
from lambdalab.observe.metrics import cloudwatch_backend, moto_timestamp
from lambdalab.observe.sqs_metrics import SqsMetrics

OK, ALARM, INSUFFICIENT_DATA = "OK", "ALARM", "INSUFFICIENT_DATA"
INITIAL_REASON = "Unchecked: Initial alarm creation"
COMPARISONS: dict[str, tuple[str, Callable[[float, float], bool]]] = {
    "GreaterThanOrEqualToThreshold": ("greater than or equal to", lambda v, t: v >= t),
    "GreaterThanThreshold": ("greater than", lambda v, t: v > t),
    "LessThanThreshold": ("less than", lambda v, t: v < t),
    "LessThanOrEqualToThreshold": ("less than or equal to", lambda v, t: v <= t),
}
TREATMENTS = ("missing", "notBreaching", "breaching", "ignore")
PERCENTILE = re.compile(r"^p(\d{1,2}(\.\d+)?|100)$")
# Metrics sampled on a schedule (a queue's depth): a series that repeats one value keeps an alarm's state.
SAMPLED_NAMESPACES = frozenset({"AWS/SQS"})
REGION_NAMES = {"us-east-1": "US East (N. Virginia)", "us-east-2": "US East (Ohio)",
                "us-west-1": "US West (N. California)", "us-west-2": "US West (Oregon)",
                "eu-west-1": "EU (Ireland)", "eu-central-1": "EU (Frankfurt)"}
MAX_SUBJECT = 100  # SNS's limit on a Subject

Series = tuple[str, str, frozenset[tuple[str, str]]]  # namespace, metric name, dimensions
Notify = Callable[[str, str, str], None]  # topic ARN, subject, message


@dataclass
class _Point:
    at: float  # epoch seconds
    count: float
    total: float
    low: float
    high: float
    values: tuple[float, ...]  # single values, for percentiles
    unit: str | None


@dataclass
class _Watch:
    """One alarm as evaluated here, with where its evaluation stands."""

    name: str
    model: Any  # moto's Alarm: a new object when the alarm is put again
    series: Series
    period: int
    periods: int
    to_alarm: int
    threshold: float
    comparison: str
    statistic: str
    treat: str
    unit: str | None
    next_at: float  # the next boundary to evaluate at
    scheduled: bool = False
    waiting_for: str | None = None  # "data": the window is empty; "change": a sampled value repeats
    steady: float | None = None


class AlarmEvaluator:
    """Evaluates every metric alarm in the local CloudWatch at its period boundaries (a ``Poller``)."""

    def __init__(self, clock: Clock, journal: Journal | None = None, notify: Notify | None = None,
                 prepare: Sequence[Callable[[], None]] = ()) -> None:
        self._clock = clock
        self._journal = journal
        self._notify = notify
        self._prepare = list(prepare)  # publishes what waits, before a boundary is evaluated
        self._watches: dict[str, _Watch] = {}
        self._points: dict[Series, list[_Point]] = {}
        self._read = 0  # how much of moto's metric data has been read
        self._wakes: set[float] = set()
        self._closed = False
        self._updating = threading.Lock()
        self._update(wait=True)

    # -- what other observers ask -------------------------------------------------------------------
    def watches_queue(self, name: str) -> bool:
        """An alarm reads this queue's SQS metrics (so its changes are worth a look next minute)."""
        return any(w.series[0] == "AWS/SQS" and ("QueueName", name) in w.series[2] for w in self._watches.values())

    # -- the poller --------------------------------------------------------------------------------
    def poll(self) -> bool:
        if self._watches or self._alarms_exist():
            self._update(wait=False)
        return False  # evaluating is never work the clock must poll again for

    def close(self) -> None:
        self._closed = True

    # -- inside ------------------------------------------------------------------------------------
    def _alarms_exist(self) -> bool:
        backend = cloudwatch_backend()
        return bool(backend.alarms)

    def _wake(self, at: float) -> None:
        self._wakes.discard(at)
        if self._closed:
            return
        for prepare in self._prepare:
            prepare()
        self._update(wait=True)

    def _update(self, wait: bool) -> None:
        """One update at a time (the real clock runs tasks in threads of their own); without
        ``wait``, none when another is under way or moto is busy."""
        if not self._updating.acquire(blocking=wait):
            return
        try:
            self._update_now(wait)
        finally:
            self._updating.release()

    def _update_now(self, wait: bool) -> None:
        """Adopt new alarms, read new datapoints, evaluate what is due; then notify, unlocked."""
        now = self._clock.now()
        changes: list[tuple[AlarmChange, dict[str, Any]]] = []
        with MOTO_LOCK.held(wait=wait) as held:
            if not held:
                return
            backend = cloudwatch_backend()
            self._adopt(backend, now)
            self._read_new_data(backend, now)
            for watch in self._watches.values():
                _skip_to_recent(watch, now)
                while watch.waiting_for is None and watch.next_at <= now:
                    change = self._evaluate(backend, watch, watch.next_at)
                    if change is not None:
                        changes.append((change, _snapshot(watch.model)))
        for watch in self._watches.values():
            if not watch.scheduled and watch.waiting_for is None and self._clock.virtual:
                self._schedule(watch)  # the real clock polls on its own, often: due boundaries are met
        for change, alarm in changes:
            if self._journal is not None:
                self._journal.record_alarm_change(change)
            self._send(change, alarm)

    def _adopt(self, backend: Any, now: float) -> None:
        alarms = dict(backend.alarms)
        for name in [n for n, w in self._watches.items() if alarms.get(n) is not w.model]:
            del self._watches[name]  # deleted, or put again (then adopted again below)
        for name, alarm in alarms.items():
            if name in self._watches or not _evaluable(alarm):
                continue
            watch = _watch_of(alarm, now)
            self._watches[name] = watch
            if alarm.state_reason == INITIAL_REASON:  # moto starts alarms in OK; CloudWatch does not
                alarm.state_value = INSUFFICIENT_DATA
                alarm.state_updated_timestamp = moto_timestamp(now)
                alarm.configuration_updated_timestamp = moto_timestamp(now)
            if watch.series not in self._points:
                self._points[watch.series] = []
                self._index(backend.metric_data[:self._read], {watch.series})  # the rest is read next

    def _read_new_data(self, backend: Any, now: float) -> None:
        data = backend.metric_data
        if len(data) < self._read:
            self._read = 0
        if len(data) == self._read:
            return
        added = self._index(data[self._read:], set(self._points))
        self._read = len(data)
        for watch in self._watches.values():
            values = added.get(watch.series)
            if watch.waiting_for is None or not values:
                continue
            if watch.waiting_for == "data" or any(v != watch.steady for v in values):
                watch.waiting_for, watch.steady = None, None
                watch.next_at = max(watch.next_at, _next_boundary(now, watch.period))

    def _index(self, data: Sequence[Any], wanted: set[Series]) -> dict[Series, list[float]]:
        """Add the datapoints of ``wanted`` series; returns the values added per series."""
        added: dict[Series, list[float]] = {}
        for datum in data:
            series = (datum.namespace, datum.name, frozenset((d.name, d.value) for d in datum.dimensions))
            if series not in wanted:
                continue
            point = _point(datum)
            points = self._points[series]
            if not points or points[-1].at <= point.at:
                points.append(point)
            else:
                points.insert(bisect.bisect_right([p.at for p in points], point.at), point)
            added.setdefault(series, []).append(point.total / point.count if point.count else 0.0)
        return added

    def _schedule(self, watch: _Watch) -> None:
        watch.scheduled = True
        if watch.next_at in self._wakes:
            return
        self._wakes.add(watch.next_at)
        at = watch.next_at
        self._clock.call_at(at, lambda: self._wake(at), "alarm-evaluation")

    def _evaluate(self, backend: Any, watch: _Watch, at: float) -> AlarmChange | None:
        """Evaluate ``watch`` at the boundary ``at``; its next boundary and whether it waits follow."""
        values, window = self._window(watch, at)
        old = watch.model.state_value
        new, reason = _decide(watch, values, old, at)
        watch.next_at = at + watch.period
        watch.scheduled = False
        present = [v for v in values if v is not None]
        if new != old:
            data = _reason_data(watch, values, at)
            backend.set_alarm_state(watch.name, reason, data, new)
            watch.model.state_updated_timestamp = moto_timestamp(at)
            return AlarmChange(alarm=watch.name, at=at, old_state=old, new_state=new, reason=reason)
        if not present:
            watch.waiting_for = "data"
        elif (watch.series[0] in SAMPLED_NAMESPACES and len(present) == len(values)
              and len({p.total / p.count for p in window if p.count}) == 1):
            watch.waiting_for, watch.steady = "change", window[-1].total / window[-1].count
        return None

    def _window(self, watch: _Watch, at: float) -> tuple[list[float | None], list[_Point]]:
        """Each period's statistic, oldest first (None: no data), and the datapoints in the window."""
        points = self._points.get(watch.series, [])
        starts = [p.at for p in points]
        values: list[float | None] = []
        window: list[_Point] = []
        for k in range(watch.periods, 0, -1):
            begin, end = at - k * watch.period, at - (k - 1) * watch.period
            inside = [p for p in points[bisect.bisect_left(starts, begin):bisect.bisect_left(starts, end)]
                      if watch.unit is None or p.unit == watch.unit]
            window += inside
            values.append(_statistic(watch.statistic, inside))
        return values, window

    def _send(self, change: AlarmChange, alarm: dict[str, Any]) -> None:
        actions = {ALARM: alarm["AlarmActions"], OK: alarm["OKActions"],
                   INSUFFICIENT_DATA: alarm["InsufficientDataActions"]}[change.new_state]
        if self._notify is None or not alarm["ActionsEnabled"]:
            return
        subject = f'{change.new_state}: "{change.alarm}" in {REGION_NAMES.get(REGION, REGION)}'[:MAX_SUBJECT]
        message = json.dumps(notification(change, alarm))
        for arn in actions:
            if str(arn).startswith("arn:aws:sns:"):
                try:
                    self._notify(arn, subject, message)
                except Exception:  # noqa: BLE001 - a topic gone since: CloudWatch's action fails, quietly
                    pass


def notification(change: AlarmChange, alarm: dict[str, Any]) -> dict[str, Any]:
    """The message CloudWatch publishes to an alarm's SNS topic."""
    extended = alarm["ExtendedStatistic"]
    return {
        "AlarmName": change.alarm,
        "AlarmDescription": alarm["AlarmDescription"],
        "AWSAccountId": ACCOUNT_ID,
        "AlarmConfigurationUpdatedTimestamp": _aws_time(alarm["ConfigurationUpdated"]),
        "NewStateValue": change.new_state,
        "NewStateReason": change.reason,
        "StateChangeTime": _aws_time(change.at),
        "Region": REGION_NAMES.get(REGION, REGION),
        "AlarmArn": alarm["AlarmArn"],
        "OldStateValue": change.old_state,
        "OKActions": alarm["OKActions"],
        "AlarmActions": alarm["AlarmActions"],
        "InsufficientDataActions": alarm["InsufficientDataActions"],
        "Trigger": {
            "MetricName": alarm["MetricName"],
            "Namespace": alarm["Namespace"],
            "StatisticType": "ExtendedStatistic" if extended else "Statistic",
            **({"ExtendedStatistic": extended} if extended else {"Statistic": str(alarm["Statistic"]).upper()}),
            "Unit": alarm["Unit"],
            "Dimensions": alarm["Dimensions"],
            "Period": alarm["Period"],
            "EvaluationPeriods": alarm["EvaluationPeriods"],
            "DatapointsToAlarm": alarm["DatapointsToAlarm"],
            "ComparisonOperator": alarm["ComparisonOperator"],
            "Threshold": alarm["Threshold"],
            "TreatMissingData": alarm["TreatMissingData"],
            "EvaluateLowSampleCountPercentile": alarm["EvaluateLowSampleCountPercentile"] or "",
        },
    }


def _decide(watch: _Watch, values: list[float | None], current: str, at: float) -> tuple[str, str]:
    """The state the window puts the alarm in, and CloudWatch's reason for it."""
    phrase, breaches = COMPARISONS[watch.comparison]
    present = [v for v in values if v is not None]
    if not present and watch.treat in ("missing", "ignore"):
        n = len(values)
        if watch.treat == "ignore":
            return current, ""
        return INSUFFICIENT_DATA, f"Insufficient Data: {n} datapoint{_s(n)} {'was' if n == 1 else 'were'} unknown."
    if not present:
        n = len(values)
        bad = watch.treat == "breaching"
        treated = "Breaching" if bad else "NonBreaching"
        return (ALARM if bad and n >= watch.to_alarm else OK,
                f"Threshold Crossed: no datapoints were received for {n} period{_s(n)} and {n} missing "
                f"datapoint{_s(n)} {'was' if n == 1 else 'were'} treated as [{treated}].")
    flags = [breaches(v, watch.threshold) if v is not None else watch.treat == "breaching" for v in values
             if v is not None or watch.treat in ("breaching", "notBreaching")]
    new = ALARM if sum(flags) >= watch.to_alarm else OK
    recent = [(v, at - (len(values) - i) * watch.period) for i, v in enumerate(values) if v is not None][::-1]
    shown = ", ".join(f"{_number(v)} ({_reason_time(t)})" for v, t in recent)
    count = sum(flags) if new == ALARM else len(flags) - sum(flags)
    verb = ("was" if count == 1 else "were") + ("" if new == ALARM else " not")
    text = (f"Threshold Crossed: {count} out of the last {len(values)} datapoints [{shown}] {verb} "
            f"{phrase} the threshold ({_number(watch.threshold)}) (minimum {watch.to_alarm} "
            f"datapoint{_s(watch.to_alarm)} for {_other(new)} -> {new} transition).")
    return new, text


def _reason_data(watch: _Watch, values: list[float | None], at: float) -> str:
    return json.dumps({
        "version": "1.0", "queryDate": _aws_time(at), "startDate": _aws_time(at - watch.periods * watch.period),
        "statistic": watch.statistic, "period": watch.period,
        "recentDatapoints": [v for v in values if v is not None], "threshold": watch.threshold,
    })


def _skip_to_recent(watch: _Watch, now: float) -> None:
    """After a long jump of the clock only the last boundaries can change the state: evaluate
    from ``EvaluationPeriods`` periods before the latest one."""
    latest = float(math.floor(now / watch.period) * watch.period)
    earliest = latest - watch.periods * watch.period
    if watch.waiting_for is None and watch.next_at < earliest:
        watch.next_at = earliest


def _statistic(statistic: str, points: list[_Point]) -> float | None:
    if not points:
        return None
    count = sum(p.count for p in points)
    if statistic == "SampleCount":
        return count
    if statistic == "Sum":
        return sum(p.total for p in points)
    if statistic == "Average":
        return sum(p.total for p in points) / count if count else None
    if statistic == "Minimum":
        return min(p.low for p in points)
    if statistic == "Maximum":
        return max(p.high for p in points)
    values = sorted(v for p in points for v in p.values)  # a percentile, pNN: nearest rank
    if not values:
        return None
    rank = max(1, math.ceil(float(statistic[1:]) / 100 * len(values)))
    return values[rank - 1]


def _evaluable(alarm: Any) -> bool:
    """A single-metric alarm on a threshold (not metric math, anomaly detection or composite)."""
    return (not alarm.metric_data_queries and alarm.rule is None and not alarm.threshold_metric_id
            and alarm.comparison_operator in COMPARISONS and bool(alarm.metric_name) and bool(alarm.period)
            and (alarm.statistic in ("SampleCount", "Sum", "Average", "Minimum", "Maximum")
                 or bool(alarm.extended_statistic and PERCENTILE.match(alarm.extended_statistic))))


def _watch_of(alarm: Any, now: float) -> _Watch:
    period = int(alarm.period)
    periods = int(alarm.evaluation_periods)
    treat = alarm.treat_missing_data if alarm.treat_missing_data in TREATMENTS else "missing"
    return _Watch(
        name=alarm.name, model=alarm,
        series=(alarm.namespace, alarm.metric_name, frozenset((d.name, d.value) for d in alarm.dimensions)),
        period=period, periods=periods, to_alarm=int(alarm.datapoints_to_alarm or periods),
        threshold=float(alarm.threshold), comparison=alarm.comparison_operator,
        statistic=alarm.extended_statistic or alarm.statistic, treat=treat, unit=alarm.unit,
        next_at=_next_boundary(now, period),
    )


def _snapshot(alarm: Any) -> dict[str, Any]:
    """What a notification reports of the alarm, read while moto's lock is held."""
    return {
        "AlarmDescription": alarm.description, "AlarmArn": alarm.alarm_arn,
        "ConfigurationUpdated": _epoch(alarm.configuration_updated_timestamp),
        "OKActions": list(alarm.ok_actions), "AlarmActions": list(alarm.alarm_actions),
        "InsufficientDataActions": list(alarm.insufficient_data_actions), "ActionsEnabled": alarm.actions_enabled,
        "MetricName": alarm.metric_name, "Namespace": alarm.namespace, "Statistic": alarm.statistic,
        "ExtendedStatistic": alarm.extended_statistic, "Unit": alarm.unit,
        "Dimensions": [{"value": d.value, "name": d.name} for d in alarm.dimensions],
        "Period": int(alarm.period), "EvaluationPeriods": int(alarm.evaluation_periods),
        "DatapointsToAlarm": int(alarm.datapoints_to_alarm or alarm.evaluation_periods),
        "ComparisonOperator": alarm.comparison_operator, "Threshold": float(alarm.threshold),
        "TreatMissingData": alarm.treat_missing_data or "missing",
        "EvaluateLowSampleCountPercentile": alarm.evaluate_low_sample_count_percentile,
    }


def _point(datum: Any) -> _Point:
    at = _epoch(datum.timestamp)
    unit = getattr(datum, "unit", None)
    if hasattr(datum, "value"):
        value = float(datum.value)
        return _Point(at, 1.0, value, value, value, (value,), unit)
    return _Point(at, float(datum.sample_count), float(datum.sum_stat), float(datum.min_stat),
                  float(datum.max_stat), (), unit)


def _next_boundary(now: float, period: int) -> float:
    """The first period boundary after ``now`` (boundaries are multiples of the period)."""
    return float((math.floor(now / period) + 1) * period)


def _epoch(moment: datetime) -> float:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def _aws_time(at: float) -> str:
    """``2026-01-01T00:01:00.000+0000``, as alarm notifications write a time."""
    moment = datetime.fromtimestamp(at, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def _reason_time(at: float) -> str:
    """``01/01/26 00:00:00``, as a state reason writes a datapoint's time."""
    return datetime.fromtimestamp(at, tz=timezone.utc).strftime("%d/%m/%y %H:%M:%S")


def _number(value: float) -> str:
    return repr(float(value))


def _other(state: str) -> str:
    return OK if state == ALARM else ALARM


def _s(n: int) -> str:
    return "" if n == 1 else "s"


def watch_alarms(clock: Clock, model: Any, dataplane: Any, journal: Journal,
                 metrics: Any) -> list[SqsMetrics | AlarmEvaluator]:
    """The template's queue metrics and the alarm evaluator, as pollers (polled after the Lambda
    metrics, so a round's datapoints are in before alarms read them)."""
    queues = [model.attrs[lid]["QueueName"] for lid, resource in model.resources.items()
              if resource.get("Type") == "AWS::SQS::Queue" and isinstance(model.attrs.get(lid), dict)]
    sqs = SqsMetrics(clock, queues)

    def notify(topic: str, subject: str, message: str) -> None:
        dataplane.client("sns").publish(TopicArn=topic, Subject=subject, Message=message)

    evaluator = AlarmEvaluator(clock, journal, notify, prepare=[metrics.flush, sqs.sample])
    sqs.watch(evaluator.watches_queue)
    return [sqs, evaluator]
