"""Where the engine listens to moto: S3 object events and SNS deliveries to Lambda subscriptions.

moto would invoke Lambda itself (and fail: it cannot run handlers without Docker), so the patches
hand those deliveries to the engine instead, as plain values (``S3ObjectEvent``, ``SnsDelivery``);
every other S3 notification and SNS subscription (SQS, SNS) stays moto's.

Each data plane has its ``Listeners``; its server routes each request's events to them
(``Listeners.delivering``), so a listener hears only the data plane it was added to. Listeners run
inside a moto request, under moto's lock: they must only build events and queue them, never call moto.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from lambdalab.dataplane.patches.dispatch import MOTO_LOCK
from lambdalab.dataplane.patches.registry import Patch, apply, released

S3_NOTIFICATIONS = "moto.s3.notifications"
S3_BACKEND = "moto.s3.models.S3Backend"
SUBSCRIPTION = "moto.sns.models.Subscription"
DELETE_MARKER_CREATED = "s3:ObjectRemoved:DeleteMarkerCreated"
_PUT = "s3:ObjectCreated:Put"


@dataclass(frozen=True)
class S3ObjectEvent:
    """An object event that Lambda configurations of its bucket match."""

    event_name: str  # "s3:ObjectCreated:Put"
    bucket: str
    key: str
    size: int | None  # created objects only
    etag: str | None  # created objects only
    version_id: str | None  # a versioned bucket's only
    targets: tuple[tuple[str, str], ...]  # (configuration id, function ARN) of each matching configuration


@dataclass(frozen=True)
class SnsDelivery:
    """A message that a lambda subscription accepted (its filter policy matched)."""

    topic_arn: str
    topic_name: str
    subscription_arn: str
    endpoint: str  # the function's ARN
    message: str  # for this protocol, if the message had a per-protocol structure
    message_id: str
    subject: str | None
    attributes: dict[str, Any]  # name -> {"Type": ..., "Value": ...}


S3Listener = Callable[[S3ObjectEvent], None]
SnsListener = Callable[[SnsDelivery], None]


class Listeners:
    """The engine's listeners to one data plane's S3 object events and SNS deliveries to Lambda."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._s3: list[S3Listener] = []
        self._sns: list[SnsListener] = []

    def add_s3(self, listener: S3Listener) -> None:
        apply("notifications")
        with self._lock:
            self._s3.append(listener)

    def add_sns(self, listener: SnsListener) -> None:
        apply("notifications")
        with self._lock:
            self._sns.append(listener)

    def remove(self, listener: Any) -> None:
        with self._lock:
            for listeners in (self._s3, self._sns):
                if listener in listeners:
                    listeners.remove(listener)

    @contextmanager
    def delivering(self) -> Iterator[None]:
        """The events of the request this thread runs meanwhile come to these listeners."""
        token = _delivering.set(self)
        try:
            yield
        finally:
            _delivering.reset(token)

    def s3_listeners(self) -> list[S3Listener]:
        with self._lock:
            return list(self._s3)

    def sns_listeners(self) -> list[SnsListener]:
        with self._lock:
            return list(self._sns)


_delivering: ContextVar[Listeners | None] = ContextVar("lambdalab_delivering", default=None)


def _to_engine(event_name: str, bucket: Any, key: Any) -> None:
    listeners = _delivering.get()
    if listeners is None:
        return
    config = getattr(bucket, "notification_configuration", None)
    if config is None:
        return
    targets = tuple((n.id, n.arn) for n in config.cloud_function if n.matches(event_name, key.name))
    if not targets:
        return
    created = event_name.startswith("s3:ObjectCreated")
    event = S3ObjectEvent(
        event_name=event_name, bucket=bucket.name, key=key.name,
        size=key.size if created else None, etag=key.etag if created else None,
        version_id=str(key.version_id) if bucket.is_versioned and key.version_id else None, targets=targets,
    )
    for listener in listeners.s3_listeners():
        listener(event)


def send_event_to_engine(account_id: str, event_name: Any, bucket: Any, key: Any) -> None:
    name = str(getattr(event_name, "value", event_name))
    if name == _PUT and getattr(key, "multipart", None) is not None:
        return  # moto also sends a Put while completing a multipart upload; S3 sends only that event
    if key is not None:
        _to_engine(name, bucket, key)
    released(S3_NOTIFICATIONS, "send_event")(account_id, event_name, bucket, key)


def no_lambda_from_moto(*args: Any, **kwargs: Any) -> None:
    """The engine delivers S3 events to functions (send_event_to_engine)."""


def delete_marker_with_event(self: Any, bucket_name: str, key_name: str) -> Any:
    marker = released(S3_BACKEND, "_set_delete_marker")(self, bucket_name, key_name)
    _to_engine(DELETE_MARKER_CREATED, self.get_bucket(bucket_name), marker)
    return marker


def publish_to_engine(self: Any, message: str, message_id: str, subject: str | None = None,
                      message_attributes: dict[str, Any] | None = None, group_id: str | None = None,
                      deduplication_id: str | None = None, message_structure: str | None = None) -> None:
    if self.protocol != "lambda":
        released(SUBSCRIPTION, "publish")(
            self, message, message_id, subject=subject, message_attributes=message_attributes, group_id=group_id,
            deduplication_id=deduplication_id, message_structure=message_structure)
        return
    matcher = self._filter_policy_matcher
    if matcher is not None and not matcher.matches(message_attributes, message):
        return
    if message_structure == "json":
        message = self._parse_message_structure(message, self.protocol)
    listeners = _delivering.get()
    if listeners is None:
        return
    delivery = SnsDelivery(topic_arn=self.topic.arn, topic_name=self.topic.name, subscription_arn=self.arn,
                           endpoint=self.endpoint, message=message, message_id=message_id, subject=subject,
                           attributes=dict(message_attributes or {}))
    for listener in listeners.sns_listeners():
        listener(delivery)


def rename_subscription(account_id: str, region: str, current: str, wanted: str) -> None:
    """Give moto's subscription ``current`` the ARN ``wanted`` (moto has no API for it)."""
    from moto.sns.models import sns_backends

    with MOTO_LOCK.held():
        subscriptions = sns_backends[account_id][region].subscriptions
        subscription = subscriptions.pop(current)
        subscription.arn = wanted
        subscriptions[wanted] = subscription


PATCHES = (
    Patch(S3_NOTIFICATIONS, "send_event", send_event_to_engine,
          "object events of Lambda configurations go to the engine's listeners, as plain values", "da8a7c7c6f2b"),
    Patch(S3_NOTIFICATIONS, "_invoke_awslambda", no_lambda_from_moto,
          "moto would invoke functions itself (and fail without Docker); the engine delivers them", "3e321d949008"),
    Patch(S3_BACKEND, "_set_delete_marker", delete_marker_with_event,
          "moto sends no event when a delete creates a delete marker; S3 does", "f95d9e59e39f"),
    Patch(SUBSCRIPTION, "publish", publish_to_engine,
          "deliveries to lambda subscriptions go to the engine's listeners, as plain values", "fd07bd0bb87f"),
)
