"""moto's DynamoDB: one stream record per change, transactions that copy items rather than
tables, and new stream records noted for the pollers.

``UpdateItem`` on a missing item gave its stream two INSERT records; DynamoDB Streams has one.
``TransactWriteItems`` deep-copied every table it touched, to put the copy back if the transaction
is cancelled; it keeps copies of the touched items instead.
"""

from __future__ import annotations

import copy
from typing import Any

from lambdalab.dataplane import datachanges
from lambdalab.dataplane.patches.registry import Patch, released

BACKEND = "moto.dynamodb.models.DynamoDBBackend"
MODELS = "moto.dynamodb.models"
STREAM_SHARD = "moto.dynamodb.models.table.StreamShard"


def add_stream_record_noted(self: Any, *args: Any, **kwargs: Any) -> None:
    try:
        released(STREAM_SHARD, "add")(self, *args, **kwargs)
    finally:
        datachanges.note("dynamodb", self.table.name)


def update_item_one_record(self: Any, table_name: str, *args: Any, **kwargs: Any) -> Any:
    """UpdateItem on a missing item: moto writes a key-only placeholder first, and its stream
    gets two INSERT records. DynamoDB Streams has one; drop the placeholder's."""
    shard = self.get_table(table_name).stream_shard
    before = len(shard.items) if shard is not None else 0
    item = released(BACKEND, "update_item")(self, table_name, *args, **kwargs)
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
        released(BACKEND, "transact_write_items")(self, transact_items)
    except Exception:
        for table, hash_value, range_value, before in reversed(touched):
            _put_back(table, hash_value, range_value, before)
        for shard, length in streams:
            del shard.items[length:]
        raise


class TablesNotCopied:
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


PATCHES = (
    Patch(BACKEND, "update_item", update_item_one_record,
          "UpdateItem on a missing item gave its stream two INSERT records; DynamoDB Streams has one", "218984588dd6"),
    Patch(BACKEND, "transact_write_items", transact_rolling_back_items,
          "a transaction deep-copied every table it touched; the touched items are copied instead", "81db2cb7d94e"),
    Patch(MODELS, "copy", TablesNotCopied(),
          "the backend module's deepcopy leaves tables alone (the transaction patch copies items)", "47ee7b6043b7"),
    Patch(STREAM_SHARD, "add", add_stream_record_noted,
          "a new stream record is noted for the pollers (datachanges)", "357dc6da267e"),
)
