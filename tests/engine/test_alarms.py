"""CloudWatch alarms evaluated on the cloud's clock [ALARM], and the SQS queue metrics that moto
lacks [SQS-MET]: read with plain boto3, as on AWS."""

from __future__ import annotations

import json
import textwrap
from datetime import datetime, timezone
from typing import Any

import pytest

from lambdalab.errors import ConfigurationError
from tests.engine.apps import function
from tests.engine.stream_apps import put, stream_app

HANDLER = '''
def handler(event, context):
    if isinstance(event, dict) and event.get("fail"):
        raise ValueError(event["fail"])
    return "ok"
'''


def alarm(name: str, metric: str, dimension: str, value: str, *, namespace: str = "AWS/Lambda",
          statistic: str = "Sum", threshold: float = 1, operator: str = "GreaterThanOrEqualToThreshold",
          periods: int = 1, to_alarm: int | None = None, treat: str | None = "notBreaching",
          period: int = 60, extra: str = "") -> str:
    lines = [f"{name}:", "  Type: AWS::CloudWatch::Alarm", "  Properties:",
             f"    Namespace: {namespace}", f"    MetricName: {metric}",
             f"    Dimensions: [{{Name: {dimension}, Value: {value}}}]",
             f"    Statistic: {statistic}", f"    Period: {period}", f"    EvaluationPeriods: {periods}",
             f"    Threshold: {threshold}", f"    ComparisonOperator: {operator}"]
    lines += [f"    DatapointsToAlarm: {to_alarm}"] if to_alarm else []
    lines += [f"    TreatMissingData: {treat}"] if treat else []
    block = textwrap.indent(textwrap.dedent(extra).strip("\n"), "    ")
    return "\n".join(lines) + "\n" + (block + "\n" if extra else "")


def errors_app(make_cloud: Any, treat: str | None = "notBreaching", **kwargs: Any) -> Any:
    resources = function("Fn", FunctionName="fn") + alarm("Errors", "Errors", "FunctionName", "fn", treat=treat,
                                                          **kwargs)
    return make_cloud(resources, {"app.py": HANDLER})


def state(cloud: Any, name: str) -> str:
    alarms = cloud.client("cloudwatch").describe_alarms(AlarmNames=[name])["MetricAlarms"]
    return str(alarms[0]["StateValue"])


def states(cloud: Any, name: str) -> list[str]:
    """The alarm's states, from the first change on (INSUFFICIENT_DATA, the initial one, first)."""
    changes = cloud.journal.alarm_changes(name)
    return ([changes[0].old_state] if changes else []) + [c.new_state for c in changes]


def test_an_errors_alarm_fires_after_a_failing_invoke_and_clears_a_minute_later(make_cloud: Any) -> None:
    """[ALARM] Errors Sum >= 1 over 60 s, 1 of 1, missing data not breaching: ALARM at the first
    boundary after the error, OK at the next (a minute without errors)."""
    cloud = errors_app(make_cloud)
    assert state(cloud, "Errors") == "INSUFFICIENT_DATA"  # a new alarm, before its first evaluation
    cloud.invoke("Fn", {"fail": "boom"})
    cloud.advance(60)
    assert state(cloud, "Errors") == "ALARM"
    described = cloud.client("cloudwatch").describe_alarms(AlarmNames=["Errors"])["MetricAlarms"][0]
    assert described["StateReason"] == (
        "Threshold Crossed: 1 out of the last 1 datapoints [1.0 (01/01/26 00:00:00)] was greater than or equal to "
        "the threshold (1.0) (minimum 1 datapoint for OK -> ALARM transition).")
    assert json.loads(described["StateReasonData"])["recentDatapoints"] == [1.0]
    assert described["StateUpdatedTimestamp"] == datetime(2026, 1, 1, 0, 1, tzinfo=timezone.utc)
    cloud.advance(60)
    assert state(cloud, "Errors") == "OK"
    assert states(cloud, "Errors") == ["INSUFFICIENT_DATA", "ALARM", "OK"]
    assert [round(c.at - cloud.journal.origin) for c in cloud.journal.alarm_changes("Errors")] == [60, 120]
    assert "treated as [NonBreaching]" in cloud.journal.alarm_changes("Errors")[-1].reason


def test_an_idle_alarm_keeps_the_cloud_idle(make_cloud: Any) -> None:
    """[ALARM] Once its window is empty an alarm asks for no evaluation: run_until_idle ends."""
    cloud = errors_app(make_cloud)
    cloud.invoke("Fn", {"fail": "boom"})
    cloud.run_until_idle()
    assert state(cloud, "Errors") == "OK"
    assert cloud.now() - cloud.journal.origin <= 180
    assert cloud.run_until_idle() == 0


@pytest.mark.parametrize(("treat", "expected"), [
    ("missing", "INSUFFICIENT_DATA"), ("notBreaching", "OK"), ("breaching", "ALARM"), ("ignore", "INSUFFICIENT_DATA"),
    (None, "INSUFFICIENT_DATA"),
])
def test_missing_data_is_treated_as_the_alarm_says(make_cloud: Any, treat: str | None, expected: str) -> None:
    """[ALARM] With no datapoint at all: missing (the default) and ignore stay INSUFFICIENT_DATA,
    notBreaching goes OK, breaching goes ALARM."""
    cloud = errors_app(make_cloud, treat=treat)
    cloud.advance(60)
    assert state(cloud, "Errors") == expected


def test_ignore_keeps_the_alarm_state_when_data_stops(make_cloud: Any) -> None:
    """[ALARM] ``ignore``: the alarm stays in ALARM after the errors stop; ``missing`` goes back to
    INSUFFICIENT_DATA."""
    cloud = errors_app(make_cloud, treat="ignore")
    cloud.invoke("Fn", {"fail": "boom"})
    cloud.advance(300)
    assert state(cloud, "Errors") == "ALARM"
    cloud.close()
    cloud = errors_app(make_cloud, treat="missing")
    cloud.invoke("Fn", {"fail": "boom"})
    cloud.advance(300)
    assert states(cloud, "Errors") == ["INSUFFICIENT_DATA", "ALARM", "INSUFFICIENT_DATA"]


def test_datapoints_to_alarm_counts_breaching_periods_of_the_evaluation_periods(make_cloud: Any) -> None:
    """[ALARM] 2 of 3: one minute with an error is not enough; a second one within three minutes is."""
    cloud = errors_app(make_cloud, periods=3, to_alarm=2)
    cloud.invoke("Fn", {"fail": "boom"})
    cloud.advance(60)
    cloud.invoke("Fn", {})
    cloud.advance(60)
    assert state(cloud, "Errors") == "OK"
    cloud.invoke("Fn", {"fail": "again"})
    cloud.advance(60)
    assert state(cloud, "Errors") == "ALARM"
    assert "2 out of the last 3 datapoints" in cloud.journal.alarm_changes("Errors")[-1].reason


DLQ_APP = function("Fn", FunctionName="fn", extra="""
EventInvokeConfig:
  MaximumRetryAttempts: 0
DeadLetterQueue:
  Type: SQS
  TargetArn: !GetAtt Dlq.Arn
""") + """
Dlq:
  Type: AWS::SQS::Queue
  Properties:
    QueueName: fn-dlq
Alerts:
  Type: AWS::SNS::Topic
AlertsCopy:
  Type: AWS::SQS::Queue
AlertsToQueue:
  Type: AWS::SNS::Subscription
  Properties:
    TopicArn: !Ref Alerts
    Protocol: sqs
    RawMessageDelivery: true
    Endpoint: !GetAtt AlertsCopy.Arn
""" + alarm("DlqNotEmpty", "ApproximateNumberOfMessagesVisible", "QueueName", "fn-dlq", namespace="AWS/SQS",
            statistic="Maximum", extra="""
AlarmDescription: a failed event waits in the dead-letter queue
AlarmActions: [!Ref Alerts]
OKActions: [!Ref Alerts]
""")


def test_a_dead_letter_queue_alarm_fires_when_a_failed_event_lands_and_notifies_its_topic(make_cloud: Any) -> None:
    """[ALARM][SQS-MET] An async event that fails lands in the DLQ: its depth, published each
    minute, puts the alarm in ALARM, and the alarm's SNS topic gets CloudWatch's notification."""
    cloud = make_cloud(DLQ_APP, {"app.py": HANDLER})
    cloud.invoke("Fn", {"fail": "boom"}, invocation_type="Event")
    cloud.run_until_idle()
    assert cloud.queue_attributes("Dlq")["ApproximateNumberOfMessages"] == "1"
    assert state(cloud, "DlqNotEmpty") == "ALARM"
    assert cloud.run_until_idle() == 0  # a depth that stays the same keeps nothing busy
    sqs = cloud.client("sqs")
    notes = sqs.receive_message(QueueUrl=cloud.resource("AlertsCopy"), MaxNumberOfMessages=10)["Messages"]
    message = json.loads(notes[0]["Body"])
    assert message["AlarmName"] == "DlqNotEmpty"
    assert message["NewStateValue"] == "ALARM"
    assert message["OldStateValue"] == "INSUFFICIENT_DATA"
    assert message["AlarmDescription"] == "a failed event waits in the dead-letter queue"
    assert message["StateChangeTime"].endswith("+0000")
    assert message["Trigger"]["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert message["Trigger"]["Statistic"] == "MAXIMUM"
    assert message["Trigger"]["Dimensions"] == [{"value": "fn-dlq", "name": "QueueName"}]
    # The DLQ is drained: the alarm goes back to OK and says so.
    for received in sqs.receive_message(QueueUrl=cloud.resource("Dlq"), MaxNumberOfMessages=10)["Messages"]:
        sqs.delete_message(QueueUrl=cloud.resource("Dlq"), ReceiptHandle=received["ReceiptHandle"])
    cloud.run_until_idle()
    assert state(cloud, "DlqNotEmpty") == "OK"


def test_sqs_queue_metrics_are_published_each_minute(make_cloud: Any) -> None:
    """[SQS-MET] ApproximateNumberOfMessagesVisible and ApproximateAgeOfOldestMessage, namespace
    AWS/SQS, dimension QueueName, one datapoint a minute, the age on the cloud's clock."""
    cloud = make_cloud(function("Fn") + "Work:\n  Type: AWS::SQS::Queue\n  Properties:\n    QueueName: work\n",
                       {"app.py": HANDLER})
    cloud.client("sqs").send_message(QueueUrl=cloud.resource("Work"), MessageBody="x")
    cloud.run_until_idle()  # nothing runs: the clock stays
    cloud.advance(150)
    cloud.run_until_idle()  # a poll at the new time publishes the minutes passed
    now = cloud.now()
    watch = cloud.client("cloudwatch")

    def points(metric: str) -> list[dict[str, Any]]:
        answer = watch.get_metric_statistics(
            Namespace="AWS/SQS", MetricName=metric, Dimensions=[{"Name": "QueueName", "Value": "work"}],
            StartTime=datetime.fromtimestamp(now - 600, tz=timezone.utc),
            EndTime=datetime.fromtimestamp(now, tz=timezone.utc), Period=60, Statistics=["Maximum"])
        return sorted(answer["Datapoints"], key=lambda p: p["Timestamp"])

    assert [p["Maximum"] for p in points("ApproximateNumberOfMessagesVisible")] == [1.0, 1.0]
    ages = [p["Maximum"] for p in points("ApproximateAgeOfOldestMessage")]
    assert len(ages) == 2 and 120 <= ages[-1] <= 150


def test_an_iterator_age_alarm_fires_while_a_stream_batch_keeps_failing(make_cloud: Any) -> None:
    """[ALARM] IteratorAge Maximum > 60000 ms: a poison record retried for minutes fires it."""
    resources, handlers = stream_app(shards=1, events="StartingPosition: TRIM_HORIZON\nMaximumRetryAttempts: 100")
    cloud = make_cloud(resources + alarm("Behind", "IteratorAge", "FunctionName", "!Ref Worker",
                                         statistic="Maximum", threshold=60000, operator="GreaterThanThreshold"),
                       handlers)
    put(cloud, {"id": "a1", "poison": True}, shard=0, shards=1)
    cloud.advance(60)
    assert state(cloud, "Behind") == "OK"
    cloud.advance(300)
    assert state(cloud, "Behind") == "ALARM"


def test_an_alarm_put_with_boto3_is_evaluated_too(make_cloud: Any) -> None:
    """[ALARM] put_metric_alarm after start: evaluated on the cloud's clock like a template's."""
    cloud = make_cloud(function("Fn", FunctionName="fn"), {"app.py": HANDLER})
    cloud.client("cloudwatch").put_metric_alarm(
        AlarmName="Late", Namespace="AWS/Lambda", MetricName="Errors",
        Dimensions=[{"Name": "FunctionName", "Value": "fn"}], Statistic="Sum", Period=60, EvaluationPeriods=1,
        Threshold=1, ComparisonOperator="GreaterThanOrEqualToThreshold", TreatMissingData="notBreaching")
    cloud.invoke("Fn", {"fail": "boom"})
    cloud.advance(60)
    assert state(cloud, "Late") == "ALARM"


def test_a_percentile_alarm_on_a_custom_metric(make_cloud: Any) -> None:
    """[ALARM] ExtendedStatistic p90 of datapoints put with boto3 (stamped with the cloud's clock)."""
    cloud = make_cloud(function("Fn"), {"app.py": HANDLER})
    watch = cloud.client("cloudwatch")
    watch.put_metric_alarm(
        AlarmName="Slow", Namespace="Shop", MetricName="Latency", Dimensions=[{"Name": "Api", "Value": "orders"}],
        ExtendedStatistic="p90", Period=60, EvaluationPeriods=1, Threshold=8.5,
        ComparisonOperator="GreaterThanThreshold")
    stamp = datetime.fromtimestamp(cloud.now(), tz=timezone.utc)
    watch.put_metric_data(Namespace="Shop", MetricData=[
        {"MetricName": "Latency", "Dimensions": [{"Name": "Api", "Value": "orders"}], "Value": float(v),
         "Timestamp": stamp} for v in range(1, 11)])
    cloud.advance(60)
    assert state(cloud, "Slow") == "ALARM"  # the 90th percentile of 1..10 is 9
    assert "[9.0 (01/01/26 00:00:00)]" in cloud.journal.alarm_changes("Slow")[-1].reason


@pytest.mark.parametrize(("prop", "message"), [
    ("Metrics:\n      - Id: e1\n        Expression: m1 / 2",
     "Ratio.Metrics: metric math alarms are not supported locally"),
    ("ThresholdMetricId: band", "Ratio.ThresholdMetricId: anomaly detection alarms are not supported locally"),
])
def test_metric_math_and_anomaly_detection_alarms_are_refused_by_name(make_cloud: Any, prop: str,
                                                                      message: str) -> None:
    """[ALARM] Metric math (``Metrics``) and anomaly detection are refused, naming the alarm and the property."""
    resources = function("Fn") + f"""
Ratio:
  Type: AWS::CloudWatch::Alarm
  Properties:
    EvaluationPeriods: 1
    Threshold: 1
    ComparisonOperator: GreaterThanThreshold
    {prop}
"""
    with pytest.raises(ConfigurationError) as refused:
        make_cloud(resources, {"app.py": HANDLER})
    assert message in str(refused.value)
