"""The poller of one stream event-source mapping: read every shard, batch, invoke, settle.

Each shard is split into ParallelizationFactor slots by partition key (item key for DynamoDB), so
one key's records always share a slot and stay in order [KIN]. A slot runs one batch at a time:
a failing batch **blocks its slot** (with a factor of 1, its shard) until it succeeds, its retries
run out or its records pass the maximum age, while every other shard and slot keeps flowing.
Retries back off on the engine's clock; record ages count from when the engine first saw each
record (moto stamps records with the wall clock). Nothing is dropped silently: a discarded batch
goes to the on-failure destination when there is one, and always to the function's log.
"""

from __future__ import annotations

import warnings
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lambdalab.config import REGION
from lambdalab.errors import ConfigurationError, NotSupportedLocally, api_error_of
from lambdalab.observe.logstore import LogEvent
from lambdalab.sources.base import SourceContext, update_changes
from lambdalab.sources.batchresponse import Cause
from lambdalab.sources.batchsender import Answer, Delivery
from lambdalab.sources.filtering import record_matches
from lambdalab.sources.mappingpoller import MappingPoller
from lambdalab.sources.streams import destinations, processor
from lambdalab.sources.streams.config import KINESIS, UPDATABLE, StreamEventSourceConfig, parse_mapping
from lambdalab.sources.streams.processor import Action, Condition
from lambdalab.sources.streams.reader import ShardReader
from lambdalab.sources.streams.records import (
    StreamRecord,
    batch_payload,
    dynamodb_record,
    filter_view,
    kinesis_record,
    slot_of,
    within_payload_limit,
)

if TYPE_CHECKING:
    from lambdalab.config import FunctionConfig

LOG_STREAM = "lambdalab-streams"


@dataclass
class MappingStats:
    """What one mapping did, counted."""

    invocations: int = 0  # batches handed to the function (throttled ones included)
    records: int = 0  # records handed to the function (retries and replays included)
    checkpointed: int = 0  # records done with
    failed_batches: int = 0  # function error, crash, timeout or invalid batchItemFailures
    partial_batches: int = 0  # ReportBatchItemFailures named a record
    throttled_batches: int = 0
    bisected: int = 0  # failed batches split in two
    discarded: int = 0  # records given up on (on-failure destination and log)
    filtered: int = 0  # matched no filter: skipped without invoking
    replays: int = 0  # batches delivered again by the replay fault
    causes: dict[str, int] = field(default_factory=dict)
    deliveries: Counter[str] = field(default_factory=Counter)  # eventID -> times delivered (not throttled)


@dataclass
class _Batch:
    records: list[StreamRecord]
    retries: int = 0
    invokes: int = 0
    last_answer: Answer | None = None
    last_request_id: str = ""


@dataclass
class _Slot:
    shard_id: str
    pending: deque[StreamRecord] = field(default_factory=deque)
    batches: deque[_Batch] = field(default_factory=deque)  # the front one is in progress
    failures: int = 0  # consecutive failed or throttled invokes: the backoff grows with them
    retry_at: float | None = None
    window_ends: float | None = None
    in_flight: bool = False  # its batch is still running (held at a pause): the shard waits for it
    noticed: bool = False  # the blocked-shard notice was given for its failing batch


class StreamPoller(MappingPoller[MappingStats]):
    """Polls one Kinesis stream or DynamoDB stream for one function; the clock calls ``poll``."""

    stats_type = MappingStats
    config: StreamEventSourceConfig

    def __init__(self, context: SourceContext, config: StreamEventSourceConfig, function: FunctionConfig,
                 stream_name: str | None, uuid: str):
        super().__init__(context, config, function, uuid, f"{config.kind}:{config.stream_logical_id}")
        self.stream_name = stream_name
        self._metrics = context.metrics
        self._reader = ShardReader(context.dataplane, config, stream_name)
        self._slots = {
            shard: [_Slot(shard) for _ in range(config.ParallelizationFactor)] for shard in self._reader.shard_ids
        }
        self._notices: list[str] = []  # given once every batch is settled (a warning may be an error)

    @property
    def shard_ids(self) -> list[str]:
        return list(self._slots)

    # -- the Poller protocol -------------------------------------------------------------------
    def poll(self) -> bool:
        if self._closed or not self.config.Enabled:
            return False
        now = self._clock.now()
        self._read(now)
        due = self._due(now)
        if not due:
            return False
        start = self._clock.now()
        deliveries = []
        for _, batch in due:  # ids in shard and slot order, before any thread starts
            batch.invokes += 1
            batch.last_request_id = self._service.request_ids.next()
            deliveries.append(Delivery(self.function, batch_payload(batch.records), batch.last_request_id,
                                       self.source, batch.invokes))
            self._metrics.iterator_age(self.function.FunctionName, start, start - batch.records[-1].arrival)

        def settle_late(index: int, answer: Answer) -> None:
            """A batch paused mid-run answers at last: its shard goes on."""
            slot, batch = due[index]
            slot.in_flight = False
            self._settle(slot, batch, answer)
            self._give_notices()

        answers = self._sender.send(deliveries, start, settle_late)
        for (slot, batch), answer in zip(due, answers, strict=True):
            if answer is None:  # paused at a call: the shard waits for it, as a shard waits for its batch
                slot.in_flight = True
            else:
                self._settle(slot, batch, answer)
        self._give_notices()
        return True

    # -- reading and batching ------------------------------------------------------------------
    def _read(self, now: float) -> None:
        build = kinesis_record if self.config.kind == KINESIS else dynamodb_record
        since = self._reader.starting_timestamp
        for shard, slots in self._slots.items():
            for raw in self._reader.read(shard):
                record = build(raw, shard_id=shard, stream_arn=self.config.EventSourceArn, region=REGION, arrival=now)
                if since is not None and record.arrival < since:
                    continue  # AT_TIMESTAMP: written before the starting timestamp
                if not record_matches(filter_view(record), self.config.FilterCriteria):
                    self.stats.filtered += 1
                    continue
                slots[slot_of(record.key, self.config.ParallelizationFactor)].pending.append(record)

    def _due(self, now: float) -> list[tuple[_Slot, _Batch]]:
        due = []
        for slots in self._slots.values():
            for slot in slots:
                if slot.in_flight or (slot.retry_at is not None and now < slot.retry_at):
                    continue  # blocked: its batch still runs, or waits for its retry
                batch = self._next_batch(slot, now)
                if batch is not None:
                    due.append((slot, batch))
        return due

    def _next_batch(self, slot: _Slot, now: float) -> _Batch | None:
        while True:
            if not slot.batches:
                if not slot.pending or not self._window_closed(slot, now):
                    return None
                take = min(self.config.BatchSize, len(slot.pending))
                records = [slot.pending.popleft() for _ in range(take)]
                fits = within_payload_limit(records)
                slot.pending.extendleft(reversed(records[fits:]))
                slot.batches.append(_Batch(records[:fits]))
            batch = slot.batches[0]
            old = processor.expired([r.arrival for r in batch.records], now, maximum_record_age=self._maximum_age())
            if not old:
                return batch
            self._discard(batch, batch.records[:old], Condition.RECORD_AGE_EXCEEDED)
            batch.records = batch.records[old:]
            if not batch.records:
                slot.batches.popleft()
                slot.failures, slot.retry_at, slot.noticed = 0, None, False

    def _maximum_age(self) -> int:
        """MaximumRecordAgeInSeconds, or the stream's retention when that comes first (records
        then leave the stream)."""
        retention = int(self._reader.retention_s)
        age = self.config.MaximumRecordAgeInSeconds
        return retention if age == processor.INFINITE else min(age, retention)

    def _window_closed(self, slot: _Slot, now: float) -> bool:
        """With MaximumBatchingWindowInSeconds, wait for a full batch or the window's end [ESM-API]."""
        window = self.config.MaximumBatchingWindowInSeconds
        if not window or len(slot.pending) >= self.config.BatchSize:
            return True
        ends = slot.pending[0].arrival + window
        if now >= ends:
            return True
        if slot.window_ends != ends:
            slot.window_ends = ends
            self._clock.call_at(ends, _nothing, label=f"stream-window:{self.config.logical_id}")
        return False

    # -- settling ------------------------------------------------------------------------------
    def _settle(self, slot: _Slot, batch: _Batch, answer: Answer) -> None:
        config, stats = self.config, self.stats
        decision = processor.decide(
            [r.sequence for r in batch.records], answer, retries=batch.retries,
            maximum_retry_attempts=config.MaximumRetryAttempts, bisect=config.BisectBatchOnFunctionError,
            report_batch_item_failures=config.report_batch_item_failures)
        stats.invocations += 1
        stats.records += len(batch.records)
        stats.causes[decision.cause] = stats.causes.get(decision.cause, 0) + 1
        stats.throttled_batches += decision.cause == Cause.THROTTLED
        stats.failed_batches += decision.cause in (Cause.FUNCTION_ERROR, Cause.INVALID_BATCH_ITEM_FAILURES)
        stats.partial_batches += decision.cause == Cause.PARTIAL_BATCH_FAILURE
        if not answer.throttled:
            stats.deliveries.update(str(r.event["eventID"]) for r in batch.records)
        if decision.cause == Cause.INVALID_BATCH_ITEM_FAILURES:
            self._log(f"Invalid batchItemFailures response, the whole batch is retried: {decision.detail}")
        stats.checkpointed += decision.checkpointed
        rest = batch.records[decision.checkpointed:]
        batch.last_answer = answer
        if decision.action == Action.CHECKPOINT:
            slot.batches.popleft()
            slot.failures, slot.retry_at, slot.noticed = 0, None, False
            self._maybe_replay(slot, batch)
        elif decision.action == Action.DISCARD:
            slot.batches.popleft()
            slot.failures, slot.retry_at, slot.noticed = 0, None, False
            self._discard(batch, rest, decision.condition or Condition.RETRY_ATTEMPTS_EXHAUSTED)
        elif decision.action == Action.BISECT:
            stats.bisected += 1
            slot.batches.popleft()
            halves = [_Batch(part, decision.retries, batch.invokes, answer, batch.last_request_id)
                      for part in (rest[:decision.split], rest[decision.split:])]
            slot.batches.extendleft(reversed(halves))
            self._back_off(slot)
        else:  # retry what is left, after a backoff; the slot is blocked meanwhile
            batch.records, batch.retries = rest, decision.retries
            self._back_off(slot)
            self._notice_blocked(slot, batch)

    def _back_off(self, slot: _Slot) -> None:
        slot.failures += 1
        slot.retry_at = self._clock.now() + processor.backoff(slot.failures)
        self._clock.call_at(slot.retry_at, _nothing, label=f"stream-retry:{self.config.logical_id}")

    def _notice_blocked(self, slot: _Slot, batch: _Batch) -> None:
        """Say once per failing batch that its shard waits for its records to expire, which with AWS's
        defaults takes a day of virtual time: ``run_until_idle()`` would otherwise look frozen."""
        if slot.noticed or not processor.blocked_until_expiry(
                batch.retries, maximum_retry_attempts=self.config.MaximumRetryAttempts,
                maximum_record_age=self.config.MaximumRecordAgeInSeconds):
            return
        slot.noticed = True
        hours = f"{self._reader.retention_s / 3600:g} h"
        line = (f"{self.config.logical_id} ({self.function.logical_id}) shard {slot.shard_id} is blocked by a "
                f"failing batch: Lambda retries it until its records expire ({hours}); set MaximumRetryAttempts "
                f"or MaximumRecordAgeInSeconds, or call run_until_idle(max_virtual_seconds=...)")
        self._log(line)
        self._notices.append("lambdalab: " + line)

    def _give_notices(self) -> None:
        notices, self._notices = self._notices, []
        for notice in notices:
            # Shown as "lambdalab:0: BlockedShardWarning: ...": no engine file path or source line, which
            # say nothing to a learner and differ between machines.
            warnings.warn_explicit(notice, processor.BlockedShardWarning, "lambdalab", 0, module="lambdalab")

    def _maybe_replay(self, slot: _Slot, batch: _Batch) -> None:
        """The replay fault: a checkpointed batch is delivered once more, as after a lost checkpoint."""
        names = (self.config.stream_logical_id, self.stream_name or "", self.config.EventSourceArn)
        if self._service.faults.take_source_fault("replay", *names):
            self.stats.replays += 1
            slot.batches.appendleft(_Batch(list(batch.records)))

    def _discard(self, batch: _Batch, records: list[StreamRecord], condition: str) -> None:
        """Give up on ``records``: an on-failure record to the destination (if any) and a log line."""
        if not records:
            return
        self.stats.discarded += len(records)
        record = destinations.on_failure_record(
            kind=self.config.kind, records=records, stream_arn=self.config.EventSourceArn,
            function_arn=self.function.FunctionArn, request_id=batch.last_request_id, condition=condition,
            invoke_count=batch.invokes, last_answer=batch.last_answer, now=self._clock.now())
        first, last = records[0].sequence_number, records[-1].sequence_number
        where = f"to {self.config.OnFailure}" if self.config.OnFailure else "with no on-failure destination"
        self._log(f"{condition}: discarded {len(records)} record(s) of {records[0].shard_id} "
                  f"(sequence numbers {first}-{last}) {where}")
        if batch.last_request_id and batch.invokes:
            self._service.journal.set_stop_reason(batch.last_request_id, batch.invokes, condition)
        if self.config.OnFailure:
            destinations.deliver(self._dataplane, self.config.OnFailure, record)

    def _log(self, line: str) -> None:
        self._service.logs.put(self.function.FunctionName, [LogEvent(self._clock.now(), LOG_STREAM, "", line)])

    # -- the Lambda API ------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        """GetEventSourceMapping's answer."""
        c = self.config
        return {
            "UUID": self.uuid, "StartingPosition": c.StartingPosition, "BatchSize": c.BatchSize,
            "MaximumBatchingWindowInSeconds": c.MaximumBatchingWindowInSeconds,
            "ParallelizationFactor": c.ParallelizationFactor, "EventSourceArn": c.EventSourceArn,
            "FunctionArn": self.function.FunctionArn, "LastModified": self.last_modified,
            "LastProcessingResult": "OK" if self.stats.invocations else "No records processed",
            "State": "Enabled" if c.Enabled else "Disabled", "StateTransitionReason": "User action",
            "DestinationConfig": {"OnFailure": {"Destination": c.OnFailure} if c.OnFailure else {}},
            "MaximumRecordAgeInSeconds": c.MaximumRecordAgeInSeconds,
            "BisectBatchOnFunctionError": c.BisectBatchOnFunctionError,
            "MaximumRetryAttempts": c.MaximumRetryAttempts, "TumblingWindowInSeconds": c.TumblingWindowInSeconds,
            "FunctionResponseTypes": list(c.FunctionResponseTypes),
            **({"FilterCriteria": c.properties()["FilterCriteria"]} if c.FilterCriteria else {}),
            **({"StartingPositionTimestamp": c.StartingPositionTimestamp}
               if c.StartingPositionTimestamp is not None else {}),
        }

    def update(self, **changes: Any) -> dict[str, Any]:
        """UpdateEventSourceMapping: Enabled, BatchSize, the batching window, ParallelizationFactor
        (while idle) and the failure settings, checked as when the mapping was created. Other
        parameters are refused."""
        changes = update_changes(changes, service=self._service, function=self.function, updatable=UPDATABLE,
                                 source="stream")
        props = {**self.config.properties(), **changes}
        try:
            config = parse_mapping(self.config.logical_id, props, kind=self.config.kind,
                                   stream_logical_id=self.config.stream_logical_id,
                                   function_name=self.function.FunctionName)
            if config.OnFailure and config.OnFailure != self.config.OnFailure:
                destinations.check(self._dataplane, config.OnFailure, self.config.logical_id)
        except ConfigurationError as exc:
            raise api_error_of(exc) from None
        if config.ParallelizationFactor != self.config.ParallelizationFactor:
            self._reslot(config.ParallelizationFactor)
        self.config = config
        self.last_modified = self._clock.now()
        return self.describe()

    def _reslot(self, factor: int) -> None:
        """A new ParallelizationFactor, taken only while no record is waiting: keys then move between
        slots without any record overtaking another of its key."""
        if any(slot.pending or slot.batches for slots in self._slots.values() for slot in slots):
            raise NotSupportedLocally("changing ParallelizationFactor while records are waiting is not supported "
                                      "locally; change it when the mapping is idle")
        self._slots = {shard: [_Slot(shard) for _ in range(factor)] for shard in self._slots}


def _nothing() -> None:
    """A clock task that only wakes the pollers (a retry or batching window is due)."""
