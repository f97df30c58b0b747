"""The export worker: an SQS batch in, one CSV per job out, with a partial batch response.

Each job runs under a claim with an owner token (``lock.py``); a job that fails, or whose claim
another worker holds, is reported in ``batchItemFailures`` and comes back after the visibility
timeout.
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
    token, done = lock.acquire(table(), job["jobId"], LOCK_SECONDS)
    if token is None:
        print(f"job {job['jobId']} is already exported: {done['key']}")
        return
    try:
        result = report.build(job["jobId"], job["params"], int(record["attributes"]["ApproximateReceiveCount"]))
    except Exception:
        lock.release(table(), job["jobId"], token)
        raise
    lock.complete(table(), job["jobId"], token, result)


def failed(record):
    try:
        process(record)
        return False
    except Exception as err:
        print(f"job of message {record['messageId']} failed: {type(err).__name__}: {err}")
        return True


def handler(event, context):
    return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in event["Records"] if failed(r)]}
