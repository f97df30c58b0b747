"""What happens to each message of a batch, decided from the function's answer (pure).

Rules [SQS-a],[SQS-E]: success deletes the batch; an error (exception, timeout, crash) or a
throttle returns **every** message to the queue, to reappear after the visibility timeout, even the
ones already processed. With ``ReportBatchItemFailures``, only the reported messages return:
an empty or null list, or an empty or null response, is success; invalid JSON, an empty or null
id, a wrong key name or an id that is not in the batch fails the whole batch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

# Why a batch ended as it did (the engine's names; AWS documents the rules, not these words).
SUCCESS = "Success"
FUNCTION_ERROR = "FunctionError"
THROTTLED = "Throttled"
PARTIAL_BATCH_FAILURE = "PartialBatchFailure"
INVALID_BATCH_ITEM_FAILURES = "InvalidBatchItemFailures"
ITEM_IDENTIFIER = "itemIdentifier"


@dataclass(frozen=True)
class BatchDecision:
    """Message ids to delete, message ids that return after the visibility timeout, and why."""

    delete: tuple[str, ...]
    retry: tuple[str, ...]
    cause: str
    detail: str = ""


def _all(ids: list[str], cause: str, detail: str = "") -> BatchDecision:
    return BatchDecision((), tuple(ids), cause, detail)


def decide(message_ids: list[str], *, throttled: bool = False, function_error: bool = False,
           payload: bytes = b"", report_batch_item_failures: bool = False) -> BatchDecision:
    """The fate of a batch of ``message_ids`` (in batch order) after one invoke."""
    if throttled:
        return _all(message_ids, THROTTLED)
    if function_error:
        return _all(message_ids, FUNCTION_ERROR)
    if not report_batch_item_failures:
        return BatchDecision(tuple(message_ids), (), SUCCESS)
    failed, problem = batch_item_failures(payload, message_ids)
    if problem:
        return _all(message_ids, INVALID_BATCH_ITEM_FAILURES, problem)
    if not failed:
        return BatchDecision(tuple(message_ids), (), SUCCESS)
    return BatchDecision(tuple(m for m in message_ids if m not in failed),
                         tuple(m for m in message_ids if m in failed), PARTIAL_BATCH_FAILURE)


def batch_item_failures(payload: bytes, message_ids: list[str]) -> tuple[set[str], str]:
    """The reported message ids, or a reason why the response fails the whole batch."""
    text = payload.decode(errors="replace").strip() if payload else ""
    if not text:
        return set(), ""
    try:
        response: Any = json.loads(text)
    except ValueError:
        return set(), "the response is not valid JSON"
    if not isinstance(response, dict):
        return set(), ""  # no batchItemFailures in it: nothing reported (UNCONFIRMED for non-objects)
    items = response.get("batchItemFailures")
    if items is None:
        return set(), ""
    if not isinstance(items, list):
        return set(), "batchItemFailures is not a list"
    known, failed = set(message_ids), set()
    for item in items:
        if not isinstance(item, dict) or ITEM_IDENTIFIER not in item:
            return set(), f"an item has no {ITEM_IDENTIFIER}: {json.dumps(item)[:200]}"
        identifier = item[ITEM_IDENTIFIER]
        if identifier is None or identifier == "":
            return set(), f"an {ITEM_IDENTIFIER} is empty or null"
        if identifier not in known:
            return set(), f"{ITEM_IDENTIFIER} {identifier!r} is not a message of the batch"
        failed.add(identifier)
    return failed, ""
