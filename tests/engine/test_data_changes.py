"""Data-change notices: the virtual clock polls every source before each task, so an idle queue or
stream must cost no requests, yet gating on ``lambdalab.dataplane.datachanges`` must never hide a message or
record. Requests are counted with botocore's ``before-call`` event on the data plane's shared client,
the one the pollers use."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from lambdalab.dataplane import datachanges, patches
from tests.engine.sqs_apps import queue_app, send
from tests.engine.sqs_apps import seen as sqs_seen
from tests.engine.stream_apps import put, stream_app
from tests.engine.stream_apps import seen as stream_seen

IDLE_STEPS = 20


@pytest.fixture
def tracking() -> Iterator[None]:
    """Whatever a test switches, later tests see tracking on."""
    try:
        yield
    finally:
        datachanges.set_tracking(True)


@contextmanager
def requests_sent(client: Any) -> Iterator[Counter[str]]:
    """The operations ``client`` sends while the block runs, by name."""
    sent: Counter[str] = Counter()

    def count(model: Any, **_: Any) -> None:
        sent[model.name] += 1

    event = f"before-call.{client.meta.service_model.service_id.hyphenize()}"
    client.meta.events.register(event, count, unique_id="test-data-changes")
    try:
        yield sent
    finally:
        client.meta.events.unregister(event, unique_id="test-data-changes")


def _nothing() -> None:
    """A clock task with nothing to do: the clock still polls every source before it."""


def idle_steps(cloud: Any, steps: int = IDLE_STEPS) -> None:
    """Run ``steps`` empty tasks one virtual second apart: at least ``steps`` polls of every source."""
    now = cloud.now()
    for n in range(1, steps + 1):
        cloud.clock.call_at(now + n, _nothing, label="idle")
    cloud.advance(steps + 1)


def sqs_polls(cloud: Any) -> Any:
    return requests_sent(cloud.dataplane.client("sqs"))


# -- the version counters ---------------------------------------------------------------------------
def test_a_note_changes_the_version_of_that_resource_only() -> None:
    """A poller trusts an unchanged version: a note must change it, and only for its own resource."""
    before, other = datachanges.version("sqs", "dc-unit-a"), datachanges.version("sqs", "dc-unit-b")
    assert datachanges.version("sqs", "dc-unit-a") == before  # repeats while nothing is noted
    datachanges.note("sqs", "dc-unit-a")
    assert datachanges.version("sqs", "dc-unit-a") != before
    assert datachanges.version("sqs", "dc-unit-b") == other
    assert datachanges.version("kinesis", "dc-unit-a") == datachanges.version("kinesis", "dc-unit-a")


def test_untracked_versions_never_repeat_nor_match_one_from_either_side_of_a_switch(tracking: None) -> None:
    """Unpatched moto notes nothing, so no version taken then (or across a switch) may be trusted."""
    tracked = datachanges.version("sqs", "dc-unit-c")
    datachanges.set_tracking(False)
    untracked = [datachanges.version("sqs", "dc-unit-c") for _ in range(3)]
    datachanges.note("sqs", "dc-unit-c")
    untracked.append(datachanges.version("sqs", "dc-unit-c"))
    datachanges.set_tracking(True)
    after = datachanges.version("sqs", "dc-unit-c")
    assert len(set(untracked)) == len(untracked)
    assert tracked not in untracked and after not in untracked
    assert after != tracked  # the switch alone changes it: a write while untracked went unnoted
    assert datachanges.version("sqs", "dc-unit-c") == after  # tracked again: repeats until a note


# -- SQS ------------------------------------------------------------------------------------------
def test_a_drained_idle_queue_is_not_polled_until_a_message_is_sent(make_cloud: Any) -> None:
    """Empty and unchanged, the same GetQueueAttributes/ReceiveMessage would answer the same: none are
    sent however many tasks the clock runs; a SendMessage notes the queue, so it is delivered."""
    cloud = make_cloud(*queue_app())
    send(cloud, {"id": 1})
    cloud.run_until_idle()
    with sqs_polls(cloud) as sent:
        idle_steps(cloud)
    assert sent == Counter()
    with sqs_polls(cloud) as sent:
        send(cloud, {"id": 2})  # a client of its own: not counted
        cloud.run_until_idle()
    assert sent["ReceiveMessage"] >= 1
    assert [s["id"] for s in sqs_seen(cloud)] == [1, 2]
    assert [i.outcome for i in cloud.journal.invocations("Worker")] == ["Success", "Success"]


@pytest.mark.parametrize("held", ["delayed", "in flight"])
def test_a_queue_holding_a_delayed_or_in_flight_message_is_polled_on_every_step(make_cloud: Any, held: str) -> None:
    """A delayed message, or one another client received, becomes receivable by moto's wall clock with
    no notice: the queue is not empty (MessagesDelayed or MessagesNotVisible > 0), so the poller must
    keep asking. Once the holder lets go (ChangeMessageVisibility 0) the message is delivered."""
    cloud = make_cloud(*queue_app())
    cloud.run_until_idle()  # found empty: gated from here
    sqs, url = cloud.client("sqs"), cloud.resource("Jobs")
    body = json.dumps({"id": held})
    if held == "delayed":
        sqs.send_message(QueueUrl=url, MessageBody=body, DelaySeconds=900)
    else:
        sqs.send_message(QueueUrl=url, MessageBody=body)
        [message] = sqs.receive_message(QueueUrl=url, VisibilityTimeout=900)["Messages"]
    with sqs_polls(cloud) as sent:
        idle_steps(cloud)
    assert sent["ReceiveMessage"] >= IDLE_STEPS and sent["GetQueueAttributes"] >= IDLE_STEPS
    assert sqs_seen(cloud) == []
    if held == "in flight":
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
        cloud.run_until_idle()
        assert [s["id"] for s in sqs_seen(cloud)] == ["in flight"]


def test_a_message_sent_while_moto_runs_unpatched_is_delivered_after(make_cloud: Any) -> None:
    """Unpatched moto adds the message without a notice: the queue's version from before the switch
    must not match the one after it, or the gated poller would never look again."""
    cloud = make_cloud(*queue_app())
    send(cloud, {"id": "before"})
    cloud.run_until_idle()
    with sqs_polls(cloud) as sent:
        idle_steps(cloud, 5)
    assert sent == Counter()  # gated
    with patches.unpatched():
        send(cloud, {"id": "unnoted"})  # no clock step while unpatched
    cloud.run_until_idle()
    assert [s["id"] for s in sqs_seen(cloud)] == ["before", "unnoted"]


def test_while_moto_runs_unpatched_every_poll_reads_the_queue(make_cloud: Any) -> None:
    """No version repeats while untracked, so an idle queue is read on every step, and what is sent
    meanwhile (unnoted) is delivered."""
    cloud = make_cloud(*queue_app())
    cloud.run_until_idle()
    with patches.unpatched():
        with sqs_polls(cloud) as sent:
            idle_steps(cloud, 10)
        assert sent["GetQueueAttributes"] >= 10
        send(cloud, {"id": "unpatched"})
        cloud.run_until_idle()
        assert [s["id"] for s in sqs_seen(cloud)] == ["unpatched"]


# -- streams ----------------------------------------------------------------------------------------
def test_an_idle_kinesis_stream_is_not_read_until_a_record_is_put(make_cloud: Any) -> None:
    """After a GetRecords reached each shard's end, an unchanged stream version means the same read
    would find nothing: no GetRecords while idle; a PutRecord (to either shard) notes it and is delivered."""
    cloud = make_cloud(*stream_app(shards=2))
    put(cloud, {"id": 1}, shard=0)
    cloud.run_until_idle()
    with requests_sent(cloud.dataplane.client("kinesis")) as sent:
        idle_steps(cloud)
    assert sent == Counter()
    with requests_sent(cloud.dataplane.client("kinesis")) as sent:
        put(cloud, {"id": 2}, shard=1)
        cloud.run_until_idle()
    assert sent["GetRecords"] >= 2  # both shards read again: the version is the stream's
    assert [e["id"] for e in stream_seen(cloud)] == [1, 2]


def test_an_idle_table_stream_is_not_read_until_the_table_is_written(make_cloud: Any) -> None:
    """DynamoDB stream records are noted under the table's name, which the reader takes from the
    stream ARN: no GetRecords while idle, and a PutItem afterwards is delivered."""
    cloud = make_cloud(*stream_app(table="KEYS_ONLY"))
    ddb, table = cloud.client("dynamodb"), cloud.resource("Items")
    ddb.put_item(TableName=table, Item={"pk": {"S": "a"}})
    cloud.run_until_idle()
    with requests_sent(cloud.dataplane.client("dynamodbstreams")) as sent:
        idle_steps(cloud)
    assert sent == Counter()
    ddb.put_item(TableName=table, Item={"pk": {"S": "b"}})
    cloud.run_until_idle()
    assert [e["id"] for e in stream_seen(cloud)] == ["a", "b"]
