"""moto's Kinesis: a record put is noted for the pollers (``lambdalab.dataplane.datachanges``)."""

from __future__ import annotations

from typing import Any

from lambdalab.dataplane import datachanges
from lambdalab.dataplane.patches.registry import Patch, released

STREAM = "moto.kinesis.models.Stream"


def put_record_noted(self: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return released(STREAM, "put_record")(self, *args, **kwargs)
    finally:
        datachanges.note("kinesis", self.stream_name)


PATCHES = (
    Patch(STREAM, "put_record", put_record_noted,
          "a new record is noted for the pollers (datachanges)", "cafda0597b23"),
)
