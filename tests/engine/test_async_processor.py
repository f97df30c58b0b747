"""The async queue's pure parts: retry decisions, EventInvokeConfig validation, invocation records,
DLQ attributes and the S3 / SNS event builders (checked against ``sam local generate-event``). No servers."""

from __future__ import annotations

import json
from urllib.parse import unquote_plus

import pytest

from lambdalab.clock import iso_timestamp
from lambdalab.config import EventInvokeConfig
from lambdalab.errors import InvalidParameterValueException, NotSupportedLocally, ValidationException
from lambdalab.sources.asyncinvoke import processor
from lambdalab.sources.asyncinvoke.config import from_request, to_response
from lambdalab.sources.asyncinvoke.processor import Condition
from lambdalab.sources.asyncinvoke.records import Response, dead_letter_attributes, invocation_record
from lambdalab.sources.asyncinvoke.s3 import notification_configuration
from lambdalab.sources.asyncinvoke.s3events import s3_event, s3_record, sequencer
from lambdalab.sources.asyncinvoke.snsevents import sns_event, sns_record
from tests.engine.event_shapes import sample, shape_differences

DEFAULT = EventInvokeConfig()


def test_a_function_error_is_retried_after_one_then_two_minutes():
    """[A-ERR]: two retries by default, 1 minute before the second attempt, 2 minutes before the third."""
    first = processor.after_invoke(function_error=True, invoke_count=1, age=0.1, config=DEFAULT)
    second = processor.after_invoke(function_error=True, invoke_count=2, age=60.2, config=DEFAULT)
    third = processor.after_invoke(function_error=True, invoke_count=3, age=180.3, config=DEFAULT)
    assert (first.retry_in, second.retry_in) == (60.0, 120.0)
    assert third == processor.Decision(condition=Condition.RETRIES_EXHAUSTED) and third.failed


@pytest.mark.parametrize("retries", [0, 1, 2])
def test_maximum_retry_attempts_bounds_the_invokes(retries):
    """[PFEIC]: MaximumRetryAttempts 0-2; the event runs at most 1 + MaximumRetryAttempts times."""
    config = EventInvokeConfig(MaximumRetryAttempts=retries)
    count = 1
    while processor.after_invoke(function_error=True, invoke_count=count, age=0, config=config).retry_in:
        count += 1
    assert count == retries + 1


def test_success_stops_with_the_success_condition():
    """[A-a]: a successful invocation's record has the condition Success."""
    decision = processor.after_invoke(function_error=False, invoke_count=2, age=61, config=DEFAULT)
    assert decision == processor.Decision(condition=Condition.SUCCESS) and not decision.failed


def test_a_retry_that_would_come_after_the_maximum_age_is_event_age_exceeded():
    """[A-ERR],[PFEIC]: events older than MaximumEventAgeInSeconds are discarded."""
    config = EventInvokeConfig(MaximumEventAgeInSeconds=60)
    decision = processor.after_invoke(function_error=True, invoke_count=1, age=0.5, config=config)
    assert decision.condition == Condition.EVENT_AGE_EXCEEDED


def test_throttle_backoff_grows_exponentially_from_one_second_to_five_minutes():
    """[A-ERR]: the retry interval for throttles grows exponentially from 1 s to a maximum of 5 minutes."""
    assert [processor.throttle_backoff(n) for n in range(1, 12)] == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]
    assert processor.throttle_backoff(5000) == 300  # any number of throttles in a row, no overflow


def test_throttled_events_are_retried_until_the_six_hour_default_age():
    """[A-ERR]: throttled events are requeued for up to 6 hours by default."""
    age, throttles = 0.0, 0
    while True:
        throttles += 1
        decision = processor.after_throttle(throttles=throttles, age=age, config=DEFAULT, reserved=None)
        if decision.retry_in is None:
            break
        age += decision.retry_in
    assert decision.condition == Condition.EVENT_AGE_EXCEEDED
    assert 21600 - 300 < age <= 21600


def test_reserved_concurrency_zero_sends_events_straight_to_the_failure_path():
    """[A-REC]: with reserved concurrency 0, events go to the DLQ / on-failure destination without retries."""
    decision = processor.after_throttle(throttles=1, age=0, config=DEFAULT, reserved=0)
    assert decision == processor.Decision(condition=Condition.ZERO_RESERVED_CONCURRENCY)


@pytest.mark.parametrize(("body", "message"), [
    ({"MaximumRetryAttempts": 3}, "Value '3' at 'maximumRetryAttempts' failed to satisfy constraint: "
                                  "Member must have value less than or equal to 2"),
    ({"MaximumRetryAttempts": -1}, "greater than or equal to 0"),
    ({"MaximumEventAgeInSeconds": 59}, "Value '59' at 'maximumEventAgeInSeconds' failed to satisfy constraint: "
                                       "Member must have value greater than or equal to 60"),
    ({"MaximumEventAgeInSeconds": 21601}, "less than or equal to 21600"),
])
def test_settings_outside_aws_ranges_get_a_validation_error(body, message):
    """[PFEIC]: MaximumRetryAttempts 0-2, MaximumEventAgeInSeconds 60-21600, AWS's validation wording."""
    with pytest.raises(ValidationException) as raised:
        from_request(body, None)
    assert message in raised.value.message and raised.value.message.startswith("1 validation error detected: ")


def test_put_replaces_and_update_patches():
    """[A-a]: put-function-event-invoke-config replaces the configuration, update patches it."""
    current = EventInvokeConfig(MaximumRetryAttempts=0, OnFailure="arn:aws:sqs:us-east-1:123456789012:q")
    assert from_request({"MaximumEventAgeInSeconds": 120}, None) == EventInvokeConfig(MaximumEventAgeInSeconds=120)
    assert from_request({"MaximumEventAgeInSeconds": 120}, current) == EventInvokeConfig(
        MaximumRetryAttempts=0, MaximumEventAgeInSeconds=120, OnFailure="arn:aws:sqs:us-east-1:123456789012:q")


def test_unsupported_destinations_are_refused_by_name():
    """[A-REC]: destinations are SQS, SNS, Lambda, EventBridge and S3 (on failure); the engine delivers to the
    first three and refuses the others clearly; anything else is an invalid destination."""
    with pytest.raises(NotSupportedLocally, match="EventBridge"):
        from_request({"DestinationConfig": {"OnSuccess": {"Destination": "arn:aws:events:us-east-1:1:event-bus/b"}}},
                     None)
    with pytest.raises(InvalidParameterValueException):
        from_request({"DestinationConfig": {"OnFailure": {"Destination": "not-an-arn"}}}, None)


def test_the_api_answer_has_the_function_event_invoke_config_shape():
    """[PFEIC]: FunctionEventInvokeConfig: LastModified, FunctionArn, the two settings, DestinationConfig."""
    answer = to_response("arn:aws:lambda:us-east-1:123456789012:function:F", DEFAULT, 1.5)
    assert answer == {"LastModified": 1.5, "FunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:F:$LATEST",
                      "MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 21600,
                      "DestinationConfig": {"OnSuccess": {}, "OnFailure": {}}}


def test_the_failure_record_has_aws_shape():
    """[A-a]: version, timestamp, requestContext{requestId, functionArn, condition, approximateInvokeCount},
    requestPayload, responseContext{statusCode, executedVersion, functionError}, responsePayload."""
    error = Response(b'{"errorMessage": "boom", "errorType": "ValueError"}', "Unhandled")
    record = invocation_record(request_id="r-1", function_arn="arn:aws:lambda:us-east-1:123456789012:function:F",
                               condition=Condition.RETRIES_EXHAUSTED, invoke_count=3, request_payload=b'{"a": 1}',
                               response=error, now=1767225780.25)
    assert record == {
        "version": "1.0", "timestamp": "2026-01-01T00:03:00.250Z",
        "requestContext": {"requestId": "r-1",
                           "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:F:$LATEST",
                           "condition": "RetriesExhausted", "approximateInvokeCount": 3},
        "requestPayload": {"a": 1},
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorMessage": "boom", "errorType": "ValueError"},
    }


def test_a_record_of_an_event_that_never_ran_has_no_response():
    """[A-REC]: an event throttled away never ran, so its record has no response context."""
    record = invocation_record(request_id="r", function_arn="arn", condition=Condition.ZERO_RESERVED_CONCURRENCY,
                               invoke_count=0, request_payload=b"{}", response=None, now=0)
    assert "responseContext" not in record and record["requestContext"]["approximateInvokeCount"] == 0


def test_dead_letter_attributes_carry_request_id_error_code_and_the_first_kilobyte_of_the_message():
    """[A-a]: DLQ attributes RequestID (String), ErrorCode (Number), ErrorMessage (String, first 1 KB)."""
    long = json.dumps({"errorMessage": "x" * 5000}).encode()
    attributes = dead_letter_attributes("r-1", Response(long, "Unhandled"))
    assert attributes["RequestID"] == {"DataType": "String", "StringValue": "r-1"}
    assert attributes["ErrorCode"] == {"DataType": "Number", "StringValue": "200"}
    assert attributes["ErrorMessage"]["DataType"] == "String" and len(attributes["ErrorMessage"]["StringValue"]) == 1024
    assert dead_letter_attributes("r-2", None)["ErrorCode"]["StringValue"] == "429"


def put_record(key: str = "test/key", **extra: object) -> dict[str, object]:
    return s3_record(event_name="s3:ObjectCreated:Put", region="us-east-1", time=iso_timestamp(0), bucket="b",
                     key=key, configuration_id="c", sequence=sequencer(1), **extra)  # type: ignore[arg-type]


def test_s3_put_and_delete_events_have_every_key_of_the_sam_samples():
    """[S3],[S3-a]: the keys and value types of `sam local generate-event s3 put` and `s3 delete`."""
    put = s3_event(put_record(size=1024, etag='"0123456789abcdef0123456789abcdef"'))
    delete = s3_event(s3_record(event_name="s3:ObjectRemoved:Delete", region="us-east-1", time=iso_timestamp(0),
                                bucket="b", key="test/key", configuration_id="c", sequence=sequencer(2)))
    assert shape_differences(put, sample("s3/put.json")) == []
    assert shape_differences(delete, sample("s3/delete.json")) == []
    assert put["Records"][0]["eventName"] == "ObjectCreated:Put"
    assert put["Records"][0]["s3"]["object"]["eTag"] == "0123456789abcdef0123456789abcdef"


def test_s3_keys_are_form_url_encoded():
    """[S3]: the object key is URL-encoded: "red flower.jpg" becomes "red+flower.jpg"."""
    record = put_record(key="photos/red flower+1.jpg", size=1, etag="e")
    key = record["s3"]["object"]["key"]  # type: ignore[index]
    assert key == "photos/red+flower%2B1.jpg" and unquote_plus(key) == "photos/red flower+1.jpg"


def test_sequencers_order_events_as_hex():
    """[S3]: sequencers of one key compare as hex strings, later events greater."""
    values = [sequencer(n) for n in (1, 9, 10, 255, 4096)]
    assert values == sorted(values) and [int(v, 16) for v in values] == [1, 9, 10, 255, 4096]


def test_sns_records_have_every_key_of_the_sam_sample():
    """[L-SNS]: the keys and value types of `sam local generate-event sns notification`, capitalised."""
    expected = sample("sns/notification.json")
    attributes = expected["Records"][0]["Sns"]["MessageAttributes"]  # type: ignore[index]
    event = sns_event(sns_record(subscription_arn="arn:aws:sns:us-east-1:123456789012:T:abc", topic_arn="arn:t",
                                 message_id="m", message="hello", subject="s", time=iso_timestamp(0),
                                 region="us-east-1", attributes=attributes))
    assert shape_differences(event, expected, data_maps=("MessageAttributes",)) == []
    assert event["Records"][0]["Sns"]["MessageAttributes"] == attributes


def test_a_cloudformation_notification_configuration_becomes_the_api_shape():
    """[L-S3]: a bucket's LambdaConfigurations (what SAM writes for S3 events) with an S3Key filter."""
    api = notification_configuration("Uploads", {"LambdaConfigurations": [{
        "Event": "s3:ObjectCreated:*", "Function": "arn:fn",
        "Filter": {"S3Key": {"Rules": [{"Name": "prefix", "Value": "in/"}]}}}]})
    [entry] = api["LambdaFunctionConfigurations"]
    assert entry["LambdaFunctionArn"] == "arn:fn" and entry["Events"] == ["s3:ObjectCreated:*"]
    assert entry["Filter"] == {"Key": {"FilterRules": [{"Name": "prefix", "Value": "in/"}]}}
    assert entry["Id"] == notification_configuration("Uploads", {"LambdaConfigurations": [{
        "Event": "s3:ObjectCreated:*", "Function": "arn:fn"}]})["LambdaFunctionConfigurations"][0]["Id"]
