"""Scheduled rules and EventBridge Scheduler schedules, fired by the virtual clock [SCHED]."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest

from lambdalab.errors import ConfigurationError
from lambdalab.sources.schedules.cron import parse_cron
from lambdalab.sources.schedules.expressions import InvalidExpression, Rate, parse
from tests.engine.apps import function
from tests.engine.async_apps import HANDLER, events_seen, offsets
from tests.engine.event_shapes import sample, shape_differences

# [SCHED]: every event a rule sends has "version"; SAM's sample leaves it out.
EVENTBRIDGE_EXTRA = ("version",)


def app(events: str, **function_props: str) -> str:
    return function("Fn", extra=events, **function_props) + """
Failed:
  Type: AWS::SQS::Queue
"""


def start(make_cloud, events: str, **function_props: str):
    return make_cloud(app(events, **function_props), {"app.py": HANDLER})


def minutes(cloud, invocations) -> list[int]:
    return [o // 60 for o in offsets(cloud, invocations)]


def test_a_rate_rule_fires_once_per_period_and_never_at_creation(make_cloud):
    """[SCHED]: rate(10 minutes) fires 10 minutes after the rule exists, then every 10 minutes; each
    firing is an asynchronous invoke whose source the journal names."""
    cloud = start(make_cloud, """
Events:
  Tick:
    Type: Schedule
    Properties:
      Schedule: rate(10 minutes)
""")
    cloud.run_until_idle()
    assert cloud.journal.invocations("Fn") == []
    cloud.advance(599)
    assert cloud.journal.invocations("Fn") == []
    cloud.advance(1)
    assert len(cloud.journal.invocations("Fn")) == 1
    cloud.advance(1800)
    invocations = cloud.journal.invocations("Fn")
    assert minutes(cloud, invocations) == [10, 20, 30, 40]
    assert {(i.source, i.invocation_type) for i in invocations} == {("events:FnTick", "Event")}


def test_the_scheduled_event_has_the_shape_of_aws_sample(make_cloud):
    """[SCHED]: {version, id, detail-type "Scheduled Event", source "aws.events", account, time (the
    firing's, to the second), region, resources [rule ARN], detail {}}."""
    cloud = start(make_cloud, """
Events:
  Tick:
    Type: Schedule
    Properties:
      Schedule: rate(1 hour)
      Name: hourly
""")
    cloud.advance(2 * 3600)
    first, second = events_seen(cloud)
    assert shape_differences(first, sample("cloudwatch/scheduled-event.json"), extra=EVENTBRIDGE_EXTRA) == []
    assert first["version"] == "0" and first["detail-type"] == "Scheduled Event" and first["detail"] == {}
    assert (first["time"], second["time"]) == ("2026-01-01T01:00:00Z", "2026-01-01T02:00:00Z")
    assert first["resources"] == ["arn:aws:events:us-east-1:123456789012:rule/hourly"]
    assert first["source"] == "aws.events" and first["account"] == "123456789012"
    assert re.fullmatch(r"[0-9a-f-]{36}", first["id"]) and first["id"] != second["id"]


def test_input_replaces_the_event_and_input_path_picks_part_of_it(make_cloud):
    """[SCHED]: a target's Input (constant JSON) is the whole event; InputPath sends the part it names."""
    cloud = make_cloud(function("Fn") + """
Constant:
  Type: AWS::Events::Rule
  Properties:
    ScheduleExpression: rate(5 minutes)
    Targets:
      - {Id: fn, Arn: !GetAtt Fn.Arn, Input: '{"job": "report"}'}
Part:
  Type: AWS::Events::Rule
  Properties:
    ScheduleExpression: rate(5 minutes)
    Targets:
      - {Id: fn, Arn: !GetAtt Fn.Arn, InputPath: $.time}
""", {"app.py": HANDLER.replace("print(json.dumps(event))", "print(json.dumps([event]))")})
    cloud.advance(300)
    seen = sorted((e[0] for e in events_seen(cloud)), key=str)
    assert seen == ["2026-01-01T00:05:00Z", {"job": "report"}]


def test_a_cron_rule_fires_at_matching_utc_minutes(make_cloud):
    """[SCHED]: cron(0/15 9-10 * * ? *) fires at 09:00, 09:15 ... 10:45 UTC, and not otherwise."""
    cloud = start(make_cloud, """
Events:
  Office:
    Type: Schedule
    Properties:
      Schedule: cron(0/15 9-10 * * ? *)
""")
    cloud.advance(24 * 3600)
    times = [e["time"][11:16] for e in events_seen(cloud)]
    assert times == ["09:00", "09:15", "09:30", "09:45", "10:00", "10:15", "10:30", "10:45"]


def test_a_disabled_rule_never_fires(make_cloud):
    """[SCHED]: State DISABLED (SAM: Enabled: false) keeps the rule from firing."""
    cloud = start(make_cloud, """
Events:
  Tick:
    Type: Schedule
    Properties:
      Schedule: rate(1 minute)
      Enabled: false
""")
    cloud.advance(3600)
    cloud.run_until_idle()
    assert cloud.journal.invocations("Fn") == []


def test_a_failing_scheduled_invoke_gets_the_async_retries_and_run_until_idle_returns(make_cloud):
    """[SCHED],[A-ERR]: a firing is an async event: a failing function is retried after 1 and 2 more
    minutes, then goes to its on-failure destination; run_until_idle drains that and returns, the
    schedule itself being no work."""
    cloud = start(make_cloud, """
EventInvokeConfig:
  DestinationConfig:
    OnFailure: {Type: SQS, Destination: !GetAtt Failed.Arn}
Events:
  Tick:
    Type: Schedule
    Properties:
      Schedule: rate(1 day)
      Input: '{"fail": "boom"}'
""")
    cloud.advance(86400)
    cloud.run_until_idle()
    attempts = cloud.journal.invocations("Fn")
    assert [a.attempt for a in attempts] == [1, 2, 3]
    assert minutes(cloud, attempts) == [1440, 1441, 1443]
    assert cloud.now() - cloud.journal.origin < 2 * 86400  # the next firing did not run
    failed = cloud.client("sqs").receive_message(QueueUrl=cloud.resource("Failed"))["Messages"]
    assert '"condition": "RetriesExhausted"' in failed[0]["Body"]


def test_scheduler_schedules_fire_in_their_time_zone_with_their_input(make_cloud):
    """[SCHED]: ScheduleV2 (AWS::Scheduler::Schedule): cron in ScheduleExpressionTimezone, the target's
    Input as the event; a rate starts at once; an at() fires once."""
    cloud = start(make_cloud, """
Events:
  Noon:
    Type: ScheduleV2
    Properties:
      ScheduleExpression: cron(0 12 * * ? *)
      ScheduleExpressionTimezone: Europe/Paris
      Input: '{"kind": "noon"}'
  Often:
    Type: ScheduleV2
    Properties:
      ScheduleExpression: rate(6 hours)
      Input: '{"kind": "often"}'
  Once:
    Type: ScheduleV2
    Properties:
      ScheduleExpression: at(2026-01-01T03:30:00)
""")
    cloud.run_until_idle()
    cloud.advance(24 * 3600)
    starts = offsets(cloud, cloud.journal.invocations("Fn"))
    runs = [(o // 60, e) for o, e in zip(starts, events_seen(cloud), strict=True)]
    assert sorted(runs, key=lambda r: (r[0], str(r[1]))) == [
        (0, {"kind": "often"}), (210, {}), (360, {"kind": "often"}), (660, {"kind": "noon"}),
        (720, {"kind": "often"}), (1080, {"kind": "often"}), (1440, {"kind": "often"})]
    assert {i.source for i in cloud.journal.invocations("Fn")} == {
        "scheduler:FnNoon", "scheduler:FnOften", "scheduler:FnOnce"}


@pytest.mark.parametrize(("expression", "words"), [
    ("rate(0 minutes)", "the value must be above 0"),
    ("rate(1 minutes)", "a value of 1 takes the unit 'minute'"),
    ("rate(5 minute)", "a value of 5 takes the unit 'minutes'"),
    ("cron(0 12 * * * *)", "exactly one of day-of-month and day-of-week must be '?'"),
    ("cron(0 12 * * ?)", "this one has 5"),
    ("cron(61 12 * * ? *)", "'61' is not a minutes value"),
    ("every day", "is not a schedule expression"),
])
def test_an_expression_aws_refuses_is_refused_at_start_named_as_written(make_cloud, expression, words):
    """[SCHED]: a SAM Schedule event's bad expression is refused naming Fn.Events.<name>.Properties.Schedule
    and its line, with the template's other refusals."""
    with pytest.raises(ConfigurationError) as raised:
        start(make_cloud, f"""
Events:
  Tick:
    Type: Schedule
    Properties:
      Schedule: {expression}
""", MemorySize=64)
    text = str(raised.value)
    assert re.search(r"template\.yaml:\d+: Fn\.Events\.Tick\.Properties\.Schedule: ", text), text
    assert words in text
    assert "Fn.MemorySize" in text  # every refusal at once
    assert "Traceback" not in text


def test_what_is_not_emulated_is_refused_by_name(make_cloud):
    """[SCHED]: InputTransformer, a target that is neither a function nor a state machine and event-pattern
    rules are refused."""
    with pytest.raises(ConfigurationError) as raised:
        make_cloud(function("Fn") + """
Topic:
  Type: AWS::SNS::Topic
Rule:
  Type: AWS::Events::Rule
  Properties:
    ScheduleExpression: rate(5 minutes)
    Targets:
      - Id: fn
        Arn: !GetAtt Fn.Arn
        InputTransformer: {InputTemplate: '"x"'}
      - {Id: topic, Arn: !Ref Topic}
Pattern:
  Type: AWS::Events::Rule
  Properties:
    EventPattern: {source: [aws.s3]}
    Targets: [{Id: fn, Arn: !GetAtt Fn.Arn}]
""", {"app.py": HANDLER})
    text = str(raised.value)
    assert "Rule.Targets[0].InputTransformer: InputTransformer is not supported locally" in text
    assert ("Rule.Targets[1].Arn: only functions and state machines of the template are supported locally "
            "as targets") in text
    assert "Pattern.EventPattern: rules that match events are not supported locally" in text


def test_retry_policy_and_dead_letter_config_are_accepted_and_listed(make_cloud):
    """[SCHED]: a target's RetryPolicy and DeadLetterConfig govern EventBridge's delivery to the async
    queue, which never fails locally: accepted, named in the start notice."""
    cloud = start(make_cloud, """
Events:
  Tick:
    Type: Schedule
    Properties:
      Schedule: rate(1 hour)
      RetryPolicy: {MaximumRetryAttempts: 3, MaximumEventAgeInSeconds: 300}
      DeadLetterConfig: {Type: SQS}
""")
    notices = " ".join(cloud.model.notices())
    assert "Fn.Events.Tick.Properties.RetryPolicy" in notices
    assert "Fn.Events.Tick.Properties.DeadLetterConfig" in notices


# -- the expressions alone ---------------------------------------------------------------------------------
def utc(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.mark.parametrize(("fields", "after", "expected"), [
    ("0 10 * * ? *", "2026-01-01T10:00", "2026-01-02T10:00"),
    ("15 12 ? * MON-FRI *", "2026-01-02T13:00", "2026-01-05T12:15"),  # Friday afternoon -> Monday
    ("0 18 L * ? *", "2026-02-01T00:00", "2026-02-28T18:00"),
    ("0 8 15W * ? *", "2026-02-01T00:00", "2026-02-16T08:00"),  # the 15th is a Sunday
    ("0 8 ? * 6L *", "2026-01-01T00:00", "2026-01-30T08:00"),  # the last Friday
    ("0 8 ? * 3#2 *", "2026-01-01T00:00", "2026-01-13T08:00"),  # the second Tuesday
    ("0 0 1 JAN ? 2027", "2026-06-01T00:00", "2027-01-01T00:00"),
    ("0 0 30 2 ? *", "2026-01-01T00:00", None),
])
def test_cron_next_matching_minute(fields, after, expected):
    """[SCHED]: AWS's 6-field cron, with L, W and #."""
    found = parse_cron(fields).next_after(utc(after))
    assert (found.isoformat(timespec="minutes") if found else None) == expected


def test_rates_follow_aws_units():
    """[SCHED]: minute/minutes, hour/hours, day/days."""
    assert parse("rate(1 minute)") == Rate(60)
    assert parse("rate(2 hours)") == Rate(7200)
    assert parse("rate(1 day)") == Rate(86400)
    with pytest.raises(InvalidExpression):
        parse("at(2026-01-01T00:00:00)")  # rules have no one-time schedules
    assert datetime(2026, 1, 1, tzinfo=timezone.utc).timestamp() == 1767225600.0
