"""Asynchronous invocation: ``InvocationType=Event``, S3 notifications and SNS subscriptions
[A-ERR],[A-REC],[A-a],[L-S3],[L-SNS].

Split like LocalStack's event-source mappings: ``config`` (EventInvokeConfig, AWS's ranges and
wording), ``processor`` (pure: retry in 1 / 2 minutes, throttle backoff 1 s -> 5 min, or stop with
``RetriesExhausted`` / ``EventAgeExceeded`` / ``ZeroReservedConcurrency``), ``records`` (pure: the
invocation record, DLQ attributes), ``queue`` (the poller: runs due events concurrently, schedules
retries on the clock, hands each slot a run frees to the oldest throttled event [A-THR], invoking
through the shared ``lambdalab.sources.batchsender``),
``destinations`` (SQS, SNS, Lambda, DLQs), and the push sources ``s3`` / ``sns`` with their pure
event builders ``s3events`` / ``snsevents``, fed by the data plane's listeners. ``attach(context)``
wires them all and registers the queue with the Lambda service, for Event invokes and the
FunctionEventInvokeConfig operations.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from lambdalab.clock import Clock
from lambdalab.config import FunctionConfig
from lambdalab.errors import ConfigurationError
from lambdalab.sources.asyncinvoke.config import (
    EventInvokeConfigs,
    _not_found,
    async_refusals,
    check_function,
    to_response,
)
from lambdalab.sources.asyncinvoke.destinations import Destinations
from lambdalab.sources.asyncinvoke.queue import AsyncQueue, AsyncStats
from lambdalab.sources.asyncinvoke.s3 import S3Notifications, notification_refusals
from lambdalab.sources.asyncinvoke.sns import SnsDeliveries, subscription_refusals
from lambdalab.sources.base import Poller, SourceContext, stand_in

if TYPE_CHECKING:
    from lambdalab.template.model import CloudModel


def refusals(model: CloudModel) -> list[ConfigurationError]:
    """What ``attach`` would refuse, from a dry deployment's ``model``: each function's destinations
    and dead-letter queue (a resource of the template read as the ARN it will have), the template's
    S3 notifications and SNS subscriptions."""
    found: list[ConfigurationError] = []
    for fn in model.functions.values():
        config = fn.EventInvokeConfig
        found += async_refusals(replace(
            fn, DeadLetterQueue=stand_in(model, fn.DeadLetterQueue),
            EventInvokeConfig=replace(config, OnSuccess=stand_in(model, config.OnSuccess),
                                      OnFailure=stand_in(model, config.OnFailure))))
    return found + notification_refusals(model) + subscription_refusals(model)


def attach(context: SourceContext) -> list[Poller]:
    """The async queue for every function, then the template's S3 notifications and SNS subscriptions."""
    service, clock = context.service, context.clock
    for fn in service.functions():
        check_function(fn)
    configs = EventInvokeConfigs(service.functions(), clock.now())
    queue = AsyncQueue(service, clock, configs, Destinations(service, context.dataplane, clock), context.metrics)
    service.set_async_queue(queue, ConfigOperations(configs, clock))
    s3 = S3Notifications(context, queue)
    s3.apply_template(context)
    sns = SnsDeliveries(context, queue)
    sns.subscribe_template(context)
    return [queue, s3, sns]


class ConfigOperations:
    """The Lambda API's FunctionEventInvokeConfig operations on the queue's configurations."""

    def __init__(self, configs: EventInvokeConfigs, clock: Clock):
        self._configs = configs
        self._clock = clock

    def get(self, fn: FunctionConfig) -> dict[str, Any]:
        stored = self._configs.get(fn.FunctionName)
        if stored is None:
            raise _not_found(fn.FunctionName)
        return to_response(fn.FunctionArn, stored.config, stored.last_modified)

    def put(self, fn: FunctionConfig, body: dict[str, Any], *, patch: bool) -> dict[str, Any]:
        """PutFunctionEventInvokeConfig (replace) or, with ``patch``, UpdateFunctionEventInvokeConfig."""
        stored = self._configs.put(fn.FunctionName, body, self._clock.now(), patch=patch)
        return to_response(fn.FunctionArn, stored.config, stored.last_modified)

    def delete(self, fn: FunctionConfig) -> None:
        self._configs.delete(fn.FunctionName)

    def list(self, fn: FunctionConfig) -> dict[str, Any]:
        stored = self._configs.get(fn.FunctionName)
        items = [] if stored is None else [to_response(fn.FunctionArn, stored.config, stored.last_modified)]
        return {"FunctionEventInvokeConfigs": items}


__all__ = ["AsyncQueue", "AsyncStats", "ConfigOperations", "attach", "refusals"]
