"""One user's charge for one run: at most once, however often the run or the task is repeated.

Express workflows run at least once, and EventBridge delivers a scheduled event at least once: the
same run can start twice, at the same time, and a task can run again after a failure. So the charge
is keyed by (run, user) and written with the charge's record in one transaction, conditional on that
record not existing yet: a repeat finds it and charges nothing.

Prices live in S3 (``config/prices.json``). They are cached outside the handler, so a warm
environment does not read them for every user, but the cache is only valid for the object's version:
each invocation checks the ETag (a HeadObject) and reloads when it changed. A cache without that
check charges the next run at the old price on every warm environment.
"""

import json
import os

import boto3

PRICES_KEY = "config/prices.json"

s3 = boto3.client("s3")
dynamodb = boto3.client("dynamodb")
_prices = {"etag": None, "value": None}


class InvalidUsage(Exception):
    """A user record the batch cannot charge: a retry would fail the same way."""


def unit_price():
    """The price per unit of usage, from S3; cached for as long as the object is unchanged."""
    bucket = os.environ["BATCH_BUCKET"]
    # TODO: a value cached outside the handler outlives the invocation: a warm environment must notice when the prices change
    #   step by step: head_object(Bucket=bucket, Key=PRICES_KEY)["ETag"]; when it differs from _prices["etag"], get_object the prices, json.loads them and keep value and etag in _prices; return _prices["value"]["unitPrice"]
    raise NotImplementedError('a value cached outside the handler outlives the invocation: a warm environment must notice when the prices change')


def amount_due(user):
    """What the user's usage costs at the current price; InvalidUsage when it cannot be charged."""
    usage = user.get("usage")
    if not isinstance(usage, list) or not all(isinstance(n, int) and n >= 0 for n in usage):
        raise InvalidUsage(f"user {user.get('userId')!r} has no valid usage: {str(usage)[:60]}")
    return sum(usage) * unit_price()


def charge_once(user_id, run, amount):
    """Add ``amount`` to the user's ``owed`` balance once per run; False when the run had charged it."""
    # TODO: a charge repeated for the same run (a duplicate event, a second execution, a retried task) must change nothing, even when both run at once
    #   step by step: one transact_write_items: a Put of {"chargeId": f"{run}#{user_id}", "amount": amount} into CHARGES_TABLE with ConditionExpression "attribute_not_exists(chargeId)", and an Update of BALANCES_TABLE key userId "ADD owed :amount"; a TransactionCanceledException whose first reason is ConditionalCheckFailed means it was charged already: return False
    raise NotImplementedError('a charge repeated for the same run (a duplicate event, a second execution, a retried task) must change nothing, even when both run at once')


def handler(event, context):
    """``{"run", "key"}`` in (a Map item), ``{"userId", "amount", "charged"}`` out."""
    body = s3.get_object(Bucket=os.environ["BATCH_BUCKET"], Key=event["key"])["Body"].read()
    user = json.loads(body)
    amount = amount_due(user)
    return {"userId": user["userId"], "amount": amount, "charged": charge_once(user["userId"], event["run"], amount)}
