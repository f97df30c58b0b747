"""Run one round of async attempts: every due event at the same virtual instant, in threads.

Which attempts Lambda throttles is decided up front, in queue order, by taking concurrency leases as
the invocations would: a burst against reserved concurrency 1 throttles the same events every run,
and each throttle is journaled with its Reason [TMR],[A-ERR].
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lambdalab.errors import AwsApiError, TooManyRequestsException
from lambdalab.observe.journal import THROTTLED, Invocation
from lambdalab.sources.asyncinvoke.records import Response

if TYPE_CHECKING:
    from lambdalab.config import FunctionConfig
    from lambdalab.service.invoke import LambdaService

MAX_THREADS = 64
INVOCATION_TYPE = "Event"


@dataclass(frozen=True)
class Attempt:
    function: FunctionConfig
    body: bytes
    request_id: str
    source: str
    number: int  # 1 for the first invoke, 2 and 3 for retries


@dataclass(frozen=True)
class Outcome:
    """Throttled (with its Reason), or the function's answer."""

    throttled: bool = False
    reason: str | None = None
    response: Response | None = None


class Sender:
    def __init__(self, service: LambdaService):
        self._service = service
        self._pool: ThreadPoolExecutor | None = None

    def run(self, attempts: list[Attempt], start: float) -> list[Outcome]:
        """Every attempt starts at ``start``; outcomes in attempt order."""
        reasons = self._admit(attempts)
        outcomes: list[Outcome | None] = [None] * len(attempts)
        running = []
        for index, (attempt, reason) in enumerate(zip(attempts, reasons, strict=True)):
            if reason is None:
                running.append(index)
                continue
            outcomes[index] = Outcome(throttled=True, reason=reason)
            self._service.journal.record(Invocation(
                attempt.request_id, attempt.function.FunctionName, attempt.source, INVOCATION_TYPE, attempt.number,
                None, False, start, start, THROTTLED, reason))
        if len(running) == 1:
            outcomes[running[0]] = self._invoke(attempts[running[0]], start)
        elif running:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(MAX_THREADS, thread_name_prefix="lambdalab-async")
            done = self._pool.map(lambda i: self._invoke(attempts[i], start), running)
            for index, outcome in zip(running, done, strict=True):
                outcomes[index] = outcome
        return [o if o is not None else Outcome(throttled=True) for o in outcomes]

    def _admit(self, attempts: list[Attempt]) -> list[str | None]:
        """For each attempt, None if concurrency admits it now, else the throttle Reason."""
        concurrency = self._service.concurrency
        taken: list[str] = []
        reasons: list[str | None] = []
        try:
            for attempt in attempts:
                name = attempt.function.FunctionName
                try:
                    concurrency.acquire(name)
                except TooManyRequestsException as exc:
                    reasons.append(exc.reason)
                    continue
                taken.append(name)
                reasons.append(None)
        finally:
            for name in taken:
                concurrency.release(name)
        return reasons

    def _invoke(self, attempt: Attempt, start: float) -> Outcome:
        try:
            result = self._service.run_attempt(attempt.function, attempt.body, attempt.request_id,
                                               source=attempt.source, invocation_type=INVOCATION_TYPE,
                                               attempt=attempt.number, start=start)
        except TooManyRequestsException as exc:  # a scripted throttle, or another source took the lease
            return Outcome(throttled=True, reason=exc.reason)
        except AwsApiError as exc:  # the cloud is shutting down: treated like a 5xx, the event stays queued
            return Outcome(throttled=True, reason=str(exc))
        return Outcome(response=Response(result.payload, result.function_error))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
