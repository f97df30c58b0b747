"""S3 -> Lambda: object events of the template's buckets, delivered through the async queue [L-S3].

The template's bucket ``NotificationConfiguration`` (which SAM writes for a function's ``S3`` events)
is applied to moto's bucket, so ``GetBucketNotificationConfiguration`` answers it and boto3 can
change it; moto matches events and key filters, and its SQS/SNS notifications stay its own (with
the ``s3:TestEvent`` AWS sends them on setup). Deliveries to functions come to the engine instead:
records in AWS's shape, one invoke per notification, never an ``s3:TestEvent`` [S3],[S3-N].
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import threading
import uuid
from typing import TYPE_CHECKING, Any

from lambdalab.clock import iso_timestamp
from lambdalab.config import REGION
from lambdalab.errors import AwsApiError, ConfigurationError
from lambdalab.sources.asyncinvoke.push import PushSource
from lambdalab.sources.asyncinvoke.s3events import s3_event, s3_record, sequencer
from lambdalab.sources.base import function_refusals

if TYPE_CHECKING:
    from lambdalab.dataplane.patches import S3ObjectEvent
    from lambdalab.sources.asyncinvoke.queue import AsyncQueue
    from lambdalab.sources.base import SourceContext
    from lambdalab.template.model import CloudModel

BUCKET_TYPE = "AWS::S3::Bucket"
_KINDS = {  # CloudFormation list -> (API list, target property in CFN, target key in the API)
    "LambdaConfigurations": ("LambdaFunctionConfigurations", "Function", "LambdaFunctionArn"),
    "QueueConfigurations": ("QueueConfigurations", "Queue", "QueueArn"),
    "TopicConfigurations": ("TopicConfigurations", "Topic", "TopicArn"),
}


def notification_configuration(lid: str, cfn: dict[str, Any]) -> dict[str, Any]:
    """CloudFormation's NotificationConfiguration as PutBucketNotificationConfiguration takes it."""
    api: dict[str, Any] = {}
    for key, entries in cfn.items():
        if key not in _KINDS:
            raise ConfigurationError("not supported locally", lid, f"NotificationConfiguration.{key}")
        api_key, target, api_target = _KINDS[key]
        api[api_key] = []
        for index, entry in enumerate(entries or []):
            unknown = sorted(set(entry) - {"Event", "Filter", target})
            if unknown:
                raise ConfigurationError("not supported locally", lid, f"NotificationConfiguration.{key}.{unknown[0]}")
            item: dict[str, Any] = {"Id": configuration_id(lid, key, index), api_target: entry[target],
                                    "Events": [entry["Event"]]}
            rules = ((entry.get("Filter") or {}).get("S3Key") or {}).get("Rules")
            if rules:
                item["Filter"] = {"Key": {"FilterRules": [{"Name": r["Name"], "Value": r["Value"]} for r in rules]}}
            api[api_key].append(item)
    return api


def notification_refusals(model: CloudModel) -> list[ConfigurationError]:
    """Every refusal of the template's bucket notifications, from a dry deployment's ``model`` (no
    data plane): what ``apply_template`` would raise, but S3's own checks."""
    found: list[ConfigurationError] = []
    for lid, cfn in sorted(model.bucket_notifications.items()):
        try:
            config = notification_configuration(lid, cfn)
        except ConfigurationError as exc:
            found.append(exc)
            continue
        for entry in config.get("LambdaFunctionConfigurations", []):
            arn = entry.get("LambdaFunctionArn")
            if function_refusals(model, lid, "NotificationConfiguration.LambdaConfigurations", arn)[1]:
                found.append(ConfigurationError(f"{arn} is not a function of the template", lid,
                                                "NotificationConfiguration.LambdaConfigurations"))
    return found


def configuration_id(lid: str, kind: str, index: int) -> str:
    """A configuration id like the ones CloudFormation generates, the same every run."""
    value = uuid.UUID(hashlib.sha256(f"{lid}.{kind}.{index}".encode()).hexdigest()[:32])
    return base64.b64encode(str(value).encode()).decode().rstrip("=")


class S3Notifications(PushSource):
    """Listens to the data plane's S3 object events."""

    def __init__(self, context: SourceContext, queue: AsyncQueue):
        super().__init__(context, queue)
        # bucket name -> logical id
        self._buckets = {str(attrs["Ref"]): lid for lid, attrs in context.model.deployed(BUCKET_TYPE).items()}
        self._sequence = itertools.count(1)
        self._lock = threading.Lock()
        self._listeners.add_s3(self.on_event)

    def apply_template(self, context: SourceContext) -> None:
        s3 = context.dataplane.client("s3")
        for lid, cfn in sorted(context.model.bucket_notifications.items()):
            config = notification_configuration(lid, cfn)
            for entry in config.get("LambdaFunctionConfigurations", []):
                try:
                    self._service.function(str(entry["LambdaFunctionArn"]))
                except AwsApiError:
                    raise ConfigurationError(f"{entry['LambdaFunctionArn']} is not a function of the template",
                                             lid, "NotificationConfiguration.LambdaConfigurations") from None
            try:
                s3.put_bucket_notification_configuration(Bucket=context.model.lookup(lid, "Ref"),
                                                         NotificationConfiguration=config)
            except Exception as exc:  # a ClientError from the data plane: the template is wrong
                raise ConfigurationError(str(exc), lid, "NotificationConfiguration") from None

    def on_event(self, event: S3ObjectEvent) -> None:
        """Called by the data plane (under moto's lock) for each object event that Lambda
        configurations of its bucket match."""
        with self._lock:
            sequence = sequencer(next(self._sequence))
        lid = self._buckets.get(event.bucket, event.bucket)
        for configuration_id, function_arn in event.targets:
            try:
                fn = self._service.function(function_arn)
            except AwsApiError:
                continue  # a function this cloud does not have (another cloud's, or deleted)
            record = s3_record(
                event_name=event.event_name, region=REGION, time=iso_timestamp(self._clock.now()),
                bucket=event.bucket, key=event.key, configuration_id=configuration_id, sequence=sequence,
                size=event.size, etag=event.etag, version_id=event.version_id,
            )
            self.push(fn, json.dumps(s3_event(record)).encode(), f"s3:{lid}", lid, event.bucket)

    def close(self) -> None:
        self._listeners.remove(self.on_event)
