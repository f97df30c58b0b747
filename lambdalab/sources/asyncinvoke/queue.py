"""The asynchronous invocation queue: every ``InvocationType=Event`` invoke, S3 notification and SNS
delivery waits here, and is retried, expired or sent on according to AWS's rules [A-ERR],[A-REC].

``poll`` (called by the clock between its tasks) runs every event that is due now, all at once, the
oldest first; the ``processor`` decides what each outcome means; retries are scheduled on the clock,
never waited for. A throttled event also waits for a slot: each run of its function that ends frees
one, and hands it to the oldest event of that function still waiting, at once, so a burst drains as
fast as the function's concurrency allows instead of every throttled event retrying at the same
backoff instants [A-THR]. The backoff stays the longest wait, and ``MaximumEventAgeInSeconds`` the
limit: an event is never sent once older than it.
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
from lambdalab.observe.metrics import LambdaMetrics
from lambdalab.sources.asyncinvoke import processor
from lambdalab.sources.asyncinvoke.processor import Condition
from lambdalab.sources.asyncinvoke.records import Response, dead_letter_attributes, invocation_record
from lambdalab.sources.batchsender import Answer, BatchSender, Delivery

if TYPE_CHECKING:
    from lambdalab.clock import Clock, _Task
    from lambdalab.config import FunctionConfig
    from lambdalab.service.invoke import LambdaService
    from lambdalab.sources.asyncinvoke.config import EventInvokeConfigs
    from lambdalab.sources.asyncinvoke.destinations import Destinations

LOG_STREAM = "lambdalab-async"


@dataclass(eq=False)
class QueuedEvent:
    due: float
    seq: int  # arrival order: the oldest event goes first
    request_id: str
    function: str
    body: bytes
    source: str
    enqueued_at: float
    invoke_count: int = 0  # times the function ran (approximateInvokeCount)
    throttles: int = 0  # throttles in a row since the last run
    last_attempt: int = 0  # number of the latest journaled attempt
    last_response: Response | None = None
    version: int = 0  # bumped at each (re)scheduling: older heap entries of the event are stale
    waiting: bool = False  # throttled: takes the next slot its function frees
    expiring: bool = False  # throttled at its last backoff: fails when due, unless a slot came first
    instant: float | None = None  # the instant of the clock task that counts it


# A place in time: (due, seq, version, event); an entry whose version is not the event's is stale.
Entry = tuple[float, int, int, QueuedEvent]


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
                 destinations: Destinations, metrics: LambdaMetrics | None = None):
        self._service = service
        self._metrics = metrics
        self._clock = clock
        self.configs = configs
        self.destinations = destinations
        self._sender = BatchSender(service, "Event", "lambdalab-async")
        self._heap: list[Entry] = []
        self._queued = 0  # events in the queue: one current entry each in the heap
        self._seq = itertools.count()
        self._lock = threading.Lock()
        self._closed = False
        # One clock task per instant wakes every event due then (a throttled burst); with how many
        # events it counts, so the task is cancelled when slots took them all earlier.
        self._wakes: dict[float, tuple[_Task, int]] = {}
        self._waiting: dict[str, list[Entry]] = {}  # function -> its throttled events, a heap by seq
        self.stats = AsyncStats()

    # -- entering the queue ------------------------------------------------------------------------
    def enqueue(self, fn: FunctionConfig, body: bytes, request_id: str, source: str) -> None:
        """Accept an event (Invoke answered 202): it runs at the next poll."""
        now = self._clock.now()
        with self._lock:
            self._schedule(QueuedEvent(now, next(self._seq), request_id, fn.FunctionName, body, source, now))
            self.stats.enqueued += 1
        if self._metrics is not None:
            self._metrics.async_event_received(fn.FunctionName, now)

    def pending(self) -> int:
        """Events waiting: due now, or for a retry."""
        with self._lock:
            return self._queued

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
            while self._heap and self._heap[0][0] <= now:
                *_, version, event = heapq.heappop(self._heap)
                if version == event.version:
                    self._unschedule(event)
                    self._queued -= 1
                    due.append(event)
        if not due:
            return False
        due.sort(key=lambda e: e.seq)  # the oldest first, whatever instant each was due at
        runnable = []
        for event in due:
            fn = self._service.function(event.function)
            if event.expiring or processor.too_old(now - event.enqueued_at, self.configs.effective(fn.FunctionName)):
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
            if not answer.throttled:
                self._hand_on_slot(fn.FunctionName, self._clock.now())

        answers = self._sender.send(deliveries, now, settle_late)
        for (event, fn), answer in zip(runnable, answers, strict=True):
            if self._metrics is not None and (answer is None or not answer.throttled):
                self._metrics.async_event_age(fn.FunctionName, now, now - event.enqueued_at)
            if answer is not None:  # None: paused at a call, it answers when resumed
                self._settle(event, fn, answer)
        # Once the round's throttled events wait, each run that ended hands its slot on.
        for (_, fn), answer in zip(runnable, answers, strict=True):
            if answer is not None and not answer.throttled:
                self._hand_on_slot(fn.FunctionName, self._clock.now())
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
            self._requeue(event, now + decision.retry_in, waiting=answer.throttled)
        elif decision.expires_in is not None:
            self._requeue(event, now + decision.expires_in, waiting=True, expiring=True)
        elif decision.condition == Condition.SUCCESS:
            self._succeed(event, fn)
        else:
            self._fail(event, fn, str(decision.condition))

    def _requeue(self, event: QueuedEvent, due: float, *, waiting: bool = False, expiring: bool = False) -> None:
        """Back into the queue until ``due``; a ``waiting`` (throttled) event may go sooner, when its
        function frees a slot; an ``expiring`` one fails at ``due`` unless a slot came first."""
        event.due, event.expiring = due, expiring
        with self._lock:
            self._schedule(event)
            if waiting:
                event.waiting = True
                heapq.heappush(self._waiting.setdefault(event.function, []), self._entry(event))
            event.instant = due
            task, count = self._wakes.get(due, (None, 0))
            if task is None:
                # The clock never calls into the queue holding its own lock, so this order is safe.
                task = self._clock.call_at(due, _wake_pollers, label=f"async-retry:{event.function}")
            self._wakes[due] = (task, count + 1)

    def _schedule(self, event: QueuedEvent) -> None:
        """(Under the lock.) Into the heap at ``event.due``; any earlier entry of the event goes stale."""
        event.version += 1
        heapq.heappush(self._heap, self._entry(event))
        self._queued += 1

    @staticmethod
    def _entry(event: QueuedEvent) -> Entry:
        return event.due, event.seq, event.version, event

    def _unschedule(self, event: QueuedEvent) -> None:
        """(Under the lock.) The event leaves its place in time: it no longer waits for a slot (its entry
        there goes stale), and its instant's clock task is cancelled once no event is left to wake then."""
        event.waiting = False
        if event.instant is not None:
            task, count = self._wakes.pop(event.instant)
            if count > 1:
                self._wakes[event.instant] = (task, count - 1)
            else:
                task.cancelled = True
            event.instant = None

    def _hand_on_slot(self, function: str, now: float) -> None:
        """A run of ``function`` ended: the slot it held goes to the oldest event of that function
        still waiting after a throttle, which is due at once (an event already too old is left to
        fail at its own instant, which has passed)."""
        config = self.configs.effective(function)
        with self._lock:
            waiting = self._waiting.get(function, [])
            while waiting:
                *_, version, event = heapq.heappop(waiting)
                if version != event.version or not event.waiting:
                    continue  # it left, or went at its backoff, since
                if processor.too_old(now - event.enqueued_at, config):
                    event.waiting = False
                    continue
                self._unschedule(event)
                self._queued -= 1  # its entry at the old instant goes stale...
                event.due, event.expiring = now, False
                self._schedule(event)  # ...for one due now
                return

    def _succeed(self, event: QueuedEvent, fn: FunctionConfig) -> None:
        self.stats.conditions[Condition.SUCCESS] += 1
        destination = self.configs.effective(fn.FunctionName).OnSuccess
        if destination and self.destinations.send_record(fn, destination, self._record(event, fn, Condition.SUCCESS)):
            self.stats.to_on_success += 1

    def _fail(self, event: QueuedEvent, fn: FunctionConfig, condition: str) -> None:
        """The event leaves the queue unprocessed: to the on-failure destination and/or the DLQ, and
        always into the log and the journal."""
        self.stats.conditions[condition] += 1
        if self._metrics is not None:
            self._metrics.async_event_dropped(fn.FunctionName, self._clock.now())
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


def _wake_pollers() -> None:
    """A clock task that does nothing: the clock polls the sources before and after it, and the
    retries due at its instant run then."""
