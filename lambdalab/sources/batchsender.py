"""Invoke a function with the batches of one poll round, synchronously, as Lambda's pollers do
[ESM],[SQS-a],[KIN].

Every batch of a round starts at the same virtual instant and runs in its own thread. Which of them
Lambda throttles is decided up front, in batch order, by taking concurrency leases the way the
invocations would: a reserved concurrency below the poller's concurrency throttles the same batches
every run, and each throttle is journaled with its Reason. The SQS and stream pollers share this.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lambdalab.errors import AwsApiError, TooManyRequestsException
from lambdalab.observe.journal import THROTTLED, Invocation

if TYPE_CHECKING:
    from lambdalab.config import FunctionConfig
    from lambdalab.service.invoke import LambdaService

MAX_THREADS = 64


@dataclass(frozen=True)
class Delivery:
    """One batch on its way to the function."""

    payload: bytes
    request_id: str
    attempt: int  # which delivery of this batch (SQS: its highest ApproximateReceiveCount)
    start: float  # the virtual instant every batch of the poll round starts


@dataclass(frozen=True)
class Answer:
    """How the invoke ended: throttled (with its Reason), or the payload and whether it was an error."""

    throttled: bool = False
    reason: str | None = None
    function_error: bool = False
    payload: bytes = b""


class BatchSender:
    def __init__(self, service: LambdaService, function: FunctionConfig, source: str):
        self._service = service
        self._function = function
        self._source = source
        self._pool: ThreadPoolExecutor | None = None

    def send(self, deliveries: list[Delivery]) -> list[Answer]:
        """Invoke every delivery concurrently; answers in delivery order."""
        admitted, reason = self._admit(len(deliveries))
        answers = [Answer(throttled=True, reason=reason)] * len(deliveries)
        for delivery in deliveries[admitted:]:
            self._service.journal.record(Invocation(
                delivery.request_id, self._function.FunctionName, self._source, "RequestResponse", delivery.attempt,
                None, False, delivery.start, delivery.start, THROTTLED, reason))
        running = deliveries[:admitted]
        if len(running) == 1:
            answers[0] = self._invoke(running[0])
        elif running:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(MAX_THREADS, thread_name_prefix=f"poll-{self._function.FunctionName}")
            for index, answer in enumerate(self._pool.map(self._invoke, running)):
                answers[index] = answer
        return answers

    def _admit(self, wanted: int) -> tuple[int, str | None]:
        """How many of ``wanted`` concurrent invokes the function's concurrency allows now."""
        concurrency, name, taken = self._service.concurrency, self._function.FunctionName, 0
        reason = None
        try:
            for _ in range(wanted):
                concurrency.acquire(name)
                taken += 1
        except TooManyRequestsException as exc:
            reason = exc.reason
        finally:
            for _ in range(taken):
                concurrency.release(name)
        return taken, reason

    def _invoke(self, delivery: Delivery) -> Answer:
        try:
            result = self._service.run_attempt(self._function, delivery.payload, delivery.request_id,
                                               source=self._source, attempt=delivery.attempt, start=delivery.start)
        except TooManyRequestsException as exc:  # a scripted throttle: already journaled
            return Answer(throttled=True, reason=exc.reason)
        except AwsApiError as exc:  # the cloud is shutting down: the batch was not processed
            return Answer(function_error=True, payload=str(exc).encode())
        return Answer(function_error=result.function_error is not None, payload=result.payload)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
