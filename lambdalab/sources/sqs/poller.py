"""The SQS poller of one event-source mapping: receive batches, invoke, delete or let them return.

moto's SQS timers run on the wall clock, so the poller receives with a very long visibility
timeout and ends each failed batch's visibility itself when the queue's visibility timeout has
passed on the engine's clock (``ChangeMessageVisibility 0``). ``ApproximateReceiveCount`` grows on
each receive, and moto's redrive moves a message to the dead-letter queue on the receive after
``maxReceiveCount`` [SQS-a]. Message retention is kept on the engine's clock too.

A throttled batch is not returned [SQS-T]: it stays in flight, holding its slot of the mapping, and
is invoked again after a backoff (``processor.throttle_retry_at``) until an invoke is admitted or
its messages' visibility timeout ends (then they return, as after an error); meanwhile the mapping
runs fewer batches at once (``Scaling.throttled``).
"""

from __future__ import annotations

import functools
import itertools
import json
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from lambdalab.config import REGION
from lambdalab.dataplane import datachanges
from lambdalab.dataplane.server import ENGINE_VISIBILITY_TIMEOUT
from lambdalab.errors import ConfigurationError, api_error_of
from lambdalab.observe.logstore import LogEvent
from lambdalab.sources.base import SourceContext, update_changes
from lambdalab.sources.batchresponse import Cause
from lambdalab.sources.batchsender import Answer, Delivery
from lambdalab.sources.filtering import record_matches
from lambdalab.sources.mapping_config import filter_criteria
from lambdalab.sources.mappingpoller import MappingPoller
from lambdalab.sources.sqs import processor
from lambdalab.sources.sqs.config import UPDATABLE, SqsEventSourceConfig, check_shared_queue, parse_mapping
from lambdalab.sources.sqs.records import Times, build_record, receive_count, within_payload_limit
from lambdalab.sources.sqs.scaling import Scaling

if TYPE_CHECKING:
    from lambdalab.config import FunctionConfig

RECEIVE_LIMIT = 10  # ReceiveMessage returns at most 10 messages per call
LOG_STREAM = "lambdalab-sqs"


@dataclass
class MappingStats:
    """What one mapping did, counted: batches and messages by fate."""

    batches: int = 0  # invokes that reached the function
    messages: int = 0  # records delivered to the function (duplicates included)
    deleted: int = 0  # processed successfully and deleted
    returned: int = 0  # left to reappear after the visibility timeout (a failure, or throttled until it ended)
    throttled_batches: int = 0  # throttled invokes (one per attempt, as the journal's Throttled entries)
    throttle_retries: int = 0  # invokes of a batch again after its throttle, its messages still in flight
    failed_batches: int = 0  # function error, crash or timeout
    partial_batches: int = 0  # ReportBatchItemFailures named some messages
    invalid_responses: int = 0  # a batchItemFailures answer that failed the whole batch
    filtered: int = 0  # matched no filter: deleted unseen
    duplicates: int = 0  # extra copies delivered by the duplicate-delivery fault
    to_dead_letter_queue: int = 0  # failed for the maxReceiveCount-th time: redriven on the next receive
    expired: int = 0  # outlived MessageRetentionPeriod: deleted by the queue
    causes: dict[str, int] = field(default_factory=dict)


@dataclass(eq=False)
class _Batch:
    records: list[dict[str, Any]]
    received_at: float
    duplicate: bool = False
    throttles: int = 0  # throttled invokes of this batch so far
    retry_at: float | None = None  # a throttled batch's next invoke; None: none before its visibility ends
    expiry: Any = None  # the clock task returning a throttled batch's messages when their visibility ends


class SqsPoller(MappingPoller[MappingStats]):
    """Polls one queue for one function; ``poll`` is called by the clock between its tasks."""

    stats_type = MappingStats
    config: SqsEventSourceConfig

    def __init__(self, context: SourceContext, config: SqsEventSourceConfig, function: FunctionConfig, uuid: str):
        super().__init__(context, config, function, uuid, f"sqs:{config.queue_logical_id}")
        self.enabled = config.Enabled
        self.scaling = Scaling(config.ScalingConfig.MaximumConcurrency)
        self._sqs = context.dataplane.client("sqs")
        self._first_receive: dict[str, float] = {}  # message id -> engine time of its first receive
        self._sequence_numbers: dict[str, int] = {}  # FIFO message id -> its number, in first-receive order
        self._next_sequence = itertools.count(1)
        self._window_ends: float | None = None
        self._held: list[_Batch] = []  # received batches waiting for a free slot of the mapping
        self._throttled: list[_Batch] = []  # throttled batches, in flight, waiting for their retry
        self._lock = threading.RLock()  # the real clock returns throttled batches from a task's thread
        # The queue's data version when it was last found with no message at all: visible, in
        # flight or delayed (the last two come back by moto's wall clock, without a notice).
        self._emptied_at: tuple[int, int] | None = None

    # -- the Poller protocol -------------------------------------------------------------------
    def poll(self) -> bool:
        with self._lock:
            return self._poll()

    def _poll(self) -> bool:
        if self._closed or not self.enabled:
            return False
        now = self._clock.now()
        due = [b for b in self._throttled if b.retry_at is not None and b.retry_at <= now]
        version = datachanges.version("sqs", self.config.queue_name)
        if not due and not self._held and self._emptied_at == version:
            return False  # empty then, and nothing sent or made visible since
        queue = self._dataplane.queue_attributes(self.config.queue_url)
        self._throttled = [b for b in self._throttled if b not in due]
        # Oldest messages first: they are the nearest to the end of their visibility timeout.
        batches, self._held = sorted(self._held + due, key=lambda b: b.received_at), []
        self._emptied_at = version if not batches and _empty(queue) else None
        # Throttled batches waiting for their retry keep their slots [SQS-T]; a due retry always goes.
        slots = max(self.scaling.concurrency(now) - len(self._throttled), 1 if any(b.throttles for b in batches) else 0)
        if not slots:
            self._held = batches
            return False
        if not batches and not self._window_closed(now, queue):
            return False
        room = slots - len(batches)
        if room > 0:
            batches += self._receive(room, now, queue)
        if not batches:
            if not self._throttled:
                self.scaling.found_none()
            return False
        self.scaling.found_messages(now)
        self._deliver(batches, slots, int(queue["VisibilityTimeout"]), _max_receive_count(queue))
        return True

    def update(self, **changes: Any) -> dict[str, Any]:
        """UpdateEventSourceMapping: BatchSize, the batching window, Enabled, FilterCriteria,
        FunctionResponseTypes and ScalingConfig, checked as when the mapping was created [ESM-API];
        other parameters are refused. Answers as ``describe``."""
        changes = update_changes(changes, service=self._service, function=self.function, updatable=UPDATABLE,
                                 source="queue")
        current = asdict(self.config)
        props = {key: current[key] for key in ("EventSourceArn", "BatchSize", "FunctionResponseTypes", "Enabled")}
        if self.config.MaximumBatchingWindowInSeconds:
            props["MaximumBatchingWindowInSeconds"] = self.config.MaximumBatchingWindowInSeconds
        if self.config.ScalingConfig.MaximumConcurrency:
            props["ScalingConfig"] = current["ScalingConfig"]
        if self.config.FilterCriteria:
            props["FilterCriteria"] = filter_criteria(self.config.FilterCriteria)
        props.update(changes)
        try:
            config = parse_mapping(self.config.logical_id, props, queue_logical_id=self.config.queue_logical_id,
                                   queue_url=self.config.queue_url, fifo=self.config.fifo,
                                   function_name=self.function.FunctionName)
        except ConfigurationError as exc:
            raise api_error_of(exc) from None
        filters_added = config.FilterCriteria and config.FilterCriteria != self.config.FilterCriteria
        self.config = config
        self.enabled = config.Enabled
        self.scaling.maximum = config.ScalingConfig.MaximumConcurrency
        self.last_modified = self._clock.now()
        self._emptied_at = None
        if filters_added:
            check_shared_queue([m.config for m in self._service.event_source_mappings.values()
                                if isinstance(m, SqsPoller) and m.config.queue_url == config.queue_url])
        return self.describe()

    def describe(self) -> dict[str, Any]:
        """GetEventSourceMapping's answer [ESM-API]."""
        c = self.config
        return {
            "UUID": self.uuid, "BatchSize": c.BatchSize,
            "MaximumBatchingWindowInSeconds": c.MaximumBatchingWindowInSeconds,
            "EventSourceArn": c.EventSourceArn, "FunctionArn": self.function.FunctionArn,
            "LastModified": self.last_modified, "State": "Enabled" if self.enabled else "Disabled",
            "StateTransitionReason": "USER_INITIATED", "FunctionResponseTypes": list(c.FunctionResponseTypes),
            **({"ScalingConfig": {"MaximumConcurrency": c.ScalingConfig.MaximumConcurrency}}
               if c.ScalingConfig.MaximumConcurrency else {}),
            **({"FilterCriteria": filter_criteria(c.FilterCriteria)} if c.FilterCriteria else {}),
        }

    # -- batching ------------------------------------------------------------------------------
    def _window_closed(self, now: float, queue: dict[str, str]) -> bool:
        """With a batching window, wait for a full batch or the window's end [SQS-a]."""
        window = self.config.MaximumBatchingWindowInSeconds
        if not window:
            return True
        visible = int(queue.get("ApproximateNumberOfMessages", "0"))
        if visible == 0:
            self._window_ends = None
            return False
        if visible >= self.config.BatchSize or (self._window_ends is not None and now >= self._window_ends):
            self._window_ends = None
            return True
        if self._window_ends is None:
            self._window_ends = now + window
            self._clock.call_at(self._window_ends, _nothing, label=f"sqs-window:{self.config.logical_id}")
        return False

    def _receive(self, wanted: int, now: float, queue: dict[str, str]) -> list[_Batch]:
        batches: list[_Batch] = []
        retention = int(queue.get("MessageRetentionPeriod", "345600"))
        drained = False
        while len(batches) < wanted and not drained:
            records: list[dict[str, Any]] = []
            while len(records) < self.config.BatchSize:
                asked = min(RECEIVE_LIMIT, self.config.BatchSize - len(records))
                messages = self._sqs.receive_message(
                    QueueUrl=self.config.queue_url, MaxNumberOfMessages=asked, WaitTimeSeconds=0,
                    VisibilityTimeout=ENGINE_VISIBILITY_TIMEOUT, MessageSystemAttributeNames=["All"],
                    MessageAttributeNames=["All"]).get("Messages", [])
                records += self._records(messages, now, retention)
                if len(messages) < asked:
                    drained = True
                    break
            if records:
                batches += self._split(records, now)
        return batches

    def _records(self, messages: list[dict[str, Any]], now: float, retention: int) -> list[dict[str, Any]]:
        records, expired, unmatched = [], [], []
        wall_ms = time.time() * 1000
        for message in messages:
            first = self._first_receive.setdefault(message["MessageId"], now)
            if self.config.fifo and "SequenceNumber" not in message.get("Attributes", {}):
                # moto numbers only messages sent with an explicit MessageDeduplicationId
                number = self._sequence_numbers.get(message["MessageId"]) or next(self._next_sequence)
                self._sequence_numbers[message["MessageId"]] = number
                message.setdefault("Attributes", {})["SequenceNumber"] = f"{number:020d}"
            age_ms = max(0.0, wall_ms - int(message.get("Attributes", {}).get("SentTimestamp", wall_ms)))
            times = Times(sent_ms=int(min(now * 1000 - age_ms, first * 1000)), first_receive_ms=int(first * 1000))
            record = build_record(message, queue_arn=self.config.EventSourceArn, region=REGION,
                                  fifo=self.config.fifo, times=times)
            if now - first >= retention:
                expired.append(record)
            elif not record_matches(record, self.config.FilterCriteria):
                unmatched.append(record)
            else:
                records.append(record)
        if expired:
            self.stats.expired += len(expired)
            self._log([f"{len(expired)} message(s) outlived the queue's MessageRetentionPeriod ({retention} s) "
                       f"and were deleted: {', '.join(r['messageId'] for r in expired)}"])
        if unmatched:
            self.stats.filtered += len(unmatched)
            self._log([f"{len(unmatched)} message(s) matched no filter of {self.config.logical_id} and were deleted: "
                       f"{', '.join(r['messageId'] for r in unmatched)}"])
        self._delete(expired + unmatched)
        return records

    def _split(self, records: list[dict[str, Any]], now: float) -> list[_Batch]:
        """One batch, or several when the records pass the 6 MB invoke payload [SQS-a]."""
        batches = []
        while records:
            count = within_payload_limit(records)
            batches.append(_Batch(records[:count], now))
            records = records[count:]
        return batches

    # -- delivering and settling ---------------------------------------------------------------
    def _deliver(self, batches: list[_Batch], slots: int, visibility: int, max_receives: int | None) -> None:
        start = self._clock.now()
        # Never more batches at once than the mapping may run [SQS-S],[API-SC]: batches beyond its
        # free ``slots`` (a 6 MB split, a duplicate, retries after throttles) wait, still invisible,
        # for the next round.
        batches = self._with_duplicates(batches)
        batches, self._held = batches[:slots], batches[slots:]
        self.stats.throttle_retries += sum(1 for b in batches if b.throttles)
        deliveries = [
            Delivery(self.function, json.dumps({"Records": b.records}).encode(), self._service.request_ids.next(),
                     self.source, max(receive_count(r) for r in b.records))
            for b in batches
        ]
        late: dict[int, Any] = {}

        def settle_late(index: int, answer: Answer) -> None:
            """A batch paused mid-run answers at last: the end of its visibility timeout is moot."""
            expiry = late.pop(index, None)
            if expiry is not None:
                expiry.cancelled = True
            with self._lock:
                self._answered(batches[index], answer, self._clock.now(), visibility, max_receives)

        answers = self._sender.send(deliveries, start, settle_late)
        for index, (batch, answer) in enumerate(zip(batches, answers, strict=True)):
            if answer is not None:
                self._answered(batch, answer, start, visibility, max_receives)
                continue
            _cancel(batch)  # it reached the function
            if not batch.duplicate:  # still running: its messages come back when their visibility ends
                handles = [r["receiptHandle"] for r in batch.records]
                late[index] = self._clock.call_at(batch.received_at + visibility,
                                                  functools.partial(self._end_visibility, handles),
                                                  label=f"sqs-visibility:{self.config.queue_name}")
        if any(a is not None and a.throttled for a in answers):
            self.scaling.throttled(start)
        elif not self._throttled and not any(b.throttles for b in self._held):
            self.scaling.unthrottled(self._clock.now())

    def _with_duplicates(self, batches: list[_Batch]) -> list[_Batch]:
        """The duplicate-delivery fault: a copy of a message, in a batch of its own, at the same time."""
        copies = []
        for batch in batches:
            if batch.throttles:
                continue  # a retry after a throttle: its messages were offered to the fault already
            for record in batch.records:
                if self._service.faults.take_source_fault("duplicate", self.config.queue_logical_id,
                                                          self.config.queue_name):
                    copies.append(_Batch([dict(record)], batch.received_at, duplicate=True))
        self.stats.duplicates += len(copies)
        return batches + copies

    def _answered(self, batch: _Batch, answer: Answer, at: float, visibility: int, max_receives: int | None) -> None:
        """An invoke of ``batch`` ended at ``at``: throttled, the batch waits in flight for a retry;
        otherwise it is settled."""
        if not answer.throttled:
            _cancel(batch)
            self._settle(batch, answer, visibility, max_receives)
            return
        self.stats.throttled_batches += 1
        self.stats.causes[Cause.THROTTLED] = self.stats.causes.get(Cause.THROTTLED, 0) + 1
        ends = batch.received_at + visibility
        batch.throttles += 1
        batch.retry_at = processor.throttle_retry_at(at, batch.throttles, ends)
        if batch.expiry is None:
            batch.expiry = self._clock.call_at(ends, functools.partial(self._throttle_expired, batch, max_receives),
                                               label=f"sqs-visibility:{self.config.queue_name}")
        if batch.retry_at is not None:
            self._clock.call_at(batch.retry_at, _nothing, label=f"sqs-throttle-retry:{self.config.logical_id}")
        self._throttled.append(batch)

    def _throttle_expired(self, batch: _Batch, max_receives: int | None) -> None:
        """A throttled batch was not invoked before its messages' visibility timeout ended: they return
        to the queue, and the next receive counts [SQS-T]."""
        with self._lock:
            if self._closed or not any(b is batch for b in self._throttled + self._held):
                return
            self._throttled = [b for b in self._throttled if b is not batch]
            self._held = [b for b in self._held if b is not batch]
            if batch.duplicate:
                return  # the original copy returns with its own batch
            self.stats.returned += len(batch.records)
            if max_receives is not None:
                self.stats.to_dead_letter_queue += sum(receive_count(r) >= max_receives for r in batch.records)
            self._end_visibility([r["receiptHandle"] for r in batch.records])

    def _settle(self, batch: _Batch, answer: Answer, visibility: int, max_receives: int | None) -> None:
        ids = [r["messageId"] for r in batch.records]
        decision = processor.decide(ids, function_error=answer.function_error is not None,
                                    payload=answer.payload,
                                    report_batch_item_failures=self.config.report_batch_item_failures)
        stats = self.stats
        stats.batches += 1
        stats.messages += len(ids)
        stats.causes[decision.cause] = stats.causes.get(decision.cause, 0) + 1
        stats.failed_batches += decision.cause == Cause.FUNCTION_ERROR
        stats.partial_batches += decision.cause == Cause.PARTIAL_BATCH_FAILURE
        stats.invalid_responses += decision.cause == Cause.INVALID_BATCH_ITEM_FAILURES
        if decision.cause == Cause.INVALID_BATCH_ITEM_FAILURES:
            self._log([f"Invalid batchItemFailures response, the whole batch returns to the queue: {decision.detail}"])
        if batch.duplicate:
            return  # the original copy is settled by its own batch
        by_id = {r["messageId"]: r for r in batch.records}
        deleted = [by_id[m] for m in decision.delete]
        returned = [by_id[m] for m in decision.retry]
        stats.deleted += len(deleted)
        stats.returned += len(returned)
        self._delete(deleted)
        for record in deleted:
            self._first_receive.pop(record["messageId"], None)
            self._sequence_numbers.pop(record["messageId"], None)
        if max_receives is not None:
            stats.to_dead_letter_queue += sum(receive_count(r) >= max_receives for r in returned)
        if returned:
            handles = [r["receiptHandle"] for r in returned]
            self._clock.call_at(batch.received_at + visibility, lambda: self._end_visibility(handles),
                                label=f"sqs-visibility:{self.config.queue_name}")

    def _end_visibility(self, handles: list[str]) -> None:
        """The visibility timeout of returned messages ended on the engine's clock."""
        if self._closed:
            return
        for handle in handles:
            try:
                self._dataplane.end_visibility(self.config.queue_url, handle)
            except ClientError as exc:  # deleted, or received again since (a batch that ran past its visibility)
                if exc.response.get("Error", {}).get("Code") not in STALE_HANDLE:
                    raise

    def _delete(self, records: list[dict[str, Any]]) -> None:
        for start in range(0, len(records), RECEIVE_LIMIT):
            chunk = records[start:start + RECEIVE_LIMIT]
            self._sqs.delete_message_batch(QueueUrl=self.config.queue_url, Entries=[
                {"Id": str(i), "ReceiptHandle": r["receiptHandle"]} for i, r in enumerate(chunk)])

    def _log(self, lines: list[str]) -> None:
        now = self._clock.now()
        self._service.logs.put(self.function.FunctionName, [LogEvent(now, LOG_STREAM, "", line) for line in lines])


STALE_HANDLE = ("ReceiptHandleIsInvalid", "InvalidParameterValue", "MessageNotInflight")


def _empty(queue: dict[str, str]) -> bool:
    return all(queue.get(f"ApproximateNumberOf{kind}", "0") == "0"
               for kind in ("Messages", "MessagesNotVisible", "MessagesDelayed"))


def _cancel(batch: _Batch) -> None:
    """A throttled batch reached the function at last: its messages no longer return on their own."""
    if batch.expiry is not None:
        batch.expiry.cancelled = True
        batch.expiry = None


def _max_receive_count(queue: dict[str, str]) -> int | None:
    raw = queue.get("RedrivePolicy")
    return int(json.loads(raw)["maxReceiveCount"]) if raw else None


def _nothing() -> None:
    """A clock task that only wakes the pollers (a batching window ended)."""
