"""SQS polling on the virtual clock: success deletes, failure returns after the visibility timeout,
the receive count climbs, and the source queue's redrive policy moves the message to its DLQ."""

from __future__ import annotations

import json

from tests.engine.event_shapes import sample, shape_differences
from tests.engine.sqs_apps import dead_letters, queue_app, queue_depth, seen, send


def test_a_successful_batch_is_deleted(make_cloud):
    """[SQS-a]: Lambda invokes synchronously with the batch; success deletes every message of it."""
    cloud = make_cloud(*queue_app())
    send(cloud, *({"id": n} for n in range(3)))
    cloud.run_until_idle()
    runs = cloud.journal.invocations("Worker")
    assert [(i.outcome, i.invocation_type, i.source) for i in runs] == [("Success", "RequestResponse", "sqs:Jobs")]
    assert sorted(s["id"] for s in seen(cloud)) == [0, 1, 2]
    assert queue_depth(cloud, "Jobs") == 0 and queue_depth(cloud, "JobsDlq") == 0


def test_a_failed_batch_returns_after_the_visibility_timeout_until_redrive_moves_it_to_the_dlq(make_cloud):
    """[SQS-a],[SQS-E]: an error returns all messages after the visibility timeout, ApproximateReceiveCount
    grows on each receive, and after maxReceiveCount receives the queue's redrive policy moves the message
    to the dead-letter queue."""
    cloud = make_cloud(*queue_app(visibility=30, max_receive=5))
    send(cloud, {"id": "poison", "raise": True})
    cloud.run_until_idle()
    runs = cloud.journal.invocations("Worker")
    origin = runs[0].start
    assert [round(i.start - origin) for i in runs] == [0, 30, 60, 90, 120]
    assert [i.attempt for i in runs] == [1, 2, 3, 4, 5]
    assert [s["count"] for s in seen(cloud)] == [1, 2, 3, 4, 5]
    assert {i.outcome for i in runs} == {"Error"}
    assert [d["body"]["id"] for d in dead_letters(cloud)] == ["poison"]
    assert queue_depth(cloud, "Jobs") == 0
    stats = cloud.event_source_mapping("Worker").stats
    assert (stats.failed_batches, stats.returned, stats.to_dead_letter_queue) == (5, 5, 1)


def test_an_error_returns_even_the_messages_already_processed(make_cloud):
    """[SQS-E]: without ReportBatchItemFailures, one failing message returns the whole batch."""
    cloud = make_cloud(*queue_app(max_receive=2))
    send(cloud, {"id": "good"}, {"id": "bad", "raise": True})
    cloud.run_until_idle()
    assert sorted((s["id"], s["count"]) for s in seen(cloud)) == [("bad", 1), ("bad", 2), ("good", 1), ("good", 2)]
    assert sorted(d["body"]["id"] for d in dead_letters(cloud)) == ["bad", "good"]


def test_a_transient_failure_succeeds_on_a_later_receive(make_cloud):
    """[SQS-a]: a message that failed reappears after the visibility timeout and is processed then."""
    cloud = make_cloud(*queue_app(visibility=20, events="FunctionResponseTypes: [ReportBatchItemFailures]"))
    send(cloud, {"id": "flaky", "fail_below": 3})
    cloud.run_until_idle()
    runs = cloud.journal.invocations("Worker")
    assert [round(i.start - runs[0].start) for i in runs] == [0, 20, 40]
    assert queue_depth(cloud, "Jobs") == 0 and dead_letters(cloud) == []


def test_records_carry_every_key_of_the_sample_event(make_cloud):
    """[SQS-a]: the event a function receives has the keys and value types of `sam local
    generate-event sqs receive-message`: messageId, receiptHandle, body, attributes
    (ApproximateReceiveCount, SentTimestamp, SenderId, ApproximateFirstReceiveTimestamp, all strings),
    messageAttributes, md5OfBody, eventSource, eventSourceARN, awsRegion."""
    cloud = make_cloud(*queue_app())
    cloud.client("sqs").send_message(QueueUrl=cloud.resource("Jobs"), MessageBody=json.dumps({"id": 1, "echo": 1}),
                                     MessageAttributes={"kind": {"DataType": "String", "StringValue": "csv"}})
    cloud.run_until_idle()
    event = json.loads(next(line for line in cloud.logs("Worker") if line.startswith("EVENT "))[6:])
    assert shape_differences(event, sample("sqs/receive-message.json"), data_maps=("messageAttributes",)) == []
    record = event["Records"][0]
    assert record["eventSource"] == "aws:sqs" and record["eventSourceARN"] == cloud.attribute("Jobs", "Arn")
    assert record["messageAttributes"] == {"kind": {"stringValue": "csv", "stringListValues": [],
                                                    "binaryListValues": [], "dataType": "String"}}
    assert int(record["attributes"]["ApproximateFirstReceiveTimestamp"]) == int(cloud.journal.origin * 1000)


def test_messages_matching_no_filter_are_deleted_without_an_invoke(make_cloud):
    """[FILTER]: records that match no FilterCriteria pattern are deleted from the queue unseen."""
    events = """\
        FilterCriteria:
          Filters:
            - Pattern: '{"body": {"kind": ["export"]}}'
        """
    cloud = make_cloud(*queue_app(events=events))
    send(cloud, {"id": 1, "kind": "export"}, {"id": 2, "kind": "other"}, {"id": 3})
    cloud.run_until_idle()
    assert [s["id"] for s in seen(cloud)] == [1]
    assert queue_depth(cloud, "Jobs") == 0
    assert cloud.event_source_mapping("Worker").stats.filtered == 2


def test_a_batching_window_waits_for_more_messages(make_cloud):
    """[SQS-a]: with MaximumBatchingWindowInSeconds, a batch closes at BatchSize or at the window's end."""
    events = "BatchSize: 50\nMaximumBatchingWindowInSeconds: 5"
    cloud = make_cloud(*queue_app(events=events))
    send(cloud, *({"id": n} for n in range(3)))
    cloud.run_until_idle()
    runs = cloud.journal.invocations("Worker")
    assert len(runs) == 1 and round(runs[0].start - cloud.journal.origin) == 5
    assert len(seen(cloud)) == 3


def test_a_disabled_mapping_does_not_poll(make_cloud):
    """[ESM-API]: Enabled false stops polling; the messages wait in the queue."""
    cloud = make_cloud(*queue_app(events="Enabled: false"))
    send(cloud, {"id": 1})
    cloud.run_until_idle()
    assert cloud.journal.invocations("Worker") == [] and queue_depth(cloud, "Jobs") == 1
