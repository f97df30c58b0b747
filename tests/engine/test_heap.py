"""The collector is kept off a running cloud's heap (gc.freeze), and given it back once the cloud
closes, so a process that starts many clouds does not keep their cycles forever."""

from __future__ import annotations

import gc
from typing import Any

from tests.engine.apps import function

HANDLERS = {"app.py": "def handler(event, context):\n    return event\n"}


def test_the_heap_is_frozen_while_a_cloud_is_open_and_thawed_after_it_closes(make_cloud: Any) -> None:
    gc.unfreeze()
    first = make_cloud(function("Fn"), HANDLERS)
    assert gc.get_freeze_count() > 0
    second = make_cloud(function("Fn"), HANDLERS)  # closes the first: one cloud a process
    assert first.closed and gc.get_freeze_count() > 0, "the second cloud is open"
    second.close()
    assert gc.get_freeze_count() == 0
    first.close()  # closing twice changes nothing
    second.close()
    assert gc.get_freeze_count() == 0
