"""The export worker: an SQS batch in, one CSV per job out, with a partial batch response.

Standard SQS delivers at least once, so every job runs under an idempotency lock (``lock.py``):
a duplicate delivery finds the job COMPLETED (nothing to do) or INPROGRESS elsewhere (try again
later). A job that fails is reported in ``batchItemFailures``, so only that message comes back
after the visibility timeout; the rest of the batch is deleted and never redone.
"""

import json
import os

import boto3
import lock
import report

LOCK_SECONDS = int(os.environ.get("LOCK_SECONDS", "60"))
_table = None


def table():
    global _table
    if _table is None:
        _table = boto3.resource("dynamodb").Table(os.environ["JOBS_TABLE"])
    return _table


def process(record):
    """Run one job at most once; raises when this delivery must be retried."""
    job = json.loads(record["body"])
    receive_count = int(record["attributes"]["ApproximateReceiveCount"])
    # TODO: one job at most once: claim it, export, then record it done; a failed export must release the claim and fail this delivery
    #   step by step: lock.acquire(...) (a stored result means the job is done: return); then report.build(...) and lock.complete(...); if the build fails, lock.release(...) and re-raise
    raise NotImplementedError('one job at most once: claim it, export, then record it done; a failed export must release the claim and fail this delivery')


def handler(event, context):
    # TODO: with ReportBatchItemFailures, only the failed jobs' messages may come back: report each failure, never fail the whole batch
    #   step by step: call process(record) for each record; collect {"itemIdentifier": record["messageId"]} for every record that raised (lock.AlreadyInProgress included) and return {"batchItemFailures": [...]}
    raise NotImplementedError("with ReportBatchItemFailures, only the failed jobs' messages may come back: report each failure, never fail the whole batch")
