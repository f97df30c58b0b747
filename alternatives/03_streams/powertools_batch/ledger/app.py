"""The ledger, built on AWS Lambda Powertools' batch processing utility.

``process_partial_response`` runs ``record_handler`` on each Kinesis record and answers Lambda
with ``batchItemFailures`` for the records that raised. Powertools goes on with the records after
a failed one; a ledger must not (an account's transactions apply in stream order), so once a
record of the batch has failed, every record after it is failed unapplied, and Lambda retries
from the first failed record on. Each transaction is applied exactly once with one DynamoDB
transaction: the txId's conditional marker and the balance update commit together or not at all.
"""

import os

import boto3
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.kinesis_stream_event import KinesisStreamRecord
from botocore.exceptions import ClientError

ACCOUNTS_TABLE = os.environ["ACCOUNTS_TABLE"]
APPLIED_TABLE = os.environ["APPLIED_TABLE"]
dynamodb = boto3.client("dynamodb")
processor = BatchProcessor(event_type=EventType.KinesisDataStreams)


class InvalidTransaction(ValueError):
    """A record that can never be applied (a poison record)."""


class EarlierRecordFailed(RuntimeError):
    """Not tried: a record before it in the batch failed, so it must wait for that one's retry."""


def parse(record: KinesisStreamRecord):
    try:
        tx = record.kinesis.data_as_json()
        if not isinstance(tx["amount"], int) or not tx["txId"] or not tx["account"]:
            raise InvalidTransaction(f"bad transaction {tx!r}")
        return tx
    except (ValueError, KeyError, TypeError) as err:
        raise InvalidTransaction(str(err)) from None


def apply_transaction(tx):
    """Add the amount to the balance once: the txId marker is conditional, in the same transaction."""
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


def in_order(apply_record):
    """A record handler that refuses every record after the first failed one of its batch."""
    failed = []

    def record_handler(record: KinesisStreamRecord):
        if failed:
            raise EarlierRecordFailed(f"record {failed[0]} failed before this one")
        try:
            return apply_record(record)
        except Exception:
            failed.append(record.kinesis.sequence_number)
            raise

    return record_handler


def handler(event, context):
    record_handler = in_order(lambda record: apply_transaction(parse(record)))
    return process_partial_response(event=event, record_handler=record_handler, processor=processor,
                                    context=context)
