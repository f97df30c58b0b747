"""An execution's threads and the virtual clock: the clock moves only when every Map iteration and
Parallel branch waits, and waits ending at one instant end together [SFN]."""

from __future__ import annotations

import json

import pytest

from tests.engine.apps import function

HANDLERS = {"app.py": """
    def work(event, context):
        return {"n": event["n"]}
"""}

RETRY = """
          Retry:
            - ErrorEquals: [Lambda.TooManyRequestsException]
              IntervalSeconds: 4
              BackoffRate: 2
              MaxAttempts: 3
"""


def machine(definition: str) -> str:
    import textwrap

    return (function("Work", "app.work") + "Flow:\n  Type: AWS::Serverless::StateMachine\n  Properties:\n"
            f"    Definition:\n{textwrap.indent(textwrap.dedent(definition), '      ')}"
            "    DefinitionSubstitutions:\n      WorkArn: !GetAtt Work.Arn\n"
            "    Policies:\n      - LambdaInvokePolicy: {FunctionName: !Ref Work}\n")


MAP = """
StartAt: Each
States:
  Each:
    Type: Map
    ItemsPath: $.items
    MaxConcurrency: 10
    ItemProcessor:
      StartAt: Work
      States:
        Work:
          Type: Task
          Resource: arn:aws:states:::lambda:invoke
          Parameters: {FunctionName: "${WorkArn}", "Payload.$": "$"}
          OutputPath: $.Payload
RETRY          End: true
    End: true
"""


def run(cloud, given: dict) -> dict:
    sfn = cloud.client("stepfunctions")
    execution = sfn.start_execution(stateMachineArn=cloud.resource("Flow"), input=json.dumps(given))["executionArn"]
    cloud.run_until_idle()
    return sfn.describe_execution(executionArn=execution)


def offsets(cloud, start: float) -> list[tuple[float, str]]:
    return sorted((round(i.start - start, 1), i.outcome) for i in cloud.journal.invocations("Work"))


@pytest.mark.parametrize("run_number", [1, 2, 3])
def test_every_map_iteration_makes_its_first_call_before_a_retry_lets_the_clock_move(make_cloud, run_number):
    """[SFN]: ten iterations start together; the five throttled first wait 4 s while the other five
    are still on their way to Lambda: the clock must not move until all ten have called."""
    cloud = make_cloud(machine(MAP.replace("RETRY", RETRY)), HANDLERS)
    cloud.faults.throttle("Work", times=5)
    start = cloud.now()
    described = run(cloud, {"items": [{"n": n} for n in range(10)]})
    assert described["status"] == "SUCCEEDED"
    assert offsets(cloud, start) == [(0.0, "Success")] * 5 + [(0.0, "Throttled")] * 5 + [(4.0, "Success")] * 5


def test_retries_due_at_the_same_instant_come_back_together(make_cloud):
    """[SFN]: without jitter, iterations throttled together retry together: all at IntervalSeconds,
    at once (a retry storm), not one after another."""
    cloud = make_cloud(machine(MAP.replace("RETRY", RETRY)), HANDLERS)
    cloud.faults.throttle("Work", times=10)
    start = cloud.now()
    described = run(cloud, {"items": [{"n": n} for n in range(10)]})
    assert described["status"] == "SUCCEEDED"
    assert offsets(cloud, start) == [(0.0, "Throttled")] * 10 + [(4.0, "Success")] * 10
    retried = [i for i in cloud.journal.invocations("Work") if i.outcome == "Success"]
    assert len({i.start for i in retried}) == 1, "the ten retries should start at the same instant"


def test_a_parallel_branch_waiting_on_a_retry_does_not_move_the_clock_under_another(make_cloud):
    """[SFN]: Parallel branches are the execution's work like Map iterations: one branch's retry
    interval passes only once the other branch has made its call."""
    branch = """
        - StartAt: Work
          States:
            Work:
              Type: Task
              Resource: arn:aws:states:::lambda:invoke
              Parameters: {FunctionName: "${WorkArn}", "Payload": {"n": ITEM}}
              OutputPath: $.Payload
              Retry:
                - ErrorEquals: [Lambda.TooManyRequestsException]
                  IntervalSeconds: 4
                  MaxAttempts: 2
              End: true
"""
    definition = ("StartAt: Both\nStates:\n  Both:\n    Type: Parallel\n    End: true\n    Branches:"
                  + "".join(branch.replace("ITEM", str(n)) for n in range(4)))
    cloud = make_cloud(machine(definition), HANDLERS)
    cloud.faults.throttle("Work", times=2)
    start = cloud.now()
    described = run(cloud, {})
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"]) == [{"n": n} for n in range(4)]
    assert offsets(cloud, start) == [(0.0, "Success")] * 2 + [(0.0, "Throttled")] * 2 + [(4.0, "Success")] * 2
