"""An idempotency lock in DynamoDB with an owner token: the claim is a conditional update that
stamps a fresh token and an expiry in epoch milliseconds; completing and releasing are conditional
on that token, so a worker whose claim was taken over can neither complete nor release the new
owner's claim.
"""

import time
import uuid

from botocore.exceptions import ClientError

INPROGRESS = "INPROGRESS"
COMPLETED = "COMPLETED"


class AlreadyInProgress(Exception):
    """Another worker holds a live claim on this job: try again later (report a batch item failure)."""


def _conditional_check_failed(err):
    return err.response["Error"]["Code"] == "ConditionalCheckFailedException"


def acquire(table, job_id, lock_seconds, now=None):
    """Claim ``job_id``: ``(token, None)`` when the claim is ours, ``(None, result)`` when the job is
    already COMPLETED; raises AlreadyInProgress while another worker's claim is live."""
    now_ms = int((time.time() if now is None else now) * 1000)
    token = uuid.uuid4().hex
    try:
        table.update_item(
            Key={"jobId": job_id},
            UpdateExpression="SET #s = :inprogress, lockedUntilMs = :until, ownerToken = :me",
            ConditionExpression="attribute_not_exists(jobId) OR (#s = :inprogress AND lockedUntilMs < :now)",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":inprogress": INPROGRESS, ":until": now_ms + lock_seconds * 1000,
                                       ":me": token, ":now": now_ms},
        )
        return token, None
    except ClientError as err:
        if not _conditional_check_failed(err):
            raise
    item = table.get_item(Key={"jobId": job_id}, ConsistentRead=True).get("Item") or {}
    if item.get("status") == COMPLETED:
        return None, item["result"]
    raise AlreadyInProgress(job_id)


def complete(table, job_id, token, result):
    """Record the result, if the claim is still ours (else its new owner records it)."""
    try:
        table.update_item(
            Key={"jobId": job_id},
            UpdateExpression="SET #s = :completed, #r = :result REMOVE lockedUntilMs, ownerToken",
            ConditionExpression="ownerToken = :me",
            ExpressionAttributeNames={"#s": "status", "#r": "result"},
            ExpressionAttributeValues={":completed": COMPLETED, ":result": result, ":me": token},
        )
    except ClientError as err:
        if not _conditional_check_failed(err):
            raise
        print(f"the claim on {job_id} was taken over: its new owner records the result")


def release(table, job_id, token):
    """Give up our claim after a failure (only ours), so the next delivery can redo the job at once."""
    try:
        table.delete_item(Key={"jobId": job_id}, ConditionExpression="ownerToken = :me",
                          ExpressionAttributeValues={":me": token})
    except ClientError as err:
        if not _conditional_check_failed(err):
            raise
