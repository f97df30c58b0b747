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
from lambdalab.sources.asyncinvoke import hooks
from lambdalab.sources.asyncinvoke.s3events import s3_event, s3_record, sequencer

if TYPE_CHECKING:
    from lambdalab.cloud import LocalCloud
    from lambdalab.sources.asyncinvoke.queue import AsyncQueue

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


def configuration_id(lid: str, kind: str, index: int) -> str:
    """A configuration id like the ones CloudFormation generates, the same every run."""
    value = uuid.UUID(hashlib.sha256(f"{lid}.{kind}.{index}".encode()).hexdigest()[:32])
    return base64.b64encode(str(value).encode()).decode().rstrip("=")


class S3Notifications:
    """Listens to moto's S3 object events; a Poller only so the cloud closes it."""

    def __init__(self, cloud: LocalCloud, queue: AsyncQueue):
        self._service = cloud.service
        self._clock = cloud.clock
        self._queue = queue
        self._buckets = {  # bucket name -> logical id
            str(cloud.model.attrs[lid]["Ref"]): lid
            for lid, res in cloud.model.resources.items() if res.get("Type") == BUCKET_TYPE and lid in cloud.model.attrs
        }
        self._sequence = itertools.count(1)
        self._lock = threading.Lock()
        self.delivered = 0
        hooks.add_s3_listener(self.on_event)

    def apply_template(self, cloud: LocalCloud) -> None:
        s3 = cloud.dataplane.client("s3")
        for lid, cfn in sorted(cloud.model.bucket_notifications.items()):
            config = notification_configuration(lid, cfn)
            for entry in config.get("LambdaFunctionConfigurations", []):
                try:
                    self._service.function(str(entry["LambdaFunctionArn"]))
                except AwsApiError:
                    raise ConfigurationError(f"{entry['LambdaFunctionArn']} is not a function of the template",
                                             lid, "NotificationConfiguration.LambdaConfigurations") from None
            try:
                s3.put_bucket_notification_configuration(Bucket=cloud.resource(lid), NotificationConfiguration=config)
            except Exception as exc:  # a ClientError from the data plane: the template is wrong
                raise ConfigurationError(str(exc), lid, "NotificationConfiguration") from None

    def on_event(self, event_name: str, bucket: Any, key: Any) -> None:
        """Called by moto (under its lock) for each object event of any bucket."""
        config = getattr(bucket, "notification_configuration", None)
        if config is None:
            return
        targets = [n for n in config.cloud_function if n.matches(event_name, key.name)]
        if not targets:
            return
        from lambdalab.service.faults import take_source_fault

        with self._lock:
            sequence = sequencer(next(self._sequence))
        created = event_name.startswith("s3:ObjectCreated")
        lid = self._buckets.get(bucket.name, bucket.name)
        for notification in targets:
            try:
                fn = self._service.function(notification.arn)
            except AwsApiError:
                continue  # a function this cloud does not have (another cloud's, or deleted)
            record = s3_record(
                event_name=event_name, region=REGION, time=iso_timestamp(self._clock.now()), bucket=bucket.name,
                key=key.name, configuration_id=notification.id, sequence=sequence,
                size=key.size if created else None, etag=key.etag if created else None,
                version_id=str(key.version_id) if bucket.is_versioned and key.version_id else None,
            )
            body = json.dumps(s3_event(record)).encode()
            copies = 2 if take_source_fault(self._service, "duplicate", lid, bucket.name) else 1
            for _ in range(copies):
                self._queue.enqueue(fn, body, self._service.request_ids.next(), f"s3:{lid}")
                self.delivered += 1

    def poll(self) -> bool:
        return False

    def close(self) -> None:
        hooks.remove(self.on_event)
