"""Asynchronous invocation: ``InvocationType=Event``, S3 notifications and SNS subscriptions
[A-ERR],[A-REC],[A-a],[L-S3],[L-SNS].

Split like LocalStack's event-source mappings: ``config`` (EventInvokeConfig, AWS's ranges and
wording), ``processor`` (pure: retry in 1 / 2 minutes, throttle backoff 1 s -> 5 min, or stop with
``RetriesExhausted`` / ``EventAgeExceeded`` / ``ZeroReservedConcurrency``), ``records`` (pure: the
invocation record, DLQ attributes), ``queue`` (the poller: runs due events concurrently, schedules
retries on the clock), ``sender`` (the invokes), ``destinations`` (SQS, SNS, Lambda, DLQs), and the
push sources ``s3`` / ``sns`` with their pure event builders ``s3events`` / ``snsevents``, fed by
``hooks`` into moto. ``attach(cloud)`` wires them all and makes ``LambdaService`` queue Event invokes.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

from lambdalab.sources.asyncinvoke.config import EventInvokeConfigs, check_function, to_response
from lambdalab.sources.asyncinvoke.destinations import Destinations
from lambdalab.sources.asyncinvoke.queue import AsyncQueue, AsyncStats
from lambdalab.sources.asyncinvoke.s3 import S3Notifications
from lambdalab.sources.asyncinvoke.sns import SnsDeliveries

if TYPE_CHECKING:
    from lambdalab.cloud import LocalCloud
    from lambdalab.service.invoke import LambdaService

_queues: weakref.WeakKeyDictionary[LambdaService, AsyncQueue] = weakref.WeakKeyDictionary()


def attach(cloud: LocalCloud) -> None:
    """The async queue for every function, then the template's S3 notifications and SNS subscriptions."""
    service = cloud.service
    for fn in service.functions():
        check_function(fn)
    configs = EventInvokeConfigs(service.functions(), cloud.clock.now())
    queue = AsyncQueue(service, cloud.clock, configs, Destinations(service, cloud.dataplane, cloud.clock))
    service.event_queue = queue.enqueue
    _queues[service] = queue
    cloud.sources.add(queue)
    s3 = S3Notifications(cloud, queue)
    cloud.sources.add(s3)
    s3.apply_template(cloud)
    sns = SnsDeliveries(cloud, queue)
    cloud.sources.add(sns)
    sns.subscribe_template(cloud)


def queue_of(cloud_or_service: Any) -> AsyncQueue:
    """The async queue of a LocalCloud (or its LambdaService): ``pending()``, ``stats``, ``configs``."""
    service = getattr(cloud_or_service, "service", cloud_or_service)
    return _queues[service]


# -- the Lambda API's event-invoke-config operations (lambdalab.service.api routes here) ----------------
def get_config(service: LambdaService, name: str) -> dict[str, Any]:
    fn = service.function(name)
    stored = queue_of(service).configs.get(fn.FunctionName)
    if stored is None:
        from lambdalab.sources.asyncinvoke.config import _not_found

        raise _not_found(fn.FunctionName)
    return to_response(fn.FunctionArn, stored.config, stored.last_modified)


def put_config(service: LambdaService, name: str, body: dict[str, Any], *, patch: bool) -> dict[str, Any]:
    """PutFunctionEventInvokeConfig (replace) or, with ``patch``, UpdateFunctionEventInvokeConfig."""
    fn = service.function(name)
    stored = queue_of(service).configs.put(fn.FunctionName, body, service.clock.now(), patch=patch)
    return to_response(fn.FunctionArn, stored.config, stored.last_modified)


def delete_config(service: LambdaService, name: str) -> None:
    queue_of(service).configs.delete(service.function(name).FunctionName)


def list_configs(service: LambdaService, name: str) -> dict[str, Any]:
    fn = service.function(name)
    stored = queue_of(service).configs.get(fn.FunctionName)
    items = [] if stored is None else [to_response(fn.FunctionArn, stored.config, stored.last_modified)]
    return {"FunctionEventInvokeConfigs": items}


__all__ = ["AsyncQueue", "AsyncStats", "attach", "delete_config", "get_config", "list_configs", "put_config",
           "queue_of"]
