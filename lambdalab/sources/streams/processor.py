"""What happens to a stream batch after one invoke: checkpoint, retry, bisect or discard (pure).

Rules [KIN],[KIN-ONF],[DDB]:

* success checkpoints the whole batch;
* a function error (exception, timeout, crash) retries the **whole batch**, blocking its shard,
  until it succeeds, MaximumRetryAttempts runs out (``RetryAttemptsExhausted``: the batch is
  discarded to the on-failure destination) or the records pass MaximumRecordAgeInSeconds;
* with BisectBatchOnFunctionError the failed batch is split in two and each half retried; a split
  does not count as a retry;
* a throttle retries without counting, until the records expire or pass the maximum age;
* with ReportBatchItemFailures, Lambda checkpoints below the **lowest** reported sequence number
  and retries from there. Success: an empty or null list, or an empty or null response. Whole
  batch failed: an empty or null ``itemIdentifier``, a wrong key name (or, here, a sequence number
  that is not in the batch, or a response that is not JSON). With bisect on, the batch is split at
  the reported number; when that is the batch's first record, there is nothing to split at and the
  batch is halved as for an error (the engine's reading: AWS does not say).
"""

from __future__ import annotations

from dataclasses import dataclass

from lambdalab.sources.batchresponse import ITEM_IDENTIFIER, Cause, reported_failures
from lambdalab.sources.batchsender import Answer
from lambdalab.strenum import StrEnum

INFINITE = -1
MAX_BACKOFF_S = 60.0
BLOCKED_NOTICE_AFTER = 3  # failed invokes in a row, with AWS's unbounded defaults, before the notice


class BlockedShardWarning(UserWarning):
    """A failing batch blocks its shard, and with MaximumRetryAttempts and MaximumRecordAgeInSeconds
    both -1 (AWS's defaults) Lambda retries it until its records expire: a day of virtual time."""


class Action(StrEnum):
    """What the poller does next with a batch."""

    CHECKPOINT = "checkpoint"
    RETRY = "retry"
    BISECT = "bisect"
    DISCARD = "discard"


class Condition(StrEnum):
    """``condition`` of the on-failure record: AWS documents RetryAttemptsExhausted [KIN]; the age
    condition's name is UNCONFIRMED in AWS's docs (the name other emulators use)."""

    RETRY_ATTEMPTS_EXHAUSTED = "RetryAttemptsExhausted"
    RECORD_AGE_EXCEEDED = "MaximumRecordAgeExceeded"


@dataclass(frozen=True)
class Decision:
    """``checkpointed`` leading records are done; what happens to the rest is ``action``."""

    action: Action
    cause: Cause
    checkpointed: int = 0
    retries: int = 0  # retries the remaining records have used, after this decision
    split: int = 0  # for bisect: how many records go in the first half
    condition: Condition | None = None  # for discard
    detail: str = ""


def decide(sequences: list[int], answer: Answer, *, retries: int, maximum_retry_attempts: int = INFINITE,
           bisect: bool = False, report_batch_item_failures: bool = False) -> Decision:
    """The fate of a batch (its sequence numbers, in order) after one invoke; ``retries`` is how many
    retries its records have used so far."""
    if answer.throttled:
        return Decision(Action.RETRY, Cause.THROTTLED, retries=retries, detail=answer.reason or "")
    if answer.function_error:
        return _failed(len(sequences), 0, Cause.FUNCTION_ERROR, retries, maximum_retry_attempts, bisect)
    if not report_batch_item_failures:
        return Decision(Action.CHECKPOINT, Cause.SUCCESS, checkpointed=len(sequences))
    lowest, problem = lowest_failure(answer.payload, sequences)
    if problem:
        return _failed(len(sequences), 0, Cause.INVALID_BATCH_ITEM_FAILURES, retries, maximum_retry_attempts, bisect,
                       problem)
    if lowest is None:
        return Decision(Action.CHECKPOINT, Cause.SUCCESS, checkpointed=len(sequences))
    done = sequences.index(lowest)
    if bisect and done:  # split at the reported number: the rest is retried, and a split is no retry
        return Decision(Action.RETRY, Cause.PARTIAL_BATCH_FAILURE, checkpointed=done, retries=retries)
    # the first record failed: nothing to split at, so a bisecting mapping halves the batch
    return _failed(len(sequences), done, Cause.PARTIAL_BATCH_FAILURE, retries, maximum_retry_attempts, bisect)


def _failed(size: int, done: int, cause: Cause, retries: int, maximum: int, bisect: bool,
            detail: str = "") -> Decision:
    if bisect and size - done > 1:
        return Decision(Action.BISECT, cause, checkpointed=done, retries=retries, split=(size - done + 1) // 2,
                        detail=detail)
    used = retries + 1
    if maximum != INFINITE and used > maximum:
        return Decision(Action.DISCARD, cause, checkpointed=done, retries=used,
                        condition=Condition.RETRY_ATTEMPTS_EXHAUSTED, detail=detail)
    return Decision(Action.RETRY, cause, checkpointed=done, retries=used, detail=detail)


def blocked_until_expiry(retries: int, *, maximum_retry_attempts: int, maximum_record_age: int) -> bool:
    """True once a batch has failed ``BLOCKED_NOTICE_AFTER`` times in a row while neither
    MaximumRetryAttempts nor MaximumRecordAgeInSeconds bounds its retries: its shard then waits
    until the records expire from the stream [KIN],[KIN-P]."""
    unbounded = maximum_retry_attempts == INFINITE and maximum_record_age == INFINITE
    return unbounded and retries >= BLOCKED_NOTICE_AFTER


def lowest_failure(payload: bytes, sequences: list[int]) -> tuple[int | None, str]:
    """The lowest reported sequence number, or a reason why the response fails the whole batch."""
    known = set(sequences)

    def problem_of(identifier: object) -> str:
        try:
            number = int(str(identifier))
        except ValueError:
            return f"{ITEM_IDENTIFIER} {identifier!r} is not a sequence number"
        return "" if number in known else f"{ITEM_IDENTIFIER} {identifier!r} is not a record of the batch"

    reported, problem = reported_failures(payload, problem_of)
    return (min(int(str(i)) for i in reported) if reported else None), problem


def expired(arrivals: list[float], now: float, *, maximum_record_age: int = INFINITE) -> int:
    """How many leading records are older than MaximumRecordAgeInSeconds at ``now``: Lambda discards
    them rather than invoke with them [KIN-ONF]."""
    if maximum_record_age == INFINITE:
        return 0
    count = 0
    for arrival in arrivals:
        if now - arrival <= maximum_record_age:
            break
        count += 1
    return count


def backoff(failures: int) -> float:
    """Seconds before a failed or throttled batch is tried again: 1 s, doubling, at most 60 s.
    AWS says it retries "with backoff" without the numbers; these are the engine's."""
    return min(MAX_BACKOFF_S, 2.0 ** min(max(0, failures - 1), 32))  # no overflow after 1,024 failures
