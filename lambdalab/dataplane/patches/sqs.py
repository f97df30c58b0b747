"""moto's SQS made linear in queue depth, and its new messages noted for the pollers.

moto 5.2.5 makes SQS quadratic in queue depth: every read of one queue attribute rebuilds all of
them, and the three approximate counts each scan the whole queue, reading the wall clock once per
message. ``SendMessage`` reads ``ContentBasedDeduplication`` that way for every message,
``ReceiveMessage`` reads ``MessageRetentionPeriod`` that way for every message it returns, and
``DeleteMessage`` walks the whole queue twice. The patches compute one attribute per read, read the
clock once per scan and stop a delete at its message; what SQS answers is unchanged. A message
added or made visible again is noted in ``lambdalab.dataplane.datachanges``.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from moto.core.utils import camelcase_to_underscores, unix_time_millis

from lambdalab.dataplane import datachanges
from lambdalab.dataplane.patches.dispatch import MOTO_LOCK
from lambdalab.dataplane.patches.registry import Patch, released

QUEUE = "moto.sqs.models.Queue"
BACKEND = "moto.sqs.models.SQSBackend"


@functools.cache
def _field(attribute: str) -> str:
    return camelcase_to_underscores(attribute)


class QueueAttributes(Mapping[str, Any]):
    """``Queue.attributes`` computed per key, with moto's keys, order and values."""

    def __init__(self, queue: Any):
        self._queue = queue
        self._names = list(queue.BASE_ATTRIBUTES)
        if queue.fifo_queue:
            self._names += queue.FIFO_ATTRIBUTES
        if queue.kms_master_key_id:
            self._names += queue.KMS_ATTRIBUTES

    def __getitem__(self, name: str) -> Any:
        if name not in self._names:
            raise KeyError(name)
        if name == "RedrivePolicy" and self._queue.redrive_policy:
            return json.dumps(self._queue.redrive_policy)
        value = getattr(self._queue, _field(name))
        return str(value).lower() if isinstance(value, bool) else value

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


def _select(keep: Callable[[Any, float], bool]) -> Callable[[Any], list[Any]]:
    """The queue's messages that ``keep`` accepts, judged at one instant."""

    def select(queue: Any) -> list[Any]:
        now = unix_time_millis()
        return [m for m in queue._messages if keep(m, now)]

    return select


# moto's Message.visible is ``now > visible_at``; Message.delayed is ``now < delayed_until``.
_receivable = _select(lambda m, now: now > m.visible_at and not now < m.delayed_until)
_delayed = _select(lambda m, now: now < m.delayed_until)
_in_flight = _select(lambda m, now: not now > m.visible_at)


def add_message_noted(self: Any, message: Any) -> None:
    """Sent, fanned out from SNS or S3, or moved to a dead-letter queue: noted for pollers."""
    try:
        released(QUEUE, "add_message")(self, message)
    finally:
        datachanges.note("sqs", self.name)


def change_visibility_noted(self: Any, queue_name: str, *args: Any, **kwargs: Any) -> None:
    """A message may be visible again (the engine ends visibility this way): noted for pollers."""
    try:
        released(BACKEND, "change_message_visibility")(self, queue_name, *args, **kwargs)
    finally:
        datachanges.note("sqs", queue_name)


def materialised_attributes(self: Any, queue_name: str, attribute_names: list[str]) -> dict[str, Any]:
    """Callers, moto's serialiser among them, still get the plain dict moto gave them."""
    return dict(released(BACKEND, "get_queue_attributes")(self, queue_name, attribute_names))


def delete_first_match(self: Any, receipt_handle: str) -> None:
    """moto rebuilds the whole list twice per delete; handles are unique, so stop at the match."""
    if receipt_handle in self.deleted_messages:
        return
    for index, message in enumerate(self._messages):
        if message.had_receipt_handle(receipt_handle):
            self._messages = self._messages[:index] + self._messages[index + 1:]
            self.pending_messages.discard(message)
            self.deleted_messages.update(message.all_receipt_handles)
            return
    from moto.sqs.exceptions import ReceiptHandleIsInvalid

    raise ReceiptHandleIsInvalid()


def wait_unlocked(self: Any, timeout: int) -> None:
    """A long poll waits for another request's message, so it must not hold that request off."""
    with MOTO_LOCK.released():
        released(QUEUE, "wait_for_messages")(self, timeout)


PATCHES = (
    Patch(QUEUE, "attributes", property(QueueAttributes),
          "every read of one attribute rebuilt them all, the approximate counts scanning the queue", "40cb990b1216"),
    Patch(QUEUE, "messages", property(_receivable),
          "the receivable messages: one clock read per scan instead of one per message", "03a531dbcbcf"),
    Patch(QUEUE, "approximate_number_of_messages_delayed", property(lambda q: len(_delayed(q))),
          "one clock read per count instead of one per message", "c3c1dadb0c42"),
    Patch(QUEUE, "approximate_number_of_messages_not_visible", property(lambda q: len(_in_flight(q))),
          "one clock read per count instead of one per message", "5dbecc4dda17"),
    Patch(QUEUE, "delete_message", delete_first_match,
          "moto rebuilt the whole message list twice per delete", "fa6fd5b9bd2c"),
    Patch(BACKEND, "get_queue_attributes", materialised_attributes,
          "callers still get the plain dict moto gave them from the attributes computed per key", "58417223da45"),
    Patch(QUEUE, "wait_for_messages", wait_unlocked,
          "a long poll must let other requests (the message it waits for) through moto's lock", "58432562ccf2"),
    Patch(QUEUE, "add_message", add_message_noted,
          "a new message is noted for the pollers (datachanges)", "f27c9231c1f2"),
    Patch(BACKEND, "change_message_visibility", change_visibility_noted,
          "a message visible again is noted for the pollers (datachanges)", "f0e9df5f6662"),
)
