"""What happens to each message of a batch, decided from the function's answer (pure).

Rules [SQS-a],[SQS-E]: success deletes the batch; an error (exception, timeout, crash) returns
**every** message to the queue, to reappear after the visibility timeout, even the ones already
processed. With ``ReportBatchItemFailures``, only the reported messages return: an empty or null
list, or an empty or null response, is success; invalid JSON, an empty or null id, a wrong key name
or an id that is not in the batch fails the whole batch.

A throttle decides nothing [SQS-T]: the batch stays in flight and Lambda invokes it again, 1 s after
the first throttle, then 2, 4, 8... s (the engine's delays: AWS publishes none for SQS; these are the
ones it documents for asynchronous throttles [A-ERR], at most 5 minutes), until an invoke is
admitted or the next attempt would come after its messages' visibility timeout: then they return.
"""

from __future__ import annotations

from dataclasses import dataclass

from lambdalab.sources.batchresponse import ITEM_IDENTIFIER, Cause, reported_failures


@dataclass(frozen=True)
class BatchDecision:
    """Message ids to delete, message ids that return after the visibility timeout, and why."""

    delete: tuple[str, ...]
    retry: tuple[str, ...]
    cause: Cause
    detail: str = ""


THROTTLE_FIRST_RETRY_S = 1.0
THROTTLE_MAX_RETRY_S = 300.0


def _all(ids: list[str], cause: Cause, detail: str = "") -> BatchDecision:
    return BatchDecision((), tuple(ids), cause, detail)


def decide(message_ids: list[str], *, throttled: bool = False, function_error: bool = False,
           payload: bytes = b"", report_batch_item_failures: bool = False) -> BatchDecision:
    """The fate of a batch of ``message_ids`` (in batch order) after one invoke. A throttled invoke
    deletes and returns nothing: the batch stays in flight (``throttle_retry_at``)."""
    if throttled:
        return BatchDecision((), (), Cause.THROTTLED)
    if function_error:
        return _all(message_ids, Cause.FUNCTION_ERROR)
    if not report_batch_item_failures:
        return BatchDecision(tuple(message_ids), (), Cause.SUCCESS)
    failed, problem = batch_item_failures(payload, message_ids)
    if problem:
        return _all(message_ids, Cause.INVALID_BATCH_ITEM_FAILURES, problem)
    if not failed:
        return BatchDecision(tuple(message_ids), (), Cause.SUCCESS)
    return BatchDecision(tuple(m for m in message_ids if m not in failed),
                         tuple(m for m in message_ids if m in failed), Cause.PARTIAL_BATCH_FAILURE)


def throttle_retry_at(throttled_at: float, throttles: int, visibility_ends: float) -> float | None:
    """When a batch throttled ``throttles`` times, the last at ``throttled_at``, is invoked again; None
    when that would be at or after ``visibility_ends``: its messages return to the queue then [SQS-T]."""
    delay = min(THROTTLE_MAX_RETRY_S, THROTTLE_FIRST_RETRY_S * 2 ** min(throttles - 1, 16))
    due = throttled_at + delay
    return due if due < visibility_ends else None


def batch_item_failures(payload: bytes, message_ids: list[str]) -> tuple[set[str], str]:
    """The reported message ids, or a reason why the response fails the whole batch."""
    known = set(message_ids)

    def problem_of(identifier: object) -> str:
        return "" if identifier in known else f"{ITEM_IDENTIFIER} {identifier!r} is not a message of the batch"

    failed, problem = reported_failures(payload, problem_of)
    return set(failed), problem
