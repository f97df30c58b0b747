"""SQS records in the shape Lambda delivers them, built from ReceiveMessage answers (pure).

Every key of ``sam local generate-event sqs receive-message`` [SQS-a]: ``messageId``,
``receiptHandle``, ``body``, ``attributes`` (strings; times in epoch ms; FIFO adds
``SequenceNumber``, ``MessageGroupId``, ``MessageDeduplicationId``), ``messageAttributes`` with
Lambda's lower-camel keys, ``md5OfBody``, ``eventSource``, ``eventSourceARN``, ``awsRegion``.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

SYSTEM_ATTRIBUTES = ("ApproximateReceiveCount", "SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp")
FIFO_ATTRIBUTES = ("SequenceNumber", "MessageGroupId", "MessageDeduplicationId")
# Lambda counts the whole invoke payload, SQS metadata included, against 6 MB [SQS-a].
MAX_BATCH_PAYLOAD_BYTES = 6 * 1024 * 1024


@dataclass(frozen=True)
class Times:
    """A message's times on the engine's clock (epoch ms): moto stamps the wall clock."""

    sent_ms: int
    first_receive_ms: int


def message_attribute(value: dict[str, Any]) -> dict[str, Any]:
    """``{"StringValue": "x", "DataType": "String"}`` (SQS API) -> Lambda's event shape."""
    out: dict[str, Any] = {"stringValue": value.get("StringValue"), "stringListValues": [],
                           "binaryListValues": [], "dataType": value.get("DataType")}
    if "BinaryValue" in value:
        raw = value["BinaryValue"]
        out["binaryValue"] = base64.b64encode(raw).decode() if isinstance(raw, (bytes, bytearray)) else raw
        out.pop("stringValue")
    return out


def build_record(message: dict[str, Any], *, queue_arn: str, region: str, fifo: bool,
                 times: Times) -> dict[str, Any]:
    """One Lambda SQS record from one ReceiveMessage message."""
    received = message.get("Attributes", {})
    attributes = {
        "ApproximateReceiveCount": str(received.get("ApproximateReceiveCount", "1")),
        "SentTimestamp": str(times.sent_ms),
        "SenderId": str(received.get("SenderId", "")),
        "ApproximateFirstReceiveTimestamp": str(times.first_receive_ms),
    }
    if fifo:
        attributes.update({key: str(received[key]) for key in FIFO_ATTRIBUTES if key in received})
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": attributes,
        "messageAttributes": {k: message_attribute(v) for k, v in (message.get("MessageAttributes") or {}).items()},
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def batch_event(records: list[dict[str, Any]]) -> dict[str, Any]:
    return {"Records": records}


def payload_bytes(records: list[dict[str, Any]]) -> bytes:
    return json.dumps(batch_event(records)).encode()


def receive_count(record: dict[str, Any]) -> int:
    return int(record["attributes"]["ApproximateReceiveCount"])


def within_payload_limit(records: list[dict[str, Any]], limit: int = MAX_BATCH_PAYLOAD_BYTES) -> int:
    """How many leading records fit in one invoke payload (at least one: a single message is
    always far below the limit, since SQS caps a message at 1 MiB)."""
    size = len(b'{"Records": []}')
    for count, record in enumerate(records):
        size += len(json.dumps(record).encode()) + (2 if count else 0)
        if size > limit and count:
            return count
    return len(records)
