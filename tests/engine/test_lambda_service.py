"""The Lambda service: Invoke as AWS answers it, through cloud.invoke and the stock boto3 client."""

from __future__ import annotations

import base64
import json
import threading

import botocore.exceptions
import pytest
from botocore.config import Config

from lambdalab import TooManyRequestsException
from lambdalab.errors import (
    InvalidParameterValueException,
    RequestTooLargeException,
    ResourceNotFoundException,
)
from tests.engine.apps import function

HANDLERS = {"app.py": """
import os, time
STATE = {"n": 0}

def handler(event, context):
    STATE["n"] += 1
    action = event.get("action")
    if action == "raise":
        raise KeyError("missing")
    if action == "wait":   # rendezvous: wait until `peers` invocations are running at once
        os.makedirs(event["dir"], exist_ok=True)
        open(os.path.join(event["dir"], context.aws_request_id), "w").close()
        while len(os.listdir(event["dir"])) < event["peers"]:
            time.sleep(0.005)
        return "met"
    if action == "block":  # holds its environment until the test writes to the FIFO
        with open(event["fifo"]) as fifo:
            fifo.read()
    print("handled", STATE["n"])
    return {"n": STATE["n"], "echo": event.get("echo")}
"""}


@pytest.fixture
def cloud(make_cloud):
    return make_cloud(function("Fn") + function("Other"), HANDLERS)


def test_a_failed_function_still_answers_200_with_the_error_header_and_body(cloud):
    """Sync invoke: 200 even when the function errored, X-Amz-Function-Error set, the error JSON
    as the body [INV],[PYERR]."""
    lam = cloud.client("lambda")
    reply = lam.invoke(FunctionName="Fn", Payload=json.dumps({"action": "raise"}))
    assert reply["StatusCode"] == 200
    assert reply["FunctionError"] == "Unhandled"
    body = json.loads(reply["Payload"].read())
    assert body["errorType"] == "KeyError"
    assert body["errorMessage"] == "'missing'"
    assert isinstance(body["stackTrace"], list)


def test_log_type_tail_returns_the_last_4kb_of_the_log_base64(cloud):
    """X-Amz-Log-Result: the last 4 KB of the invocation's log, base64, with LogType=Tail [INV]."""
    reply = cloud.client("lambda").invoke(FunctionName="Fn", Payload=b"{}", LogType="Tail")
    tail = base64.b64decode(reply["LogResult"]).decode()
    assert tail.startswith("START RequestId: ")
    assert "handled 1" in tail
    assert "REPORT RequestId: " in tail and "Init Duration" in tail
    assert reply["ExecutedVersion"] == "$LATEST"


def test_dry_run_answers_204_without_running_the_function(cloud):
    """DryRun validates and answers 204 [INV]."""
    assert cloud.client("lambda").invoke(FunctionName="Fn", InvocationType="DryRun")["StatusCode"] == 204
    assert cloud.journal.invocations() == []


def test_an_event_invocation_answers_202_and_runs_when_the_clock_runs(cloud):
    """InvocationType=Event: 202 at once, the event is queued [INV],[A-a]."""
    reply = cloud.client("lambda").invoke(FunctionName="Fn", InvocationType="Event", Payload=b'{"echo": 1}')
    assert reply["StatusCode"] == 202
    assert cloud.journal.invocations() == []
    cloud.run_until_idle()
    [attempt] = cloud.journal.invocations("Fn")
    assert (attempt.invocation_type, attempt.outcome) == ("Event", "Success")


def test_payloads_over_the_limits_are_refused_with_request_too_large(cloud):
    """6 MB for sync, 1 MB for Event [INV]."""
    with pytest.raises(RequestTooLargeException):
        cloud.invoke("Fn", {"echo": "x" * (6 * 1024 * 1024)})
    with pytest.raises(RequestTooLargeException):
        cloud.invoke("Fn", {"echo": "x" * (1024 * 1024)}, invocation_type="Event")
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        big = json.dumps({"echo": "x" * (6 * 1024 * 1024)})
        cloud.client("lambda").invoke(FunctionName="Fn", Payload=big)
    assert raised.value.response["Error"]["Code"] == "RequestTooLargeException"


def test_unknown_functions_and_non_json_payloads_get_aws_errors(cloud):
    """An unknown function is ResourceNotFoundException (404), a payload that is not JSON is
    InvalidRequestContentException (400), through boto3 and cloud.invoke alike [INV-a]."""
    lam = cloud.client("lambda")
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.invoke(FunctionName="Nope")
    with pytest.raises(lam.exceptions.InvalidRequestContentException):
        lam.invoke(FunctionName="Fn", Payload=b"not json")
    with pytest.raises(ResourceNotFoundException):
        cloud.invoke("Nope")


def test_operations_not_emulated_are_refused_by_name_never_answered_wrongly(cloud):
    """CreateAlias: aliases do not exist locally, so it answers NotSupportedLocally, never a wrong
    success (design: refuse, never ignore)."""
    lam = cloud.client("lambda")
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        lam.create_alias(FunctionName="Fn", Name="live", FunctionVersion="1")
    assert raised.value.response["Error"]["Code"] == "NotSupportedLocally"
    assert "not support" in raised.value.response["Error"]["Message"]


def test_versions_aliases_and_policies_are_refused_by_operation_name_not_as_a_missing_function(cloud):
    """ListVersionsByFunction, ListAliases, GetAlias and GetPolicy share GetFunction's path prefix;
    each answers NotSupportedLocally naming the operation, never "Function not found" for a function
    that exists (design: refuse, never ignore; AWS's own errors [INV-a])."""
    lam = cloud.client("lambda")
    calls = {
        "ListVersionsByFunction": lambda: lam.list_versions_by_function(FunctionName="Fn"),
        "ListAliases": lambda: lam.list_aliases(FunctionName="Fn"),
        "GetAlias": lambda: lam.get_alias(FunctionName="Fn", Name="live"),
        "GetPolicy": lambda: lam.get_policy(FunctionName="Fn"),
    }
    for operation, call in calls.items():
        with pytest.raises(botocore.exceptions.ClientError) as raised:
            call()
        error = raised.value.response["Error"]
        assert error["Code"] == "NotSupportedLocally", operation
        assert error["Message"] == f"lambdalab does not support the Lambda operation {operation} locally"
    assert lam.get_function(FunctionName="Fn")["Configuration"]["FunctionName"] == "Fn"


def test_get_function_and_concurrency_settings_round_trip_through_boto3(cloud):
    """GetFunction shows the default 3 s timeout [TMO]; Put/Get/DeleteFunctionConcurrency round-trip
    through the stock client [PFC]."""
    lam = cloud.client("lambda")
    assert lam.get_function(FunctionName="Fn")["Configuration"]["Timeout"] == 3
    lam.put_function_concurrency(FunctionName="Fn", ReservedConcurrentExecutions=3)
    assert lam.get_function_concurrency(FunctionName="Fn")["ReservedConcurrentExecutions"] == 3
    lam.delete_function_concurrency(FunctionName="Fn")
    assert "ReservedConcurrentExecutions" not in lam.get_function_concurrency(FunctionName="Fn")


def test_reserving_concurrency_must_leave_100_unreserved(cloud):
    """At least 100 concurrent executions must stay unreserved [PFC]."""
    lam = cloud.client("lambda")
    with pytest.raises(lam.exceptions.InvalidParameterValueException) as raised:
        lam.put_function_concurrency(FunctionName="Fn", ReservedConcurrentExecutions=901)
    assert "UnreservedConcurrentExecution below its minimum value of [100]" in str(raised.value)


def test_reserved_concurrency_zero_throttles_every_invocation_with_its_reason(cloud):
    """Reserved concurrency 0 throttles everything; the 429 carries Reason
    ReservedFunctionConcurrentInvocationLimitExceeded [CONC-a],[TMR]. (SDKs retry 429s by default
    [RETRY]; this client is told not to, so the journal shows the one attempt.)"""
    lam = cloud.client("lambda", config=Config(retries={"total_max_attempts": 1}))
    lam.put_function_concurrency(FunctionName="Fn", ReservedConcurrentExecutions=0)
    with pytest.raises(lam.exceptions.TooManyRequestsException) as raised:
        lam.invoke(FunctionName="Fn", Payload=b"{}")
    assert raised.value.response["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert cloud.journal.counts("Fn") == {"Throttled": 1}


def _hold_one_invocation(cloud, tmp_path, function_name):
    """Start an invocation that blocks in its handler; returns (thread, release)."""
    import os

    fifo = tmp_path / f"fifo-{function_name}"
    os.mkfifo(fifo)
    event = {"action": "block", "fifo": str(fifo)}
    thread = threading.Thread(target=cloud.invoke, args=(function_name, event))
    thread.start()
    while cloud.concurrency.running(function_name) < 1:
        thread.join(0.005)

    def release():
        with open(fifo, "w") as writer:
            writer.write("go")
        thread.join()

    return release


def test_a_busy_function_at_its_reserved_concurrency_throttles_the_next_call(cloud, tmp_path):
    """Reserved concurrency is a cap: one more concurrent call gets 429 [CONC-a],[TMR]."""
    cloud.client("lambda").put_function_concurrency(FunctionName="Fn", ReservedConcurrentExecutions=1)
    release = _hold_one_invocation(cloud, tmp_path, "Fn")
    try:
        with pytest.raises(TooManyRequestsException) as raised:
            cloud.invoke("Fn", {})
        assert raised.value.reason == "ReservedFunctionConcurrentInvocationLimitExceeded"
        assert cloud.invoke("Other", {}).status == 200  # other functions are not affected
    finally:
        release()
    assert cloud.invoke("Fn", {}).function_error is None


def test_the_account_limit_throttles_with_concurrent_invocation_limit_exceeded(make_cloud, tmp_path):
    """Unreserved functions share the account pool; beyond it the 429's Reason is
    ConcurrentInvocationLimitExceeded [QUO],[TMR]."""
    cloud = make_cloud(function("Fn") + function("Other"), HANDLERS, account_concurrency=1)
    release = _hold_one_invocation(cloud, tmp_path, "Fn")
    try:
        with pytest.raises(TooManyRequestsException) as raised:
            cloud.invoke("Other", {})
        assert raised.value.reason == "ConcurrentInvocationLimitExceeded"
    finally:
        release()


def test_concurrent_invocations_run_at_once_in_separate_environments(cloud, tmp_path):
    """One environment per concurrent invocation; each new one is a cold start [ENV]."""
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(
            cloud.invoke("Fn", {"action": "wait", "dir": str(tmp_path / "meet"), "peers": 3})))
        for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.json for r in results] == ["met"] * 3
    attempts = cloud.journal.invocations("Fn")
    assert len({a.env_id for a in attempts}) == 3 and all(a.cold for a in attempts)


def test_an_idle_environment_is_reused_warm_and_keeps_its_globals(cloud):
    """Warm reuse: globals survive between invocations of one environment [ENV]."""
    first, second = cloud.invoke("Fn", {}), cloud.invoke("Fn", {})
    assert (first.json["n"], second.json["n"]) == (1, 2)
    a, b = cloud.journal.invocations("Fn")
    assert (a.cold, b.cold, a.env_id == b.env_id) == (True, False, True)


def test_the_same_scenario_prints_the_same_journal_every_run(make_cloud):
    """Virtual mode seeds request ids and starts at a fixed instant, so runs repeat exactly
    (design: time, request ids seeded in virtual mode)."""
    tables = []
    for _ in range(2):
        cloud = make_cloud(function("Fn") + function("Other"), HANDLERS)
        cloud.invoke("Fn", {})
        cloud.invoke("Fn", {"action": "raise"})
        cloud.invoke("Other", {}, invocation_type="Event")
        cloud.run_until_idle()
        ids = [i.request_id for i in cloud.journal.invocations()]
        tables.append((ids, cloud.journal.table()))
        cloud.close()
    assert tables[0] == tables[1]


def test_the_virtual_clock_runs_scheduled_work_without_waiting(cloud):
    """Scheduled delays cost no wall time: an hour passes instantly (design: virtual clock)."""
    ran = []
    start = cloud.now()
    cloud.clock.call_later(3600, lambda: ran.append(cloud.now() - start))
    cloud.clock.call_later(60, lambda: ran.append(cloud.now() - start))
    cloud.advance(120)
    assert ran == [60]
    assert cloud.run_until_idle() == 1
    assert ran == [60, 3600]


def test_the_journal_plots_a_lane_per_environment(cloud):
    """A function error does not reset the environment (only a crash or timeout does [ENV]), so both
    invocations share one lane (design: journal and timeline)."""
    cloud.invoke("Fn", {})
    cloud.invoke("Fn", {"action": "raise"})
    ax = cloud.journal.plot()
    assert [t.get_text() for t in ax.get_yticklabels()] == ["e1"]


def test_invalid_invocation_types_are_refused(cloud):
    """InvocationType is RequestResponse, Event or DryRun [INV]; anything else is refused
    (locally InvalidParameterValueException)."""
    with pytest.raises(InvalidParameterValueException):
        cloud.invoke("Fn", {}, invocation_type="Sometimes")


def test_a_qualifier_other_than_latest_names_a_function_that_does_not_exist(cloud):
    """Locally there are no published versions or aliases: Invoke with one is ResourceNotFound, as on
    AWS for a version or alias that does not exist [INV]."""
    lam = cloud.client("lambda")
    with pytest.raises(lam.exceptions.ResourceNotFoundException, match="function:Fn:live"):
        lam.invoke(FunctionName="Fn", Qualifier="live", Payload=b"{}")
    with pytest.raises(lam.exceptions.ResourceNotFoundException, match="function:Fn:7"):
        lam.invoke(FunctionName="arn:aws:lambda:us-east-1:123456789012:function:Fn:7", Payload=b"{}")
    assert lam.invoke(FunctionName="Fn", Qualifier="$LATEST", Payload=b"{}")["StatusCode"] == 200


def test_a_client_context_over_3583_bytes_is_refused(cloud):
    """ClientContext: at most 3,583 bytes of base64 [INV]."""
    with pytest.raises(InvalidParameterValueException, match="3583"):
        cloud.invoke("Fn", {}, client_context=base64.b64encode(b"x" * 3000).decode())
