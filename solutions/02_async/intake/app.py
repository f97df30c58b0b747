"""Document intake: an upload to S3 in; its metadata in DynamoDB and "document processed" on SNS out.

S3 invokes this function asynchronously and delivers each event at least once; Lambda retries a
failed event (1 minute later, then 2 minutes later) and then hands it to the on-failure
destination. So every document is processed under a claim in DynamoDB, keyed by the identity of
what was uploaded (bucket, key, version or eTag):

* the first delivery claims it (a conditional write) and does the work;
* a retry of the same event carries the same request id, so it recognises its own claim and
  carries on where the failed attempt stopped;
* a duplicate delivery (another request id) finds the document DONE (nothing to do) or still
  PROCESSING (it raises, and Lambda retries it later, when it will find it DONE).

Failures raise, so Lambda retries them: a dependency that is down now will be back, and a corrupt
file ends in the on-failure destination after the configured attempts instead of being retried
forever or silently dropped.
"""

import json
import os
from urllib.parse import unquote_plus

import boto3
import documents
from botocore.exceptions import ClientError

PROCESSING, DONE = "PROCESSING", "DONE"
_resources = {}


class AlreadyInProgress(Exception):
    """Another delivery of this document is processing it right now: try again later."""


def table():
    if "table" not in _resources:
        _resources["table"] = boto3.resource("dynamodb").Table(os.environ["DOCUMENTS_TABLE"])
    return _resources["table"]


def topic():
    if "sns" not in _resources:
        _resources["sns"] = boto3.client("sns")
    return _resources["sns"]


def document_id(record):
    """The identity of what was uploaded: the same for every delivery of this upload, different for
    the next upload of the same key."""
    # BEGIN SOLUTION concept: one document per uploaded object version: a new upload of the same key is a new document, a redelivered event is not hint: f"{bucket}/{key}#{version}" from record["s3"]: the bucket name, the key decoded with unquote_plus, and the object's versionId (else its eTag)
    s3 = record["s3"]
    key = unquote_plus(s3["object"]["key"])
    version = s3["object"].get("versionId") or s3["object"].get("eTag", "")
    return f"{s3['bucket']['name']}/{key}#{version}"
    # END SOLUTION


def claim(doc_id, request_id):
    """Claim the document for this event. True: go ahead; False: it is already DONE (a duplicate).
    Raises AlreadyInProgress when another delivery holds the claim."""
    # BEGIN SOLUTION concept: async events are delivered at least once, so only one delivery may own a document: claim it with a conditional write, and let the claim's own retry in again hint: table().put_item(Item={"docId": doc_id, "status": PROCESSING, "owner": request_id}, ConditionExpression="attribute_not_exists(docId)"); on ClientError code ConditionalCheckFailedException read the item (ConsistentRead=True): DONE -> False; owner == request_id (a retry of this event) -> True; else raise AlreadyInProgress
    try:
        table().put_item(Item={"docId": doc_id, "status": PROCESSING, "owner": request_id},
                         ConditionExpression="attribute_not_exists(docId)")
        return True
    except ClientError as err:
        if err.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
    item = table().get_item(Key={"docId": doc_id}, ConsistentRead=True).get("Item", {})
    if item.get("status") == DONE:
        return False
    if item.get("owner") == request_id:
        return True
    raise AlreadyInProgress(f"{doc_id} is being processed by request {item.get('owner')}")
    # END SOLUTION


def release(doc_id, request_id):
    """Give up this event's claim (the work failed), so that a retry starts afresh."""
    try:
        table().delete_item(Key={"docId": doc_id}, ConditionExpression="#o = :me AND #s = :processing",
                            ExpressionAttributeNames={"#o": "owner", "#s": "status"},
                            ExpressionAttributeValues={":me": request_id, ":processing": PROCESSING})
    except ClientError as err:
        if err.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise


def process(record, request_id):
    doc_id = document_id(record)
    if not claim(doc_id, request_id):
        print(f"{doc_id} is already done: duplicate delivery ignored")
        return
    s3 = record["s3"]
    # BEGIN SOLUTION concept: publish before marking the document done, and let any failure raise so Lambda retries the event: a swallowed error loses the document hint: read and extract the document (documents.read / documents.extract), publish {"docId", "title", "pages"} to EVENTS_TOPIC_ARN with the message attribute event_type=document.processed, then mark the item DONE with its metadata; if anything raises, release(doc_id, request_id) and re-raise so Lambda retries
    try:
        body = documents.read(s3["bucket"]["name"], unquote_plus(s3["object"]["key"]), s3["object"].get("versionId"))
        metadata = documents.extract(body)
        topic().publish(
            TopicArn=os.environ["EVENTS_TOPIC_ARN"],
            Message=json.dumps({"docId": doc_id, **metadata}),
            MessageAttributes={"event_type": {"DataType": "String", "StringValue": "document.processed"}},
        )
        table().update_item(
            Key={"docId": doc_id},
            UpdateExpression="SET #s = :done, title = :title, pages = :pages",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":done": DONE, ":title": metadata["title"], ":pages": metadata["pages"]},
        )
    except Exception:
        release(doc_id, request_id)
        raise
    # END SOLUTION


def handler(event, context):
    for record in event["Records"]:
        process(record, context.aws_request_id)
