"""How an invocation attempt ended."""

from __future__ import annotations

from lambdalab.strenum import StrEnum


class Outcome(StrEnum):
    """How an attempt ended, in the words of Lambda's metrics (Invocations, Errors, Throttles)."""

    SUCCESS = "Success"
    ERROR = "Error"
    THROTTLED = "Throttled"
