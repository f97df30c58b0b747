"""Integer settings within AWS's documented ranges: one check, worded by each caller.

Lambda's API answers a value out of range in its request-validation wording (``1 validation error
detected: Value '0' at 'batchSize' failed to satisfy constraint: Member must have value greater
than or equal to 1``); template checks word it their own way. ``integer`` does the check; a problem
carries both wordings (``str(problem)`` plain, ``problem.constraint`` AWS's) and the caller's
``refuse`` turns it into the error its API raises. A boolean is never an integer here: AWS's
Integer parameters refuse ``true``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class NotAnInteger(ValueError):
    """The value is not an integer (nor, where text is allowed, the text of one)."""

    constraint = "Member must be an integer"

    def __init__(self, value: Any):
        super().__init__(f"must be an integer, got {value!r}")
        self.value = value


class OutOfRange(ValueError):
    """An integer outside ``low``-``high``; ``constraint`` is AWS's wording of the bound it broke."""

    def __init__(self, value: int, low: int, high: int):
        super().__init__(f"must be between {low} and {high}, got {value}")
        self.value = value
        self.constraint = (f"Member must have value greater than or equal to {low}" if value < low
                           else f"Member must have value less than or equal to {high}")


Problem = NotAnInteger | OutOfRange


def integer(value: Any, low: int, high: int, *, text: bool = True,
            refuse: Callable[[Problem], Exception] | None = None) -> int:
    """``value`` as an int within ``low``-``high`` (inclusive), else ``refuse(problem)`` is raised
    (the problem itself without ``refuse``). ``text``: a number's text counts too (templates); the
    Lambda API's JSON takes numbers only."""
    try:
        return _checked(value, low, high, text)
    except (NotAnInteger, OutOfRange) as problem:
        if refuse is None:
            raise
        raise refuse(problem) from None


def _checked(value: Any, low: int, high: int, text: bool) -> int:
    if isinstance(value, bool) or not (isinstance(value, int) or (text and isinstance(value, (str, float)))):
        raise NotAnInteger(value)
    try:
        number = int(value)
    except ValueError:
        raise NotAnInteger(value) from None
    if not low <= number <= high:
        raise OutOfRange(number, low, high)
    return number


def validation_message(member: str, value: Any, constraint: str) -> str:
    """AWS's request-validation wording for one parameter (``member`` as the API spells it)."""
    return f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: {constraint}"
