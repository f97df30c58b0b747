"""What event sources register with the Lambda service, so the service and its API can reach them
without knowing any source: the mappings GetEventSourceMapping shows, the queue Event invokes go
to, and the function event-invoke configurations that queue applies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from lambdalab.config import FunctionConfig


class EventSourceMapping(Protocol):
    """An event-source mapping the Lambda API can show and change (Get/List/UpdateEventSourceMapping)."""

    uuid: str

    def describe(self) -> dict[str, Any]:
        """GetEventSourceMapping's answer for this mapping."""

    def update(self, **changes: Any) -> dict[str, Any]:
        """Apply UpdateEventSourceMapping's parameters (AWS names); answer as ``describe``."""


class EventQueue(Protocol):
    """Where ``InvocationType=Event`` puts an event: retries, DLQ and destinations live there."""

    def enqueue(self, fn: FunctionConfig, body: bytes, request_id: str, source: str) -> None:
        """Accept an event (Invoke answers 202)."""


class EventInvokeConfigs(Protocol):
    """Put/Update/Get/Delete/ListFunctionEventInvokeConfig(s) of one function ($LATEST), answered in
    the Lambda API's shape."""

    def get(self, fn: FunctionConfig) -> dict[str, Any]: ...

    def put(self, fn: FunctionConfig, body: dict[str, Any], *, patch: bool) -> dict[str, Any]:
        """Put (replace) or, with ``patch``, Update."""

    def delete(self, fn: FunctionConfig) -> None: ...

    def list(self, fn: FunctionConfig) -> dict[str, Any]: ...
