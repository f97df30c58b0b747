"""Event sources the engine drives: the async queue, stream and queue pollers.

Each source is a ``Poller``: ``poll()`` does the work that is due *now* (read a shard, receive a
batch, dispatch queued events), may run several invocations concurrently, waits for them, and says
whether it did anything. Anything that must happen later (a retry, a visibility timeout, a batching
window) is scheduled on the clock, never waited for. The virtual clock polls between its tasks, so
sources see time exactly as it jumps; the real clock polls from a background thread.

A source module sees only a ``SourceContext``, never the cloud: its ``attach(context)`` registers
what the Lambda service must reach (mappings, the async queue) with the service, and returns its
pollers for ``Sources`` to poll and close.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from lambdalab.errors import ConfigurationError, NotSupportedLocally, ResourceNotFoundException
from lambdalab.observe.metrics import LambdaMetrics

if TYPE_CHECKING:
    from lambdalab.clock import Clock
    from lambdalab.config import FunctionConfig
    from lambdalab.dataplane.server import DataPlane
    from lambdalab.service.invoke import LambdaService
    from lambdalab.template.model import CloudModel


class Poller(Protocol):
    def poll(self) -> bool:
        """Do what is due now; True if anything happened (the clock then polls again)."""

    def close(self) -> None:
        """Stop: no more invocations after this returns."""


@dataclass(frozen=True)
class SourceContext:
    """What an event source may use: the engine's clock, the Lambda service it invokes and registers
    with, the data plane it reads and writes, the template's model (deployed), and the Lambda metrics
    it reports to (record ages, async events)."""

    clock: Clock
    service: LambdaService
    dataplane: DataPlane
    model: CloudModel
    metrics: LambdaMetrics = field(default_factory=lambda: LambdaMetrics(_no_publish))


def _no_publish(datums: list[dict[str, Any]], wait: bool) -> bool:
    """Where the metrics of sources attached without a cloud go: nowhere."""
    return True


def mapping_parts(context: SourceContext, lid: str, props: dict[str, Any], source_type: str,
                  source_attribute: str, kind: str) -> tuple[str, FunctionConfig, str]:
    """An event-source mapping's source (the logical id of the ``source_type`` resource whose
    ``source_attribute`` is its EventSourceArn), function and UUID, refused as Lambda refuses them."""
    arn = str(props["EventSourceArn"])
    source = context.model.logical_id_of(source_type, source_attribute, arn)
    if source is None:
        raise ConfigurationError(f"EventSourceArn {arn} is not a {kind} of the template", lid, "EventSourceArn")
    try:
        function = context.service.function(str(props.get("FunctionName", "")))
    except ResourceNotFoundException:
        raise ConfigurationError("FunctionName is not a function of the template", lid, "FunctionName") from None
    return source, function, str(context.model.attrs.get(lid, {}).get("Id", lid))


class _Mapping(Protocol):
    uuid: str
    function: FunctionConfig


M = TypeVar("M", bound=_Mapping)


def find_mapping(mappings: dict[str, M], name: str, kind: str, source_of: Callable[[M], str]) -> M:
    """One of ``mappings`` (by logical id) by its logical id or UUID, or by the logical id or name of
    its function or source (``source_of``), when only one matches."""
    if name in mappings:
        return mappings[name]
    matches = [m for m in mappings.values()
               if name in (m.uuid, m.function.logical_id, m.function.FunctionName, source_of(m))]
    if len(matches) != 1:
        raise ConfigurationError(f"{len(matches)} {kind} event-source mappings match {name!r}; "
                                 f"the template has {sorted(mappings)}")
    return matches[0]


def update_changes(changes: dict[str, Any], *, service: LambdaService, function: FunctionConfig,
                   updatable: frozenset[str], source: str) -> dict[str, Any]:
    """UpdateEventSourceMapping's parameters that change something, or NotSupportedLocally for one
    the engine cannot change (moving the mapping to another function, a setting outside
    ``updatable``). ``UUID`` and the mapping's own FunctionName are dropped."""
    changes = {k: v for k, v in changes.items() if k not in ("UUID", "FunctionName") or
               (k == "FunctionName" and service.function(str(v)) is not function)}
    if "FunctionName" in changes:
        raise NotSupportedLocally("moving a mapping to another function is not supported locally")
    refused = sorted(set(changes) - updatable)
    if refused:
        raise NotSupportedLocally(f"UpdateEventSourceMapping of {refused[0]} is not supported locally "
                                  f"for a {source} (supported: {', '.join(sorted(updatable))})")
    return changes


# One module per invocation model; each has ``attach(context)`` that returns its pollers (none if
# the template gives it nothing to do). Order is the polling order, which keeps runs repeatable.
# Imported by name: the modules import this one.
SOURCE_MODULES: tuple[str, ...] = (
    "lambdalab.sources.sqs", "lambdalab.sources.asyncinvoke", "lambdalab.sources.streams")


class Sources:
    """The pollers of every source module, polled in order and closed in reverse."""

    def __init__(self) -> None:
        self._pollers: list[Poller] = []
        self._lock = threading.RLock()  # one poll round at a time

    def add(self, pollers: Sequence[Poller]) -> None:
        with self._lock:
            self._pollers.extend(pollers)

    def attach_all(self, context: SourceContext) -> None:
        for name in SOURCE_MODULES:
            self.add(importlib.import_module(name).attach(context))

    def poll(self) -> bool:
        with self._lock:
            worked = False
            for poller in self._pollers:
                worked = poller.poll() or worked
            return worked

    def close(self) -> None:
        with self._lock:
            pollers, self._pollers = self._pollers, []
        for poller in reversed(pollers):
            poller.close()
