"""``StrEnum``: an enum whose members are strings and print exactly as their values.

The engine names outcomes, causes and reasons with AWS's own strings (``Throttled``,
``RetriesExhausted``, ``ReservedFunctionConcurrentInvocationLimitExceeded``); they reach journal
tables, counters, JSON records and log lines, which must read the same as plain strings.
``enum.StrEnum`` is Python 3.11+ and still shows ``<Outcome.SUCCESS: 'Success'>`` as its repr, so a
``Counter`` or a tuple of members would print differently: here ``str``, ``format`` and ``repr``
are all the value's.
"""

from __future__ import annotations

from enum import Enum


class StrEnum(str, Enum):
    """Members are ``str`` (equal to, and hashed as, their value) and print as their value."""

    def __str__(self) -> str:
        return str.__str__(self)

    def __format__(self, spec: str) -> str:
        return str.__format__(self, spec)

    def __repr__(self) -> str:
        return str.__repr__(self)
