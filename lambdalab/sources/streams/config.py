"""Stream event-source mappings (Kinesis, DynamoDB Streams) as frozen dataclasses named after AWS's
parameters, with CreateEventSourceMapping's defaults, ranges and wording [ESM-API],[KIN-P],[KT].

BatchSize 100 (1-10,000), a batching window of 0-300 s, MaximumRetryAttempts -1 (infinite) or
0-10,000, MaximumRecordAgeInSeconds -1 (infinite) or 60-604,800, ParallelizationFactor 1-10,
TumblingWindowInSeconds 0-900, StartingPosition TRIM_HORIZON / LATEST (and AT_TIMESTAMP for
Kinesis), on-failure destinations on SQS or SNS. Anything the engine does not emulate is refused
with a ConfigurationError naming the mapping and the property.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lambdalab.errors import ConfigurationError
from lambdalab.sources.mapping_config import (
    MAX_BATCHING_WINDOW_S,
    REPORT_BATCH_ITEM_FAILURES,
    Refusals,
    boolean,
    filter_criteria,
    filters,
    int_in_range,
    response_types,
    unknown_properties,
    validation_error,
)

KINESIS, DYNAMODB = "kinesis", "dynamodb"
TRIM_HORIZON, LATEST, AT_TIMESTAMP = "TRIM_HORIZON", "LATEST", "AT_TIMESTAMP"
STARTING_POSITIONS = {KINESIS: (TRIM_HORIZON, LATEST, AT_TIMESTAMP), DYNAMODB: (TRIM_HORIZON, LATEST)}
DEFAULT_BATCH_SIZE = 100
MAX_BATCH_SIZE = 10_000
MAX_RETRY_ATTEMPTS = 10_000
MIN_RECORD_AGE_S, MAX_RECORD_AGE_S = 60, 604_800
MAX_PARALLELIZATION_FACTOR = 10
MAX_TUMBLING_WINDOW_S = 900
INFINITE = -1
SUPPORTED_PROPERTIES = frozenset({
    "FunctionName", "EventSourceArn", "StartingPosition", "StartingPositionTimestamp", "BatchSize",
    "MaximumBatchingWindowInSeconds", "Enabled", "FilterCriteria", "TumblingWindowInSeconds",
    "MaximumRetryAttempts", "MaximumRecordAgeInSeconds", "BisectBatchOnFunctionError", "FunctionResponseTypes",
    "ParallelizationFactor", "DestinationConfig",
})
# What UpdateEventSourceMapping may change on a running stream mapping (StartingPosition never can).
UPDATABLE = frozenset({
    "Enabled", "BatchSize", "MaximumBatchingWindowInSeconds", "MaximumRetryAttempts", "MaximumRecordAgeInSeconds",
    "BisectBatchOnFunctionError", "FunctionResponseTypes", "DestinationConfig", "ParallelizationFactor",
})


@dataclass(frozen=True)
class StreamEventSourceConfig:
    """One Kinesis or DynamoDB Streams mapping (AWS::Lambda::EventSourceMapping, or a SAM
    ``Kinesis`` / ``DynamoDB`` event)."""

    logical_id: str
    FunctionName: str
    EventSourceArn: str
    kind: str  # "kinesis" | "dynamodb"
    stream_logical_id: str
    StartingPosition: str
    StartingPositionTimestamp: float | None = None
    BatchSize: int = DEFAULT_BATCH_SIZE
    MaximumBatchingWindowInSeconds: int = 0
    Enabled: bool = True
    FilterCriteria: tuple[dict[str, Any], ...] = ()
    TumblingWindowInSeconds: int = 0
    MaximumRetryAttempts: int = INFINITE
    MaximumRecordAgeInSeconds: int = INFINITE
    BisectBatchOnFunctionError: bool = False
    FunctionResponseTypes: tuple[str, ...] = ()
    ParallelizationFactor: int = 1
    OnFailure: str | None = None  # DestinationConfig.OnFailure.Destination (an SQS queue or SNS topic ARN)

    @property
    def report_batch_item_failures(self) -> bool:
        return REPORT_BATCH_ITEM_FAILURES in self.FunctionResponseTypes

    @property
    def event_source(self) -> str:
        return f"aws:{self.kind}"

    def properties(self) -> dict[str, Any]:
        """The mapping as template properties again (what UpdateEventSourceMapping starts from)."""
        props: dict[str, Any] = {
            "EventSourceArn": self.EventSourceArn, "StartingPosition": self.StartingPosition,
            "BatchSize": self.BatchSize, "MaximumBatchingWindowInSeconds": self.MaximumBatchingWindowInSeconds,
            "Enabled": self.Enabled, "TumblingWindowInSeconds": self.TumblingWindowInSeconds,
            "MaximumRetryAttempts": self.MaximumRetryAttempts,
            "MaximumRecordAgeInSeconds": self.MaximumRecordAgeInSeconds,
            "BisectBatchOnFunctionError": self.BisectBatchOnFunctionError,
            "FunctionResponseTypes": list(self.FunctionResponseTypes),
            "ParallelizationFactor": self.ParallelizationFactor,
        }
        if self.StartingPositionTimestamp is not None:
            props["StartingPositionTimestamp"] = self.StartingPositionTimestamp
        if self.FilterCriteria:
            props["FilterCriteria"] = filter_criteria(self.FilterCriteria)
        if self.OnFailure:
            props["DestinationConfig"] = {"OnFailure": {"Destination": self.OnFailure}}
        return props


def stream_kind(props: dict[str, Any]) -> str | None:
    """"kinesis" or "dynamodb" for a stream mapping; None for anything else (SQS belongs elsewhere)."""
    arn = str(props.get("EventSourceArn", ""))
    if arn.startswith("arn:aws:kinesis:"):
        return KINESIS
    if arn.startswith("arn:aws:dynamodb:") and "/stream/" in arn:
        return DYNAMODB
    return None


def _on_failure(lid: str, config: Any) -> str | None:
    if not config:
        return None
    if not isinstance(config, dict) or set(config) - {"OnFailure"}:
        raise ConfigurationError("only DestinationConfig.OnFailure applies to a stream event source",
                                 lid, "DestinationConfig")
    destination = (config.get("OnFailure") or {}).get("Destination")
    if not destination:
        return None
    arn = str(destination)
    if arn.startswith("arn:aws:sqs:"):
        if arn.endswith(".fifo"):
            raise ConfigurationError("FIFO queues are not supported as on-failure destinations", lid,
                                     "DestinationConfig.OnFailure.Destination")
        return arn
    if arn.startswith("arn:aws:sns:"):
        return arn
    if arn.startswith(("arn:aws:s3:", "arn:aws:kafka:")):
        raise ConfigurationError("S3 and Kafka on-failure destinations are not supported locally (SQS and SNS are)",
                                 lid, "DestinationConfig.OnFailure.Destination")
    raise ConfigurationError(f"the destination ARN {arn} is not an SQS queue or an SNS topic", lid,
                             "DestinationConfig.OnFailure.Destination")


def _timestamp(lid: str, value: Any) -> float:
    """``StartingPositionTimestamp``: seconds since the epoch."""
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ConfigurationError(f"must be a time in seconds since the epoch, got {value!r}", lid,
                                 "StartingPositionTimestamp") from None


def parse_mapping(lid: str, props: dict[str, Any], *, kind: str, stream_logical_id: str,
                  function_name: str) -> StreamEventSourceConfig:
    """Check one mapping's properties as CreateEventSourceMapping does for a stream source; the
    first refusal is raised."""
    refusals = Refusals()
    settings = _checked(lid, props, kind, refusals)
    refusals.first()
    return StreamEventSourceConfig(
        logical_id=lid, FunctionName=function_name, EventSourceArn=str(props["EventSourceArn"]), kind=kind,
        stream_logical_id=stream_logical_id, **settings,
    )


def mapping_refusals(lid: str, props: dict[str, Any], *, kind: str) -> list[ConfigurationError]:
    """Every refusal of one mapping from its properties alone (no data plane): what ``parse_mapping``
    would raise, all of it."""
    refusals = Refusals()
    _checked(lid, props, kind, refusals)
    return refusals.found


def _checked(lid: str, props: dict[str, Any], kind: str, refusals: Refusals) -> dict[str, Any]:
    """The mapping's settings by parameter name, each refusal added to ``refusals`` in the order
    CreateEventSourceMapping checks them (a refused setting takes its default)."""
    refusals.found += unknown_properties(lid, props, SUPPORTED_PROPERTIES, "a stream event source")
    position = props.get("StartingPosition")
    allowed = STARTING_POSITIONS[kind]
    if position is None:
        refusals.add(ConfigurationError("StartingPosition is required for Kinesis and DynamoDB Streams event "
                                        "sources", lid, "StartingPosition"))
    elif position not in allowed:
        refusals.add(validation_error(lid, "StartingPosition", position,
                                      f"Member must satisfy enum value set: [{', '.join(allowed)}]"))
    timestamp = props.get("StartingPositionTimestamp")
    if position is not None and (position == AT_TIMESTAMP) != (timestamp is not None):
        refusals.add(ConfigurationError("StartingPositionTimestamp goes with StartingPosition AT_TIMESTAMP, and "
                                        "only then", lid, "StartingPositionTimestamp"))
    retries = refusals.check(lambda: int_in_range(lid, "MaximumRetryAttempts",
                                                  props.get("MaximumRetryAttempts", INFINITE), INFINITE,
                                                  MAX_RETRY_ATTEMPTS), INFINITE)
    age = refusals.check(lambda: int_in_range(lid, "MaximumRecordAgeInSeconds",
                                              props.get("MaximumRecordAgeInSeconds", INFINITE), INFINITE,
                                              MAX_RECORD_AGE_S), INFINITE)
    if age != INFINITE and age < MIN_RECORD_AGE_S:
        refusals.add(ConfigurationError(
            f"MaximumRecordAgeInSeconds must be either -1 (forever) or between {MIN_RECORD_AGE_S} and "
            f"{MAX_RECORD_AGE_S} (inclusive)", lid, "MaximumRecordAgeInSeconds"))
    tumbling = refusals.check(lambda: int_in_range(lid, "TumblingWindowInSeconds",
                                                   props.get("TumblingWindowInSeconds", 0), 0,
                                                   MAX_TUMBLING_WINDOW_S), 0)
    if tumbling:
        refusals.add(ConfigurationError("tumbling windows are not supported locally", lid,
                                        "TumblingWindowInSeconds"))
    types = refusals.check(lambda: response_types(lid, props), ())
    return {
        "StartingPosition": str(position),
        "StartingPositionTimestamp": refusals.check(lambda: _timestamp(lid, timestamp), None)
        if timestamp is not None and position == AT_TIMESTAMP else None,
        "BatchSize": refusals.check(lambda: int_in_range(lid, "BatchSize", props.get("BatchSize", DEFAULT_BATCH_SIZE),
                                                         1, MAX_BATCH_SIZE), DEFAULT_BATCH_SIZE),
        "MaximumBatchingWindowInSeconds": refusals.check(
            lambda: int_in_range(lid, "MaximumBatchingWindowInSeconds", props.get("MaximumBatchingWindowInSeconds", 0),
                                 0, MAX_BATCHING_WINDOW_S), 0),
        "Enabled": refusals.check(lambda: boolean(lid, "Enabled", props.get("Enabled", True)), True),
        "FilterCriteria": refusals.check(lambda: filters(lid, props.get("FilterCriteria")), ()),
        "TumblingWindowInSeconds": tumbling,
        "MaximumRetryAttempts": retries,
        "MaximumRecordAgeInSeconds": age,
        "BisectBatchOnFunctionError": refusals.check(
            lambda: boolean(lid, "BisectBatchOnFunctionError", props.get("BisectBatchOnFunctionError", False)), False),
        "FunctionResponseTypes": types,
        "ParallelizationFactor": refusals.check(
            lambda: int_in_range(lid, "ParallelizationFactor", props.get("ParallelizationFactor", 1), 1,
                                 MAX_PARALLELIZATION_FACTOR), 1),
        "OnFailure": refusals.check(lambda: _on_failure(lid, props.get("DestinationConfig")), None),
    }
