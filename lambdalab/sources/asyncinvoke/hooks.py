"""Where the engine listens to moto: S3 object events and SNS deliveries to Lambda subscriptions.

moto would invoke Lambda itself (and fail: it cannot run handlers without Docker), so the patches
hand those deliveries to the engine's listeners instead; every other S3 notification and SNS
subscription (SQS, SNS) stays moto's. Listeners run inside a moto request, under moto's lock: they
must only build events and queue them, never call moto.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

S3Listener = Callable[[str, Any, Any], None]  # (event name "s3:ObjectCreated:Put", FakeBucket, FakeKey)
# (subscription, message, message id, subject, message attributes)
SnsListener = Callable[[Any, str, str, "str | None", "dict[str, Any]"], None]
DELETE_MARKER_CREATED = "s3:ObjectRemoved:DeleteMarkerCreated"
_PUT = "s3:ObjectCreated:Put"

_lock = threading.Lock()
_s3_listeners: list[S3Listener] = []
_sns_listeners: list[SnsListener] = []
_installed = False


def add_s3_listener(listener: S3Listener) -> None:
    install()
    with _lock:
        _s3_listeners.append(listener)


def add_sns_listener(listener: SnsListener) -> None:
    install()
    with _lock:
        _sns_listeners.append(listener)


def remove(listener: Any) -> None:
    with _lock:
        for listeners in (_s3_listeners, _sns_listeners):
            if listener in listeners:
                listeners.remove(listener)


def _notify_s3(event_name: str, bucket: Any, key: Any) -> None:
    with _lock:
        listeners = list(_s3_listeners)
    for listener in listeners:
        listener(str(getattr(event_name, "value", event_name)), bucket, key)


def install() -> None:
    """Patch moto once per process (moto's backends are process-wide)."""
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
    from moto.s3 import notifications
    from moto.s3.models import S3Backend
    from moto.sns.models import Subscription

    send_event = notifications.send_event
    set_delete_marker = S3Backend._set_delete_marker
    publish = Subscription.publish

    def send_event_to_engine(account_id: str, event_name: Any, bucket: Any, key: Any) -> None:
        if str(getattr(event_name, "value", event_name)) == _PUT and getattr(key, "multipart", None) is not None:
            return  # moto also sends a Put while completing a multipart upload; S3 sends only that event
        if key is not None:
            _notify_s3(event_name, bucket, key)
        send_event(account_id, event_name, bucket, key)

    def no_lambda_from_moto(*args: Any, **kwargs: Any) -> None:
        """The engine delivers S3 events to functions (send_event_to_engine)."""

    def delete_marker_with_event(self: Any, bucket_name: str, key_name: str) -> Any:
        marker = set_delete_marker(self, bucket_name, key_name)
        _notify_s3(DELETE_MARKER_CREATED, self.get_bucket(bucket_name), marker)
        return marker

    def publish_to_engine(self: Any, message: str, message_id: str, subject: str | None = None,
                          message_attributes: dict[str, Any] | None = None, group_id: str | None = None,
                          deduplication_id: str | None = None, message_structure: str | None = None) -> None:
        if self.protocol != "lambda":
            publish(self, message, message_id, subject=subject, message_attributes=message_attributes,
                    group_id=group_id, deduplication_id=deduplication_id, message_structure=message_structure)
            return
        matcher = self._filter_policy_matcher
        if matcher is not None and not matcher.matches(message_attributes, message):
            return
        if message_structure == "json":
            message = self._parse_message_structure(message, self.protocol)
        with _lock:
            listeners = list(_sns_listeners)
        for listener in listeners:
            listener(self, message, message_id, subject, dict(message_attributes or {}))

    notifications.send_event = send_event_to_engine
    notifications._invoke_awslambda = no_lambda_from_moto
    S3Backend._set_delete_marker = delete_marker_with_event  # type: ignore[method-assign]
    Subscription.publish = publish_to_engine  # type: ignore[method-assign]
