"""Scripted faults on an SQS mapping: duplicate delivery, a crash mid-batch, throttles."""

from __future__ import annotations

from tests.engine.sqs_apps import dead_letters, max_concurrency, queue_app, queue_depth, seen, send


def test_duplicate_delivery_gives_the_function_the_same_message_twice_at_once(make_cloud):
    """[SQS-a],[ESM]: standard queues deliver at least once: the same message (same messageId) can reach
    two invocations at the same time."""
    cloud = make_cloud(*queue_app())
    cloud.faults.duplicate_delivery("Jobs")
    send(cloud, {"id": "once"})
    cloud.run_until_idle()
    lines = seen(cloud)
    assert [s["id"] for s in lines] == ["once", "once"] and lines[0]["messageId"] == lines[1]["messageId"]
    assert max_concurrency(cloud.journal.invocations("Worker")) == 2
    assert cloud.event_source_mapping("Jobs").stats.duplicates == 1
    assert queue_depth(cloud, "Jobs") == 0


def test_a_crash_mid_batch_returns_the_whole_batch_even_though_it_was_processed(make_cloud):
    """[SQS-E],[ENV]: the runtime exits before answering (Runtime.ExitError): Lambda resets the environment
    and every message of the batch returns after the visibility timeout, though the handler processed it."""
    cloud = make_cloud(*queue_app(visibility=30))
    cloud.faults.crash("Worker")
    send(cloud, {"id": "a"}, {"id": "b"})
    cloud.run_until_idle()
    runs = cloud.journal.invocations("Worker")
    assert [(i.outcome, i.detail) for i in runs] == [("Error", "Runtime.ExitError"), ("Success", None)]
    assert runs[0].env_id != runs[1].env_id and runs[1].cold
    assert round(runs[1].start - runs[0].start) == 30
    assert sorted((s["id"], s["count"]) for s in seen(cloud)) == [("a", 1), ("a", 2), ("b", 1), ("b", 2)]
    assert any("Runtime exited with error: signal: killed" in line for line in cloud.logs("Worker"))
    assert queue_depth(cloud, "Jobs") == 0


def test_a_scripted_throttle_is_retried_with_backoff_while_the_batch_stays_in_flight(make_cloud):
    """[SQS-T]: a throttled batch is not returned to the queue: Lambda keeps it in flight and retries the
    invoke after 1 s, then 2 s (the engine's delays); the message is processed on its first receive."""
    cloud = make_cloud(*queue_app(visibility=45))
    cloud.faults.throttle("Worker", times=2)
    send(cloud, {"id": "t"})
    cloud.run_until_idle()
    runs = cloud.journal.invocations("Worker")
    assert [i.outcome for i in runs] == ["Throttled", "Throttled", "Success"]
    assert [round(i.start - runs[0].start) for i in runs] == [0, 1, 3]
    stats = cloud.event_source_mapping("Worker").stats
    assert (stats.throttled_batches, stats.throttle_retries, stats.returned, stats.deleted) == (2, 2, 0, 1)
    assert [s["count"] for s in seen(cloud)] == [1] and dead_letters(cloud) == []
    assert cloud.now() < runs[0].start + 45, "once invoked, nothing waits for the batch's visibility timeout"
