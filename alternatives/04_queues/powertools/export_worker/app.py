"""The export worker on Powertools for AWS Lambda: the batch utility turns the jobs that raised into
``batchItemFailures``, and the idempotency utility runs each job at most once (a duplicate finds it
COMPLETED and gets the stored result, or INPROGRESS and raises, so its message comes back later; a
job that raises has its record deleted, so the next delivery may redo it at once).
"""

import json

import lock
import report
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import idempotent_function

processor = BatchProcessor(event_type=EventType.SQS)


@idempotent_function(data_keyword_argument="job", config=lock.config, persistence_store=lock.persistence,
                     key_prefix=lock.KEY_PREFIX)
def export(job: dict, receive_count: int) -> dict:
    return report.build(job["jobId"], job["params"], receive_count)


def record_handler(record: SQSRecord) -> None:
    export(job=json.loads(record.body), receive_count=int(record.attributes.approximate_receive_count))


def handler(event, context):
    lock.config.register_lambda_context(context)  # a claim expires when this invocation's time is up
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
