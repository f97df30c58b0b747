"""The ledger: applies payment transactions from the Kinesis stream to account balances.

Each Kinesis record's data is a JSON transaction ``{"txId": "t-1", "account": "alice", "amount": -30}``.
Lambda delivers records at least once: a batch can come again after a timeout, a crash or a lost
checkpoint, and a transaction can be written to the stream twice. Applying one must therefore be
idempotent. With ``ReportBatchItemFailures``, the function reports the first record it could not
apply; Lambda checkpoints below it and retries from there.
"""

import base64
import json
import os

import boto3
from botocore.exceptions import ClientError

ACCOUNTS_TABLE = os.environ["ACCOUNTS_TABLE"]
APPLIED_TABLE = os.environ["APPLIED_TABLE"]
dynamodb = boto3.client("dynamodb")


class InvalidTransaction(ValueError):
    """A record that can never be applied (a poison record)."""


def parse(record):
    """The transaction in a Kinesis record; raises InvalidTransaction when it is malformed."""
    try:
        tx = json.loads(base64.b64decode(record["kinesis"]["data"]))
        if not isinstance(tx["amount"], int) or not tx["txId"] or not tx["account"]:
            raise InvalidTransaction(f"bad transaction {tx!r}")
        return tx
    except (ValueError, KeyError, TypeError) as err:
        raise InvalidTransaction(str(err)) from None


def apply_transaction(tx):
    """Add ``tx["amount"]`` to the account's balance exactly once; False if it was applied before."""
    # BEGIN SOLUTION concept: a transaction must change a balance exactly once however often it is delivered: the balance and the proof it was applied change in one atomic write hint: in ONE DynamoDB transaction (transact_write_items), Put {"txId": tx["txId"]} into APPLIED_TABLE with ConditionExpression "attribute_not_exists(txId)" and Update the account in ACCOUNTS_TABLE with "ADD balance :amount SET lastTxId = :tx"; a TransactionCanceledException whose first reason is ConditionalCheckFailed means the transaction was already applied: return False
    try:
        dynamodb.transact_write_items(TransactItems=[
            {"Put": {
                "TableName": APPLIED_TABLE,
                "Item": {"txId": {"S": tx["txId"]}, "account": {"S": tx["account"]}},
                "ConditionExpression": "attribute_not_exists(txId)",
            }},
            {"Update": {
                "TableName": ACCOUNTS_TABLE,
                "Key": {"accountId": {"S": tx["account"]}},
                "UpdateExpression": "ADD balance :amount SET lastTxId = :tx",
                "ExpressionAttributeValues": {":amount": {"N": str(tx["amount"])}, ":tx": {"S": tx["txId"]}},
            }},
        ])
    except ClientError as err:
        reasons = err.response.get("CancellationReasons") or [{}]
        if err.response["Error"]["Code"] == "TransactionCanceledException" and \
                reasons[0].get("Code") == "ConditionalCheckFailed":
            return False
        raise
    return True
    # END SOLUTION


def handler(event, context):
    """Apply every record in order; on the first one that fails, report it and stop, so that Lambda
    retries it and only what follows it."""
    applied = 0
    # BEGIN SOLUTION concept: a shard is processed in order: stop at the first record that fails and report it, so Lambda checkpoints before it and retries from there hint: apply the records in order (parse, then apply_transaction); at the first record that raises, stop and return {"batchItemFailures": [{"itemIdentifier": <its kinesis sequenceNumber>}]}; when all succeed return {"batchItemFailures": []}
    for record in event["Records"]:
        try:
            applied += apply_transaction(parse(record))
        except Exception as err:  # noqa: BLE001 - any failure: retry from this record on
            print(f"cannot apply record {record['kinesis']['sequenceNumber']}: {err!r}")
            return {"batchItemFailures": [{"itemIdentifier": record["kinesis"]["sequenceNumber"]}]}
    print(f"applied {applied} of {len(event['Records'])} transaction(s)")
    return {"batchItemFailures": []}
    # END SOLUTION
