"""Stream event-source mappings are read with AWS's defaults, ranges and wording, and refused
(never ignored) where the engine does not emulate a setting."""

from __future__ import annotations

from typing import Any

import pytest

from lambdalab.errors import ConfigurationError
from lambdalab.sources.streams.config import parse_mapping, stream_kind

KINESIS_ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/Events"
DDB_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/T/stream/2026-01-01T00:00:00.000"


def parse(kind: str = "kinesis", **props: Any) -> Any:
    arn = KINESIS_ARN if kind == "kinesis" else DDB_ARN
    base = {"FunctionName": "Worker", "EventSourceArn": arn, "StartingPosition": "TRIM_HORIZON", **props}
    return parse_mapping("WorkerStream", base, kind=kind, stream_logical_id="Events", function_name="Worker")


def test_defaults_are_aws_defaults() -> None:
    """[ESM-API],[KIN-P] BatchSize 100, no window, infinite retries and record age, no bisect,
    ParallelizationFactor 1, enabled."""
    c = parse()
    assert (c.BatchSize, c.MaximumBatchingWindowInSeconds, c.MaximumRetryAttempts, c.MaximumRecordAgeInSeconds,
            c.BisectBatchOnFunctionError, c.ParallelizationFactor, c.Enabled, c.OnFailure) == \
        (100, 0, -1, -1, False, 1, True, None)


def test_only_stream_arns_are_stream_mappings() -> None:
    """[ESM-API] Kinesis streams and DynamoDB streams are stream sources; SQS queues are not."""
    assert stream_kind({"EventSourceArn": KINESIS_ARN}) == "kinesis"
    assert stream_kind({"EventSourceArn": DDB_ARN}) == "dynamodb"
    assert stream_kind({"EventSourceArn": "arn:aws:sqs:us-east-1:123456789012:q"}) is None


@pytest.mark.parametrize(("prop", "value", "wording"), [
    ("BatchSize", 0, "Value '0' at 'batchSize' failed to satisfy constraint: "
                     "Member must have value greater than or equal to 1"),
    ("BatchSize", 10001, "Member must have value less than or equal to 10000"),
    ("MaximumBatchingWindowInSeconds", 301, "Member must have value less than or equal to 300"),
    ("MaximumRetryAttempts", -2, "Member must have value greater than or equal to -1"),
    ("MaximumRetryAttempts", 10001, "Member must have value less than or equal to 10000"),
    ("MaximumRecordAgeInSeconds", 604801, "Member must have value less than or equal to 604800"),
    ("MaximumRecordAgeInSeconds", 59, "MaximumRecordAgeInSeconds must be either -1 (forever) or between 60 and "
                                      "604800 (inclusive)"),
    ("ParallelizationFactor", 11, "Member must have value less than or equal to 10"),
    ("ParallelizationFactor", 0, "Member must have value greater than or equal to 1"),
    ("TumblingWindowInSeconds", 901, "Member must have value less than or equal to 900"),
    ("FunctionResponseTypes", ["ReportItemFailures"], "Member must satisfy enum value set: [ReportBatchItemFailures]"),
])
def test_out_of_range_values_get_aws_validation_errors(prop: str, value: Any, wording: str) -> None:
    """[ESM-API],[KT],[KIN-P] Values outside AWS's ranges are rejected in AWS's words."""
    with pytest.raises(ConfigurationError, match=None) as caught:
        parse(**{prop: value})
    assert wording in str(caught.value) and caught.value.property == prop


def test_starting_positions_follow_the_source() -> None:
    """[ESM-API] TRIM_HORIZON, LATEST and AT_TIMESTAMP for Kinesis; no AT_TIMESTAMP for DynamoDB;
    StartingPosition is required."""
    assert parse(StartingPosition="AT_TIMESTAMP", StartingPositionTimestamp=1767225600).StartingPosition == \
        "AT_TIMESTAMP"
    with pytest.raises(ConfigurationError, match="enum value set: \\[TRIM_HORIZON, LATEST\\]"):
        parse("dynamodb", StartingPosition="AT_TIMESTAMP", StartingPositionTimestamp=1)
    with pytest.raises(ConfigurationError, match="StartingPosition is required"):
        parse_mapping("M", {"EventSourceArn": KINESIS_ARN}, kind="kinesis", stream_logical_id="E", function_name="F")


def test_what_is_not_emulated_is_refused_by_name() -> None:
    """[ESM-API],[CFN-ONF] Tumbling windows, S3/Kafka destinations, FIFO destinations and unknown
    properties raise a ConfigurationError naming the property."""
    with pytest.raises(ConfigurationError, match="tumbling windows are not supported locally"):
        parse(TumblingWindowInSeconds=60)
    assert parse(TumblingWindowInSeconds=0).TumblingWindowInSeconds == 0
    with pytest.raises(ConfigurationError, match="S3 and Kafka"):
        parse(DestinationConfig={"OnFailure": {"Destination": "arn:aws:s3:::bucket"}})
    with pytest.raises(ConfigurationError, match="FIFO"):
        parse(DestinationConfig={"OnFailure": {"Destination": "arn:aws:sqs:us-east-1:123456789012:q.fifo"}})
    with pytest.raises(ConfigurationError) as caught:
        parse(ScalingConfig={"MaximumConcurrency": 2})
    assert caught.value.property == "ScalingConfig"
    with pytest.raises(ConfigurationError, match="Invalid filter pattern definition"):
        parse(FilterCriteria={"Filters": [{"Pattern": "not json"}]})
