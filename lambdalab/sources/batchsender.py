"""Invoke a function with every delivery of one round at once, as Lambda's pollers and its async
queue do [ESM],[SQS-a],[KIN],[A-ERR]: the SQS and stream pollers send batches, the async queue events.

Every delivery of a round starts at the same virtual instant and runs in its own thread. Which of
them Lambda throttles is decided up front, in delivery order, by taking concurrency leases the way
the invocations would: a reserved concurrency below the round's size throttles the same deliveries
every run, and each throttle is journaled with its Reason [TMR].

An invoke that never reached the function (throttled, or refused because the cloud is shutting
down) is answered ``throttled``, with its reason: every source then keeps the batch or event for
later and counts no retry, as Lambda does for throttles and service errors that did not reach the
function [KIN],[A-ERR].
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lambdalab.errors import AwsApiError, TooManyRequestsException
from lambdalab.observe.journal import Invocation, Outcome

if TYPE_CHECKING:
    from lambdalab.config import FunctionConfig
    from lambdalab.service.invoke import LambdaService

# Threads are made as a round needs them and reused after. On the virtual clock a round's
# invocations all wait for each other before the first runs (``Scheduler.expect``), so a pool smaller
# than the invocations that can be in flight at once (the account's concurrency) would deadlock.
MIN_THREADS = 64
PAUSE_CHECK_S = 0.02  # how often a round that is still running looks for invocations held at a pause


@dataclass(frozen=True)
class Delivery:
    """One invoke on its way to a function: a batch, or an async event."""

    function: FunctionConfig
    payload: bytes
    request_id: str
    source: str
    attempt: int  # which delivery of this payload (SQS: its highest ApproximateReceiveCount)


@dataclass(frozen=True)
class Answer:
    """How the invoke ended: throttled (with its Reason), or the function's payload and, when it
    failed, its ``X-Amz-Function-Error``."""

    throttled: bool = False
    reason: str | None = None
    function_error: str | None = None
    payload: bytes = b""


class BatchSender:
    """Sends rounds of deliveries with one invocation type (``RequestResponse`` for the pollers,
    ``Event`` for the async queue); ``name`` names its threads."""

    def __init__(self, service: LambdaService, invocation_type: str, name: str):
        self._service = service
        self._invocation_type = invocation_type
        self._name = name
        self._pool: ThreadPoolExecutor | None = None

    def send(self, deliveries: list[Delivery], start: float,
             on_late: Callable[[int, Answer], None]) -> list[Answer | None]:
        """Invoke every delivery concurrently, each starting at ``start``; answers in delivery order.

        On the virtual clock a round does not wait for invocations held at a pause (``faults.pause``)
        once everything else in it is done: their answers are ``None`` here and come later, as
        ``on_late(index, answer)`` run by the engine's clock, where sources do all their work."""
        answers: list[Answer | None] = [None] * len(deliveries)
        running = []
        for index, (delivery, reason) in enumerate(zip(deliveries, self._admit(deliveries), strict=True)):
            if reason is None:
                running.append(index)
                continue
            answers[index] = Answer(throttled=True, reason=reason)
            self._service.journal.record(Invocation(
                delivery.request_id, delivery.function.FunctionName, delivery.source, self._invocation_type,
                delivery.attempt, None, False, start, start, Outcome.THROTTLED, reason))
        virtual = self._service.clock.virtual
        if len(running) == 1 and not virtual:
            answers[running[0]] = self._invoke(deliveries[running[0]], start)
        elif running:
            if self._pool is None:
                size = max(MIN_THREADS, self._service.concurrency.account_limit)
                self._pool = ThreadPoolExecutor(size, thread_name_prefix=self._name)
            # On the virtual clock the round's invocations take turns in the scheduler's order, not
            # in the order the machine starts their threads: it waits until all have arrived.
            if virtual:
                self._service.scheduler.expect(len(running))
            futures = {i: self._pool.submit(self._invoke, deliveries[i], start, virtual) for i in running}
            self._collect(futures, deliveries, answers, on_late if virtual else None)
        return answers

    def _collect(self, futures: dict[int, Future[Answer]], deliveries: list[Delivery], answers: list[Answer | None],
                 on_late: Callable[[int, Answer], None] | None) -> None:
        """Wait for the round's answers; with ``on_late``, only until just paused invocations are left."""
        pending = set(futures.values())
        while pending:
            _, pending = wait(pending, timeout=PAUSE_CHECK_S if on_late else None)
            if pending and on_late is not None:
                held = {turn.request_id for turn in self._service.scheduler.held()}
                if {deliveries[i].request_id for i, f in futures.items() if f in pending} <= held:
                    break  # they answer when resumed
        for index, future in futures.items():
            if future.done():
                answers[index] = future.result()
            elif on_late is not None:
                future.add_done_callback(functools.partial(self._answer_late, on_late, index))

    def _answer_late(self, on_late: Callable[[int, Answer], None], index: int, future: Future[Answer]) -> None:
        """From the thread that ran it: the answer is settled by the engine's clock, at its time now."""
        clock = self._service.clock
        clock.call_at(clock.now(), functools.partial(on_late, index, future.result()), label=f"{self._name}-late")

    def _admit(self, deliveries: list[Delivery]) -> list[str | None]:
        """For each delivery, None if concurrency admits it now, else the throttle Reason."""
        concurrency = self._service.concurrency
        taken: list[str] = []
        reasons: list[str | None] = []
        try:
            for delivery in deliveries:
                name = delivery.function.FunctionName
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

    def _invoke(self, delivery: Delivery, start: float, expected: bool = False) -> Answer:
        try:
            result = self._service.run_attempt(delivery.function, delivery.payload, delivery.request_id,
                                               source=delivery.source, invocation_type=self._invocation_type,
                                               attempt=delivery.attempt, start=start, expected=expected)
        except TooManyRequestsException as exc:  # a scripted throttle, or another source took the lease
            return Answer(throttled=True, reason=exc.reason)
        except AwsApiError as exc:  # the cloud is shutting down: the function was not reached
            return Answer(throttled=True, reason=str(exc))
        return Answer(function_error=result.function_error, payload=result.payload)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

