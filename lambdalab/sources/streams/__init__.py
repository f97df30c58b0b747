"""Stream polling: Kinesis and DynamoDB Streams event-source mappings [KIN],[DDB],[KIN-ONF].

Split like LocalStack's event-source mappings: ``config`` (the mapping, AWS's parameters and
checks), ``records`` and ``processor`` (pure: the event, and checkpoint / retry / bisect / discard
with AWS's cause names), ``reader`` (GetRecords on every shard), ``poller`` (shards and
ParallelizationFactor slots on the engine's clock, invoking through the shared
``lambdalab.sources.batchsender``) and ``destinations`` (on-failure records). ``attach(context)``
makes one poller per stream mapping of the template and registers it with the Lambda service; SQS
mappings belong to ``lambdalab.sources.sqs``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lambdalab.dataplane import patches
from lambdalab.errors import ConfigurationError
from lambdalab.sources.base import (
    SOURCE_TYPES,
    SourceContext,
    function_refusals,
    mapping_parts,
    mapping_source,
    stand_in,
)
from lambdalab.sources.streams import destinations
from lambdalab.sources.streams.config import (
    DYNAMODB,
    KINESIS,
    StreamEventSourceConfig,
    mapping_refusals,
    parse_mapping,
    stream_kind,
)
from lambdalab.sources.streams.poller import MappingStats, StreamPoller

if TYPE_CHECKING:
    from lambdalab.template.model import CloudModel

# A stream kind -> (resource type, the attribute a mapping's EventSourceArn is), from the shared table.
STREAM_ATTRIBUTE = {kind: (resource_type, attribute) for resource_type, (kind, attribute) in SOURCE_TYPES.items()
                    if kind in (KINESIS, DYNAMODB)}


def refusals(model: CloudModel) -> list[ConfigurationError]:
    """What ``attach`` would refuse of each stream mapping, from a dry deployment's ``model``: its
    function and its properties (an on-failure destination of the template read as the ARN it will have)."""
    found: list[ConfigurationError] = []
    for lid, props in sorted(model.event_source_mappings.items()):
        kind, _ = mapping_source(model, props)
        if kind not in (KINESIS, DYNAMODB):
            continue
        found += function_refusals(model, lid, "FunctionName", props.get("FunctionName"))[1]
        found += mapping_refusals(lid, _destination_stand_in(model, props), kind=str(kind))
    return found


def _destination_stand_in(model: CloudModel, props: dict[str, Any]) -> dict[str, Any]:
    on_failure = (props.get("DestinationConfig") or {}).get("OnFailure") if isinstance(
        props.get("DestinationConfig"), dict) else None
    if not isinstance(on_failure, dict) or "Destination" not in on_failure:
        return props
    destination = {**on_failure, "Destination": stand_in(model, on_failure["Destination"])}
    return {**props, "DestinationConfig": {**props["DestinationConfig"], "OnFailure": destination}}


def attach(context: SourceContext) -> list[StreamPoller]:
    """One poller per mapping whose EventSourceArn is a Kinesis stream or a DynamoDB stream."""
    pollers = []
    for lid, props in sorted(context.model.event_source_mappings.items()):
        kind = stream_kind(props)
        if kind is None:
            continue
        patches.apply("streams")
        stream_lid, function, uuid = mapping_parts(context, lid, props, *STREAM_ATTRIBUTE[kind], "stream")
        config = parse_mapping(lid, props, kind=kind, stream_logical_id=stream_lid,
                               function_name=function.FunctionName)
        if config.OnFailure:
            destinations.check(context.dataplane, config.OnFailure, lid)
        name = context.model.lookup(stream_lid, "Ref") if kind == KINESIS else None
        poller = StreamPoller(context, config, function, name, uuid)
        context.service.add_event_source_mapping(uuid, poller)
        pollers.append(poller)
    return pollers


__all__ = ["MappingStats", "StreamEventSourceConfig", "StreamPoller", "attach", "refusals"]
