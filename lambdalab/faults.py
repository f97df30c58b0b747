"""Scripted faults: make the next N attempts of a function throttle or fail, on purpose.

AWS throttles under load and handlers fail in ways a lesson cannot wait for; these make both
happen on cue, and the journal records them like the real thing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lambdalab.errors import ACCOUNT_LIMIT, RESERVED_LIMIT

if TYPE_CHECKING:
    from lambdalab.service import LambdaService

THROTTLE_REASONS = (ACCOUNT_LIMIT, RESERVED_LIMIT)


class Faults:
    def __init__(self, service: LambdaService):
        self._service = service

    def throttle(self, function: str, times: int = 1, reason: str = ACCOUNT_LIMIT) -> None:
        """The next ``times`` attempts get TooManyRequestsException with ``reason``."""
        if reason not in THROTTLE_REASONS:
            raise ValueError(f"reason must be one of {THROTTLE_REASONS}")
        self._service.force(function, [("throttle", reason)] * times)

    def fail(self, function: str, times: int = 1, message: str = "injected failure") -> None:
        """The next ``times`` attempts fail as if the handler raised ``Exception(message)``."""
        self._service.force(function, [("error", message)] * times)

    def clear(self, function: str | None = None) -> None:
        self._service.clear_forced(function)
