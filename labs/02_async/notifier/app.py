"""The subscriber: one notification per processed document (given).

SNS delivers "document processed" messages through Lambda's async queue, at least once; the
notification is written with a conditional put keyed by the document, so a repeat changes nothing.
"""

import json
import os

import boto3
from botocore.exceptions import ClientError

_table = None


def table():
    global _table
    if _table is None:
        _table = boto3.resource("dynamodb").Table(os.environ["NOTIFICATIONS_TABLE"])
    return _table


def handler(event, context):
    for record in event["Records"]:
        message = json.loads(record["Sns"]["Message"])
        try:
            table().put_item(
                Item={"docId": message["docId"], "messageId": record["Sns"]["MessageId"], "title": message["title"]},
                ConditionExpression="attribute_not_exists(docId)",
            )
        except ClientError as err:
            if err.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            print(f"notification for {message['docId']} already recorded")
