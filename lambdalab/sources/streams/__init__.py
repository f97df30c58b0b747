"""Stream polling: Kinesis and DynamoDB Streams event-source mappings [KIN],[DDB],[KIN-ONF].

Split like LocalStack's event-source mappings: ``config`` (the mapping, AWS's parameters and
checks), ``records`` and ``processor`` (pure: the event, and checkpoint / retry / bisect / discard
with AWS's cause names), ``reader`` (GetRecords on every shard), ``poller`` (shards and
ParallelizationFactor slots on the engine's clock, invoking through the shared
``lambdalab.sources.batchsender``) and ``destinations`` (on-failure records). ``attach(cloud)`` adds one
poller per stream mapping of the template; SQS mappings belong to ``lambdalab.sources.sqs``.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

from lambdalab.dataplane import moto_patches
from lambdalab.errors import ConfigurationError, ResourceNotFoundException
from lambdalab.sources.streams import destinations
from lambdalab.sources.streams.config import KINESIS, StreamEventSourceConfig, parse_mapping, stream_kind
from lambdalab.sources.streams.poller import MappingStats, StreamPoller

if TYPE_CHECKING:
    from lambdalab.cloud import LocalCloud

STREAM_ATTRIBUTE = {"kinesis": ("AWS::Kinesis::Stream", "Arn"), "dynamodb": ("AWS::DynamoDB::Table", "StreamArn")}
_pollers: weakref.WeakKeyDictionary[LocalCloud, dict[str, StreamPoller]] = weakref.WeakKeyDictionary()


def attach(cloud: LocalCloud) -> None:
    """One poller per mapping whose EventSourceArn is a Kinesis stream or a DynamoDB stream."""
    found: dict[str, StreamPoller] = {}
    for lid, props in sorted(cloud.model.event_source_mappings.items()):
        kind = stream_kind(props)
        if kind is None:
            continue
        moto_patches.apply_streams()
        stream_lid = _stream_of(cloud, lid, kind, str(props["EventSourceArn"]))
        try:
            function = cloud.service.function(str(props.get("FunctionName", "")))
        except ResourceNotFoundException:
            raise ConfigurationError("FunctionName is not a function of the template", lid, "FunctionName") from None
        config = parse_mapping(lid, props, kind=kind, stream_logical_id=stream_lid,
                               function_name=function.FunctionName)
        if config.OnFailure:
            destinations.check(cloud.dataplane, config.OnFailure, lid)
        name = cloud.resource(stream_lid) if kind == KINESIS else None
        uuid = str(cloud.model.attrs.get(lid, {}).get("Id", lid))
        found[lid] = StreamPoller(cloud, config, function, name, uuid)
        cloud.sources.add(found[lid])
        cloud.service.event_source_mappings[uuid] = found[lid]
    if found:
        _pollers[cloud] = found


def _stream_of(cloud: LocalCloud, lid: str, kind: str, arn: str) -> str:
    resource_type, attribute = STREAM_ATTRIBUTE[kind]
    for stream_lid, resource in cloud.model.resources.items():
        if resource.get("Type") == resource_type and cloud.model.attrs.get(stream_lid, {}).get(attribute) == arn:
            return stream_lid
    raise ConfigurationError(f"EventSourceArn {arn} is not a stream of the template", lid, "EventSourceArn")


def mappings(cloud: LocalCloud) -> dict[str, StreamPoller]:
    """The cloud's stream pollers by mapping logical id (e.g. ``LedgerFunctionTransactions``)."""
    return dict(_pollers.get(cloud, {}))


def mapping(cloud: LocalCloud, name: str) -> StreamPoller:
    """One stream poller by mapping logical id or UUID, or by the logical id or name of its
    function or stream (when only one mapping matches)."""
    pollers = mappings(cloud)
    if name in pollers:
        return pollers[name]
    matches = [p for p in pollers.values()
               if name in (p.uuid, p.function.logical_id, p.function.FunctionName, p.config.stream_logical_id)]
    if len(matches) != 1:
        raise ConfigurationError(f"{len(matches)} stream event-source mappings match {name!r}; "
                                 f"the template has {sorted(pollers)}")
    return matches[0]


__all__ = ["MappingStats", "StreamEventSourceConfig", "StreamPoller", "attach", "mapping", "mappings"]
