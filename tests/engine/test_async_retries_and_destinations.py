"""The async queue through the engine: 202, retries at +1 / +2 minutes, throttle backoff, maximum
event age, reserved concurrency 0, destinations and the dead-letter queue."""

from __future__ import annotations

import json

import pytest

from tests.engine.async_apps import bodies, events_seen, messages, offsets, start, waits


@pytest.fixture
def cloud(make_cloud):
    return start(make_cloud)


def test_an_event_answers_202_and_waits_in_the_queue(cloud):
    """[INV],[A-a]: InvocationType=Event answers 202 with an empty body; the event is queued."""
    reply = cloud.client("lambda").invoke(FunctionName="Fn", InvocationType="Event", Payload=b'{"n": 1}')
    assert (reply["StatusCode"], reply["Payload"].read()) == (202, b"")
    assert cloud.journal.invocations() == [] and cloud.async_queue().pending() == 1
    cloud.run_until_idle()
    assert events_seen(cloud) == [{"n": 1}] and cloud.async_queue().pending() == 0


def test_a_failing_event_is_retried_after_one_then_two_minutes_and_recorded_on_failure(cloud):
    """[A-ERR],[A-a]: two retries, 1 min then 2 min apart, same request id; then the on-failure record
    (condition RetriesExhausted, approximateInvokeCount 3) and the original event in the DLQ."""
    request_id = cloud.invoke("Fn", {"fail": "boom"}, invocation_type="Event").request_id
    cloud.run_until_idle()
    runs = cloud.journal.invocations("Fn")
    assert waits(runs) == [60, 120]
    assert [(r.attempt, r.outcome, r.detail) for r in runs] == [(n, "Error", "ValueError") for n in (1, 2, 3)]
    assert {r.request_id for r in runs} == {request_id}
    assert [r.stop_reason for r in runs] == [None, None, "RetriesExhausted"]
    [record] = bodies(cloud, "Failed")
    assert record["requestContext"] == {
        "requestId": request_id, "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:Fn:$LATEST",
        "condition": "RetriesExhausted", "approximateInvokeCount": 3}
    assert record["requestPayload"] == {"fail": "boom"}
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert record["responsePayload"]["errorMessage"] == "boom"
    assert record["timestamp"].startswith("2026-01-01T00:03:00")
    [dead] = messages(cloud, "Dlq")
    assert json.loads(dead["Body"]) == {"fail": "boom"}
    assert {k: (v["DataType"], v["StringValue"]) for k, v in dead["MessageAttributes"].items()} == {
        "RequestID": ("String", request_id), "ErrorCode": ("Number", "200"), "ErrorMessage": ("String", "boom")}
    assert bodies(cloud, "Succeeded") == []
    assert any(line.startswith("RetriesExhausted: ") for line in cloud.logs("Fn"))


def test_a_transient_failure_succeeds_on_the_retry_and_goes_to_on_success(cloud):
    """[A-ERR],[A-a]: a retry that succeeds ends the event: condition Success, approximateInvokeCount 2."""
    cloud.faults.fail("Fn", times=1)
    cloud.invoke("Fn", {"n": 2}, invocation_type="Event")
    cloud.run_until_idle()
    assert [(r.attempt, r.outcome) for r in cloud.journal.invocations("Fn")] == [(1, "Error"), (2, "Success")]
    [record] = bodies(cloud, "Succeeded")
    assert record["requestContext"]["condition"] == "Success"
    assert record["requestContext"]["approximateInvokeCount"] == 2
    assert "functionError" not in record["responseContext"] and "handled" in record["responsePayload"]
    assert bodies(cloud, "Failed") == [] and messages(cloud, "Dlq") == []


def test_maximum_retry_attempts_set_through_the_api_is_honoured(cloud):
    """[PFEIC],[A-a]: UpdateFunctionEventInvokeConfig patches MaximumRetryAttempts; 0 means one attempt."""
    cloud.client("lambda").update_function_event_invoke_config(FunctionName="Fn", MaximumRetryAttempts=0)
    cloud.invoke("Fn", {"fail": "once"}, invocation_type="Event")
    cloud.run_until_idle()
    [run] = cloud.journal.invocations("Fn")
    assert run.stop_reason == "RetriesExhausted"
    assert [b["requestContext"]["approximateInvokeCount"] for b in bodies(cloud, "Failed")] == [1]


def test_a_timeout_is_a_function_error_and_is_retried(make_cloud):
    """[A-ERR]: timeouts count as function errors, so they are retried like raised errors."""
    from tests.engine.apps import function
    from tests.engine.async_apps import HANDLER

    cloud = make_cloud(function("Slow", Timeout=1, extra="""
EventInvokeConfig:
  MaximumRetryAttempts: 1
"""), {"app.py": HANDLER})
    cloud.invoke("Slow", {"sleep": 5}, invocation_type="Event")
    cloud.run_until_idle()
    runs = cloud.journal.invocations("Slow")
    assert [(r.attempt, r.outcome) for r in runs] == [(1, "Error"), (2, "Error")]
    assert runs[-1].stop_reason == "RetriesExhausted" and round(runs[1].start - runs[0].end) == 60


def test_an_event_whose_retry_would_be_too_old_is_event_age_exceeded(cloud):
    """[A-ERR],[PFEIC]: with MaximumEventAgeInSeconds 60 the 1-minute retry would come too late."""
    lam = cloud.client("lambda")
    lam.update_function_event_invoke_config(FunctionName="Fn", MaximumEventAgeInSeconds=60)
    cloud.invoke("Fn", {"fail": "late"}, invocation_type="Event")
    cloud.run_until_idle()
    [run] = cloud.journal.invocations("Fn")
    assert run.stop_reason == "EventAgeExceeded"
    [record] = bodies(cloud, "Failed")
    assert (record["requestContext"]["condition"], record["requestContext"]["approximateInvokeCount"]) == (
        "EventAgeExceeded", 1)


def test_throttled_events_are_requeued_with_backoff_until_the_maximum_age(cloud):
    """[A-ERR]: throttles requeue the event, 1 s, 2 s, 4 s ... apart, until its maximum age runs out."""
    cloud.client("lambda").update_function_event_invoke_config(FunctionName="Fn", MaximumEventAgeInSeconds=60)
    cloud.faults.throttle("Fn", times=100)
    cloud.invoke("Fn", {"n": 3}, invocation_type="Event")
    cloud.run_until_idle()
    runs = cloud.journal.invocations("Fn")
    assert offsets(cloud, runs) == [0, 1, 3, 7, 15, 31]
    assert {r.outcome for r in runs} == {"Throttled"} and {r.attempt for r in runs} == {1}
    assert runs[-1].stop_reason == "EventAgeExceeded"
    [record] = bodies(cloud, "Failed")
    assert record["requestContext"]["approximateInvokeCount"] == 0 and "responseContext" not in record
    [dead] = messages(cloud, "Dlq")
    assert dead["MessageAttributes"]["ErrorCode"]["StringValue"] == "429"
    cloud.faults.clear()


def test_a_burst_against_reserved_concurrency_one_is_throttled_and_all_processed(cloud):
    """[A-ERR],[CONC-a],[A-THR]: due events run at once; reserved concurrency 1 throttles all but one,
    and each throttled one runs as soon as the slot frees, well before its 1-s backoff: none is lost."""
    cloud.client("lambda").put_function_concurrency(FunctionName="Fn", ReservedConcurrentExecutions=1)
    ids = [cloud.invoke("Fn", {"n": n}, invocation_type="Event").request_id for n in range(4)]
    cloud.run_until_idle()
    runs = cloud.journal.invocations("Fn")
    assert sorted(e["n"] for e in events_seen(cloud)) == [0, 1, 2, 3]
    last = [r for r in runs if r.request_id == ids[-1]]
    assert [(t, r.outcome) for t, r in zip(offsets(cloud, last), last, strict=True)] == [
        (0, "Throttled"), (0, "Success")]
    assert {r.detail for r in runs if r.outcome == "Throttled"} == {"ReservedFunctionConcurrentInvocationLimitExceeded"}
    assert len(bodies(cloud, "Succeeded")) == 4


def test_reserved_concurrency_zero_sends_events_straight_to_the_dlq_and_on_failure(cloud):
    """[A-REC]: reserved concurrency 0 sends new events to the DLQ / on-failure destination, no retries."""
    cloud.client("lambda").put_function_concurrency(FunctionName="Fn", ReservedConcurrentExecutions=0)
    cloud.invoke("Fn", {"n": 4}, invocation_type="Event")
    cloud.run_until_idle()
    [run] = cloud.journal.invocations("Fn")
    assert (run.outcome, run.stop_reason) == ("Throttled", "ZeroReservedConcurrency")
    [record] = bodies(cloud, "Failed")
    assert record["requestContext"]["condition"] == "ZeroReservedConcurrency"
    assert record["requestContext"]["approximateInvokeCount"] == 0
    assert [json.loads(m["Body"]) for m in messages(cloud, "Dlq")] == [{"n": 4}]


def test_lambda_and_sns_destinations_receive_the_record(cloud):
    """[A-a]: a Lambda destination gets the record as its payload (asynchronously); an SNS destination
    as the message (here fanned out to an SQS subscription)."""
    cloud.invoke("Watcher", {"ok": 1}, invocation_type="Event")
    cloud.invoke("Watcher", {"fail": "no"}, invocation_type="Event")
    cloud.run_until_idle()
    [record] = events_seen(cloud, "Recorder")
    assert record["requestContext"]["condition"] == "Success" and record["requestPayload"] == {"ok": 1}
    [recorder_run] = cloud.journal.invocations("Recorder")
    assert (recorder_run.invocation_type, recorder_run.source) == ("Event", "destination:Watcher")
    [failure] = bodies(cloud, "FailuresCopy")
    assert failure["requestContext"]["condition"] == "RetriesExhausted"


def test_an_sns_destination_gets_the_record_without_payloads_over_256_kb(cloud):
    """[CFN-ONF]: SNS has a 256 KB message limit; when request plus response payloads exceed it,
    Lambda drops the payload and still delivers the record."""
    cloud.invoke("Watcher", {"fail": "no", "padding": "x" * 300_000}, invocation_type="Event")
    cloud.run_until_idle()
    [failure] = bodies(cloud, "FailuresCopy")
    assert failure["requestContext"]["condition"] == "RetriesExhausted"
    assert "requestPayload" not in failure and "responsePayload" not in failure
    assert failure["responseContext"]["functionError"] == "Unhandled"


def test_a_fifo_destination_fails_delivery_and_says_so(make_cloud):
    """[A-REC]: FIFO queues are not valid destinations: DestinationDeliveryFailures, logged."""
    from tests.engine.apps import function
    from tests.engine.async_apps import HANDLER

    cloud = make_cloud(function("Fn", extra="""
EventInvokeConfig:
  DestinationConfig:
    OnSuccess:
      Type: SQS
      Destination: !GetAtt Ordered.Arn
""") + """
Ordered:
  Type: AWS::SQS::Queue
  Properties:
    FifoQueue: true
""", {"app.py": HANDLER})
    cloud.invoke("Fn", {}, invocation_type="Event")
    cloud.run_until_idle()
    assert cloud.async_queue().destinations.failures["DestinationDeliveryFailures"] == 1
    assert any(line.startswith("DestinationDeliveryFailures: ") for line in cloud.logs("Fn"))
