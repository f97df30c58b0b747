"""SQS event-source mappings as frozen dataclasses named after AWS's parameters, with AWS's checks.

Defaults and ranges are CreateEventSourceMapping's for an SQS source [ESM-API],[SQS-a]: BatchSize
10 (up to 10,000 on a standard queue with a batching window of at least 1 s, 10 on FIFO), a window
of 0-300 s (standard queues only), ScalingConfig.MaximumConcurrency 2-1,000 [API-SC]. Lambda
rejects a mapping whose queue hides a message for less time than the function may run [SQS-C];
below the recommended six times, the engine warns.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

from lambdalab.errors import ConfigurationError
from lambdalab.sources.mapping_config import (
    MAX_BATCHING_WINDOW_S,
    REPORT_BATCH_ITEM_FAILURES,
    Refusals,
    boolean,
    filters,
    int_in_range,
    response_types,
    unknown_properties,
)

SQS_ARN_PREFIX = "arn:aws:sqs:"
DEFAULT_BATCH_SIZE = 10
MAX_BATCH_SIZE_STANDARD = 10_000
MAX_BATCH_SIZE_FIFO = 10
MAX_BATCH_SIZE_WITHOUT_WINDOW = 10
MIN_MAXIMUM_CONCURRENCY, MAX_MAXIMUM_CONCURRENCY = 2, 1000
RECOMMENDED_VISIBILITY_FACTOR = 6  # visibility timeout >= 6 x function timeout (+ window) [SQS-C]
# Properties of AWS::Lambda::EventSourceMapping the SQS poller honours; any other is refused.
SUPPORTED_PROPERTIES = frozenset({
    "FunctionName", "EventSourceArn", "BatchSize", "Enabled", "MaximumBatchingWindowInSeconds",
    "FilterCriteria", "FunctionResponseTypes", "ScalingConfig",
})


# What UpdateEventSourceMapping may change on an SQS mapping [ESM-API].
UPDATABLE = SUPPORTED_PROPERTIES - {"FunctionName", "EventSourceArn"}


class VisibilityTimeoutWarning(UserWarning):
    """The queue's visibility timeout is below six times the function timeout (plus the window)."""


class SharedQueueWarning(UserWarning):
    """Several mappings read one queue and one filters: the messages it drops are deleted [FILTER]."""


@dataclass(frozen=True)
class ScalingConfig:
    """``ScalingConfig``: the most concurrent invocations this mapping may run (None = up to 1,000)."""

    MaximumConcurrency: int | None = None


@dataclass(frozen=True)
class SqsEventSourceConfig:
    """One SQS event-source mapping (AWS::Lambda::EventSourceMapping or a SAM ``SQS`` event)."""

    logical_id: str
    FunctionName: str
    EventSourceArn: str
    queue_logical_id: str
    queue_url: str
    fifo: bool
    BatchSize: int = DEFAULT_BATCH_SIZE
    MaximumBatchingWindowInSeconds: int = 0
    Enabled: bool = True
    FilterCriteria: tuple[dict[str, Any], ...] = ()  # parsed patterns, one per filter
    FunctionResponseTypes: tuple[str, ...] = ()
    ScalingConfig: ScalingConfig = field(default_factory=ScalingConfig)

    @property
    def report_batch_item_failures(self) -> bool:
        return REPORT_BATCH_ITEM_FAILURES in self.FunctionResponseTypes

    @property
    def queue_name(self) -> str:
        return self.EventSourceArn.rsplit(":", 1)[-1]


def is_sqs_mapping(props: dict[str, Any]) -> bool:
    """True for mappings whose source is an SQS queue (streams belong to the stream pollers)."""
    return str(props.get("EventSourceArn", "")).startswith(SQS_ARN_PREFIX)


def parse_mapping(lid: str, props: dict[str, Any], *, queue_logical_id: str, queue_url: str, fifo: bool,
                  function_name: str) -> SqsEventSourceConfig:
    """Check one mapping's properties as CreateEventSourceMapping does for an SQS source; the first
    refusal is raised."""
    refusals = Refusals()
    settings = _checked(lid, props, fifo, refusals)
    refusals.first()
    return SqsEventSourceConfig(
        logical_id=lid, FunctionName=function_name, EventSourceArn=str(props["EventSourceArn"]),
        queue_logical_id=queue_logical_id, queue_url=queue_url, fifo=fifo, **settings,
    )


def mapping_refusals(lid: str, props: dict[str, Any], *, fifo: bool, visibility_timeout: int | None = None,
                     function_timeout: int | None = None) -> list[ConfigurationError]:
    """Every refusal of one mapping, from its properties and its queue's settings alone (no data
    plane): what ``parse_mapping`` and ``check_visibility`` would raise, all of it."""
    refusals = Refusals()
    _checked(lid, props, fifo, refusals)
    if visibility_timeout is not None and function_timeout is not None:
        refusals.found += visibility_refusals(lid, visibility_timeout, function_timeout)
    return refusals.found


def _checked(lid: str, props: dict[str, Any], fifo: bool, refusals: Refusals) -> dict[str, Any]:
    """The mapping's settings by parameter name, each refusal added to ``refusals`` in the order
    CreateEventSourceMapping checks them (a refused setting takes its default)."""
    refusals.found += unknown_properties(lid, props, SUPPORTED_PROPERTIES, "an SQS event source")
    window = refusals.check(lambda: int_in_range(lid, "MaximumBatchingWindowInSeconds",
                                                 props.get("MaximumBatchingWindowInSeconds", 0), 0,
                                                 MAX_BATCHING_WINDOW_S), None)
    if fifo and "MaximumBatchingWindowInSeconds" in props:
        refusals.add(ConfigurationError("Batching window is not supported for FIFO queues", lid,
                                        "MaximumBatchingWindowInSeconds"))
    batch_size = refusals.check(lambda: int_in_range(lid, "BatchSize", props.get("BatchSize", DEFAULT_BATCH_SIZE), 1,
                                                     MAX_BATCH_SIZE_STANDARD), None)
    if batch_size is not None and fifo and batch_size > MAX_BATCH_SIZE_FIFO:
        refusals.add(ConfigurationError(f"BatchSize must be at most {MAX_BATCH_SIZE_FIFO} for FIFO queues, "
                                        f"got {batch_size}", lid, "BatchSize"))
    elif batch_size is not None and batch_size > MAX_BATCH_SIZE_WITHOUT_WINDOW and window == 0:
        refusals.add(ConfigurationError(
            "Maximum batch window in seconds must be greater than 0 if maximum batch size is greater than 10",
            lid, "BatchSize"))
    types = refusals.check(lambda: response_types(lid, props), ())
    scaling = props.get("ScalingConfig") or {}
    maximum = None
    if set(scaling) - {"MaximumConcurrency"}:
        refusals.add(ConfigurationError("property not supported locally", lid,
                                        f"ScalingConfig.{sorted(set(scaling) - {'MaximumConcurrency'})[0]}"))
    elif scaling.get("MaximumConcurrency") is not None:
        maximum = refusals.check(lambda: int_in_range(lid, "ScalingConfig.MaximumConcurrency",
                                                      scaling["MaximumConcurrency"], MIN_MAXIMUM_CONCURRENCY,
                                                      MAX_MAXIMUM_CONCURRENCY), None)
    return {
        "BatchSize": batch_size or DEFAULT_BATCH_SIZE, "MaximumBatchingWindowInSeconds": window or 0,
        "Enabled": refusals.check(lambda: boolean(lid, "Enabled", props.get("Enabled", True)), True),
        "FilterCriteria": refusals.check(lambda: filters(lid, props.get("FilterCriteria")), ()),
        "FunctionResponseTypes": types, "ScalingConfig": ScalingConfig(maximum),
    }


def visibility_refusals(lid: str, visibility_timeout: int, function_timeout: int) -> list[ConfigurationError]:
    """Lambda's refusal of a mapping whose queue may show a message again while the function still
    runs [SQS-C]."""
    if visibility_timeout < function_timeout:
        return [ConfigurationError(
            f"Queue visibility timeout: {visibility_timeout} seconds is less than Function timeout: "
            f"{function_timeout} seconds", lid, "EventSourceArn")]
    return []


def check_visibility(config: SqsEventSourceConfig, visibility_timeout: int, function_timeout: int) -> None:
    """Refuse the mapping as Lambda does when the function may outlive the visibility timeout [SQS-C];
    warn below six times the function timeout plus the batching window [SQS-a]."""
    for refusal in visibility_refusals(config.logical_id, visibility_timeout, function_timeout):
        raise refusal
    recommended = RECOMMENDED_VISIBILITY_FACTOR * function_timeout + config.MaximumBatchingWindowInSeconds
    if visibility_timeout < recommended:
        warnings.warn(
            f"{config.logical_id}: queue {config.queue_name} has a visibility timeout of {visibility_timeout} s; "
            f"AWS recommends at least 6 x the function timeout ({function_timeout} s) plus the batching window "
            f"({config.MaximumBatchingWindowInSeconds} s) = {recommended} s, so that throttled and retried "
            f"batches do not reappear while still being processed.", VisibilityTimeoutWarning, stacklevel=2)


def check_shared_queue(configs: list[SqsEventSourceConfig]) -> None:
    """Warn when several mappings read one queue and at least one has FilterCriteria: each message
    goes to one of them, and a filtering mapping deletes what it does not match [FILTER], so the
    other mappings never see those messages."""
    filtering = [c for c in configs if c.FilterCriteria]
    if len(configs) < 2 or not filtering:
        return
    names = " and ".join(f"{c.logical_id} ({c.FunctionName})" for c in configs)
    filters = " and ".join(c.logical_id for c in filtering)
    warnings.warn(
        f"lambdalab: event-source mappings {names} read the same queue {configs[0].queue_name}, and "
        f"{filters} has FilterCriteria: Lambda deletes the messages a mapping's filter does not match, so "
        f"the other mapping never receives them; give each consumer its own queue (an SNS topic can fan "
        f"out to several).", SharedQueueWarning, stacklevel=2)
