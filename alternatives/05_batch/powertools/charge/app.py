"""One user's charge for one run, made idempotent by Powertools for AWS Lambda.

The idempotency utility keeps one record per (run, user) in the charges table (``chargeId`` is
``charge#<sha256 of [run, userId]>``):

* the first attempt claims it with a conditional put (INPROGRESS), adds the amount to the user's
  balance, then marks the record COMPLETED with its result;
* a repeat (a second delivery of the scheduled event, a second execution, a retried task) finds
  COMPLETED and gets the stored result: it charges nothing, and says so (``charged`` is False);
* a repeat that runs at the same moment finds INPROGRESS and raises
  IdempotencyAlreadyInProgressError: the state machine retries it, and the retry finds COMPLETED;
* an INPROGRESS claim lasts as long as the invocation that took it may run (the Lambda context's
  remaining time), so the retry of an attempt that crashed before charging can take over; when the
  charge itself raises, Powertools deletes the claim and the error propagates.

What this costs against the reference's transaction: the claim and the charge are two writes, not
one. An attempt that times out after the charge but before COMPLETED leaves a claim that lapses,
and a retry after that charges again; the reference's single transaction has no such window.

Prices: cached outside the handler and checked against the object's ETag on every invocation.
"""

import json
import os

import boto3
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)

PRICES_KEY = "config/prices.json"
KEY_PREFIX = "charge"
RESULT_SECONDS = 2 * 24 * 3600  # longer than EventBridge keeps retrying an event (24 hours)

s3 = boto3.client("s3")
dynamodb = boto3.client("dynamodb")
_prices = {"etag": None, "value": None}


def _repeated(response, record):
    """A stored result is returned to a repeat, which charged nothing itself."""
    return {**response, "charged": False}


persistence = DynamoDBPersistenceLayer(table_name=os.environ["CHARGES_TABLE"], key_attr="chargeId")
config = IdempotencyConfig(
    event_key_jmespath="[run, userId]",
    hash_function="sha256",
    raise_on_no_idempotency_key=True,
    expires_after_seconds=RESULT_SECONDS,
    response_hook=_repeated,
)


class InvalidUsage(Exception):
    """A user record the batch cannot charge: a retry would fail the same way."""


def unit_price():
    """The price per unit of usage, from S3; cached for as long as the object is unchanged."""
    bucket = os.environ["BATCH_BUCKET"]
    etag = s3.head_object(Bucket=bucket, Key=PRICES_KEY)["ETag"]
    if etag != _prices["etag"]:
        body = s3.get_object(Bucket=bucket, Key=PRICES_KEY)["Body"].read()
        _prices.update(etag=etag, value=json.loads(body))
    return _prices["value"]["unitPrice"]


def amount_due(user):
    """What the user's usage costs at the current price; InvalidUsage when it cannot be charged."""
    usage = user.get("usage")
    if not isinstance(usage, list) or not all(isinstance(n, int) and n >= 0 for n in usage):
        raise InvalidUsage(f"user {user.get('userId')!r} has no valid usage: {str(usage)[:60]}")
    return sum(usage) * unit_price()


@idempotent_function(data_keyword_argument="charge", config=config, persistence_store=persistence,
                     key_prefix=KEY_PREFIX)
def charge_once(charge, amount):
    """Add ``amount`` to the user's ``owed`` balance; Powertools runs it once per (run, user)."""
    dynamodb.update_item(TableName=os.environ["BALANCES_TABLE"], Key={"userId": {"S": charge["userId"]}},
                         UpdateExpression="ADD owed :amount",
                         ExpressionAttributeValues={":amount": {"N": str(amount)}})
    return {"userId": charge["userId"], "amount": amount, "charged": True}


def handler(event, context):
    """``{"run", "key"}`` in (a Map item), ``{"userId", "amount", "charged"}`` out."""
    config.register_lambda_context(context)  # a claim lapses when this invocation's time is up
    body = s3.get_object(Bucket=os.environ["BATCH_BUCKET"], Key=event["key"])["Body"].read()
    user = json.loads(body)
    amount = amount_due(user)
    return charge_once(charge={"run": event["run"], "userId": user["userId"]}, amount=amount)
