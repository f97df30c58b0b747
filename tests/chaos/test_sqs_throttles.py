"""SQS throttles at volume: a burst against a reserved concurrency below the pollers' concurrency,
and a run of scripted throttles on top.

Every throttled batch stays in flight and is invoked again after a backoff while the mapping runs
fewer batches at once; a batch throttled for longer than its visibility timeout goes back to the
queue and is received again. Whatever the throttles, each message is processed once and none is
lost [SQS-T],[SQS-S],[CONC-a]. Prints the messages, invokes, throttles, retries and messages that
went back to the queue, the virtual seconds the burst took, and the wall seconds.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lambdalab import LocalCloud
from tests.engine.apps import write_app
from tests.engine.sqs_apps import dead_letters, queue_app, queue_depth, seen, send

MESSAGES = 400
THROTTLES = 30  # scripted throttles of the first attempts, on top of the reserved concurrency's


@pytest.fixture
def make_cloud(tmp_path: Path) -> Iterator[Any]:
    started: list[LocalCloud] = []

    def start_cloud(resources: str, handlers: dict[str, str]) -> LocalCloud:
        started.append(LocalCloud.start(write_app(tmp_path, resources, handlers)))
        return started[-1]

    yield start_cloud
    for cloud in started:
        cloud.close()


def test_a_burst_against_reserved_concurrency_and_scripted_throttles_loses_nothing(make_cloud: Any) -> None:
    cloud = make_cloud(*queue_app(reserved=2, visibility=18, max_receive=5, events="BatchSize: 2"))
    cloud.faults.throttle("Worker", times=THROTTLES)
    send(cloud, *({"id": n} for n in range(MESSAGES)))
    wall, began = time.perf_counter(), cloud.now()
    cloud.run_until_idle()
    wall = time.perf_counter() - wall
    runs = cloud.journal.invocations("Worker")
    stats = cloud.event_source_mapping("Worker").stats
    counts = Counter(s["id"] for s in seen(cloud))
    print(f"\nSQS throttles: {MESSAGES} messages in {len(runs)} invokes, {stats.throttled_batches} throttled, "
          f"{stats.throttle_retries} retries, {stats.returned} messages back in the queue; "
          f"{cloud.now() - began:.1f} virtual s, {wall:.1f} s wall")
    assert stats.throttled_batches > THROTTLES
    assert stats.throttled_batches == sum(i.outcome == "Throttled" for i in runs)
    assert counts == Counter(range(MESSAGES)), "a message was lost or processed twice"
    assert stats.returned == sum(s["count"] - 1 for s in seen(cloud)), "a receive nobody accounts for"
    assert queue_depth(cloud, "Jobs") == 0 and dead_letters(cloud) == []
