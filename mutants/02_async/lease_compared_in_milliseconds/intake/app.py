# Mistake: writes the lease's end in seconds but compares it with the time in milliseconds, so every claim looks expired
"""Document intake with a leased claim: one conditional put claims a document, re-claims it for a
retry of the same event, or takes it over once its owner can no longer be running.

The claim is keyed by the S3 event's identity: the bucket, the decoded key and the event's
``sequencer`` (the same in every delivery of one upload's event, greater for the next upload of the
key). It names its owner (the request id, which every retry of an event keeps) and a lease: the end
of the owner's invocation (its remaining time), after which Lambda has stopped it for sure.

* A retry of the owner's event finds its own claim and carries on.
* A duplicate delivery finds the document DONE (nothing to do) or leased by another invocation (it
  raises, and Lambda retries it later).
* A failed attempt leaves its claim; the retry (same owner) picks it up, and after the lease anyone may.
"""

import json
import os
import time
from decimal import Decimal
from urllib.parse import unquote_plus

import boto3
import documents
from botocore.exceptions import ClientError

PROCESSING, DONE = "PROCESSING", "DONE"
_resources = {}


class AlreadyInProgress(Exception):
    """Another invocation holds a live claim on this document: try again later."""


def table():
    if "table" not in _resources:
        _resources["table"] = boto3.resource("dynamodb").Table(os.environ["DOCUMENTS_TABLE"])
    return _resources["table"]


def sns():
    if "sns" not in _resources:
        _resources["sns"] = boto3.client("sns")
    return _resources["sns"]


def document_id(record):
    s3 = record["s3"]
    return f"{s3['bucket']['name']}/{unquote_plus(s3['object']['key'])}#{s3['object']['sequencer']}"


def claim(doc_id, owner, lease_seconds):
    """True: this invocation holds the claim; False: the document is DONE. Raises AlreadyInProgress
    while another invocation's lease runs."""
    now = Decimal(str(time.time()))
    now_ms = int(time.time() * 1000)
    try:
        table().put_item(
            Item={"docId": doc_id, "status": PROCESSING, "owner": owner, "leaseUntil": now + Decimal(lease_seconds)},
            ConditionExpression="attribute_not_exists(docId) OR (#s = :processing AND (#o = :me OR leaseUntil < :now))",
            ExpressionAttributeNames={"#s": "status", "#o": "owner"},
            ExpressionAttributeValues={":processing": PROCESSING, ":me": owner, ":now": now_ms},
        )
        return True
    except ClientError as err:
        if err.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
    item = table().get_item(Key={"docId": doc_id}, ConsistentRead=True).get("Item", {})
    if item.get("status") == DONE:
        return False
    raise AlreadyInProgress(f"{doc_id} is claimed by {item.get('owner')} until {item.get('leaseUntil')}")


def process(record, context):
    doc_id = document_id(record)
    lease = context.get_remaining_time_in_millis() // 1000 + 1
    if not claim(doc_id, context.aws_request_id, lease):
        print(f"{doc_id} is already done: duplicate delivery ignored")
        return
    s3 = record["s3"]
    body = documents.read(s3["bucket"]["name"], unquote_plus(s3["object"]["key"]), s3["object"].get("versionId"))
    metadata = documents.extract(body)
    sns().publish(
        TopicArn=os.environ["EVENTS_TOPIC_ARN"],
        Message=json.dumps({"docId": doc_id, **metadata}),
        MessageAttributes={"event_type": {"DataType": "String", "StringValue": "document.processed"}},
    )
    table().update_item(
        Key={"docId": doc_id},
        UpdateExpression="SET #s = :done, title = :title, pages = :pages REMOVE leaseUntil",
        ConditionExpression="#o = :me",
        ExpressionAttributeNames={"#s": "status", "#o": "owner"},
        ExpressionAttributeValues={":done": DONE, ":me": context.aws_request_id, ":title": metadata["title"],
                                   ":pages": metadata["pages"]},
    )


def handler(event, context):
    for record in event["Records"]:
        process(record, context)
