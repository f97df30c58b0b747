"""The SQS processor's pure decisions, records, filters and scaling: no servers."""

from __future__ import annotations

import json

import pytest

from lambdalab.sources.batchresponse import Cause
from lambdalab.sources.filtering import record_matches
from lambdalab.sources.sqs import processor
from lambdalab.sources.sqs.records import Times, build_record, within_payload_limit
from lambdalab.sources.sqs.scaling import Scaling
from tests.engine.event_shapes import sample, shape_differences

IDS = ["m1", "m2", "m3"]


def decide(payload: object = b"", **kwargs: object) -> processor.BatchDecision:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return processor.decide(IDS, payload=body, report_batch_item_failures=True, **kwargs)  # type: ignore[arg-type]


def test_success_deletes_the_whole_batch():
    """[SQS-a]: when the function succeeds Lambda deletes the batch."""
    assert processor.decide(IDS) == processor.BatchDecision(tuple(IDS), (), Cause.SUCCESS)


def test_an_error_returns_every_message():
    """[SQS-a],[SQS-E]: an error returns all messages, processed or not."""
    decision = processor.decide(IDS, report_batch_item_failures=True, function_error=True)
    assert decision.delete == () and decision.retry == tuple(IDS)


def test_a_throttle_neither_deletes_nor_returns_a_message():
    """[SQS-T]: a throttled batch stays in flight for another invoke: nothing is deleted or returned."""
    assert processor.decide(IDS, throttled=True) == processor.BatchDecision((), (), Cause.THROTTLED)


def test_a_throttled_batch_is_retried_with_doubling_delays_until_its_visibility_timeout_ends():
    """[SQS-T]: retries 1, 2, 4... s after each throttle (the engine's delays, at most 5 minutes), none at
    or past the end of the messages' visibility timeout."""
    assert [processor.throttle_retry_at(100, n, 10_000) for n in (1, 2, 3, 4)] == [101, 102, 104, 108]
    assert processor.throttle_retry_at(100, 12, 10_000) == 400 and processor.throttle_retry_at(100, 99, 10_000) == 400
    assert processor.throttle_retry_at(107, 4, 115) is None and processor.throttle_retry_at(107, 4, 116) == 115


def test_reported_items_return_and_the_rest_are_deleted():
    """[SQS-a]: with ReportBatchItemFailures only the named messages return to the queue."""
    decision = decide({"batchItemFailures": [{"itemIdentifier": "m2"}]})
    assert decision == processor.BatchDecision(("m1", "m3"), ("m2",), Cause.PARTIAL_BATCH_FAILURE)


@pytest.mark.parametrize("payload", [b"", b"null", {}, {"batchItemFailures": []}, {"batchItemFailures": None},
                                     {"status": "done"}])
def test_an_empty_or_null_response_or_list_is_success(payload):
    """[SQS-E]: an empty or null batchItemFailures list, or an empty or null response, is success."""
    assert decide(payload).cause == Cause.SUCCESS and decide(payload).delete == tuple(IDS)


@pytest.mark.parametrize("payload", [
    b"{not json",
    {"batchItemFailures": [{"itemIdentifier": ""}]},
    {"batchItemFailures": [{"itemIdentifier": None}]},
    {"batchItemFailures": [{"id": "m1"}]},
    {"batchItemFailures": [{"itemIdentifier": "not-in-batch"}]},
    {"batchItemFailures": "m1"},
])
def test_an_invalid_response_fails_the_whole_batch(payload):
    """[SQS-E]: invalid JSON, an empty or null id, a wrong key name or an unknown id fails the whole batch."""
    decision = decide(payload)
    assert decision.cause == Cause.INVALID_BATCH_ITEM_FAILURES and decision.retry == tuple(IDS)
    assert decision.detail


def test_a_reported_list_counts_only_when_the_mapping_asks_for_it():
    """[SQS-a]: without ReportBatchItemFailures a successful invoke deletes every message."""
    body = json.dumps({"batchItemFailures": [{"itemIdentifier": "m1"}]}).encode()
    assert processor.decide(IDS, payload=body).delete == tuple(IDS)


MESSAGE = {"MessageId": "id-1", "ReceiptHandle": "rh", "Body": '{"kind": "export", "rows": 5}', "MD5OfBody": "md5",
           "Attributes": {"ApproximateReceiveCount": "2", "SentTimestamp": "1", "SenderId": "AIDA",
                          "ApproximateFirstReceiveTimestamp": "2", "MessageGroupId": "g", "SequenceNumber": "7",
                          "MessageDeduplicationId": "d"},
           "MessageAttributes": {"a": {"DataType": "String", "StringValue": "x"}}}


def record(fifo: bool = False, body: str | None = None) -> dict:
    message = dict(MESSAGE, Body=body) if body is not None else MESSAGE
    return build_record(message, queue_arn="arn:aws:sqs:us-east-1:123456789012:Q", region="us-east-1", fifo=fifo,
                        times=Times(1000, 2000))


# A FIFO queue's records add these attributes (Lambda developer guide, "Using Lambda with Amazon SQS":
# the FIFO example event); the `sam local generate-event sqs receive-message` sample is a standard queue's.
FIFO_ATTRIBUTES = tuple(f"attributes.{name}" for name in ("MessageGroupId", "SequenceNumber",
                                                          "MessageDeduplicationId"))


def test_a_record_has_the_sample_events_keys():
    """[SQS-a]: the record's keys and value types are those of `sam local generate-event sqs
    receive-message`; a FIFO queue's record adds its three attributes."""
    expected = sample("sqs/receive-message.json")["Records"][0]
    built = record()
    assert shape_differences(built, expected, data_maps=("messageAttributes",)) == []
    assert built["attributes"]["SentTimestamp"] == "1000" and built["attributes"]["ApproximateReceiveCount"] == "2"
    assert shape_differences(record(fifo=True), expected, data_maps=("messageAttributes",), extra=FIFO_ATTRIBUTES) == []
    assert set(record(fifo=True)["attributes"]) == set(expected["attributes"]) | {
        "MessageGroupId", "SequenceNumber", "MessageDeduplicationId"}


def test_a_batch_stops_at_six_megabytes():
    """[SQS-a]: a batch's invoke payload, SQS metadata included, is at most 6 MB."""
    big = [record(body="x" * 1_000_000) for _ in range(8)]
    assert within_payload_limit(big) == 6 and within_payload_limit(big[:3]) == 3


@pytest.mark.parametrize("pattern,expected", [
    ({"body": {"kind": ["export"]}}, True),
    ({"body": {"kind": ["import"]}}, False),
    ({"body": {"rows": [{"numeric": [">", 3, "<=", 5]}]}}, True),
    ({"body": {"kind": [{"prefix": "exp"}]}}, True),
    ({"body": {"kind": [{"anything-but": ["export"]}]}}, False),
    ({"body": {"missing": [{"exists": False}]}}, True),
    ({"attributes": {"MessageGroupId": ["g"]}}, True),
])
def test_filter_patterns_match_records(pattern, expected):
    """[FILTER]: a record passes when a pattern matches its fields (body parsed as JSON)."""
    assert record_matches(record(fifo=True), (pattern,)) is expected


def test_a_body_pattern_never_matches_a_body_that_is_not_json():
    """[FILTER]: a pattern on body fields drops a message whose body is not JSON."""
    assert not record_matches(record(body="plain text"), ({"body": {"kind": ["export"]}},))
    assert record_matches(record(body="plain text"), ())


def test_scaling_starts_at_five_grows_three_hundred_a_minute_and_stops_at_the_maximum():
    """[SQS-S],[API-SC]: 5 concurrent batches at first, +300 a minute, at most 1,000 or MaximumConcurrency;
    back to the start when the queue is empty."""
    scaling = Scaling()
    assert scaling.concurrency(0) == 5
    scaling.found_messages(100)
    assert [scaling.concurrency(100 + s) for s in (0, 1, 60, 600)] == [5, 10, 305, 1000]
    scaling.found_none()
    assert scaling.concurrency(1000) == 5
    capped = Scaling(maximum=2)
    capped.found_messages(0)
    assert capped.concurrency(0) == 2 and capped.concurrency(600) == 2
    assert Scaling(maximum=50).concurrency(0) == 5


def test_throttles_halve_the_concurrency_until_no_throttled_batch_waits_then_it_grows_back():
    """[SQS-T],[SQS-S]: throttles reduce the mapping's concurrency (the engine halves it, down to 1) while
    throttled batches wait; then it grows again at the scale-up rate, up to where it was."""
    scaling = Scaling()
    scaling.found_messages(0)
    scaling.throttled(0)
    assert scaling.concurrency(0) == 2 and scaling.concurrency(60) == 2
    scaling.throttled(60)
    scaling.throttled(61)
    assert scaling.concurrency(61) == 1
    scaling.unthrottled(70)
    assert [scaling.concurrency(70 + s) for s in (0, 0.2, 1, 60)] == [1, 2, 6, 301]
    scaling.found_none()
    assert scaling.concurrency(1000) == 5
