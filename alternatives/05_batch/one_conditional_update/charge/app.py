"""One user's charge for one run, at most once, in one conditional write to the user's balance.

The balance item remembers the runs that charged it (``runs``, a string set of scheduled event
ids). The charge is one UpdateItem that adds the amount and the run together, on the condition
that the run is not in the set yet: a repeat (a second delivery of the event, a second execution
at the same moment, a retried task) fails the condition and charges nothing. No second table and
no transaction; the price is that the set grows by one id per run (about 40 bytes): at one run
every 10 minutes, DynamoDB's 400 KB item limit is some 70 days away, so a real deployment trims
old runs (a monthly job, say) or keys the set by the run's month.

A user record that cannot be charged is skipped here: the handler returns it as ``skipped`` rather
than raising, so the state machine neither retries it nor needs a Catch.

Prices: cached outside the handler with their ETag; each invocation asks S3 for the object only if
it changed (GetObject with IfNoneMatch): S3 answers 304 Not Modified when the cache still holds.
"""

import json
import os

import boto3
from botocore.exceptions import ClientError

PRICES_KEY = "config/prices.json"

s3 = boto3.client("s3")
dynamodb = boto3.client("dynamodb")
_prices = {"etag": None, "value": None}


class InvalidUsage(Exception):
    """A user record the batch cannot charge: a retry would fail the same way."""


def unit_price():
    """The price per unit of usage, from S3; cached for as long as the object is unchanged."""
    request = {"Bucket": os.environ["BATCH_BUCKET"], "Key": PRICES_KEY}
    if _prices["etag"]:
        request["IfNoneMatch"] = _prices["etag"]
    try:
        found = s3.get_object(**request)
    except ClientError as err:
        if err.response["ResponseMetadata"].get("HTTPStatusCode") != 304:
            raise
    else:
        _prices.update(etag=found["ETag"], value=json.loads(found["Body"].read()))
    return _prices["value"]["unitPrice"]


def amount_due(user):
    """What the user's usage costs at the current price; InvalidUsage when it cannot be charged."""
    usage = user.get("usage")
    if not isinstance(usage, list) or not all(isinstance(n, int) and n >= 0 for n in usage):
        raise InvalidUsage(f"user {user.get('userId')!r} has no valid usage: {str(usage)[:60]}")
    return sum(usage) * unit_price()


def charge_once(user_id, run, amount):
    """Add ``amount`` to the user's ``owed`` balance once per run; False when the run had charged it."""
    try:
        dynamodb.update_item(
            TableName=os.environ["BALANCES_TABLE"],
            Key={"userId": {"S": user_id}},
            UpdateExpression="ADD owed :amount, runs :runs",
            ConditionExpression="NOT contains(runs, :run)",
            ExpressionAttributeValues={":amount": {"N": str(amount)}, ":runs": {"SS": [run]}, ":run": {"S": run}},
        )
    except ClientError as err:
        if err.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return False
        raise
    return True


def handler(event, context):
    """``{"run", "key"}`` in (a Map item); ``{"userId", "amount", "charged"}`` out, or
    ``{"userId", "skipped"}`` for a user who cannot be charged."""
    body = s3.get_object(Bucket=os.environ["BATCH_BUCKET"], Key=event["key"])["Body"].read()
    user = json.loads(body)
    try:
        amount = amount_due(user)
    except InvalidUsage as err:
        print(f"skipped: {err}")
        return {"userId": user.get("userId"), "skipped": str(err)}
    return {"userId": user["userId"], "amount": amount, "charged": charge_once(user["userId"], event["run"], amount)}
