"""The stream processor's decisions and records, without servers: checkpoint, retry, bisect,
discard; partial batch responses; event and on-failure record shapes."""

from __future__ import annotations

import json

import pytest

from lambdalab.sources.batchresponse import Cause
from lambdalab.sources.batchsender import Answer
from lambdalab.sources.streams import processor
from lambdalab.sources.streams.destinations import on_failure_record
from lambdalab.sources.streams.processor import Action, Condition, decide
from lambdalab.sources.streams.records import dynamodb_record, kinesis_record, slot_of
from tests.engine.event_shapes import sample, shape_differences

SEQS = [11, 12, 13, 14]
OK, ERROR = Answer(), Answer(function_error=True)


def report(*identifiers: object) -> Answer:
    return Answer(payload=json.dumps({"batchItemFailures": [{"itemIdentifier": i} for i in identifiers]}).encode())


def test_success_checkpoints_the_whole_batch() -> None:
    """[KIN] A batch that succeeds is checkpointed whole."""
    d = decide(SEQS, OK, retries=0)
    assert (d.action, d.cause, d.checkpointed) == (Action.CHECKPOINT, Cause.SUCCESS, 4)


def test_function_error_retries_the_whole_batch_until_the_retries_run_out() -> None:
    """[KIN],[KIN-P] A function error retries the whole batch; after MaximumRetryAttempts retries
    the batch is discarded with condition RetryAttemptsExhausted; -1 retries forever."""
    d = decide(SEQS, ERROR, retries=0, maximum_retry_attempts=2)
    assert (d.action, d.retries, d.checkpointed) == (Action.RETRY, 1, 0)
    d = decide(SEQS, ERROR, retries=2, maximum_retry_attempts=2)
    assert (d.action, d.condition) == (Action.DISCARD, Condition.RETRY_ATTEMPTS_EXHAUSTED)
    assert decide(SEQS, ERROR, retries=0, maximum_retry_attempts=0).action == Action.DISCARD
    assert decide(SEQS, ERROR, retries=5000).action == Action.RETRY


def test_bisect_splits_a_failed_batch_without_using_a_retry() -> None:
    """[KIN],[KIN-ONF] BisectBatchOnFunctionError splits the failed batch in two; a split does not
    consume the retry quota. A single failing record is retried (and counted) as usual."""
    d = decide(SEQS, ERROR, retries=1, maximum_retry_attempts=1, bisect=True)
    assert (d.action, d.split, d.retries) == (Action.BISECT, 2, 1)
    assert decide([11, 12, 13], ERROR, retries=0, bisect=True).split == 2
    d = decide([11], ERROR, retries=1, maximum_retry_attempts=1, bisect=True)
    assert (d.action, d.condition) == (Action.DISCARD, Condition.RETRY_ATTEMPTS_EXHAUSTED)


def test_throttles_retry_without_counting() -> None:
    """[KIN-ONF] Throttles and other pre-invoke failures retry until the records expire or pass the
    maximum age; they never use the retry quota."""
    d = decide(SEQS, Answer(throttled=True, reason="ReservedFunctionConcurrentInvocationLimitExceeded"),
               retries=0, maximum_retry_attempts=0)
    assert (d.action, d.cause, d.retries) == (Action.RETRY, Cause.THROTTLED, 0)


@pytest.mark.parametrize("payload", [b"", b"null", b"{}", b'{"batchItemFailures": []}',
                                     b'{"batchItemFailures": null}'])
def test_empty_or_null_partial_responses_are_success(payload: bytes) -> None:
    """[KIN] An empty or null batchItemFailures list, or an empty or null response, is success."""
    d = decide(SEQS, Answer(payload=payload), retries=0, report_batch_item_failures=True)
    assert (d.action, d.checkpointed) == (Action.CHECKPOINT, 4)


@pytest.mark.parametrize("item", [{"itemIdentifier": ""}, {"itemIdentifier": None}, {"itemIdentifer": "12"},
                                  {"itemIdentifier": "99"}])
def test_invalid_partial_responses_fail_the_whole_batch(item: dict[str, object]) -> None:
    """[KIN] An empty or null itemIdentifier or a wrong key name fails the whole batch (and, here,
    a sequence number that is not in the batch)."""
    payload = json.dumps({"batchItemFailures": [item]}).encode()
    d = decide(SEQS, Answer(payload=payload), retries=0, report_batch_item_failures=True)
    assert (d.action, d.cause, d.checkpointed) == (Action.RETRY, Cause.INVALID_BATCH_ITEM_FAILURES, 0)


def test_partial_failure_checkpoints_below_the_lowest_reported_sequence_number() -> None:
    """[KIN],[DDB] Lambda checkpoints at the lowest reported sequence number and retries from there."""
    d = decide(SEQS, report("14", "13"), retries=0, report_batch_item_failures=True)
    assert (d.action, d.cause, d.checkpointed, d.retries) == (Action.RETRY, Cause.PARTIAL_BATCH_FAILURE, 2, 1)
    d = decide(SEQS, report("13"), retries=2, maximum_retry_attempts=2, report_batch_item_failures=True)
    assert (d.action, d.checkpointed, d.condition) == (Action.DISCARD, 2, Condition.RETRY_ATTEMPTS_EXHAUSTED)


def test_partial_failure_with_bisect_splits_at_the_reported_number() -> None:
    """[KIN] With bisect on as well, the batch is split at the returned number: what precedes it is
    checkpointed and the rest retried, and the split is not a retry."""
    d = decide(SEQS, report("13"), retries=0, maximum_retry_attempts=0, bisect=True, report_batch_item_failures=True)
    assert (d.action, d.checkpointed, d.retries) == (Action.RETRY, 2, 0)


def test_a_raised_error_fails_the_whole_batch_even_with_report_batch_item_failures() -> None:
    """[KIN] A raised error fails the whole batch."""
    d = decide(SEQS, ERROR, retries=0, report_batch_item_failures=True)
    assert (d.cause, d.checkpointed) == (Cause.FUNCTION_ERROR, 0)


def test_records_older_than_the_maximum_age_are_expired_from_the_front() -> None:
    """[KIN-ONF],[KT] Records older than MaximumRecordAgeInSeconds are discarded; -1 keeps them."""
    assert processor.expired([0.0, 50.0, 100.0], 100.0, maximum_record_age=60) == 1
    assert processor.expired([0.0, 30.0], 100.0) == 0
    assert [processor.backoff(n) for n in (1, 2, 3, 7, 20, 5000)] == [1, 2, 4, 60, 60, 60]


def test_kinesis_records_have_every_key_of_the_sample_event() -> None:
    """[KIN] Kinesis records have the keys and value types of `sam local generate-event kinesis
    get-records`, data in base64 and eventID ``shardId:sequenceNumber``."""
    expected = sample("kinesis/get-records.json")["Records"][0]
    raw = {"SequenceNumber": "7", "PartitionKey": "k", "Data": b'{"a": 1}'}
    record = kinesis_record(raw, shard_id="shardId-000000000001", stream_arn="arn:aws:kinesis:us-east-1:1:stream/s",
                            region="us-east-1", arrival=1767225600.5)
    assert shape_differences(record.event, expected) == []
    assert record.event["kinesis"]["data"] == "eyJhIjogMX0="
    assert record.event["eventID"] == "shardId-000000000001:7"
    assert (record.sequence, record.key) == (7, "k")


def test_dynamodb_records_have_every_key_of_the_sample_event() -> None:
    """[DDB] DynamoDB records have the keys and value types of `sam local generate-event dynamodb
    update` (its MODIFY record, which has both images)."""
    expected = sample("dynamodb/update.json")["Records"][1]
    raw = {"eventID": "x", "eventName": "MODIFY", "eventVersion": "1.0", "eventSource": "aws:dynamodb",
           "awsRegion": "us-east-1",
           "dynamodb": {"Keys": {"pk": {"S": "a"}}, "NewImage": {"pk": {"S": "a"}}, "OldImage": {"pk": {"S": "a"}},
                        "SequenceNumber": "1100000000017454423010", "SizeBytes": 59,
                        "StreamViewType": "NEW_AND_OLD_IMAGES", "ApproximateCreationDateTime": "wall"}}
    record = dynamodb_record(raw, shard_id="shardId-1", stream_arn="arn:aws:dynamodb:us-east-1:1:table/t/stream/x",
                             region="us-east-1", arrival=1767225600.0)
    assert shape_differences(record.event, expected, data_maps=("Keys", "NewImage", "OldImage")) == []
    assert record.event["dynamodb"]["ApproximateCreationDateTime"] == 1767225600


def test_on_failure_records_have_aws_shape() -> None:
    """[KIN],[KIN-ONF] A discarded batch's record: requestContext, responseContext, version,
    timestamp and KinesisBatchInfo / DDBStreamBatchInfo."""
    records = [kinesis_record({"SequenceNumber": str(n), "PartitionKey": "k", "Data": b"x"}, shard_id="shardId-0",
                              stream_arn="arn:s", region="us-east-1", arrival=1767225600.0 + n) for n in (3, 4)]
    body = on_failure_record(kind="kinesis", records=records, stream_arn="arn:s", function_arn="arn:f",
                             request_id="r", condition="RetryAttemptsExhausted", invoke_count=3,
                             last_answer=ERROR, now=1767225660.0)
    assert set(body) == {"requestContext", "responseContext", "version", "timestamp", "KinesisBatchInfo"}
    assert body["requestContext"] == {"requestId": "r", "functionArn": "arn:f", "condition": "RetryAttemptsExhausted",
                                      "approximateInvokeCount": 3}
    assert body["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}
    assert body["KinesisBatchInfo"] == {
        "shardId": "shardId-0", "startSequenceNumber": "3", "endSequenceNumber": "4",
        "approximateArrivalOfFirstRecord": "2026-01-01T00:00:03.000Z",
        "approximateArrivalOfLastRecord": "2026-01-01T00:00:04.000Z", "batchSize": 2, "streamArn": "arn:s"}
    ddb = on_failure_record(kind="dynamodb", records=records, stream_arn="arn:s", function_arn="arn:f",
                            request_id="r", condition="RetryAttemptsExhausted", invoke_count=1, last_answer=None,
                            now=1767225660.0)
    assert "DDBStreamBatchInfo" in ddb


def test_one_key_always_lands_in_the_same_parallelization_slot() -> None:
    """[KIN] With ParallelizationFactor > 1 a key's records share one slot, so their order is kept."""
    assert {slot_of("account-7", 4) for _ in range(5)} == {slot_of("account-7", 4)}
    assert {slot_of(f"k{n}", 4) for n in range(50)} == {0, 1, 2, 3}
    assert slot_of("anything", 1) == 0
