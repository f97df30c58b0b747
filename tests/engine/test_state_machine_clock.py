"""An execution's threads and the virtual clock: the clock moves only when every Map iteration and
Parallel branch waits, and waits ending at one instant end together [SFN]."""

from __future__ import annotations

import json
from collections import Counter

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


@pytest.mark.parametrize("run_number", [1, 2])
def test_a_map_without_max_concurrency_reaches_lambda_with_every_item_before_it_fails(make_cloud, run_number):
    """[SFN]: a Map with no MaxConcurrency starts every iteration at once; with reserved concurrency
    2, two run and every other one is throttled, all at the same instant, before the first throttle
    fails the Map (no Retry): the same count every run, whatever the machine's speed."""
    cloud = make_cloud(machine(MAP.replace("RETRY", "").replace("    MaxConcurrency: 10\n", ""))
                       .replace('Handler: app.work', 'Handler: app.work\n    ReservedConcurrentExecutions: 2'),
                       HANDLERS)
    described = run(cloud, {"items": [{"n": n} for n in range(12)]})
    assert described["status"] == "FAILED" and described["error"] == "Lambda.TooManyRequestsException"
    outcomes = sorted(i.outcome for i in cloud.journal.invocations("Work"))
    assert outcomes == ["Success"] * 2 + ["Throttled"] * 10


def test_a_map_iteration_over_256_kb_fails_the_map_with_data_limit_exceeded(make_cloud):
    """[SFN]: a state inside a Map iteration whose output is over 256 KB fails the execution with
    States.DataLimitExceeded, past a Catch on States.ALL, as it does outside a Map."""
    definition = """
StartAt: Each
States:
  Each:
    Type: Map
    ItemsPath: $.items
    ItemProcessor:
      StartAt: Grow
      States:
        Grow:
          Type: Pass
          Parameters:
            "big.$": "States.ArrayRange(1, 1000, 1)"
            "again.$": "States.ArrayRange(1, 1000, 1)"
          Next: Bigger
        Bigger:
          Type: Pass
          Parameters:
            "k0.$": "$"
            "k1.$": "$"
            "k2.$": "$"
            "k3.$": "$"
            "k4.$": "$"
            "k5.$": "$"
            "k6.$": "$"
            "k7.$": "$"
            "k8.$": "$"
            "k9.$": "$"
            "k10.$": "$"
            "k11.$": "$"
            "k12.$": "$"
            "k13.$": "$"
            "k14.$": "$"
            "k15.$": "$"
            "k16.$": "$"
            "k17.$": "$"
            "k18.$": "$"
            "k19.$": "$"
            "k20.$": "$"
            "k21.$": "$"
            "k22.$": "$"
            "k23.$": "$"
            "k24.$": "$"
            "k25.$": "$"
            "k26.$": "$"
            "k27.$": "$"
            "k28.$": "$"
            "k29.$": "$"
            "k30.$": "$"
            "k31.$": "$"
            "k32.$": "$"
            "k33.$": "$"
            "k34.$": "$"
            "k35.$": "$"
            "k36.$": "$"
            "k37.$": "$"
            "k38.$": "$"
            "k39.$": "$"
          End: true
    Catch:
      - ErrorEquals: [States.ALL]
        Next: Handled
    End: true
  Handled:
    Type: Pass
    End: true
"""
    cloud = make_cloud(machine(definition), HANDLERS)
    described = run(cloud, {"items": [1]})
    assert (described["status"], described.get("error")) == ("FAILED", "States.DataLimitExceeded"), described


def test_an_inline_map_runs_at_most_forty_iterations_at_once(make_cloud):
    """[SFN]: an inline Map without MaxConcurrency runs up to 40 iterations at once: 45 one-second
    tasks start 40 at once and 5 a second later."""
    slow = {"app.py": """
    import time

    def work(event, context):
        time.sleep(1)
        return {"n": event["n"]}
"""}
    cloud = make_cloud(machine(MAP.replace("RETRY", "").replace("    MaxConcurrency: 10\n", "")), slow)
    start = cloud.now()
    described = run(cloud, {"items": [{"n": n} for n in range(45)]})
    assert described["status"] == "SUCCEEDED"
    assert Counter(round(i.start - start) for i in cloud.journal.invocations("Work")) == {0: 40, 1: 5}


def test_a_task_longer_than_its_timeout_seconds_fails_with_states_timeout(make_cloud):
    """[SFN]: TimeoutSeconds counts on the engine's clock: a task whose function sleeps 8 virtual
    seconds under a 5-second TimeoutSeconds is States.Timeout, which a Catch takes; the function
    itself runs to its end, as on AWS. A task within its timeout succeeds."""
    slow = {"app.py": """
    import time

    def work(event, context):
        time.sleep(event["n"])
        return {"n": event["n"]}
"""}
    definition = """
StartAt: Work
States:
  Work:
    Type: Task
    Resource: "${WorkArn}"
    TimeoutSeconds: 5
    Catch:
      - ErrorEquals: [States.Timeout]
        Next: TimedOut
    End: true
  TimedOut:
    Type: Pass
    Result: {timedOut: true}
    End: true
"""
    cloud = make_cloud(machine(definition).replace("Handler: app.work", "Handler: app.work\n    Timeout: 30"), slow)
    late = run(cloud, {"n": 8})
    assert (late["status"], json.loads(late["output"])) == ("SUCCEEDED", {"timedOut": True})
    in_time = run(cloud, {"n": 2})
    assert (in_time["status"], json.loads(in_time["output"])) == ("SUCCEEDED", {"n": 2})
    assert [i.outcome for i in cloud.journal.invocations("Work")] == ["Success", "Success"]
