"""Publishing what Lambda sends to a queue or topic: on-success and on-failure records of async
invokes and stream mappings, and the events of a dead-letter queue [A-a],[A-REC],[KIN-ONF].

Lambda delivers to standard SQS queues and SNS topics only: a FIFO queue or topic needs a
MessageGroupId (and deduplication) that Lambda does not send, so delivering to one fails [A-REC].
An SNS message is at most 256 KB: a record over it is sent without its request and response
payloads, "Lambda will drop the payload" [CFN-ONF]. Any other limit (the queue's
MaximumMessageSize) is the data plane's, and fails the delivery as on AWS [A-REC].
"""

from __future__ import annotations

import json
from typing import Any

from lambdalab.errors import LambdaLabError

SNS_MAX_BYTES = 256 * 1024  # SNS's message size limit [CFN-ONF]
PAYLOAD_KEYS = ("requestPayload", "responsePayload")
MessageAttributes = dict[str, dict[str, str]]


class DeliveryFailed(LambdaLabError):
    """A record or event Lambda would not deliver (a FIFO target, a service it does not deliver to)."""


def arn_service(arn: str) -> str:
    """``arn:aws:sqs:us-east-1:123456789012:q`` -> ``sqs`` ('' when it is not an ARN)."""
    parts = arn.split(":")
    return parts[2] if len(parts) > 5 and parts[0] == "arn" else ""


def record_body(arn: str, record: dict[str, Any]) -> str:
    """An invocation record as the message to ``arn``: JSON, without its payloads when it would pass
    SNS's limit."""
    body = json.dumps(record)
    if arn_service(arn) == "sns" and len(body.encode()) > SNS_MAX_BYTES:
        body = json.dumps({k: v for k, v in record.items() if k not in PAYLOAD_KEYS})
    return body


def publish(dataplane: Any, arn: str, body: str, attributes: MessageAttributes | None = None) -> None:
    """Send ``body`` to the SQS queue or SNS topic ``arn``; DeliveryFailed where Lambda would not
    deliver, the data plane's error where the queue or topic refuses it."""
    service, name = arn_service(arn), arn.split(":")[-1]
    if name.endswith(".fifo"):
        raise DeliveryFailed(f"{arn} is a FIFO {'queue' if service == 'sqs' else 'topic'}, which Lambda does "
                             "not deliver to")
    extra: dict[str, Any] = {"MessageAttributes": attributes} if attributes else {}
    if service == "sqs":
        dataplane.client("sqs").send_message(QueueUrl=queue_url(dataplane, arn), MessageBody=body, **extra)
    elif service == "sns":
        dataplane.client("sns").publish(TopicArn=arn, Message=body, **extra)
    else:
        raise DeliveryFailed(f"{arn} is not a destination Lambda delivers to")


def queue_url(dataplane: Any, arn: str) -> str:
    """The URL of the queue ``arn`` names (the data plane's error when there is none)."""
    parts = arn.split(":")
    return str(dataplane.client("sqs").get_queue_url(QueueName=parts[5], QueueOwnerAWSAccountId=parts[4])["QueueUrl"])


def check_exists(dataplane: Any, arn: str) -> None:
    """The data plane's error when the queue or topic ``arn`` does not exist."""
    if arn_service(arn) == "sqs":
        queue_url(dataplane, arn)
    else:
        dataplane.client("sns").get_topic_attributes(TopicArn=arn)
