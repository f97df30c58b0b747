"""Deliver invocation records to destinations and failed events to dead-letter queues.

A record goes to an SQS queue or SNS topic as the message body, or to a Lambda function as the
payload of an asynchronous invoke [A-a]. FIFO queues and topics are not valid destinations: the
delivery fails, as on AWS. Every delivery that fails is logged in the function's log with the
metric AWS would emit (``DestinationDeliveryFailures`` / ``DeadLetterErrors``) and counted; the
event is never silently lost [A-REC].
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from lambdalab.errors import LambdaLabError
from lambdalab.observe.logstore import LogEvent
from lambdalab.sources.asyncinvoke.config import arn_service

if TYPE_CHECKING:
    from lambdalab.clock import Clock
    from lambdalab.config import FunctionConfig
    from lambdalab.dataplane.server import DataPlane
    from lambdalab.service.invoke import LambdaService

LOG_STREAM = "lambdalab-async"
SNS_MAX_BYTES = 256 * 1024  # SNS's message size limit [CFN-ONF]
PAYLOAD_KEYS = ("requestPayload", "responsePayload")
DESTINATION_FAILURE = "DestinationDeliveryFailures"
DEAD_LETTER_FAILURE = "DeadLetterErrors"


def without_payloads(record: dict[str, Any]) -> dict[str, Any]:
    """What an SNS destination gets when request plus response exceed SNS's 256 KB: "Lambda will
    drop the payload" [CFN-ONF], keeping the record's context."""
    return {k: v for k, v in record.items() if k not in PAYLOAD_KEYS}


class DeliveryFailed(LambdaLabError):
    """A record or event could not be delivered (missing target, FIFO target, data-plane error)."""


class Destinations:
    def __init__(self, service: LambdaService, dataplane: DataPlane, clock: Clock):
        self._service = service
        self._dataplane = dataplane
        self._clock = clock
        self.failures: dict[str, int] = {DESTINATION_FAILURE: 0, DEAD_LETTER_FAILURE: 0}

    def send_record(self, fn: FunctionConfig, arn: str, record: dict[str, Any]) -> bool:
        """An invocation record to an OnSuccess / OnFailure destination; False (and logged) if it failed."""
        try:
            body = json.dumps(record)
            if arn_service(arn) == "sns" and len(body.encode()) > SNS_MAX_BYTES:
                body = json.dumps(without_payloads(record))
            if arn_service(arn) == "lambda":
                self._service.invoke(arn, body.encode(), invocation_type="Event",
                                     source=f"destination:{fn.FunctionName}")
            else:
                self._publish(arn, body, None)
        except Exception as exc:  # noqa: BLE001 - any failure is reported, never raised into the queue
            self._failed(fn, DESTINATION_FAILURE, arn, exc)
            return False
        return True

    def send_dead_letter(self, fn: FunctionConfig, arn: str, body: bytes,
                         attributes: dict[str, dict[str, str]]) -> bool:
        """The original event, unchanged, to the function's dead-letter queue or topic."""
        try:
            self._publish(arn, body.decode(), attributes)
        except Exception as exc:  # noqa: BLE001 - reported, as AWS reports DeadLetterErrors
            self._failed(fn, DEAD_LETTER_FAILURE, arn, exc)
            return False
        return True

    def _publish(self, arn: str, body: str, attributes: dict[str, dict[str, str]] | None) -> None:
        service, name = arn_service(arn), arn.split(":")[-1]
        if name.endswith(".fifo"):
            raise DeliveryFailed(f"{arn} is a FIFO {'queue' if service == 'sqs' else 'topic'}, which Lambda does "
                                 "not deliver to")
        extra: dict[str, Any] = {"MessageAttributes": attributes} if attributes else {}
        if service == "sqs":
            sqs = self._dataplane.client("sqs")
            url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
            sqs.send_message(QueueUrl=url, MessageBody=body, **extra)
        elif service == "sns":
            self._dataplane.client("sns").publish(TopicArn=arn, Message=body, **extra)
        else:
            raise DeliveryFailed(f"{arn} is not a destination Lambda delivers to")

    def _failed(self, fn: FunctionConfig, metric: str, arn: str, exc: Exception) -> None:
        self.failures[metric] += 1
        line = f"{metric}: could not deliver to {arn}: {exc}"
        self._service.logs.put(fn.FunctionName, [LogEvent(self._clock.now(), LOG_STREAM, "", line)])
