"""Queue polling: SQS event-source mappings (standard and FIFO queues) [SQS-a],[SQS-S],[SQS-E].

Split like LocalStack's event-source mappings: ``config`` (the mapping, AWS's parameters and
checks), ``records`` and ``processor`` (pure: the event, and the fate of each message), ``scaling``
(pure: concurrent batches) and ``poller`` (receive, settle, visibility on the engine's clock;
invokes through the shared ``lambdalab.sources.batchsender``). ``attach(cloud)`` adds one poller per SQS
mapping of the template.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

from lambdalab.errors import ConfigurationError, ResourceNotFoundException
from lambdalab.sources.sqs.config import SqsEventSourceConfig, check_visibility, is_sqs_mapping, parse_mapping
from lambdalab.sources.sqs.poller import MappingStats, SqsPoller

if TYPE_CHECKING:
    from lambdalab.cloud import LocalCloud

QUEUE_TYPE = "AWS::SQS::Queue"
_pollers: weakref.WeakKeyDictionary[LocalCloud, dict[str, SqsPoller]] = weakref.WeakKeyDictionary()


def attach(cloud: LocalCloud) -> None:
    """One poller per mapping whose EventSourceArn is an SQS queue, checked as Lambda checks it."""
    found: dict[str, SqsPoller] = {}
    for lid, props in sorted(cloud.model.event_source_mappings.items()):
        if not is_sqs_mapping(props):
            continue
        queue_lid = _queue_of(cloud, lid, str(props["EventSourceArn"]))
        try:
            function = cloud.service.function(str(props.get("FunctionName", "")))
        except ResourceNotFoundException:
            raise ConfigurationError("FunctionName is not a function of the template", lid, "FunctionName") from None
        queue_url = cloud.resource(queue_lid)
        attributes = cloud.dataplane.queue_attributes(queue_url)
        config = parse_mapping(lid, props, queue_logical_id=queue_lid, queue_url=queue_url,
                               fifo=attributes.get("FifoQueue") == "true", function_name=function.FunctionName)
        check_visibility(config, int(attributes["VisibilityTimeout"]), function.Timeout)
        uuid = str(cloud.model.attrs.get(lid, {}).get("Id", lid))
        found[lid] = SqsPoller(cloud, config, function, uuid)
        cloud.sources.add(found[lid])
        cloud.service.event_source_mappings[uuid] = found[lid]
    if found:
        _pollers[cloud] = found


def _queue_of(cloud: LocalCloud, lid: str, arn: str) -> str:
    for queue_lid, resource in cloud.model.resources.items():
        if resource.get("Type") == QUEUE_TYPE and cloud.model.attrs.get(queue_lid, {}).get("Arn") == arn:
            return queue_lid
    raise ConfigurationError(f"EventSourceArn {arn} is not a queue of the template", lid, "EventSourceArn")


def mappings(cloud: LocalCloud) -> dict[str, SqsPoller]:
    """The cloud's SQS pollers by mapping logical id (e.g. ``WorkerFunctionJobs``)."""
    return dict(_pollers.get(cloud, {}))


def mapping(cloud: LocalCloud, name: str) -> SqsPoller:
    """One SQS poller by mapping logical id or UUID, or by the logical id or name of its function or
    queue."""
    pollers = mappings(cloud)
    if name in pollers:
        return pollers[name]
    matches = [p for p in pollers.values()
               if name in (p.uuid, p.function.logical_id, p.function.FunctionName, p.config.queue_logical_id)]
    if len(matches) != 1:
        raise ConfigurationError(f"{len(matches)} SQS event-source mappings match {name!r}; "
                                 f"the template has {sorted(pollers)}")
    return matches[0]


__all__ = ["MappingStats", "SqsEventSourceConfig", "SqsPoller", "attach", "mapping", "mappings"]
