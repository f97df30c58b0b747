"""Event filtering for event-source mappings (pure): ``FilterCriteria`` patterns, EventBridge's syntax [FILTER].

A record passes when any filter matches; SQS deletes the ones that match none, streams skip them,
both without invoking the function. A pattern on ``body`` (or ``data``) needs JSON: a payload that is
not JSON never matches it. Operators: exact values, ``prefix``, ``suffix``, ``anything-but``,
``numeric``, ``exists``, ``equals-ignore-case``; any other is refused when the mapping is read.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable
from typing import Any

OPERATORS = frozenset({"prefix", "suffix", "anything-but", "numeric", "exists", "equals-ignore-case"})
_NUMERIC: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt, "<=": operator.le, "=": operator.eq, ">": operator.gt, ">=": operator.ge,
}
_MISSING = object()


def unsupported_operator(pattern: Any) -> str | None:
    """The first operator in ``pattern`` this module does not implement, if any."""
    if isinstance(pattern, dict):
        for value in pattern.values():
            found = unsupported_operator(value)
            if found:
                return found
    elif isinstance(pattern, list):
        for matcher in pattern:
            if isinstance(matcher, dict):
                extra = set(matcher) - OPERATORS
                if extra:
                    return sorted(extra)[0]
    return None


def record_matches(record: dict[str, Any], patterns: tuple[dict[str, Any], ...]) -> bool:
    """True when no filter is set or any filter matches the record."""
    if not patterns:
        return True
    view = dict(record)
    try:
        view["body"] = json.loads(record.get("body", ""))
    except ValueError:
        pass  # a plain-text body is compared as a string, and never matches a pattern with fields
    return any(_match(pattern, view) for pattern in patterns)


def _match(pattern: dict[str, Any], value: Any) -> bool:
    if not isinstance(value, dict):
        return False
    for key, wanted in pattern.items():
        actual = value.get(key, _MISSING)
        if isinstance(wanted, dict):
            if actual is _MISSING or not _match(wanted, actual):
                return False
        elif isinstance(wanted, list):
            if not _match_list(wanted, actual):
                return False
        else:
            return False  # a pattern's leaves are lists of matchers
    return True


def _match_list(matchers: list[Any], actual: Any) -> bool:
    values = actual if isinstance(actual, list) else [actual]
    return any(_match_one(m, v) for m in matchers for v in values)


def _match_one(matcher: Any, value: Any) -> bool:
    if not isinstance(matcher, dict):
        return value is not _MISSING and matcher == value
    if "exists" in matcher:
        return bool(matcher["exists"]) == (value is not _MISSING)
    if value is _MISSING:
        return False
    if "prefix" in matcher:
        return isinstance(value, str) and value.startswith(matcher["prefix"])
    if "suffix" in matcher:
        return isinstance(value, str) and value.endswith(matcher["suffix"])
    if "equals-ignore-case" in matcher:
        return isinstance(value, str) and value.lower() == str(matcher["equals-ignore-case"]).lower()
    if "anything-but" in matcher:
        excluded = matcher["anything-but"]
        if isinstance(excluded, dict):
            return not _match_one(excluded, value)
        return value not in (excluded if isinstance(excluded, list) else [excluded])
    if "numeric" in matcher:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        terms = matcher["numeric"]
        return all(_NUMERIC[terms[i]](value, terms[i + 1]) for i in range(0, len(terms), 2))
    return False
