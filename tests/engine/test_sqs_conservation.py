"""Conservation under chaos: duplicates, crashes, throttles and failing messages, and still every
message ends either processed or in the dead-letter queue; none is lost."""

from __future__ import annotations

from tests.engine.sqs_apps import dead_letters, queue_app, queue_depth, seen, send


def test_every_message_is_processed_or_dead_lettered_under_duplicates_crashes_and_throttles(make_cloud):
    """[SQS-a],[SQS-E],[ESM]: at-least-once delivery, whole-batch returns on errors and throttles, partial
    batch responses and redrive after maxReceiveCount never lose a message."""
    events = "BatchSize: 7\nFunctionResponseTypes: [ReportBatchItemFailures]\nScalingConfig:\n  MaximumConcurrency: 4"
    cloud = make_cloud(*queue_app(visibility=30, max_receive=4, reserved=3, events=events))
    cloud.faults.duplicate_delivery("Jobs", times=6)
    cloud.faults.crash("Worker", times=3)
    cloud.faults.throttle("Worker", times=3)
    bodies = []
    for n in range(120):
        body: dict[str, object] = {"id": n}
        if n % 17 == 0:
            body["fail_below"] = 99  # poison: always reported as failed
        elif n % 5 == 0:
            body["fail_below"] = 2  # transient: fails on its first receive
        elif n == 61:
            body["raise"] = True  # fails its whole batch every time
        bodies.append(body)
    send(cloud, *bodies)
    cloud.run_until_idle()

    succeeded: set[int] = set()
    failed = {b["id"] for b in bodies if b.get("fail_below") == 99 or b.get("raise")}
    for line in seen(cloud):
        if line["id"] not in failed and line["count"] >= next(b for b in bodies if b["id"] == line["id"]).get(
                "fail_below", 0):
            succeeded.add(line["id"])
    dead = [d["body"]["id"] for d in dead_letters(cloud)]
    assert queue_depth(cloud, "Jobs") == 0
    assert len(dead) == len(set(dead)), "a message reached the dead-letter queue twice"
    assert set(dead) | succeeded == set(range(120)), "a message was lost"
    assert failed <= set(dead)
    stats = cloud.event_source_mapping("Worker").stats
    outcomes = cloud.journal.counts("Worker")
    assert stats.duplicates == 6 and stats.throttled_batches >= 3 and outcomes["Throttled"] >= 3
    assert sum(1 for i in cloud.journal.invocations("Worker") if i.detail == "Runtime.ExitError") == 3
