"""Document intake with AWS Lambda Powertools' idempotency utility.

Each S3 record is processed by an ``idempotent_function`` whose idempotency key is the identity of
what was uploaded (bucket, key, and the object's version: versionId, else its eTag). Powertools
keeps its records in the lab's documents table (partition key ``docId``):

* the first delivery writes an INPROGRESS record (a conditional put) and does the work;
* a duplicate delivery finds COMPLETED (it gets the saved result, nothing is published again) or
  INPROGRESS (Powertools raises, and Lambda retries the event later);
* an INPROGRESS record expires when the invocation that wrote it can no longer be running (its
  remaining time, from ``register_lambda_context``), so the retry of an attempt that crashed right
  after its claim can take over;
* when the work raises, Powertools deletes the record and the error propagates: Lambda retries.
"""

import json
import os
from urllib.parse import unquote_plus

import boto3
import documents
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)

persistence = DynamoDBPersistenceLayer(table_name=os.environ["DOCUMENTS_TABLE"], key_attr="docId")
config = IdempotencyConfig(expires_after_seconds=7 * 24 * 3600)  # far longer than S3 takes to redeliver
_clients = {}


def sns():
    if "sns" not in _clients:
        _clients["sns"] = boto3.client("sns")
    return _clients["sns"]


def upload_of(record):
    """What was uploaded: the same for every delivery of this upload, different for the next upload
    of the same key."""
    s3 = record["s3"]
    return {"bucket": s3["bucket"]["name"], "key": unquote_plus(s3["object"]["key"]),
            "versionId": s3["object"].get("versionId"), "eTag": s3["object"].get("eTag", "")}


@idempotent_function(data_keyword_argument="upload", persistence_store=persistence, config=config)
def process(upload):
    doc_id = f"{upload['bucket']}/{upload['key']}#{upload['versionId'] or upload['eTag']}"
    body = documents.read(upload["bucket"], upload["key"], upload["versionId"])
    metadata = documents.extract(body)
    sns().publish(
        TopicArn=os.environ["EVENTS_TOPIC_ARN"],
        Message=json.dumps({"docId": doc_id, **metadata}),
        MessageAttributes={"event_type": {"DataType": "String", "StringValue": "document.processed"}},
    )
    return {"docId": doc_id, **metadata}


def handler(event, context):
    config.register_lambda_context(context)
    for record in event["Records"]:
        process(upload=upload_of(record))
