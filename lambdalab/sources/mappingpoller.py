"""What every event-source-mapping poller (SQS, Kinesis, DynamoDB Streams) has in common: its
identity as the Lambda API shows it, the invoker its batches go through, and its counters."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Generic, TypeVar

from lambdalab.sources.batchsender import BatchSender

if TYPE_CHECKING:
    from lambdalab.config import FunctionConfig
    from lambdalab.sources.base import SourceContext

Stats = TypeVar("Stats")


class MappingPoller(Generic[Stats]):
    """One mapping's poller. ``stats_type`` makes the counters a subclass keeps."""

    stats_type: type[Stats]

    def __init__(self, context: SourceContext, config: Any, function: FunctionConfig, uuid: str, source: str):
        self.config = config
        self.function = function
        self.uuid = uuid
        self.source = source
        self.last_modified = context.clock.now()
        self.stats: Stats = self.stats_type()
        self._clock = context.clock
        self._dataplane = context.dataplane
        self._service = context.service
        self._sender = BatchSender(context.service, "RequestResponse", f"poll-{function.FunctionName}")
        self._closed = False

    def close(self) -> None:
        """No more invocations after this returns."""
        self._closed = True
        self._sender.close()

    def reset_stats(self) -> None:
        """Start counting afresh (a notebook's next experiment), leaving the mapping as it is."""
        self.stats = self.stats_type()
