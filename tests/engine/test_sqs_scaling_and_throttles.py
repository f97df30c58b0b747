"""How many batches an SQS mapping runs at once, and what throttles do to the messages."""

from __future__ import annotations

from lambdalab import RESERVED_LIMIT
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


def test_reserved_concurrency_below_the_pollers_throttles_and_messages_return(make_cloud):
    """[SQS-E],[CONC-a]: when the function's reserved concurrency is below the poller's concurrency, the
    extra batches are throttled (Reason ReservedFunctionConcurrentInvocationLimitExceeded) and their messages
    return after the visibility timeout; none is lost."""
    cloud = make_cloud(*queue_app(reserved=2, visibility=30, max_receive=10, events="BatchSize: 1"))
    send(cloud, *({"id": n} for n in range(5)))
    cloud.run_until_idle()
    runs = cloud.journal.invocations("Worker")
    throttled = [i for i in runs if i.outcome == "Throttled"]
    assert len(throttled) == 3 and {i.detail for i in throttled} == {RESERVED_LIMIT}
    assert round(runs[-1].start - runs[0].start) == 30, "throttled messages come back after the visibility timeout"
    assert sorted(s["id"] for s in seen(cloud)) == list(range(5))
    assert cloud.event_source_mapping("Worker").stats.throttled_batches == 3
    assert queue_depth(cloud, "Jobs") == 0 and dead_letters(cloud) == []


def test_concurrency_grows_while_messages_keep_coming(make_cloud):
    """[SQS-S]: while the queue has messages Lambda adds concurrent batches (up to 300 a minute)."""
    cloud = make_cloud(*queue_app(events="BatchSize: 1", reserved=100, visibility=30))
    poller = cloud.event_source_mapping("Worker")
    send(cloud, *({"id": n} for n in range(40)))
    poller.scaling.busy_since = cloud.now() - 2  # messages have been arriving for two seconds
    cloud.run_until_idle()
    runs = cloud.journal.invocations("Worker")
    assert len([i for i in runs if i.start == runs[0].start]) == 15  # 5 + 300/min x 2 s
