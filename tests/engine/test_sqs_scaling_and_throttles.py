"""How many batches an SQS mapping runs at once, and what throttles do to the messages."""

from __future__ import annotations

import pytest

from lambdalab import RESERVED_LIMIT
from lambdalab.sources.sqs.config import VisibilityTimeoutWarning
from tests.engine.sqs_apps import dead_letters, max_concurrency, queue_app, queue_depth, seen, send


def test_polling_starts_with_five_concurrent_batches(make_cloud):
    """[SQS-S]: Lambda starts with five concurrent batches."""
    cloud = make_cloud(*queue_app(events="BatchSize: 1"))
    send(cloud, *({"id": n} for n in range(12)))
    cloud.run_until_idle()
    runs = cloud.journal.invocations("Worker")
    first = [i for i in runs if i.start == runs[0].start]
    assert len(first) == 5 and max_concurrency(runs) == 5
    assert sorted(s["id"] for s in seen(cloud)) == list(range(12))


def test_maximum_concurrency_caps_concurrent_invocations(make_cloud):
    """[API-SC],[SQS-S]: ScalingConfig.MaximumConcurrency limits the concurrent invocations of a mapping."""
    cloud = make_cloud(*queue_app(events="BatchSize: 1\nScalingConfig:\n  MaximumConcurrency: 2"))
    send(cloud, *({"id": n} for n in range(10)))
    cloud.run_until_idle()
    runs = cloud.journal.invocations("Worker")
    assert len(runs) == 10 and max_concurrency(runs) == 2
    assert cloud.journal.counts("Worker") == {"Success": 10}


def test_duplicates_wait_for_a_free_slot_under_maximum_concurrency(make_cloud):
    """[API-SC],[ESM]: a duplicate delivery is still an invocation of the mapping, so it never takes
    the mapping past MaximumConcurrency; it runs in a later round, and every message is processed."""
    cloud = make_cloud(*queue_app(events="BatchSize: 1\nScalingConfig:\n  MaximumConcurrency: 2"))
    cloud.faults.duplicate_delivery("Jobs", times=2)
    send(cloud, *({"id": n} for n in range(4)))
    cloud.run_until_idle()
    runs = cloud.journal.invocations("Worker")
    assert len(runs) == 6 and max_concurrency(runs) == 2, cloud.journal.table("Worker")
    assert sorted(s["id"] for s in seen(cloud)) == [0, 0, 1, 1, 2, 3]
    assert queue_depth(cloud, "Jobs") == 0 and dead_letters(cloud) == []


def test_reserved_concurrency_below_the_pollers_throttles_retries_and_loses_nothing(make_cloud):
    """[SQS-T],[CONC-a]: when the function's reserved concurrency is below the poller's concurrency, the
    extra batches are throttled (Reason ReservedFunctionConcurrentInvocationLimitExceeded); Lambda keeps
    them in flight and invokes them again a second later, well within the visibility timeout: every
    message is processed on its first receive."""
    cloud = make_cloud(*queue_app(reserved=2, visibility=30, max_receive=10, events="BatchSize: 1"))
    send(cloud, *({"id": n} for n in range(5)))
    cloud.run_until_idle()
    runs = cloud.journal.invocations("Worker")
    throttled = [i for i in runs if i.outcome == "Throttled"]
    assert len(throttled) == 3 and {i.detail for i in throttled} == {RESERVED_LIMIT}
    assert round(runs[-1].start - runs[0].start) == 1, "throttled batches are retried, not returned to the queue"
    assert sorted((s["id"], s["count"]) for s in seen(cloud)) == [(n, 1) for n in range(5)]
    stats = cloud.event_source_mapping("Worker").stats
    assert (stats.throttled_batches, stats.throttle_retries, stats.returned) == (3, 3, 0)
    assert max_concurrency(runs) == 2
    assert queue_depth(cloud, "Jobs") == 0 and dead_letters(cloud) == []


def test_throttles_halve_the_mappings_concurrency_while_throttled_batches_wait(make_cloud):
    """[SQS-T]: throttles make Lambda reduce the concurrency of the mapping: the engine halves it on each
    round with a throttle, so five throttled-at-first batches are retried at most two at a time, then one."""
    cloud = make_cloud(*queue_app(reserved=1, visibility=60, events="BatchSize: 1"))
    send(cloud, *({"id": n} for n in range(5)))
    cloud.run_until_idle()
    rounds: dict[float, list[str]] = {}
    runs = cloud.journal.invocations("Worker")
    for i in runs:
        rounds.setdefault(round(i.start - runs[0].start, 3), []).append(i.outcome)
    sizes = [len(outcomes) for outcomes in rounds.values()]
    assert sizes[0] == 5 and rounds[0.0].count("Throttled") == 4
    assert sizes[1] == 2 and max(sizes[2:]) == 1, rounds
    assert sorted((s["id"], s["count"]) for s in seen(cloud)) == [(n, 1) for n in range(5)]
    assert queue_depth(cloud, "Jobs") == 0 and dead_letters(cloud) == []


def test_throttled_messages_return_when_their_visibility_timeout_runs_out_first(make_cloud):
    """[SQS-T],[SQS-a]: Lambda retries a throttled batch until its messages' visibility timeout ends; then
    they return to the queue, the next receive counts, and after maxReceiveCount receives the queue's
    redrive policy moves them to the dead-letter queue. Retries 1, 2, 4 s apart (the engine's delays):
    the next one, 8 s later, would fall past the 10 s visibility timeout (below the advised 6 x timeout)."""
    with pytest.warns(VisibilityTimeoutWarning):
        cloud = make_cloud(*queue_app(reserved=0, visibility=10, max_receive=2))
    send(cloud, {"id": "never"})
    cloud.run_until_idle()
    runs = cloud.journal.invocations("Worker")
    assert {i.outcome for i in runs} == {"Throttled"}
    assert [round(i.start - runs[0].start) for i in runs] == [0, 1, 3, 7, 10, 11, 13, 17]
    assert [i.attempt for i in runs] == [1, 1, 1, 1, 2, 2, 2, 2], "ApproximateReceiveCount grows per receive"
    stats = cloud.event_source_mapping("Worker").stats
    assert (stats.throttled_batches, stats.throttle_retries, stats.returned, stats.to_dead_letter_queue) == (8, 6, 2, 1)
    assert [d["body"]["id"] for d in dead_letters(cloud)] == ["never"] and seen(cloud) == []


def test_concurrency_grows_while_messages_keep_coming(make_cloud):
    """[SQS-S]: while the queue has messages Lambda adds concurrent batches (up to 300 a minute)."""
    cloud = make_cloud(*queue_app(events="BatchSize: 1", reserved=100, visibility=30))
    poller = cloud.event_source_mapping("Worker")
    send(cloud, *({"id": n} for n in range(40)))
    poller.scaling.busy_since = cloud.now() - 2  # messages have been arriving for two seconds
    cloud.run_until_idle()
    runs = cloud.journal.invocations("Worker")
    assert len([i for i in runs if i.start == runs[0].start]) == 15  # 5 + 300/min x 2 s
