"""Queue polling: SQS event-source mappings (standard and FIFO queues) [SQS-a],[SQS-S],[SQS-E].

Split like LocalStack's event-source mappings: ``config`` (the mapping, AWS's parameters and
checks), ``records`` and ``processor`` (pure: the event, and the fate of each message), ``scaling``
(pure: concurrent batches) and ``poller`` (receive, settle, visibility on the engine's clock;
invokes through the shared ``lambdalab.sources.batchsender``). ``attach(context)`` makes one poller
per SQS mapping of the template and registers it with the Lambda service, and warns when mappings
that share a queue filter it (a filter deletes what it drops [FILTER]).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lambdalab.errors import ConfigurationError
from lambdalab.sources.base import (
    SourceContext,
    function_refusals,
    mapping_parts,
    mapping_source,
    resource_properties,
)
from lambdalab.sources.sqs.config import (
    SqsEventSourceConfig,
    check_shared_queue,
    check_visibility,
    is_sqs_mapping,
    mapping_refusals,
    parse_mapping,
)
from lambdalab.sources.sqs.poller import MappingStats, SqsPoller

if TYPE_CHECKING:
    from lambdalab.template.model import CloudModel

QUEUE_TYPE = "AWS::SQS::Queue"
DEFAULT_VISIBILITY_TIMEOUT_S = 30  # a queue's when its template sets none [SQS-C]


def refusals(model: CloudModel) -> list[ConfigurationError]:
    """What ``attach`` would refuse of each SQS mapping, from a dry deployment's ``model``: its
    function, its properties, its queue's visibility timeout (as the template sets it)."""
    found: list[ConfigurationError] = []
    for lid, props in sorted(model.event_source_mappings.items()):
        kind, queue = mapping_source(model, props)
        if kind != "sqs":
            continue
        function, wrong = function_refusals(model, lid, "FunctionName", props.get("FunctionName"))
        found += wrong
        settings = resource_properties(model, queue) if queue else {}
        fifo = str(settings.get("FifoQueue")).lower() == "true" if queue else \
            str(props.get("EventSourceArn")).endswith(".fifo")
        visibility = str(settings.get("VisibilityTimeout", DEFAULT_VISIBILITY_TIMEOUT_S))
        found += mapping_refusals(lid, props, fifo=fifo,
                                  visibility_timeout=int(visibility) if queue and visibility.isdigit() else None,
                                  function_timeout=function.Timeout if function else None)
    return found


def attach(context: SourceContext) -> list[SqsPoller]:
    """One poller per mapping whose EventSourceArn is an SQS queue, checked as Lambda checks it."""
    pollers = []
    for lid, props in sorted(context.model.event_source_mappings.items()):
        if not is_sqs_mapping(props):
            continue
        queue_lid, function, uuid = mapping_parts(context, lid, props, QUEUE_TYPE, "Arn", "queue")
        queue_url = context.model.lookup(queue_lid, "Ref")
        attributes = context.dataplane.queue_attributes(queue_url)
        config = parse_mapping(lid, props, queue_logical_id=queue_lid, queue_url=queue_url,
                               fifo=attributes.get("FifoQueue") == "true", function_name=function.FunctionName)
        check_visibility(config, int(attributes["VisibilityTimeout"]), function.Timeout)
        poller = SqsPoller(context, config, function, uuid)
        context.service.add_event_source_mapping(uuid, poller)
        pollers.append(poller)
    for queue in sorted({p.config.queue_url for p in pollers}):
        check_shared_queue([p.config for p in pollers if p.config.queue_url == queue])
    return pollers


__all__ = ["MappingStats", "SqsEventSourceConfig", "SqsPoller", "attach", "refusals"]
