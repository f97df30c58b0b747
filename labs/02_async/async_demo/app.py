"""A demo function for the async notebook (the same code in labs/ and solutions/).

It shows where async events go when things go wrong, so it is deliberately simple:

* an event with ``"fail": true`` raises (its message names the event's ``task``);
* ``"sleep_ms"`` makes the run take that long, to hold a concurrency slot during a burst;
* an S3 event is handled the **naive** way: for each record it stores an item and sends a message,
  without checking whether this upload was handled before, so a duplicate delivery does both twice.
"""

import json
import os
import time
from urllib.parse import unquote_plus

import boto3

_clients = {}


def client(name):
    if name not in _clients:
        _clients[name] = boto3.client(name)
    return _clients[name]


class TaskFailed(Exception):
    """The event asked to fail."""


def handler(event, context):
    time.sleep(int(event.get("sleep_ms", 0)) / 1000)
    if event.get("fail"):
        raise TaskFailed(f"task {event.get('task', '?')} failed on purpose")
    for record in event.get("Records", []):
        key = unquote_plus(record["s3"]["object"]["key"])
        # Naive: a new item and a new message for every delivery, duplicates included.
        client("dynamodb").put_item(TableName=os.environ["RECORDS_TABLE"],
                                    Item={"id": {"S": context.aws_request_id}, "key": {"S": key}})
        client("sqs").send_message(QueueUrl=os.environ["OUTBOX_QUEUE_URL"], MessageBody=json.dumps({"key": key}))
    return {"ok": True}
