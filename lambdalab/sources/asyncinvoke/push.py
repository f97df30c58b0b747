"""What S3 notifications and SNS deliveries share: the data plane pushes their events, which go
into the async queue (twice when a duplicate delivery is armed); there is nothing to poll."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lambdalab.config import FunctionConfig
    from lambdalab.sources.asyncinvoke.queue import AsyncQueue
    from lambdalab.sources.base import SourceContext


class PushSource:
    """A source the data plane calls; a Poller only so the cloud closes it."""

    def __init__(self, context: SourceContext, queue: AsyncQueue):
        self._service = context.service
        self._clock = context.clock
        self._queue = queue
        self._listeners = context.dataplane.listeners
        self.delivered = 0

    def push(self, function: FunctionConfig, body: bytes, source: str, *names: str) -> None:
        """Queue one event for ``function``; twice when a duplicate delivery is armed for ``names``."""
        copies = 2 if self._service.faults.take_source_fault("duplicate", *names) else 1
        for _ in range(copies):
            self._queue.enqueue(function, body, self._service.request_ids.next(), source)
            self.delivered += 1

    def poll(self) -> bool:
        return False
