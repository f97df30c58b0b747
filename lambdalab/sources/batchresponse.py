"""What a batch invoke's answer means, alike for SQS and streams: why a batch ended as it did, and
the ``batchItemFailures`` a function with ReportBatchItemFailures answers [SQS-E],[KIN].

An empty or null list, or an empty or null response, reports nothing (success). Invalid JSON, a
``batchItemFailures`` that is not a list, an item without ``itemIdentifier`` (a wrong key name) or
with an empty or null one fails the whole batch; so does an identifier the source does not know.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from lambdalab.strenum import StrEnum

ITEM_IDENTIFIER = "itemIdentifier"


class Cause(StrEnum):
    """Why a batch ended as it did (the engine's names; AWS documents the rules, not these words)."""

    SUCCESS = "Success"
    FUNCTION_ERROR = "FunctionError"
    THROTTLED = "Throttled"
    PARTIAL_BATCH_FAILURE = "PartialBatchFailure"
    INVALID_BATCH_ITEM_FAILURES = "InvalidBatchItemFailures"


def reported_failures(payload: bytes, problem_of: Callable[[Any], str]) -> tuple[list[Any], str]:
    """The reported item identifiers, in the response's order, or why the response fails the whole
    batch. ``problem_of(identifier)`` says what is wrong with an identifier the source does not
    know ('' when it is one of the batch)."""
    text = payload.decode(errors="replace").strip() if payload else ""
    if not text:
        return [], ""
    try:
        response: Any = json.loads(text)
    except ValueError:
        return [], "the response is not valid JSON"
    if not isinstance(response, dict):
        return [], ""  # no batchItemFailures in it: nothing reported (UNCONFIRMED for non-objects)
    items = response.get("batchItemFailures")
    if items is None:
        return [], ""
    if not isinstance(items, list):
        return [], "batchItemFailures is not a list"
    reported = []
    for item in items:
        if not isinstance(item, dict) or ITEM_IDENTIFIER not in item:
            return [], f"an item has no {ITEM_IDENTIFIER}: {json.dumps(item)[:200]}"
        identifier = item[ITEM_IDENTIFIER]
        if identifier is None or identifier == "":
            return [], f"an {ITEM_IDENTIFIER} is empty or null"
        problem = problem_of(identifier)
        if problem:
            return [], problem
        reported.append(identifier)
    return reported, ""
