"""Lambda's metrics in the local CloudWatch [MET]: read with plain boto3, on the cloud's clock."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from tests.engine.apps import function
from tests.engine.stream_apps import put, stream_app

HANDLER = '''
import time

def handler(event, context):
    if event.get("sleep"):
        time.sleep(event["sleep"])
    if event.get("fail"):
        raise ValueError(event["fail"])
    return "ok"
'''


def datapoints(cloud: Any, metric: str, function_name: str, statistic: str) -> list[float]:
    """``statistic`` of ``metric`` for the function, one value per hour, over the hour around now."""
    now = cloud.now()
    answer = cloud.client("cloudwatch").get_metric_statistics(
        Namespace="AWS/Lambda", MetricName=metric, Dimensions=[{"Name": "FunctionName", "Value": function_name}],
        StartTime=datetime.fromtimestamp(now - 1800, tz=timezone.utc),
        EndTime=datetime.fromtimestamp(now + 1800, tz=timezone.utc), Period=3600, Statistics=[statistic])
    return [float(p[statistic]) for p in answer["Datapoints"]]


def stats(cloud: Any, metric: str, function_name: str, statistic: str = "Sum") -> float:
    """``statistic`` of ``metric`` for the function over the hour around now (there must be data)."""
    values = datapoints(cloud, metric, function_name, statistic)
    assert values, f"no {metric} datapoint"
    if statistic == "Maximum":
        return max(values)
    if statistic == "Minimum":
        return min(values)
    return sum(values) if statistic == "Sum" else values[0]


def start(make_cloud: Any, **props: Any) -> Any:
    return make_cloud(function("Fn", **props) + function("Other"), {"app.py": HANDLER})


def test_invocations_errors_throttles_and_duration_are_counted(make_cloud: Any) -> None:
    """[MET] Each invocation counts once, a function error also in Errors, a throttled request only
    in Throttles; Duration is the virtual run time in milliseconds."""
    cloud = start(make_cloud)
    name = cloud.function("Fn").FunctionName
    for _ in range(3):
        cloud.invoke("Fn", {"sleep": 2})
    cloud.invoke("Fn", {"fail": "boom"})
    cloud.faults.throttle("Fn", times=2)
    for _ in range(2):
        try:
            cloud.invoke("Fn", {})
        except Exception:  # noqa: BLE001 - the throttle answers with an error, as Lambda does
            pass
    assert stats(cloud, "Invocations", name) == 4
    assert stats(cloud, "Errors", name) == 1
    assert stats(cloud, "Throttles", name) == 2
    assert stats(cloud, "Duration", name, "Maximum") >= 2000
    assert 1500 <= stats(cloud, "Duration", name, "Average") < 2500  # three 2 s runs, one short
    assert stats(cloud, "ConcurrentExecutions", name, "Maximum") == 1
    assert datapoints(cloud, "Invocations", cloud.function("Other").FunctionName, "Sum") == []


def test_datapoints_are_stamped_with_the_cloud_clock(make_cloud: Any) -> None:
    """[MET] A run an hour later on the virtual clock falls in a later period, not in this one."""
    cloud = start(make_cloud)
    name = cloud.function("Fn").FunctionName
    cloud.invoke("Fn", {})
    cloud.advance(7200)
    cloud.invoke("Fn", {})
    assert stats(cloud, "Invocations", name) == 1  # the window is the hour around the new now


def test_concurrent_executions_counts_overlapping_runs(make_cloud: Any) -> None:
    """[MET] Three Event invokes run at once: ConcurrentExecutions reaches 3."""
    cloud = start(make_cloud)
    name = cloud.function("Fn").FunctionName
    for _ in range(3):
        cloud.invoke("Fn", {"sleep": 2}, invocation_type="Event")
    cloud.run_until_idle()
    assert stats(cloud, "ConcurrentExecutions", name, "Maximum") == 3
    assert stats(cloud, "AsyncEventsReceived", name) == 3
    assert stats(cloud, "AsyncEventAge", name, "Maximum") == 0


def test_async_event_age_grows_with_retries_and_a_given_up_event_is_dropped(make_cloud: Any) -> None:
    """[MET] An event that fails every attempt: its age at the retries is the backoff waited (about
    1 and 3 minutes), and once retries are exhausted it counts in AsyncEventsDropped."""
    cloud = start(make_cloud)
    name = cloud.function("Fn").FunctionName
    cloud.invoke("Fn", {"fail": "always"}, invocation_type="Event")
    cloud.run_until_idle()
    assert stats(cloud, "Invocations", name) == 3
    assert stats(cloud, "AsyncEventsDropped", name) == 1
    assert stats(cloud, "AsyncEventAge", name, "Maximum") >= 150_000  # the third attempt, ~3 min in
    assert stats(cloud, "AsyncEventAge", name, "Minimum") == 0


def test_zero_reserved_concurrency_drops_the_event_without_an_invocation(make_cloud: Any) -> None:
    """[MET] With ReservedConcurrentExecutions 0 the event is given up at once: dropped, not invoked."""
    cloud = start(make_cloud, ReservedConcurrentExecutions=0)
    name = cloud.function("Fn").FunctionName
    cloud.invoke("Fn", {}, invocation_type="Event")
    cloud.run_until_idle()
    assert stats(cloud, "AsyncEventsReceived", name) == 1
    assert stats(cloud, "AsyncEventsDropped", name) == 1
    assert datapoints(cloud, "Invocations", name, "Sum") == []


def test_iterator_age_is_the_age_of_the_last_record_when_its_batch_is_invoked(make_cloud: Any) -> None:
    """[MET] A record that waited (its batch retried for ten minutes): IteratorAge reports minutes."""
    cloud = make_cloud(*stream_app(shards=1, events="StartingPosition: TRIM_HORIZON\nMaximumRetryAttempts: 100"))
    name = cloud.function("Worker").FunctionName
    put(cloud, {"id": "a1", "poison": True}, shard=0, shards=1)
    cloud.advance(600)
    assert stats(cloud, "IteratorAge", name, "Minimum") < 1000  # the first attempt, at once
    assert stats(cloud, "IteratorAge", name, "Maximum") >= 300_000


def test_metrics_change_nothing_the_journal_records(make_cloud: Any) -> None:
    """[MET] The same run gives the same journal whether or not its metrics are read meanwhile."""

    def run(read: bool) -> list[dict[str, Any]]:
        cloud = start(make_cloud)
        name = cloud.function("Fn").FunctionName
        for n in range(3):
            cloud.invoke("Fn", {"sleep": n}, invocation_type="Event")
            cloud.invoke("Fn", {"fail": "x"} if n == 1 else {})
            if read:
                stats(cloud, "Invocations", name)
        cloud.run_until_idle()
        if read:
            stats(cloud, "Duration", name, "Average")
        rows = cloud.journal.rows(precision=3)
        cloud.close()
        return rows

    assert run(read=False) == run(read=True)
