"""SNS -> Lambda: the template's subscriptions, with filter policies, through the async queue [L-SNS].

Each ``AWS::SNS::Subscription`` (SAM writes one per ``SNS`` event) is created in moto with its
``FilterPolicy`` and ``FilterPolicyScope`` (``MessageAttributes`` or ``MessageBody``), under the ARN
the template's ``!Ref`` gives. moto matches filter policies and delivers to SQS subscriptions
itself; a delivery to a ``lambda`` subscription comes to the engine, which builds the SNS record
and queues one async invoke per subscription (fan-out: one publish, several functions).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lambdalab.clock import iso_timestamp
from lambdalab.config import ACCOUNT_ID, REGION
from lambdalab.dataplane.patches.notifications import rename_subscription
from lambdalab.errors import AwsApiError, ConfigurationError
from lambdalab.sources.asyncinvoke.push import PushSource
from lambdalab.sources.asyncinvoke.snsevents import sns_event, sns_record
from lambdalab.sources.base import function_refusals, placeholder

if TYPE_CHECKING:
    from lambdalab.dataplane.patches import SnsDelivery
    from lambdalab.sources.asyncinvoke.queue import AsyncQueue
    from lambdalab.sources.base import SourceContext
    from lambdalab.template.model import CloudModel

TOPIC_TYPE = "AWS::SNS::Topic"
SUBSCRIPTION_PROPERTIES = frozenset({"Protocol", "Endpoint", "TopicArn", "FilterPolicy", "FilterPolicyScope",
                                     "RawMessageDelivery", "Region"})
PROTOCOLS = ("lambda", "sqs")


class SnsDeliveries(PushSource):
    """Listens to the data plane's deliveries to lambda subscriptions."""

    def __init__(self, context: SourceContext, queue: AsyncQueue):
        super().__init__(context, queue)
        self._topics = {  # topic ARN -> (logical id, name)
            str(attrs["Ref"]): (lid, str(attrs.get("TopicName", lid)))
            for lid, attrs in context.model.deployed(TOPIC_TYPE).items()
        }
        self._listeners.add_sns(self.on_publish)

    def subscribe_template(self, context: SourceContext) -> None:
        sns = context.dataplane.client("sns")
        for lid, props in sorted(context.model.subscriptions.items()):
            arn = _subscribe(sns, lid, props, self._service)
            _rename(arn, str(context.model.attrs[lid]["Ref"]))

    def on_publish(self, delivery: SnsDelivery) -> None:
        """Called by the data plane (under moto's lock) for each message a lambda subscription accepts."""
        try:
            fn = self._service.function(delivery.endpoint)
        except AwsApiError:
            return  # a function this cloud does not have
        record = sns_record(subscription_arn=delivery.subscription_arn, topic_arn=delivery.topic_arn,
                            message_id=delivery.message_id, message=delivery.message, subject=delivery.subject,
                            time=iso_timestamp(self._clock.now()), attributes=delivery.attributes, region=REGION)
        lid, name = self._topics.get(delivery.topic_arn, (delivery.topic_name, delivery.topic_name))
        self.push(fn, json.dumps(sns_event(record)).encode(), f"sns:{lid}", lid, name, delivery.topic_arn)

    def close(self) -> None:
        self._listeners.remove(self.on_publish)


def subscription_refusals(model: CloudModel) -> list[ConfigurationError]:
    """Every refusal of the template's subscriptions, from a dry deployment's ``model`` (no data
    plane): what ``subscribe_template`` would raise, but SNS's own checks of a filter policy."""
    found = []
    for lid, props in sorted(model.subscriptions.items()):
        found += _refusals(lid, props, lambda name, lid=lid: function_refusals(model, lid, "Endpoint", name)[1])  # type: ignore[misc]
        held = placeholder(props.get("TopicArn"))
        if held is not None and model.resources.get(held[0], {}).get("Type") != TOPIC_TYPE:
            found.append(ConfigurationError(f"{held[0]} is not an SNS topic", lid, "TopicArn"))
    return found


def _refusals(lid: str, props: dict[str, Any],
              endpoint: Callable[[Any], list[ConfigurationError]]) -> list[ConfigurationError]:
    """A subscription's properties the engine cannot serve; ``endpoint`` refuses a lambda
    subscription's Endpoint that is not a function of the template."""
    found = [ConfigurationError("property not supported locally for AWS::SNS::Subscription", lid, name)
             for name in sorted(set(props) - SUBSCRIPTION_PROPERTIES)]
    protocol = str(props.get("Protocol", ""))
    if protocol not in PROTOCOLS:
        found.append(ConfigurationError(f"protocol {protocol!r} is not supported locally (lambda, sqs)", lid,
                                        "Protocol"))
    if props.get("Region", REGION) != REGION:
        found.append(ConfigurationError(f"only {REGION} exists locally", lid, "Region"))
    if protocol == "lambda":
        found += endpoint(props.get("Endpoint"))
    return found


def _subscribe(sns: Any, lid: str, props: dict[str, Any], service: Any) -> str:
    def endpoint(name: Any) -> list[ConfigurationError]:
        try:
            service.function(str(name))
        except AwsApiError:
            return [ConfigurationError(f"{name} is not a function of the template", lid, "Endpoint")]
        return []

    for refusal in _refusals(lid, props, endpoint):
        raise refusal
    attributes = {}
    for key in ("FilterPolicy", "FilterPolicyScope", "RawMessageDelivery"):
        if key in props:
            value = props[key]
            attributes[key] = json.dumps(value) if isinstance(value, dict) else str(value).lower() \
                if isinstance(value, bool) else str(value)
    try:
        answer = sns.subscribe(TopicArn=props["TopicArn"], Protocol=str(props["Protocol"]),
                               Endpoint=str(props["Endpoint"]), Attributes=attributes, ReturnSubscriptionArn=True)
    except Exception as exc:  # a ClientError from the data plane, in SNS's wording
        raise ConfigurationError(str(exc), lid, "FilterPolicy" if "FilterPolicy" in str(exc) else "TopicArn") from None
    return str(answer["SubscriptionArn"])


def _rename(current: str, wanted: str) -> None:
    """Give moto's subscription the ARN the template's ``!Ref`` answers (the same every run)."""
    if current != wanted:
        rename_subscription(ACCOUNT_ID, REGION, current, wanted)
