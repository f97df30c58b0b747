"""On-failure destination records for discarded stream batches, in AWS's shape [KIN],[KIN-ONF].

Lambda sends metadata only (not the records): the invocation's request context, the last
response, and ``KinesisBatchInfo`` or ``DDBStreamBatchInfo`` naming the shard, the first and last
sequence numbers, their arrival times and the batch size, so the records can be read back from
the stream while it still keeps them. SQS gets it as the message body, SNS as the message
(``lambdalab.sources.destinations`` publishes it).
"""

from __future__ import annotations

from typing import Any

from lambdalab.clock import iso_timestamp
from lambdalab.errors import ConfigurationError
from lambdalab.sources.batchsender import Answer
from lambdalab.sources.destinations import check_exists, publish, record_body
from lambdalab.sources.streams.config import KINESIS
from lambdalab.sources.streams.records import StreamRecord


def on_failure_record(*, kind: str, records: list[StreamRecord], stream_arn: str, function_arn: str,
                      request_id: str, condition: str, invoke_count: int, last_answer: Answer | None,
                      now: float) -> dict[str, Any]:
    """The invocation record for a discarded batch (pure)."""
    response: dict[str, Any] = {"executedVersion": "$LATEST"}
    if last_answer is not None:
        response["statusCode"] = 429 if last_answer.throttled else 200
        if last_answer.function_error:
            response["functionError"] = "Unhandled"
    first, last = records[0], records[-1]
    info = {
        "shardId": first.shard_id,
        "startSequenceNumber": first.sequence_number,
        "endSequenceNumber": last.sequence_number,
        "approximateArrivalOfFirstRecord": iso_timestamp(first.arrival),
        "approximateArrivalOfLastRecord": iso_timestamp(last.arrival),
        "batchSize": len(records),
        "streamArn": stream_arn,
    }
    return {
        "requestContext": {"requestId": request_id, "functionArn": function_arn, "condition": condition,
                           "approximateInvokeCount": invoke_count},
        "responseContext": response,
        "version": "1.0",
        "timestamp": iso_timestamp(now),
        ("KinesisBatchInfo" if kind == KINESIS else "DDBStreamBatchInfo"): info,
    }


def check(dataplane: Any, destination: str, logical_id: str) -> None:
    """Refuse a destination that does not exist in the data plane (Lambda checks it when the
    mapping is created or updated)."""
    try:
        check_exists(dataplane, destination)
    except Exception as exc:  # botocore's ClientError: the queue or topic is not there
        raise ConfigurationError(f"the on-failure destination {destination} does not exist ({exc})",
                                 logical_id, "DestinationConfig.OnFailure.Destination") from None


def deliver(dataplane: Any, destination: str, record: dict[str, Any]) -> None:
    """Send the record to an SQS queue or SNS topic (by ARN)."""
    publish(dataplane, destination, record_body(destination, record))
