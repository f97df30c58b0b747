"""A round wider than a thread pool's usual size still runs.

On the virtual clock every invocation of a round waits for the others to arrive before the first
runs, so each needs a thread of its own at once: 70 simultaneous events (within the account's
concurrency) must all run, and none may be throttled.
"""

from __future__ import annotations

from typing import Any

from tests.engine.apps import function

HANDLERS = {"app.py": '''
import time

def handler(event, context):
    time.sleep(1)
    return event["n"]
'''}


def test_seventy_simultaneous_events_all_run_at_once(make_cloud: Any) -> None:
    cloud = make_cloud(function("Busy", Timeout=10, MemorySize=128), HANDLERS)
    for n in range(70):
        cloud.invoke("Busy", {"n": n}, invocation_type="Event")
    cloud.run_until_idle(max_virtual_seconds=60)
    rows = cloud.journal.rows("Busy")
    assert [r["outcome"] for r in rows] == ["Success"] * 70
    assert len({r["env"] for r in rows}) == 70  # all at the same time: one environment each
