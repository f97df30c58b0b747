"""Deliver invocation records to destinations and failed events to dead-letter queues.

A record goes to an SQS queue or SNS topic as the message body (``lambdalab.sources.destinations``
applies Lambda's FIFO and size rules), or to a Lambda function as the payload of an asynchronous
invoke [A-a]. Every delivery that fails is logged in the function's log with the metric AWS would
emit (``DestinationDeliveryFailures`` / ``DeadLetterErrors``) and counted; the event is never
silently lost [A-REC].
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lambdalab.observe.logstore import LogEvent
from lambdalab.sources.destinations import MessageAttributes, arn_service, publish, record_body

if TYPE_CHECKING:
    from lambdalab.clock import Clock
    from lambdalab.config import FunctionConfig
    from lambdalab.dataplane.server import DataPlane
    from lambdalab.service.invoke import LambdaService

LOG_STREAM = "lambdalab-async"
DESTINATION_FAILURE = "DestinationDeliveryFailures"
DEAD_LETTER_FAILURE = "DeadLetterErrors"


class Destinations:
    def __init__(self, service: LambdaService, dataplane: DataPlane, clock: Clock):
        self._service = service
        self._dataplane = dataplane
        self._clock = clock
        self.failures: dict[str, int] = {DESTINATION_FAILURE: 0, DEAD_LETTER_FAILURE: 0}

    def send_record(self, fn: FunctionConfig, arn: str, record: dict[str, Any]) -> bool:
        """An invocation record to an OnSuccess / OnFailure destination; False (and logged) if it failed."""
        try:
            body = record_body(arn, record)
            if arn_service(arn) == "lambda":
                self._service.invoke(arn, body.encode(), invocation_type="Event",
                                     source=f"destination:{fn.FunctionName}")
            else:
                publish(self._dataplane, arn, body)
        except Exception as exc:  # noqa: BLE001 - any failure is reported, never raised into the queue
            self._failed(fn, DESTINATION_FAILURE, arn, exc)
            return False
        return True

    def send_dead_letter(self, fn: FunctionConfig, arn: str, body: bytes, attributes: MessageAttributes) -> bool:
        """The original event, unchanged, to the function's dead-letter queue or topic."""
        try:
            publish(self._dataplane, arn, body.decode(), attributes)
        except Exception as exc:  # noqa: BLE001 - reported, as AWS reports DeadLetterErrors
            self._failed(fn, DEAD_LETTER_FAILURE, arn, exc)
            return False
        return True

    def _failed(self, fn: FunctionConfig, metric: str, arn: str, exc: Exception) -> None:
        self.failures[metric] += 1
        line = f"{metric}: could not deliver to {arn}: {exc}"
        self._service.logs.put(fn.FunctionName, [LogEvent(self._clock.now(), LOG_STREAM, "", line)])
