"""Partial batch responses (ReportBatchItemFailures) and FIFO queues through the SQS poller."""

from __future__ import annotations

from tests.engine.sqs_apps import dead_letters, queue_app, queue_depth, seen, send

REPORT = "FunctionResponseTypes: [ReportBatchItemFailures]"


def test_a_partial_batch_response_returns_only_the_reported_messages(make_cloud):
    """[SQS-a]: with ReportBatchItemFailures only the messages named in batchItemFailures return to the
    queue; the others are deleted and not processed again."""
    cloud = make_cloud(*queue_app(events=REPORT))
    send(cloud, {"id": "a"}, {"id": "b", "fail_below": 2}, {"id": "c"})
    cloud.run_until_idle()
    assert sorted((s["id"], s["count"]) for s in seen(cloud)) == [("a", 1), ("b", 1), ("b", 2), ("c", 1)]
    stats = cloud.event_source_mapping("Worker").stats
    assert (stats.partial_batches, stats.deleted, stats.returned) == (1, 3, 1)
    assert queue_depth(cloud, "Jobs") == 0


def test_an_item_identifier_not_in_the_batch_fails_the_whole_batch(make_cloud):
    """[SQS-E]: an itemIdentifier that is not a message of the batch fails the whole batch."""
    cloud = make_cloud(*queue_app(events=REPORT, max_receive=2))
    send(cloud, {"id": "a"}, {"id": "b", "bad_report": {"itemIdentifier": "not-a-message-id"}})
    cloud.run_until_idle()
    assert sorted((s["id"], s["count"]) for s in seen(cloud)) == [("a", 1), ("a", 2), ("b", 1), ("b", 2)]
    assert sorted(d["body"]["id"] for d in dead_letters(cloud)) == ["a", "b"]
    assert cloud.event_source_mapping("Worker").stats.invalid_responses == 2
    assert any("Invalid batchItemFailures" in line for line in cloud.logs("Worker"))


def test_without_report_batch_item_failures_a_returned_list_is_ignored(make_cloud):
    """[SQS-a]: without the FunctionResponseTypes setting, a successful invoke deletes the whole batch."""
    cloud = make_cloud(*queue_app())
    send(cloud, {"id": "a", "fail_below": 5})
    cloud.run_until_idle()
    assert [s["count"] for s in seen(cloud)] == [1] and queue_depth(cloud, "Jobs") == 0


def test_fifo_a_failure_blocks_its_group_only_and_order_holds(make_cloud):
    """[SQS-S],[SQS-a]: FIFO order holds within a message group; a failing message blocks its group until
    its retries finish, while other groups go on."""
    cloud = make_cloud(*queue_app(fifo=True, visibility=30, max_receive=3, events=REPORT + "\nBatchSize: 1"))
    send(cloud, {"id": "a1", "group": "A", "fail_below": 2}, {"id": "a2", "group": "A"},
         {"id": "b1", "group": "B"}, {"id": "b2", "group": "B"})
    cloud.run_until_idle()
    origin = cloud.journal.origin
    by_group: dict[str, list[tuple[str, int]]] = {}
    for s in seen(cloud):
        by_group.setdefault(s["group"], []).append((s["id"], s["count"]))
    assert by_group["A"] == [("a1", 1), ("a1", 2), ("a2", 1)]
    assert by_group["B"] == [("b1", 1), ("b2", 1)]
    starts = {}
    for line, run in zip(seen(cloud), cloud.journal.invocations("Worker"), strict=True):
        starts.setdefault(line["id"], round(run.start - origin))
    assert starts["b2"] < 30 <= starts["a2"], "group B goes on while group A waits for a1's retry"
    assert queue_depth(cloud, "Jobs") == 0


def test_fifo_records_carry_the_fifo_attributes(make_cloud):
    """[SQS-a]: FIFO records add SequenceNumber, MessageGroupId and MessageDeduplicationId."""
    import json

    cloud = make_cloud(*queue_app(fifo=True))
    send(cloud, {"id": 1, "group": "G", "echo": 1})
    cloud.run_until_idle()
    event = json.loads(next(line for line in cloud.logs("Worker") if line.startswith("EVENT "))[6:])
    attributes = event["Records"][0]["attributes"]
    assert {"SequenceNumber", "MessageGroupId", "MessageDeduplicationId"} <= set(attributes)
    assert attributes["MessageGroupId"] == "G"
