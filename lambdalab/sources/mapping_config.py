"""What CreateEventSourceMapping checks the same way for every source: integers within their
ranges, booleans, FilterCriteria, FunctionResponseTypes, unknown properties [ESM-API],[FILTER].

Values out of range get AWS's request-validation wording (``1 validation error detected: Value '0'
at 'batchSize' failed to satisfy constraint: ...``), which the Lambda API answers as a
ValidationException; everything else is a ConfigurationError naming the mapping and the property.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from lambdalab.errors import ConfigurationError
from lambdalab.sources.filtering import unsupported_operator
from lambdalab.validation import OutOfRange, Problem, integer, validation_message

REPORT_BATCH_ITEM_FAILURES = "ReportBatchItemFailures"
MAX_BATCHING_WINDOW_S = 300
MAX_FILTERS = 5
T = TypeVar("T")


class Refusals:
    """The refusals of one mapping's checks, each kept instead of stopping at the first, so that a
    template's mappings are refused all at once; ``first`` raises as CreateEventSourceMapping
    answers (one error)."""

    def __init__(self) -> None:
        self.found: list[ConfigurationError] = []

    def check(self, check: Callable[[], T], default: Any) -> T:
        """``check()``, or ``default`` when it refuses (the refusal is kept)."""
        try:
            return check()
        except ConfigurationError as exc:
            self.found.append(exc)
            return default

    def add(self, refusal: ConfigurationError) -> None:
        self.found.append(refusal)

    def first(self) -> None:
        if self.found:
            raise self.found[0]


def validation_error(lid: str, prop: str, value: Any, constraint: str) -> ConfigurationError:
    """AWS's request-validation wording, the member spelt as the API does (``ScalingConfig.MaximumConcurrency``
    -> ``scalingConfig.maximumConcurrency``)."""
    member = ".".join(part[0].lower() + part[1:] for part in prop.split("."))
    return ConfigurationError(validation_message(member, value, constraint), lid, prop)


def int_in_range(lid: str, prop: str, value: Any, low: int, high: int) -> int:
    """An integer setting; out of range in AWS's request-validation wording."""

    def refuse(problem: Problem) -> ConfigurationError:
        if isinstance(problem, OutOfRange):
            return validation_error(lid, prop, problem.value, problem.constraint)
        return ConfigurationError(str(problem), lid, prop)

    return integer(value, low, high, refuse=refuse)


def boolean(lid: str, prop: str, value: Any) -> bool:
    """``true`` / ``false``, or their text as a template may give it."""
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if not isinstance(value, bool):
        raise ConfigurationError(f"must be true or false, got {value!r}", lid, prop)
    return value


def unknown_properties(lid: str, props: dict[str, Any], supported: Iterable[str],
                       source: str) -> list[ConfigurationError]:
    """A refusal for each property the engine does not emulate for this ``source``: refused, never ignored."""
    return [ConfigurationError(f"property not supported locally for {source}", lid, name)
            for name in sorted(set(props) - set(supported))]


def refuse_unknown(lid: str, props: dict[str, Any], supported: Iterable[str], source: str) -> None:
    """The first of ``unknown_properties``, raised."""
    unknown = unknown_properties(lid, props, supported, source)
    if unknown:
        raise unknown[0]


def filters(lid: str, criteria: Any) -> tuple[dict[str, Any], ...]:
    """``FilterCriteria: {Filters: [{Pattern: "<json>"}]}``; a pattern that is not JSON is rejected [FILTER]."""
    if not criteria:
        return ()
    if not isinstance(criteria, dict) or set(criteria) - {"Filters"}:
        raise ConfigurationError("must be {Filters: [{Pattern: ...}]}", lid, "FilterCriteria")
    items = criteria.get("Filters") or []
    if len(items) > MAX_FILTERS:
        raise ConfigurationError(f"at most {MAX_FILTERS} filters are allowed, got {len(items)}",
                                 lid, "FilterCriteria.Filters")
    patterns = []
    for number, item in enumerate(items):
        pattern = item.get("Pattern") if isinstance(item, dict) else None
        try:
            parsed = json.loads(pattern) if isinstance(pattern, str) else pattern
        except ValueError:
            parsed = None
        where = f"FilterCriteria.Filters[{number}].Pattern"
        if not isinstance(parsed, dict):
            raise ConfigurationError("Invalid filter pattern definition.", lid, where)
        operator = unsupported_operator(parsed)
        if operator:
            raise ConfigurationError(f"filter operator {operator!r} is not supported locally", lid, where)
        patterns.append(parsed)
    return tuple(patterns)


def filter_criteria(patterns: tuple[dict[str, Any], ...]) -> dict[str, Any]:
    """Parsed patterns as ``FilterCriteria`` again (what Get/UpdateEventSourceMapping show)."""
    return {"Filters": [{"Pattern": json.dumps(p)} for p in patterns]}


def response_types(lid: str, props: dict[str, Any]) -> tuple[str, ...]:
    """``FunctionResponseTypes``: only ``ReportBatchItemFailures`` exists."""
    types = tuple(str(t) for t in props.get("FunctionResponseTypes") or ())
    for value in types:
        if value != REPORT_BATCH_ITEM_FAILURES:
            raise validation_error(lid, "FunctionResponseTypes", value,
                                   f"Member must satisfy enum value set: [{REPORT_BATCH_ITEM_FAILURES}]")
    return types
