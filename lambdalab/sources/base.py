"""Event sources the engine drives: the async queue, stream and queue pollers.

Each source is a ``Poller``: ``poll()`` does the work that is due *now* (read a shard, receive a
batch, dispatch queued events), may run several invocations concurrently, waits for them, and says
whether it did anything. Anything that must happen later (a retry, a visibility timeout, a batching
window) is scheduled on the clock, never waited for. The virtual clock polls between its tasks, so
sources see time exactly as it jumps; the real clock polls from a background thread.

A source module sees only a ``SourceContext``, never the cloud: its ``attach(context)`` registers
what the Lambda service must reach (mappings, the async queue) with the service, and returns its
pollers for ``Sources`` to poll and close. Its ``refusals(model)`` finds what ``attach`` would
refuse from a dry deployment's model alone (no data plane), so that ``LocalCloud.start`` reports
them with the template's other refusals before anything starts; ``attach`` still refuses what only
the data plane can tell (an ARN written out that names no resource of the template).
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from lambdalab.config import ACCOUNT_ID, REGION
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


# A mapping's source: resource type -> (kind, the attribute its EventSourceArn is)
SOURCE_TYPES = {"AWS::SQS::Queue": ("sqs", "Arn"), "AWS::Kinesis::Stream": ("kinesis", "Arn"),
                "AWS::DynamoDB::Table": ("dynamodb", "StreamArn")}
# The service in the ARN of each resource type a setting may name (a destination, a dead-letter queue).
ARN_SERVICES = {"AWS::SQS::Queue": "sqs", "AWS::SNS::Topic": "sns", "AWS::S3::Bucket": "s3",
                "AWS::Kinesis::Stream": "kinesis", "AWS::DynamoDB::Table": "dynamodb",
                "AWS::Events::EventBus": "events", "AWS::Lambda::Function": "lambda"}
FUNCTION_TYPES = frozenset({"AWS::Lambda::Function", "AWS::Lambda::Version", "AWS::Lambda::Alias"})
UNSERVED = "event source not supported locally (SQS queues, Kinesis streams and DynamoDB streams of the template are)"


def placeholder(value: Any) -> tuple[str, str] | None:
    """(logical id, attribute) that a dry deployment's placeholder ``value`` stands for, else None."""
    from lambdalab.template.model import Placeholder  # lazy: the template model imports this module lazily

    return Placeholder.parsed(value)


def resource_properties(model: CloudModel, lid: str) -> dict[str, Any]:
    """``lid``'s properties, resolved; empty when they cannot be (the dry deployment refused them)."""
    try:
        props = model.resolver().resolve(model.resources[lid].get("Properties") or {}, (lid, "Properties"))
    except (ConfigurationError, KeyError):
        return {}
    return props if isinstance(props, dict) else {}


def stand_in(model: CloudModel, value: Any) -> Any:
    """A dry deployment's placeholder for a resource's ARN as an ARN of that resource's service,
    named after its logical id (``arn:aws:sqs:us-east-1:123456789012:Jobs``, ``.fifo`` at the end of
    a FIFO queue's or topic's), so that a check reading the service from an ARN sees what the deployed
    one will show; any other value as it is."""
    held = placeholder(value)
    kind = str(model.resources.get(held[0], {}).get("Type")) if held else ""
    if held is None or kind not in ARN_SERVICES:
        return value
    if kind == "AWS::S3::Bucket":
        return f"arn:aws:s3:::{held[0]}"
    fifo = str(resource_properties(model, held[0]).get({"AWS::SQS::Queue": "FifoQueue",
                                                        "AWS::SNS::Topic": "FifoTopic"}.get(kind, ""))).lower()
    return f"arn:aws:{ARN_SERVICES[kind]}:{REGION}:{ACCOUNT_ID}:{held[0]}{'.fifo' if fifo == 'true' else ''}"


def template_function(model: CloudModel, name: str) -> FunctionConfig | None:
    """The model's function by name, logical id or ARN (unqualified or ``$LATEST``), as
    ``LambdaService.function`` finds it; None when the template has none."""
    key, qualifier = name, ""
    if key.startswith("arn:"):
        parts = key.split(":")
        key = parts[6] if len(parts) > 6 else key
        qualifier = parts[7] if len(parts) > 7 else ""
    if qualifier not in ("", "$LATEST"):
        return None
    return next((f for f in model.functions.values() if key in (f.FunctionName, f.logical_id)), None)


def function_refusals(model: CloudModel, lid: str, prop: str, name: Any) -> tuple[FunctionConfig | None,
                                                                                     list[ConfigurationError]]:
    """The function ``lid``'s ``prop`` names, or its refusal: none when it names a function, a
    version or an alias the dry deployment refused (that refusal says why)."""
    held = placeholder(name)
    if held is not None and model.resources.get(held[0], {}).get("Type") in FUNCTION_TYPES:
        return None, []
    function = template_function(model, str(name or ""))
    if function is None:
        return None, [ConfigurationError(f"{prop} is not a function of the template", lid, prop)]
    return function, []


def mapping_source(model: CloudModel, props: dict[str, Any]) -> tuple[str | None, str | None]:
    """(kind, logical id) of a mapping's EventSourceArn: kind ``sqs``, ``kinesis`` or ``dynamodb``
    (None for any other source); the logical id of the template's resource, None when a dry
    deployment cannot tell (an ARN written out: only the data plane knows)."""
    arn = props.get("EventSourceArn")
    held = placeholder(arn)
    if held is not None:
        kind, attribute = SOURCE_TYPES.get(str(model.resources.get(held[0], {}).get("Type")), (None, None))
        return (kind if held[1] == attribute else None), held[0]
    from lambdalab.sources.sqs.config import is_sqs_mapping  # lazy: the source modules import this one
    from lambdalab.sources.streams.config import stream_kind

    kind = "sqs" if is_sqs_mapping(props) else stream_kind(props)
    for source_type, (source_kind, attribute) in SOURCE_TYPES.items():
        if source_kind == kind:
            return kind, model.logical_id_of(source_type, attribute, str(arn))
    return None, None


def template_refusals(model: CloudModel) -> list[ConfigurationError]:
    """Every refusal of the template's event sources, from a dry deployment's ``model``: what each
    source module's ``attach`` would raise, and mappings no source module serves (refused, never
    ignored)."""
    found: list[ConfigurationError] = []
    for name in SOURCE_MODULES:
        found += importlib.import_module(name).refusals(model)
    for lid, props in sorted(model.event_source_mappings.items()):
        kind, source = mapping_source(model, props)
        if kind is None:
            prop = next((p for p in ("EventSourceArn", "SelfManagedEventSource") if p in props), None)
            why = f"{source} is not an SQS queue, a Kinesis stream or a DynamoDB stream" if source else UNSERVED
            found.append(ConfigurationError(why, lid, prop))
    return found


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
    "lambdalab.sources.sqs", "lambdalab.sources.asyncinvoke", "lambdalab.sources.streams",
    "lambdalab.sources.schedules", "lambdalab.sources.statemachines")


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
