"""An idempotency lock in DynamoDB: one item per job, claimed with a conditional write.

    INPROGRESS (with an expiry) --complete()--> COMPLETED (with the result)
        \\--release()--> (deleted: the next delivery may try again)

The shape follows Powertools for AWS Lambda's idempotency utility: a claim succeeds when there
is no item, or when the item is an INPROGRESS claim whose expiry has passed (its worker crashed).
"""

import time

from botocore.exceptions import ClientError

INPROGRESS = "INPROGRESS"
COMPLETED = "COMPLETED"


class AlreadyInProgress(Exception):
    """Another worker holds a live claim on this job: try again later (report a batch item failure)."""


def acquire(table, job_id, lock_seconds, now=None):
    """Claim ``job_id``. Returns None when the claim is ours, or the stored result when the job is
    already COMPLETED. Raises AlreadyInProgress when another worker holds an unexpired claim."""
    now = time.time() if now is None else now
    # BEGIN SOLUTION concept: SQS delivers at least once, so exactly one worker may claim a job: claim it with ONE conditional write that also lets a claim past its expiry be taken over, and tell the caller whether the job is already done hint: put_item {jobId, status: INPROGRESS, expiresAt: now + lock_seconds} with ConditionExpression "attribute_not_exists(jobId) OR (#s = :inprogress AND expiresAt < :now)"; on ConditionalCheckFailedException read the item (ConsistentRead): COMPLETED -> return item["result"], else raise AlreadyInProgress
    try:
        table.put_item(
            Item={"jobId": job_id, "status": INPROGRESS, "expiresAt": int(now + lock_seconds)},
            ConditionExpression="attribute_not_exists(jobId) OR (#s = :inprogress AND expiresAt < :now)",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":inprogress": INPROGRESS, ":now": int(now)},
        )
        return None
    except ClientError as err:
        if err.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
    item = table.get_item(Key={"jobId": job_id}, ConsistentRead=True).get("Item") or {}
    if item.get("status") == COMPLETED:
        return item["result"]
    raise AlreadyInProgress(job_id)
    # END SOLUTION


def complete(table, job_id, result):
    """Record the job's result: the claim becomes COMPLETED, for good."""
    # BEGIN SOLUTION concept: a job is done only once its result is recorded for good: later deliveries must find it and not export again hint: update_item setting status = COMPLETED and result = result (and remove expiresAt)
    table.update_item(
        Key={"jobId": job_id},
        UpdateExpression="SET #s = :completed, #r = :result REMOVE expiresAt",
        ExpressionAttributeNames={"#s": "status", "#r": "result"},
        ExpressionAttributeValues={":completed": COMPLETED, ":result": result},
    )
    # END SOLUTION


def release(table, job_id):
    """Give up our claim after a failure, so that the next delivery can redo the job at once."""
    # BEGIN SOLUTION concept: a worker that failed must give its claim back (only its own, still in progress) so the next delivery can redo the job at once hint: delete_item, only while the item is still INPROGRESS (ConditionExpression), ignoring ConditionalCheckFailedException
    try:
        table.delete_item(Key={"jobId": job_id}, ConditionExpression="#s = :inprogress",
                          ExpressionAttributeNames={"#s": "status"},
                          ExpressionAttributeValues={":inprogress": INPROGRESS})
    except ClientError as err:
        if err.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
    # END SOLUTION
