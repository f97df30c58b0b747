"""Schedules whose target is a state machine of the template: each firing starts an execution [SCHED]."""

from __future__ import annotations

import json

import pytest

from lambdalab.errors import ConfigurationError
from tests.engine.apps import function

HANDLERS = {"app.py": """
    def record(event, context):
        return event
"""}

BATCH = """
  Definition:
    StartAt: Record
    States:
      Record:
        Type: Task
        Resource: arn:aws:states:::lambda:invoke
        Parameters: {FunctionName: !GetAtt Record.Arn, "Payload.$": "$"}
        End: true
"""


def machine(events: str = "") -> str:
    """A SAM state machine with one Lambda task; ``events`` indented under its Properties."""
    body = BATCH + events
    return "Batch:\n  Type: AWS::Serverless::StateMachine\n  Properties:\n" + "\n".join(
        f"  {line}" if line else line for line in body.strip("\n").splitlines()) + "\n"


def executions(cloud) -> list[dict]:
    sfn = cloud.client("stepfunctions")
    found = sfn.list_executions(stateMachineArn=cloud.resource("Batch"))["executions"]
    return [sfn.describe_execution(executionArn=e["executionArn"]) for e in found]


def test_a_sam_schedule_event_starts_one_execution_per_period(make_cloud):
    """[SCHED]: a state machine's Schedule event is a rule whose target is the state machine: each
    firing starts an execution with the scheduled event as input; its task is journalled."""
    cloud = make_cloud(function("Record", "app.record") + machine("""
  Events:
    Tick:
      Type: Schedule
      Properties:
        Schedule: rate(10 minutes)
"""), HANDLERS)
    cloud.run_until_idle()
    assert executions(cloud) == []
    cloud.advance(600)  # the execution it starts is work: advance returns once it ends
    (first,) = executions(cloud)
    assert first["status"] == "SUCCEEDED"
    event = json.loads(first["input"])
    assert (event["detail-type"], event["source"]) == ("Scheduled Event", "aws.events")
    assert event["resources"] == [f"arn:aws:events:{event['region']}:{event['account']}:rule/BatchTick"]
    invocations = cloud.journal.invocations("Record")
    assert [i.source for i in invocations] == ["states:Batch"]
    cloud.advance(1200)
    cloud.run_until_idle()
    assert len(executions(cloud)) == 3
    assert len(cloud.journal.invocations("Record")) == 3


def test_a_rule_targeting_a_state_machine_sends_its_input(make_cloud):
    """[SCHED]: an AWS::Events::Rule target with Arn !Ref of a state machine (and a RoleArn): the
    target's Input is the execution's input."""
    cloud = make_cloud(function("Record", "app.record") + machine() + """
Nightly:
  Type: AWS::Events::Rule
  Properties:
    ScheduleExpression: rate(1 hour)
    Targets:
      - Id: batch
        Arn: !Ref Batch
        RoleArn: !Sub arn:aws:iam::${AWS::AccountId}:role/events-start-batch
        Input: '{"run": "nightly"}'
""", HANDLERS)
    cloud.advance(3600)
    cloud.run_until_idle()
    (only,) = executions(cloud)
    assert json.loads(only["input"]) == {"run": "nightly"}
    assert only["status"] == "SUCCEEDED"
    assert [i.source for i in cloud.journal.invocations("Record")] == ["states:Batch"]


def test_a_scheduler_schedule_and_a_schedule_v2_event_start_executions(make_cloud):
    """[SCHED]: an AWS::Scheduler::Schedule whose Target.Arn is a state machine, and SAM's ScheduleV2
    event, start an execution at once then every period, with their Input ({} without one)."""
    cloud = make_cloud(function("Record", "app.record") + machine("""
  Events:
    Tock:
      Type: ScheduleV2
      Properties:
        ScheduleExpression: rate(10 minutes)
        Input: '{"from": "v2"}'
""") + """
Hourly:
  Type: AWS::Scheduler::Schedule
  Properties:
    ScheduleExpression: rate(1 hour)
    FlexibleTimeWindow: {Mode: "OFF"}
    Target: {Arn: !GetAtt Batch.Arn, RoleArn: !Sub "arn:aws:iam::${AWS::AccountId}:role/scheduler"}
""", HANDLERS)
    cloud.advance(600)
    cloud.run_until_idle()
    inputs = sorted(json.dumps(json.loads(e["input"]), sort_keys=True) for e in executions(cloud))
    assert inputs == ['{"from": "v2"}', '{"from": "v2"}', "{}"]


def test_a_disabled_schedule_never_starts_an_execution(make_cloud):
    """[SCHED]: Enabled: false (State DISABLED) never fires."""
    cloud = make_cloud(function("Record", "app.record") + machine("""
  Events:
    Tick:
      Type: Schedule
      Properties:
        Schedule: rate(10 minutes)
        Enabled: false
"""), HANDLERS)
    cloud.advance(3600)
    cloud.run_until_idle()
    assert executions(cloud) == []
    assert cloud.journal.invocations("Record") == []


def test_a_target_neither_function_nor_state_machine_is_refused(make_cloud):
    """[SCHED]: any other target is refused by name."""
    with pytest.raises(ConfigurationError) as raised:
        make_cloud(function("Record", "app.record") + machine() + """
Topic:
  Type: AWS::SNS::Topic
Rule:
  Type: AWS::Events::Rule
  Properties:
    ScheduleExpression: rate(5 minutes)
    Targets: [{Id: batch, Arn: !Ref Batch}, {Id: topic, Arn: !Ref Topic}]
""", HANDLERS)
    text = str(raised.value)
    assert "Rule.Targets[1].Arn: only functions and state machines of the template" in text
    assert "Targets[0]" not in text
