"""The idempotency lock, from Powertools for AWS Lambda: one record per job in the jobs table.

The record's key is ``export#<sha256 of the job id as JSON>`` in the table's ``jobId`` attribute;
Powertools keeps ``status`` (INPROGRESS / COMPLETED), ``data`` (the result, as JSON),
``expiration`` and ``in_progress_expiration`` (epoch milliseconds: the claim lasts as long as the
invocation that took it may run). The export API computes the same key to report on a job.
"""

import os

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig

KEY_PREFIX = "export"
RESULT_DAYS = 14  # as long as the dead-letter queue keeps a message: a job is never redone sooner

persistence = DynamoDBPersistenceLayer(table_name=os.environ["JOBS_TABLE"], key_attr="jobId")
config = IdempotencyConfig(
    event_key_jmespath="jobId",
    hash_function="sha256",
    raise_on_no_idempotency_key=True,
    expires_after_seconds=RESULT_DAYS * 24 * 3600,
)
