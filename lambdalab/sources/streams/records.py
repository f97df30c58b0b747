"""Kinesis and DynamoDB Streams records in the shape Lambda delivers them (pure).

Every key of ``sam local generate-event kinesis get-records`` and ``dynamodb update`` [KIN],[DDB].
moto stamps records with the wall clock; the engine stamps them with the time it first saw them
on its own clock (``arrival``), so record ages, windows and on-failure records follow virtual time.
Kinesis sequence numbers from moto are small numeric strings: they are compared as integers.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from lambdalab.config import ACCOUNT_ID

# Lambda invokes synchronously: the whole event must fit the 6 MB payload limit [ESM],[INV].
MAX_BATCH_PAYLOAD_BYTES = 6 * 1024 * 1024
INVOKE_IDENTITY_ARN = f"arn:aws:iam::{ACCOUNT_ID}:role/lambdalab-event-source-mapping"


@dataclass(frozen=True)
class StreamRecord:
    """One record as the poller holds it: the Lambda event record and what ordering needs."""

    event: dict[str, Any]  # the record exactly as the function receives it
    sequence: int  # its sequence number, as an integer
    key: str  # partition key (Kinesis) or item key (DynamoDB): order is kept per key
    arrival: float  # when the engine first saw it (virtual epoch seconds)
    shard_id: str

    @property
    def sequence_number(self) -> str:
        return str(self.event["kinesis"]["sequenceNumber"] if "kinesis" in self.event
                   else self.event["dynamodb"]["SequenceNumber"])


def _b64(data: Any) -> str:
    if isinstance(data, (bytes, bytearray)):
        return base64.b64encode(bytes(data)).decode()
    return str(data)  # already base64 text


def kinesis_record(raw: dict[str, Any], *, shard_id: str, stream_arn: str, region: str,
                   arrival: float) -> StreamRecord:
    """A Lambda Kinesis record from one GetRecords record (``Data`` bytes are base64-encoded)."""
    sequence = str(raw["SequenceNumber"])
    event = {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": raw["PartitionKey"],
            "sequenceNumber": sequence,
            "data": _b64(raw["Data"]),
            "approximateArrivalTimestamp": round(arrival, 3),
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"{shard_id}:{sequence}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": INVOKE_IDENTITY_ARN,
        "awsRegion": region,
        "eventSourceARN": stream_arn,
    }
    return StreamRecord(event, int(sequence), str(raw["PartitionKey"]), arrival, shard_id)


def dynamodb_record(raw: dict[str, Any], *, shard_id: str, stream_arn: str, region: str,
                    arrival: float) -> StreamRecord:
    """A Lambda DynamoDB Streams record from one GetRecords record; images follow the table's
    StreamViewType (KEYS_ONLY, NEW_IMAGE, OLD_IMAGE, NEW_AND_OLD_IMAGES) as the stream gives them."""
    change = dict(raw["dynamodb"])
    change["ApproximateCreationDateTime"] = int(arrival)
    event = {
        "eventID": raw["eventID"],
        "eventName": raw["eventName"],
        "eventVersion": raw.get("eventVersion", "1.0"),
        "eventSource": "aws:dynamodb",
        "awsRegion": raw.get("awsRegion", region),
        "dynamodb": change,
        "eventSourceARN": stream_arn,
    }
    key = json.dumps(change.get("Keys", {}), sort_keys=True)
    return StreamRecord(event, int(change["SequenceNumber"]), key, arrival, shard_id)


def slot_of(key: str, parallelization_factor: int) -> int:
    """Which of a shard's ParallelizationFactor batches a key belongs to: the same key always goes
    to the same one, so records of one key stay in order [KIN]."""
    if parallelization_factor == 1:
        return 0
    return int(hashlib.md5(key.encode()).hexdigest(), 16) % parallelization_factor


def filter_view(record: StreamRecord) -> dict[str, Any]:
    """What a FilterCriteria pattern sees [FILTER]: for Kinesis the ``kinesis`` metadata with
    ``data`` decoded from base64 and parsed as JSON (left as text when it is not JSON); for DynamoDB
    the record itself."""
    if "kinesis" not in record.event:
        return record.event
    view = dict(record.event["kinesis"])
    try:
        view["data"] = json.loads(base64.b64decode(view["data"]))
    except ValueError:
        view["data"] = base64.b64decode(view["data"]).decode(errors="replace")
    return view


def batch_payload(records: list[StreamRecord]) -> bytes:
    return json.dumps({"Records": [r.event for r in records]}).encode()


def within_payload_limit(records: list[StreamRecord], limit: int = MAX_BATCH_PAYLOAD_BYTES) -> int:
    """How many leading records fit in one invoke payload (at least one)."""
    size = len(b'{"Records": []}')
    for count, record in enumerate(records):
        size += len(json.dumps(record.event).encode()) + (2 if count else 0)
        if size > limit and count:
            return count
    return len(records)
