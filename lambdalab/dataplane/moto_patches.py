"""Small, version-pinned fixes to moto's SQS model (and three to DynamoDB), two to its
server's start-up and dispatch costs, the notices of new data pollers wait for
(``lambdalab.dataplane.datachanges``), and the one lock all of moto runs under.

moto 5.2.5 makes SQS quadratic in queue depth: every read of one queue attribute rebuilds all of
them, and the three approximate counts each scan the whole queue, reading the wall clock once per
message. ``SendMessage`` reads ``ContentBasedDeduplication`` that way for every message,
``ReceiveMessage`` reads ``MessageRetentionPeriod`` that way for every message it returns, and
``DeleteMessage`` walks the whole queue twice. The patches compute one attribute per read, read the
clock once per scan and stop a delete at its message; what SQS answers is unchanged.

The server looks up every request's service by listing moto's package directory (about 0.6 ms of
``isdir`` calls a request), and every request's action by listing its response class's methods;
neither list ever changes, so each is read once. moto's SSM models import its
EC2 models only to look instances up; they are imported without them (EC2's come on first use).
moto's EC2 models list the regions of three partitions at import, each through a new boto3
``Session`` that parses botocore's endpoint table and EC2 model again (about 0.5 s); they are
imported with the data plane's session instead. DynamoDB's ``TransactWriteItems`` deep-copies
every table it touches, to put the copy back if the transaction is cancelled; it keeps copies of the
touched items instead.

The patches reach into moto's internals, so they refuse any moto but the one they were written for.
"""

from __future__ import annotations

import copy
import functools
import importlib
import json
import sys
import threading
import types
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import moto
import moto.backends
import moto.core.responses
from moto.core.utils import camelcase_to_underscores, unix_time_millis

from lambdalab.dataplane import datachanges
from lambdalab.errors import LambdaLabError

PINNED_MOTO_VERSION = "5.2.5"


class UnsupportedMotoVersion(LambdaLabError):
    """The installed moto is not the version the patches were written against."""


class MotoLock:
    """One lock for every moto request: moto's backends are process-wide and not thread-safe.

    It remembers which thread holds it, so an SQS long poll can let go while it waits.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._mine = threading.local()

    @contextmanager
    def held(self) -> Iterator[None]:
        with self._lock:
            self._mine.held = True
            try:
                yield
            finally:
                self._mine.held = False

    @contextmanager
    def released(self) -> Iterator[None]:
        """Let other requests run meanwhile, if this thread holds the lock (server mode)."""
        if not getattr(self._mine, "held", False):
            yield
            return
        self._mine.held = False
        self._lock.release()
        try:
            yield
        finally:
            self._lock.acquire()
            self._mine.held = True


MOTO_LOCK = MotoLock()
_originals: dict[tuple[Any, str], Any] = {}  # (class or module, attribute)
_guard = threading.Lock()


def apply() -> None:
    """Patch moto's SQS classes and its server's service lookup, once per process; later calls do
    nothing."""
    if moto.__version__ != PINNED_MOTO_VERSION:
        raise UnsupportedMotoVersion(
            f"lambdalab's SQS patches were written for moto {PINNED_MOTO_VERSION}, but moto "
            f"{moto.__version__} is installed; install moto[server]=={PINNED_MOTO_VERSION}."
        )
    with _guard:
        if not _originals:
            for (cls, name), replacement in _replacements().items():
                _originals[(cls, name)] = cls.__dict__[name]
                setattr(cls, name, replacement)


def import_ec2_models() -> None:
    """Import moto's EC2 models with the data plane's boto3 session standing in for the three
    Sessions they create at import; a no-op once imported."""
    module = "moto.ec2.models.availability_zones_and_regions"
    if module in sys.modules:
        return
    import boto3

    from lambdalab.config import REGION
    from lambdalab.dataplane.server import SESSION_LOCK, shared_session

    real_session, importer = boto3.Session, threading.get_ident()
    with SESSION_LOCK:  # botocore sessions are not thread-safe
        session = shared_session(REGION)

        def shared(*args: Any, **kwargs: Any) -> Any:
            mine = not args and not kwargs and threading.get_ident() == importer
            return session if mine else real_session(*args, **kwargs)

        with _guard:
            boto3.Session = shared
            try:
                importlib.import_module(module)
            finally:
                boto3.Session = real_session
                if module in sys.modules:
                    sys.modules[module].Session = real_session  # type: ignore[attr-defined]


class _Ec2BackendsOnFirstUse:
    """``ec2_backends`` as moto's SSM models see it: its EC2 models are imported the first time SSM
    looks an instance up (maintenance window targets), not when SSM itself is."""

    @staticmethod
    def _real() -> Any:
        import_ec2_models()
        from moto.ec2 import ec2_backends

        return ec2_backends

    def __getitem__(self, account_id: str) -> Any:
        return self._real()[account_id]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real(), name)


def import_ssm_models() -> None:
    """Import moto's SSM models without its EC2 models: SSM imports them only to look instances up,
    and they cost 0.4 s (every instance type of every region, read from 90 files) at a cloud's first
    SSM request, usually a parameter the template declares. A no-op once imported."""
    if "moto.ssm.models" in sys.modules:
        return
    with _guard:
        stand_in = None
        if "moto.ec2" not in sys.modules:
            stand_in = types.ModuleType("moto.ec2")
            stand_in.ec2_backends = _Ec2BackendsOnFirstUse()  # type: ignore[attr-defined]
            sys.modules["moto.ec2"] = stand_in
        try:
            importlib.import_module("moto.ssm.models")
        finally:
            if stand_in is not None and sys.modules.get("moto.ec2") is stand_in:
                del sys.modules["moto.ec2"]


def apply_streams() -> None:
    """Patch moto's DynamoDB so that its streams hold each change once, and note new stream records
    for the pollers; called by the stream pollers (importing moto's DynamoDB and Kinesis costs start
    time that clouds without streams need not pay)."""
    apply()
    with _guard:
        for (cls, name), replacement in _stream_replacements().items():
            if (cls, name) not in _originals:
                _originals[(cls, name)] = cls.__dict__[name]
                setattr(cls, name, replacement)


@contextmanager
def unpatched() -> Iterator[None]:
    """moto as released while the block runs, to measure or compare against it."""
    with _guard:
        patched = {key: key[0].__dict__[key[1]] for key in _originals}
        for (cls, name), original in _originals.items():
            setattr(cls, name, original)
        datachanges.set_tracking(False)
    try:
        yield
    finally:
        with _guard:
            for (cls, name), replacement in patched.items():
                setattr(cls, name, replacement)
            datachanges.set_tracking(True)


@functools.cache
def _field(attribute: str) -> str:
    return camelcase_to_underscores(attribute)


class _QueueAttributes(Mapping[str, Any]):
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


def _replacements() -> dict[tuple[Any, str], Any]:
    from moto.sqs.exceptions import ReceiptHandleIsInvalid
    from moto.sqs.models import Queue, SQSBackend

    get_queue_attributes = SQSBackend.get_queue_attributes
    wait_for_messages = Queue.wait_for_messages
    add_message = Queue.add_message
    change_message_visibility = SQSBackend.change_message_visibility

    def add_message_noted(self: Any, message: Any) -> None:
        """Sent, fanned out from SNS or S3, or moved to a dead-letter queue: noted for pollers."""
        try:
            add_message(self, message)
        finally:
            datachanges.note("sqs", self.name)

    def change_visibility_noted(self: Any, queue_name: str, *args: Any, **kwargs: Any) -> None:
        """A message may be visible again (the engine ends visibility this way): noted for pollers."""
        try:
            change_message_visibility(self, queue_name, *args, **kwargs)
        finally:
            datachanges.note("sqs", queue_name)

    def materialised_attributes(self: Any, queue_name: str, attribute_names: list[str]) -> dict[str, Any]:
        """Callers, moto's serialiser among them, still get the plain dict moto gave them."""
        return dict(get_queue_attributes(self, queue_name, attribute_names))

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
        raise ReceiptHandleIsInvalid()

    def wait_unlocked(self: Any, timeout: int) -> None:
        """A long poll waits for another request's message, so it must not hold that request off."""
        with MOTO_LOCK.released():
            wait_for_messages(self, timeout)

    modules = tuple(moto.backends.list_of_moto_modules())
    get_backend = moto.backends.get_backend
    method_names_from_class = moto.core.responses.method_names_from_class

    @functools.cache
    def action_names(clazz: type) -> frozenset[str]:
        """A response class's methods (its actions), listed once per class instead of per request."""
        return frozenset(method_names_from_class(clazz))

    def get_backend_lightly(name: str) -> Any:
        """The server loads a service's backend at its first request: SSM's without EC2's, and
        EC2's with the data plane's boto3 session."""
        if name == "ssm":
            import_ssm_models()
        elif name == "ec2":
            import_ec2_models()
        return get_backend(name)  # type: ignore[call-overload]

    return {
        (moto.backends, "list_of_moto_modules"): lambda: modules,
        (moto.backends, "get_backend"): get_backend_lightly,
        (moto.core.responses, "method_names_from_class"): action_names,
        (Queue, "attributes"): property(_QueueAttributes),
        (Queue, "messages"): property(_receivable),
        (Queue, "approximate_number_of_messages_delayed"): property(lambda q: len(_delayed(q))),
        (Queue, "approximate_number_of_messages_not_visible"): property(lambda q: len(_in_flight(q))),
        (Queue, "delete_message"): delete_first_match,
        (SQSBackend, "get_queue_attributes"): materialised_attributes,
        (Queue, "wait_for_messages"): wait_unlocked,
        (Queue, "add_message"): add_message_noted,
        (SQSBackend, "change_message_visibility"): change_visibility_noted,
    }


def _stream_replacements() -> dict[tuple[Any, str], Any]:
    import moto.dynamodb.models as dynamodb_models
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import StreamShard
    from moto.kinesis.models import Stream

    update_item = DynamoDBBackend.update_item
    transact_write_items = DynamoDBBackend.transact_write_items
    add_stream_record = StreamShard.add
    put_record = Stream.put_record

    def add_stream_record_noted(self: Any, *args: Any, **kwargs: Any) -> None:
        try:
            add_stream_record(self, *args, **kwargs)
        finally:
            datachanges.note("dynamodb", self.table.name)

    def put_record_noted(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return put_record(self, *args, **kwargs)
        finally:
            datachanges.note("kinesis", self.stream_name)

    def update_item_one_record(self: Any, table_name: str, *args: Any, **kwargs: Any) -> Any:
        """UpdateItem on a missing item: moto writes a key-only placeholder first, and its stream
        gets two INSERT records. DynamoDB Streams has one; drop the placeholder's."""
        shard = self.get_table(table_name).stream_shard
        before = len(shard.items) if shard is not None else 0
        item = update_item(self, table_name, *args, **kwargs)
        if shard is not None and len(shard.items) == before + 2:
            del shard.items[before]
            shard.items[before].record["dynamodb"]["SequenceNumber"] = str(before + shard.starting_sequence_number)
        return item

    def transact_rolling_back_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        """moto deep-copies every table a transaction touches, to put the copy back if it is
        cancelled: each transaction costs the size of its tables (8 ms on a lab's ledger, and
        growing). Keep copies of the touched items instead, and of nothing else; a cancelled
        transaction puts them back and drops the stream records of its writes (the live shard
        stays, so readers' iterators still follow it)."""
        touched = _touched_items(self, transact_items)
        streams = [(table.stream_shard, len(table.stream_shard.items))
                   for table in {id(t): t for t, *_ in touched}.values() if table.stream_shard is not None]
        try:
            transact_write_items(self, transact_items)
        except Exception:
            for table, hash_value, range_value, before in reversed(touched):
                _put_back(table, hash_value, range_value, before)
            for shard, length in streams:
                del shard.items[length:]
            raise

    return {
        (DynamoDBBackend, "update_item"): update_item_one_record,
        (DynamoDBBackend, "transact_write_items"): transact_rolling_back_items,
        (dynamodb_models, "copy"): _TablesNotCopied(),
        (StreamShard, "add"): add_stream_record_noted,
        (Stream, "put_record"): put_record_noted,
    }


class _TablesNotCopied:
    """``copy`` as moto's DynamoDB backend module sees it: a table is not deep-copied (only
    ``transact_write_items`` copies tables, and its replacement keeps what a rollback needs); any
    other object is."""

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    @staticmethod
    def deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
        from moto.dynamodb.models.table import Table

        return value if isinstance(value, Table) else copy.deepcopy(value, memo)


def _touched_items(backend: Any, transact_items: list[dict[str, Any]]) -> list[tuple[Any, Any, Any, Any]]:
    """(table, hash key, range key, a copy of the item or None) for each item a transaction names;
    an operation moto will refuse (no such table, a malformed key) writes nothing and is left out."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    touched = []
    for entry in transact_items:
        try:
            op_type, op = next(iter(entry.items()))
            table = backend.tables[op["TableName"]]
            key = op["Item"] if op_type == "Put" else op["Key"]
            hash_value = DynamoType(key[table.hash_key_attr])
            range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
        except (KeyError, TypeError, AttributeError, StopIteration):
            continue
        before = table.get_item(hash_value, range_value)
        touched.append((table, hash_value, range_value, copy.deepcopy(before)))
    return touched


def _put_back(table: Any, hash_value: Any, range_value: Any, before: Any) -> None:
    """Make the item at this key what it was (``None``: absent), without a stream record."""
    if range_value is not None:
        if before is None:
            table.items.get(hash_value, {}).pop(range_value, None)
        else:
            table.items[hash_value][range_value] = before
    elif before is None:
        table.items.pop(hash_value, None)
    else:
        table.items[hash_value] = before
