"""State machines run locally by moto's ASL interpreter, their Lambda tasks by the engine [SFN]."""

from __future__ import annotations

import json

import pytest

from lambdalab.errors import ConfigurationError
from tests.engine.apps import function

HANDLERS = {"app.py": """
    def add(event, context):
        return {"n": event["n"] + 1}

    def double(event, context):
        return {"n": event["n"] * 2}

    def fail(event, context):
        raise ValueError("no stock")
"""}


def machine(definition: str, name: str = "Flow", extra: str = "") -> str:
    """A SAM state machine whose Definition is ``definition`` (YAML, indented under Definition)."""
    import textwrap

    return (f"{name}:\n  Type: AWS::Serverless::StateMachine\n  Properties:\n"
            f"    Type: STANDARD\n    Definition:\n{textwrap.indent(textwrap.dedent(definition), '      ')}"
            f"    DefinitionSubstitutions:\n      AddArn: !GetAtt Add.Arn\n      DoubleArn: !GetAtt Double.Arn\n"
            f"      FailArn: !GetAtt Fail.Arn\n"
            f"    Policies:\n      - LambdaInvokePolicy: {{FunctionName: !Ref Add}}\n{extra}")


FUNCTIONS = function("Add", "app.add") + function("Double", "app.double") + function("Fail", "app.fail")

TWO_TASKS = """
StartAt: AddOne
States:
  AddOne:
    Type: Task
    Resource: arn:aws:states:::lambda:invoke
    Parameters: {FunctionName: "${AddArn}", "Payload.$": "$"}
    OutputPath: $.Payload
    Next: Double
  Double:
    Type: Task
    Resource: "${DoubleArn}"
    End: true
"""


def run(cloud, state_machine: str, given: dict) -> dict:
    sfn = cloud.client("stepfunctions")
    arn = cloud.resource(state_machine)
    execution = sfn.start_execution(stateMachineArn=arn, input=json.dumps(given))["executionArn"]
    cloud.run_until_idle()
    return sfn.describe_execution(executionArn=execution)


def test_two_lambda_tasks_run_to_success_through_the_engine(make_cloud):
    """[SFN]: the lambda:invoke integration and a function ARN as Resource; each task is an
    invocation of the engine, journalled."""
    cloud = make_cloud(FUNCTIONS + machine(TWO_TASKS), HANDLERS)
    described = run(cloud, "Flow", {"n": 4})
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"]) == {"n": 10}
    assert len(cloud.journal.invocations("Add")) == 1
    assert len(cloud.journal.invocations("Double")) == 1


def test_a_failing_task_goes_to_its_catch_state(make_cloud):
    """[SFN]: a function error is the task's error (Lambda.Unknown... or the error type), which a
    Catch with States.ALL sends to its Next state with the error under ResultPath."""
    cloud = make_cloud(FUNCTIONS + machine("""
StartAt: Reserve
States:
  Reserve:
    Type: Task
    Resource: arn:aws:states:::lambda:invoke
    Parameters: {FunctionName: "${FailArn}", "Payload.$": "$"}
    Catch:
      - ErrorEquals: [States.ALL]
        ResultPath: $.error
        Next: Refund
  Refund:
    Type: Pass
    End: true
"""), HANDLERS)
    described = run(cloud, "Flow", {"n": 1})
    assert described["status"] == "SUCCEEDED"
    output = json.loads(described["output"])
    assert output["n"] == 1 and output["error"]["Error"] == "ValueError"
    assert "no stock" in output["error"]["Cause"]
    assert [i.outcome for i in cloud.journal.invocations("Fail")] != []


def test_retry_intervals_and_wait_states_pass_on_the_virtual_clock(make_cloud):
    """[SFN]: Retry waits IntervalSeconds x BackoffRate^n between attempts, a Wait state its Seconds;
    on the virtual clock neither costs wall time, and the invocations land at those offsets."""
    cloud = make_cloud(FUNCTIONS + machine("""
StartAt: Pause
States:
  Pause:
    Type: Wait
    Seconds: 60
    Next: Reserve
  Reserve:
    Type: Task
    Resource: "${FailArn}"
    Retry:
      - ErrorEquals: [States.ALL]
        IntervalSeconds: 10
        BackoffRate: 2
        MaxAttempts: 2
    End: true
"""), HANDLERS)
    start = cloud.now()
    described = run(cloud, "Flow", {"n": 1})
    assert described["status"] == "FAILED" and described["error"] == "ValueError"
    starts = [round(i.start - start) for i in cloud.journal.invocations("Fail")]
    assert starts == [60, 70, 90]


def test_a_map_state_runs_a_task_per_item(make_cloud):
    """[SFN]: a Map state runs its ItemProcessor once per item, at most MaxConcurrency at once."""
    cloud = make_cloud(FUNCTIONS + machine("""
StartAt: Each
States:
  Each:
    Type: Map
    ItemsPath: $.items
    MaxConcurrency: 2
    ItemProcessor:
      StartAt: Double
      States:
        Double:
          Type: Task
          Resource: "${DoubleArn}"
          End: true
    End: true
"""), HANDLERS)
    described = run(cloud, "Flow", {"items": [{"n": 1}, {"n": 2}, {"n": 3}]})
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"]) == [{"n": 2}, {"n": 4}, {"n": 6}]
    assert len(cloud.journal.invocations("Double")) == 3


def test_definitions_the_engine_cannot_run_are_refused_by_name_at_start(make_cloud):
    """[SFN]: an unknown state type and a Task resource other than a Lambda invoke are refused
    before anything starts, each naming the state."""
    with pytest.raises(ConfigurationError) as refused:
        make_cloud(FUNCTIONS + machine("""
StartAt: Publish
States:
  Publish:
    Type: Task
    Resource: arn:aws:states:::sns:publish
    Parameters: {TopicArn: x, Message: hi}
    Next: Later
  Later:
    Type: Sleep
    End: true
"""), HANDLERS)
    message = str(refused.value)
    assert "Flow.Definition.States.Publish.Resource: " in message and "not supported locally" in message
    assert "Flow.Definition.States.Later.Type: unknown state type 'Sleep'" in message


def test_a_definition_string_that_is_not_json_is_refused(make_cloud):
    """[SFN]: DefinitionString must be JSON text (ASL is JSON)."""
    with pytest.raises(ConfigurationError, match=r"Flow\.DefinitionString: is not valid JSON"):
        make_cloud(FUNCTIONS + """
Flow:
  Type: AWS::StepFunctions::StateMachine
  Properties:
    RoleArn: arn:aws:iam::123456789012:role/states
    DefinitionString: '{"StartAt": "A", "States": {'
""", HANDLERS)


def test_a_definition_file_next_to_the_template_is_read(make_cloud, tmp_path):
    """[SFN]: SAM's DefinitionUri (a local file, with DefinitionSubstitutions) and CloudFormation's
    DefinitionS3Location written as a local path, as the packaging commands would upload them; an
    EXPRESS state machine runs through StartExecution like a STANDARD one."""
    (tmp_path / "flow.asl.json").write_text(json.dumps({
        "StartAt": "AddOne",
        "States": {"AddOne": {"Type": "Task", "Resource": "${AddArn}", "End": True}},
    }))
    cloud = make_cloud(FUNCTIONS + """
Sam:
  Type: AWS::Serverless::StateMachine
  Properties:
    Type: EXPRESS
    DefinitionUri: flow.asl.json
    DefinitionSubstitutions: {AddArn: !GetAtt Add.Arn}
Cfn:
  Type: AWS::StepFunctions::StateMachine
  Properties:
    RoleArn: arn:aws:iam::123456789012:role/states
    DefinitionS3Location: flow.asl.json
    DefinitionSubstitutions: {AddArn: !GetAtt Add.Arn}
""", HANDLERS)
    assert json.loads(run(cloud, "Sam", {"n": 1})["output"]) == {"n": 2}
    assert json.loads(run(cloud, "Cfn", {"n": 5})["output"]) == {"n": 6}
    assert len(cloud.journal.invocations("Add")) == 2



def test_a_code_path_rewrite_points_a_definition_file_at_the_other_tree(make_cloud, tmp_path):
    """[SFN]: a local definition file goes through ``code_path`` as a function's CodeUri does
    (labs/ -> solutions/); a rewritten file that cannot be read is refused, naming the resource and
    the property as written."""
    def flow(resource: str) -> str:
        return json.dumps({"StartAt": "Step", "States": {"Step": {"Type": "Task", "Resource": resource, "End": True}}})

    for tree, resource in (("labs", "${AddArn}"), ("solutions", "${DoubleArn}")):
        (tmp_path / tree / "flow").mkdir(parents=True)
        (tmp_path / tree / "flow" / "flow.asl.json").write_text(flow(resource))
    resources = FUNCTIONS + """
Sam:
  Type: AWS::Serverless::StateMachine
  Properties:
    DefinitionUri: labs/flow/flow.asl.json
    DefinitionSubstitutions: {AddArn: !GetAtt Add.Arn, DoubleArn: !GetAtt Double.Arn}
Cfn:
  Type: AWS::StepFunctions::StateMachine
  Properties:
    RoleArn: arn:aws:iam::123456789012:role/states
    DefinitionS3Location: labs/flow/flow.asl.json
    DefinitionSubstitutions: {AddArn: !GetAtt Add.Arn, DoubleArn: !GetAtt Double.Arn}
"""
    labs = make_cloud(resources, HANDLERS)
    assert json.loads(run(labs, "Sam", {"n": 5})["output"]) == {"n": 6}
    solutions = make_cloud(resources, HANDLERS, code_path=lambda uri: uri.replace("labs/", "solutions/", 1))
    assert json.loads(run(solutions, "Sam", {"n": 5})["output"]) == {"n": 10}
    assert json.loads(run(solutions, "Cfn", {"n": 5})["output"]) == {"n": 10}
    with pytest.raises(ConfigurationError) as refused:
        make_cloud(resources, HANDLERS, code_path=lambda uri: uri.replace("labs/", "elsewhere/", 1))
    lines = [line for line in str(refused.value).splitlines() if "cannot read the definition" in line]
    assert len(lines) == 2
    assert any("Sam" in line and "DefinitionUri" in line for line in lines)
    assert any("Cfn" in line and "DefinitionS3Location" in line for line in lines)
    assert "needs Definition" not in str(refused.value)

def test_the_journal_names_the_execution_behind_each_lambda_task(make_cloud):
    """[SFN]: a Lambda task's invocation is journalled with source ``states:<state machine>`` and
    the ARN of the execution that ran it. An execution started without a name is named with a UUID."""
    cloud = make_cloud(FUNCTIONS + machine(TWO_TASKS), HANDLERS)
    sfn = cloud.client("stepfunctions")
    executions = [sfn.start_execution(stateMachineArn=cloud.resource("Flow"), input='{"n": 1}')["executionArn"]
                  for _ in range(2)]
    cloud.run_until_idle()
    assert executions[0] != executions[1]
    for execution in executions:
        tasks = [i for i in cloud.journal.invocations() if i.execution == execution]
        assert sorted((i.function, i.source) for i in tasks) == [("Add", "states:Flow"), ("Double", "states:Flow")]
    assert cloud.invoke("Add", {"n": 1}).json == {"n": 2}
    assert cloud.journal.invocations("Add")[-1].execution is None


def test_a_task_result_over_256_kb_fails_the_execution_past_its_catch(make_cloud):
    """[SFN]: a state's output over 256 KB fails the execution with States.DataLimitExceeded, a
    terminal error that a Catch on States.ALL does not match."""
    cloud = make_cloud(FUNCTIONS + function("Big", "app.big") + machine("""
StartAt: Load
States:
  Load:
    Type: Task
    Resource: arn:aws:states:::lambda:invoke
    Parameters: {FunctionName: "${BigArn}", "Payload.$": "$"}
    Catch:
      - ErrorEquals: [States.ALL]
        Next: Handled
    End: true
  Handled:
    Type: Pass
    End: true
""").replace("    Policies:", "      BigArn: !GetAtt Big.Arn\n    Policies:"),
        {"app.py": HANDLERS["app.py"] + """
    def big(event, context):
        return {"blob": "x" * 300 * 1024}
"""})
    described = run(cloud, "Flow", {})
    assert described["status"] == "FAILED"
    assert described["error"] == "States.DataLimitExceeded"
    assert [i.outcome for i in cloud.journal.invocations("Big")] == ["Success"]


@pytest.mark.parametrize("task", [
    'Resource: arn:aws:states:::lambda:invoke\n          Parameters: {FunctionName: "${SlowArn}", "Payload.$": "$"}'
    '\n          OutputPath: $.Payload',
    'Resource: "${SlowArn}"',
], ids=["lambda-invoke", "function-arn"])
def test_a_throttled_task_is_retried_on_its_lambda_error_name(make_cloud, task):
    """[SFN]: an Invoke that Lambda throttles is the task error Lambda.TooManyRequestsException,
    which a Retry on that name absorbs, waiting IntervalSeconds x BackoffRate^n on the virtual
    clock: a Map wider than the function's reserved concurrency ends with every item done."""
    slow = function("Slow", "app.slow", ReservedConcurrentExecutions=1, Timeout=10)
    cloud = make_cloud(FUNCTIONS + slow + machine("""
StartAt: Each
States:
  Each:
    Type: Map
    ItemsPath: $.items
    MaxConcurrency: 3
    ItemProcessor:
      StartAt: Work
      States:
        Work:
          Type: Task
          TASK
          Retry:
            - ErrorEquals: [Lambda.TooManyRequestsException]
              IntervalSeconds: 10
              BackoffRate: 2
              MaxAttempts: 5
          End: true
    End: true
""".replace("TASK", task)).replace("    Policies:", "      SlowArn: !GetAtt Slow.Arn\n    Policies:"),
        {"app.py": HANDLERS["app.py"] + """
    import time

    def slow(event, context):
        time.sleep(5)
        return {"n": event["n"]}
"""})
    start = cloud.now()
    described = run(cloud, "Flow", {"items": [{"n": 1}, {"n": 2}, {"n": 3}]})
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"]) == [{"n": 1}, {"n": 2}, {"n": 3}]
    attempts = cloud.journal.invocations("Slow")
    # One runs at 0 while two are throttled; both retry at 10 (one runs, one is throttled), it at 30.
    assert sorted((round(i.start - start), i.outcome) for i in attempts) == [
        (0, "Success"), (0, "Throttled"), (0, "Throttled"), (10, "Success"), (10, "Throttled"), (30, "Success")]
    assert {i.source for i in attempts} == {"states:Flow"}



JITTERED_MAP = """
StartAt: Each
States:
  Each:
    Type: Map
    ItemsPath: $.items
    MaxConcurrency: 5
    ItemProcessor:
      StartAt: Work
      States:
        Work:
          Type: Task
          Resource: "${AddArn}"
          Retry:
            - ErrorEquals: [Lambda.TooManyRequestsException]
              IntervalSeconds: 10
              BackoffRate: 2
              MaxAttempts: 3
              JitterStrategy: FULL
          End: true
    End: true
"""


def test_a_full_jitter_is_the_same_every_run_and_spreads_the_retries(make_cloud):
    """[SFN]: ``JitterStrategy: FULL`` waits a random part of each retry interval, drawn from the
    execution, the state, the Map item and the retry count: the same scenario journals the same
    times on every run (an unnamed execution's name too), and the retries do not all come at once."""
    runs = []
    for _ in range(2):
        cloud = make_cloud(FUNCTIONS + machine(JITTERED_MAP), HANDLERS)
        cloud.faults.throttle("Add", times=5)
        sfn = cloud.client("stepfunctions")
        start = cloud.now()
        execution = sfn.start_execution(stateMachineArn=cloud.resource("Flow"),
                                        input=json.dumps({"items": [{"n": n} for n in range(5)]}))["executionArn"]
        cloud.run_until_idle()
        assert sfn.describe_execution(executionArn=execution)["status"] == "SUCCEEDED"
        attempts = cloud.journal.invocations("Add")
        runs.append((execution, sorted((round(i.start - start, 6), i.outcome) for i in attempts)))
        cloud.close()
    assert runs[0] == runs[1]
    retries = [at for at, outcome in runs[0][1] if outcome == "Success"]
    assert len(retries) == 5 and all(0 < at < 10 for at in retries) and len(set(retries)) == 5


def test_start_sync_execution_answers_an_express_execution_when_it_ends(make_cloud):
    """[SFN]: StartSyncExecution runs an EXPRESS execution to its end and answers its status and
    output (200 even when it failed, with its error); a Retry interval passes on the virtual clock
    meanwhile. On a STANDARD state machine it is StateMachineTypeNotSupported."""
    retried = TWO_TASKS.replace("    OutputPath: $.Payload\n", "    OutputPath: $.Payload\n    Retry:\n"
                                "      - ErrorEquals: [Lambda.TooManyRequestsException]\n"
                                "        IntervalSeconds: 30\n")
    failing = "StartAt: Fail\nStates:\n  Fail:\n    Type: Task\n    Resource: \"${FailArn}\"\n    End: true\n"
    cloud = make_cloud(FUNCTIONS + machine(retried).replace("Type: STANDARD", "Type: EXPRESS")
                       + machine(failing, "Failing").replace("Type: STANDARD", "Type: EXPRESS")
                       + machine(TWO_TASKS, "Standard"), HANDLERS)
    cloud.faults.throttle("Add")
    sfn = cloud.client("stepfunctions")
    start = cloud.now()
    done = sfn.start_sync_execution(stateMachineArn=cloud.resource("Flow"), input='{"n": 1}', name="sync-one")
    assert (done["status"], json.loads(done["output"]), done["name"]) == ("SUCCEEDED", {"n": 4}, "sync-one")
    assert 30 <= cloud.now() - start < 31
    assert [i.outcome for i in cloud.journal.invocations("Add")] == ["Throttled", "Success"]
    failed = sfn.start_sync_execution(stateMachineArn=cloud.resource("Failing"), input="{}")
    assert (failed["status"], failed["error"], "output" in failed) == ("FAILED", "ValueError", False)
    with pytest.raises(sfn.exceptions.StateMachineTypeNotSupported):
        sfn.start_sync_execution(stateMachineArn=cloud.resource("Standard"), input="{}")


def test_executions_are_dated_on_the_virtual_clock(make_cloud):
    """[SFN]: DescribeExecution, ListExecutions and GetExecutionHistory date an execution on the
    engine's clock: a Wait of 300 seconds ends 300 seconds after the execution started."""
    cloud = make_cloud(FUNCTIONS + machine("StartAt: Pause\nStates:\n  Pause:\n    Type: Wait\n"
                                           "    Seconds: 300\n    End: true\n"), HANDLERS)
    cloud.advance(1000)
    sfn = cloud.client("stepfunctions")
    start = cloud.now()
    execution = sfn.start_execution(stateMachineArn=cloud.resource("Flow"), name="waits")["executionArn"]
    cloud.run_until_idle()
    described = sfn.describe_execution(executionArn=execution)
    assert described["status"] == "SUCCEEDED"
    assert described["startDate"].timestamp() == pytest.approx(start, abs=0.001)
    assert (described["stopDate"] - described["startDate"]).total_seconds() == 300
    listed = sfn.list_executions(stateMachineArn=cloud.resource("Flow"))["executions"]
    assert [(e["startDate"], e["stopDate"]) for e in listed] == [(described["startDate"], described["stopDate"])]
    events = sfn.get_execution_history(executionArn=execution)["events"]
    assert (events[0]["timestamp"], events[-1]["timestamp"]) == (described["startDate"], described["stopDate"])


def test_a_function_that_did_not_answer_is_lambda_unknown_to_retry_and_catch(make_cloud):
    """[SFN]: a Lambda task whose function's process exited (Runtime.ExitError) or timed out (no
    errorType) fails with Lambda.Unknown, which a Retry or a Catch on that name matches."""
    sleepy = function("Sleepy", "app.sleepy", Timeout=1)
    cloud = make_cloud(FUNCTIONS + sleepy + machine("""
StartAt: AddOne
States:
  AddOne:
    Type: Task
    Resource: "${AddArn}"
    Retry:
      - ErrorEquals: [Lambda.Unknown]
        IntervalSeconds: 1
    Next: Sleep
  Sleep:
    Type: Task
    Resource: arn:aws:states:::lambda:invoke
    Parameters: {FunctionName: "${SleepyArn}", "Payload.$": "$"}
    Catch:
      - ErrorEquals: [Lambda.Unknown]
        ResultPath: $.error
        Next: Handled
    End: true
  Handled:
    Type: Pass
    End: true
""").replace("    Policies:", "      SleepyArn: !GetAtt Sleepy.Arn\n    Policies:"),
        {"app.py": HANDLERS["app.py"] + """
    import time

    def sleepy(event, context):
        time.sleep(5)
"""})
    cloud.faults.crash("Add")
    described = run(cloud, "Flow", {"n": 1})
    assert described["status"] == "SUCCEEDED"
    assert [i.outcome for i in cloud.journal.invocations("Add")][-1] == "Success"
    assert len(cloud.journal.invocations("Add")) == 2
    output = json.loads(described["output"])
    assert output["n"] == 2 and output["error"]["Error"] == "Lambda.Unknown"
    assert "Task timed out after 1.00 seconds" in output["error"]["Cause"]

def test_a_caller_outside_the_engine_cannot_pose_as_a_state_machine(make_cloud):
    """The journal's source is the engine's to say: headers naming an execution, without the
    engine's token, are ignored."""
    cloud = make_cloud(FUNCTIONS + machine(TWO_TASKS), HANDLERS)
    lam = cloud.client("lambda")

    def pose(request, **kwargs):
        request.headers["X-Lambdalab-Source"] = "states:Flow"
        request.headers["X-Lambdalab-Execution"] = "arn:aws:states:us-east-1:123456789012:execution:Flow:forged"
        request.headers["X-Lambdalab-Engine"] = "guessed"

    lam.meta.events.register("before-sign.lambda.Invoke", pose)
    lam.invoke(FunctionName="Add", Payload=json.dumps({"n": 1}))
    [invocation] = cloud.journal.invocations("Add")
    assert not invocation.source.startswith("states:")
    assert invocation.execution is None
