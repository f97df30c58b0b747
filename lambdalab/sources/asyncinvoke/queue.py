"""The asynchronous invocation queue: every ``InvocationType=Event`` invoke, S3 notification and SNS
delivery waits here, and is retried, expired or sent on according to AWS's rules [A-ERR],[A-REC].

``poll`` (called by the clock between its tasks) runs every event that is due now, all at once; the
``processor`` decides what each outcome means; retries are scheduled on the clock, never waited for.
An event's request id stays the same across its attempts; the journal shows each attempt's number
and, on the last one of a failed event, why no attempt follows (``stop_reason``).
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lambdalab.observe.logstore import LogEvent
from lambdalab.sources.asyncinvoke import processor
from lambdalab.sources.asyncinvoke.processor import Condition
from lambdalab.sources.asyncinvoke.records import Response, dead_letter_attributes, invocation_record
from lambdalab.sources.batchsender import Answer, BatchSender, Delivery

if TYPE_CHECKING:
    from lambdalab.clock import Clock
    from lambdalab.config import FunctionConfig
    from lambdalab.service.invoke import LambdaService
    from lambdalab.sources.asyncinvoke.config import EventInvokeConfigs
    from lambdalab.sources.asyncinvoke.destinations import Destinations

LOG_STREAM = "lambdalab-async"


@dataclass(order=True)
class QueuedEvent:
    due: float
    seq: int
    request_id: str = field(compare=False)
    function: str = field(compare=False)
    body: bytes = field(compare=False)
    source: str = field(compare=False)
    enqueued_at: float = field(compare=False)
    invoke_count: int = field(default=0, compare=False)  # times the function ran (approximateInvokeCount)
    throttles: int = field(default=0, compare=False)  # throttles in a row since the last run
    last_attempt: int = field(default=0, compare=False)  # number of the latest journaled attempt
    last_response: Response | None = field(default=None, compare=False)


@dataclass
class AsyncStats:
    """What the queue did, counted."""

    enqueued: int = 0
    invocations: int = 0  # function runs
    throttles: int = 0
    retries: int = 0  # function-error retries scheduled
    conditions: Counter[str] = field(default_factory=Counter)  # Success / RetriesExhausted / ...
    to_on_success: int = 0
    to_on_failure: int = 0
    to_dead_letter: int = 0
    discarded: int = 0  # failed with neither a DLQ nor an on-failure destination: logged only


class AsyncQueue:
    """One queue for every function of the cloud (a Poller)."""

    def __init__(self, service: LambdaService, clock: Clock, configs: EventInvokeConfigs,
                 destinations: Destinations):
        self._service = service
        self._clock = clock
        self.configs = configs
        self.destinations = destinations
        self._sender = BatchSender(service, "Event", "lambdalab-async")
        self._heap: list[QueuedEvent] = []
        self._seq = itertools.count()
        self._lock = threading.Lock()
        self._closed = False
        self._wakes: set[float] = set()  # instants that already have a clock task
        self.stats = AsyncStats()

    # -- entering the queue ------------------------------------------------------------------------
    def enqueue(self, fn: FunctionConfig, body: bytes, request_id: str, source: str) -> None:
        """Accept an event (Invoke answered 202): it runs at the next poll."""
        now = self._clock.now()
        with self._lock:
            heapq.heappush(self._heap, QueuedEvent(now, next(self._seq), request_id, fn.FunctionName, body,
                                                   source, now))
            self.stats.enqueued += 1

    def pending(self) -> int:
        """Events waiting: due now, or for a retry."""
        with self._lock:
            return len(self._heap)

    # -- the Poller protocol -----------------------------------------------------------------------
    def poll(self) -> bool:
        """Run every due event; then the events those runs queued at the same instant (an SNS message a
        handler published), until none is due."""
        worked = False
        while not self._closed and self._round():
            worked = True
        return worked

    def _round(self) -> bool:
        now = self._clock.now()
        with self._lock:
            due = []
            while self._heap and self._heap[0].due <= now:
                due.append(heapq.heappop(self._heap))
        if not due:
            return False
        runnable = []
        for event in due:
            fn = self._service.function(event.function)
            if processor.too_old(now - event.enqueued_at, self.configs.effective(fn.FunctionName)):
                self._fail(event, fn, Condition.EVENT_AGE_EXCEEDED)
            else:
                runnable.append((event, fn))
        deliveries = [Delivery(fn, e.body, e.request_id, e.source, e.invoke_count + 1) for e, fn in runnable]
        for (event, _), delivery in zip(runnable, deliveries, strict=True):
            event.last_attempt = delivery.attempt

        def settle_late(index: int, answer: Answer) -> None:
            """An event paused mid-run answers at last."""
            event, fn = runnable[index]
            self._settle(event, fn, answer)

        answers = self._sender.send(deliveries, now, settle_late)
        for (event, fn), answer in zip(runnable, answers, strict=True):
            if answer is not None:  # None: paused at a call, it answers when resumed
                self._settle(event, fn, answer)
        return True

    def close(self) -> None:
        self._closed = True
        self._sender.close()

    # -- after an attempt --------------------------------------------------------------------------
    def _settle(self, event: QueuedEvent, fn: FunctionConfig, answer: Answer) -> None:
        now = self._clock.now()
        config = self.configs.effective(fn.FunctionName)
        age = now - event.enqueued_at
        if answer.throttled:
            event.throttles += 1
            self.stats.throttles += 1
            decision = processor.after_throttle(throttles=event.throttles, age=age, config=config,
                                                reserved=self._service.concurrency.reserved(fn.FunctionName))
        else:
            event.throttles = 0
            event.invoke_count += 1
            event.last_response = Response(answer.payload, answer.function_error)
            self.stats.invocations += 1
            decision = processor.after_invoke(function_error=answer.function_error is not None,
                                              invoke_count=event.invoke_count, age=age, config=config)
            if decision.retry_in is not None:
                self.stats.retries += 1
        if decision.retry_in is not None:
            self._requeue(event, now + decision.retry_in)
        elif decision.condition == Condition.SUCCESS:
            self._succeed(event, fn)
        else:
            self._fail(event, fn, str(decision.condition))

    def _requeue(self, event: QueuedEvent, due: float) -> None:
        event.due = due
        with self._lock:
            heapq.heappush(self._heap, event)
            if due in self._wakes:
                return  # one clock task per instant wakes every event due then (a throttled burst)
            self._wakes.add(due)
        self._clock.call_at(due, lambda: self._woken(due), label=f"async-retry:{event.function}")

    def _woken(self, due: float) -> None:
        """A clock task that only wakes the pollers: retries fell due."""
        with self._lock:
            self._wakes.discard(due)

    def _succeed(self, event: QueuedEvent, fn: FunctionConfig) -> None:
        self.stats.conditions[Condition.SUCCESS] += 1
        destination = self.configs.effective(fn.FunctionName).OnSuccess
        if destination and self.destinations.send_record(fn, destination, self._record(event, fn, Condition.SUCCESS)):
            self.stats.to_on_success += 1

    def _fail(self, event: QueuedEvent, fn: FunctionConfig, condition: str) -> None:
        """The event leaves the queue unprocessed: to the on-failure destination and/or the DLQ, and
        always into the log and the journal."""
        self.stats.conditions[condition] += 1
        if event.last_attempt:
            self._service.journal.set_stop_reason(event.request_id, event.last_attempt, condition)
        config = self.configs.effective(fn.FunctionName)
        went = []
        if config.OnFailure and self.destinations.send_record(fn, config.OnFailure,
                                                              self._record(event, fn, condition)):
            self.stats.to_on_failure += 1
            went.append(f"on-failure destination {config.OnFailure}")
        if fn.DeadLetterQueue and self.destinations.send_dead_letter(
                fn, fn.DeadLetterQueue, event.body, dead_letter_attributes(event.request_id, event.last_response)):
            self.stats.to_dead_letter += 1
            went.append(f"dead-letter queue {fn.DeadLetterQueue}")
        if not went:
            self.stats.discarded += 1
        line = (f"{condition}: the event of request {event.request_id} left the async queue after "
                f"{event.invoke_count} invocation(s); " + (" and ".join(f"sent to the {w}" for w in went)
                                                          or "discarded (no DLQ or on-failure destination)"))
        self._service.logs.put(fn.FunctionName, [LogEvent(self._clock.now(), LOG_STREAM, event.request_id, line)])

    def _record(self, event: QueuedEvent, fn: FunctionConfig, condition: str) -> dict[str, object]:
        response = None if condition == Condition.ZERO_RESERVED_CONCURRENCY else event.last_response
        return invocation_record(request_id=event.request_id, function_arn=fn.FunctionArn, condition=condition,
                                 invoke_count=event.invoke_count, request_payload=event.body, response=response,
                                 now=self._clock.now())

