"""A failing stream batch blocks its shard, other shards flow; retries, bisect, partial batch
responses, record age and on-failure destinations, all on the virtual clock."""

from __future__ import annotations

import json
import warnings
from typing import Any

import pytest

from lambdalab.sources.streams.processor import BlockedShardWarning
from tests.engine.stream_apps import failures, put, seen, stream_app, times_seen

ON_FAILURE = """
DestinationConfig:
  OnFailure:
    Type: SQS
    Destination: !GetAtt Failures.Arn
"""


def start(make_cloud: Any, events: str, **kwargs: Any) -> Any:
    return make_cloud(*stream_app(events=events, **kwargs))


@pytest.mark.filterwarnings("ignore::lambdalab.sources.streams.processor.BlockedShardWarning")
def test_a_poison_record_blocks_its_shard_while_the_other_shard_flows(make_cloud: Any) -> None:
    """[KIN] With default settings a failing batch is retried (the shard blocked) until it succeeds
    or its records expire, while other shards continue."""
    cloud = start(make_cloud, "StartingPosition: TRIM_HORIZON\nBatchSize: 2")
    put(cloud, {"id": "a1"}, {"id": "a2", "poison": True}, {"id": "a3"}, shard=0)
    put(cloud, *[{"id": f"b{n}"} for n in range(6)], shard=1)
    cloud.advance(600)
    counts = times_seen(cloud)
    assert all(counts[f"b{n}"] == 1 for n in range(6))
    assert "a3" not in counts and counts["a2"] >= 10
    assert cloud.event_source_mapping("Worker").stats.discarded == 0


@pytest.mark.filterwarnings("ignore::lambdalab.sources.streams.processor.BlockedShardWarning")
def test_run_until_idle_with_a_virtual_limit_returns_while_a_shard_is_still_blocked(make_cloud: Any) -> None:
    """[KIN] With AWS's defaults a failing batch is retried until its records expire (a day or
    more of virtual time); ``run_until_idle(max_virtual_seconds=...)`` ends a cell before that."""
    cloud = start(make_cloud, "StartingPosition: TRIM_HORIZON\nBatchSize: 2")
    put(cloud, {"id": "a1", "poison": True}, shard=0)
    began = cloud.now()
    cloud.run_until_idle(max_virtual_seconds=120)
    assert 0 < cloud.now() - began <= 121
    assert times_seen(cloud)["a1"] >= 2, "the shard is still being retried"



def test_a_shard_blocked_with_awss_defaults_says_so_once(make_cloud: Any) -> None:
    """[KIN],[KIN-P] With MaximumRetryAttempts and MaximumRecordAgeInSeconds at -1, a failing batch
    is retried until its records expire (24 h): after a few failures the engine says which shard
    is blocked and how to bound it, once for that batch, and only for that shard."""
    cloud = start(make_cloud, "StartingPosition: TRIM_HORIZON\nBatchSize: 2")
    put(cloud, {"id": "a1", "poison": True}, shard=0)
    put(cloud, {"id": "b1"}, shard=1)
    with pytest.warns(BlockedShardWarning) as caught:
        cloud.run_until_idle(max_virtual_seconds=300)
    assert times_seen(cloud)["a1"] > 4, "still retried after the notice"
    [notice] = [str(w.message) for w in caught if w.category is BlockedShardWarning]
    assert notice.startswith("lambdalab: ") and "shard shardId-000000000000 is blocked by a failing batch" in notice
    assert "(Worker)" in notice and "(24 h)" in notice
    assert "MaximumRetryAttempts" in notice and "run_until_idle(max_virtual_seconds=...)" in notice
    assert any("is blocked by a failing batch" in line for line in cloud.logs("Worker"))


def test_bounded_retries_give_no_blocked_shard_notice(make_cloud: Any) -> None:
    """[KIN-P] A mapping that bounds its retries moves on by itself: no notice."""
    cloud = start(make_cloud, "StartingPosition: TRIM_HORIZON\nBatchSize: 2\nMaximumRetryAttempts: 5")
    put(cloud, {"id": "a1", "poison": True}, shard=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", BlockedShardWarning)
        cloud.run_until_idle()
    assert times_seen(cloud)["a1"] == 6


def test_retries_run_out_and_the_batch_goes_to_the_on_failure_destination(make_cloud: Any) -> None:
    """[KIN],[KIN-ONF] After MaximumRetryAttempts retries the batch is discarded: its metadata goes
    to the on-failure queue (condition RetryAttemptsExhausted) and the shard moves on."""
    cloud = start(make_cloud, "StartingPosition: TRIM_HORIZON\nBatchSize: 2\nMaximumRetryAttempts: 2" + ON_FAILURE)
    seqs = put(cloud, {"id": "a1"}, {"id": "a2", "poison": True}, {"id": "a3"}, shard=0)
    cloud.run_until_idle()
    assert times_seen(cloud) == {"a1": 3, "a2": 3, "a3": 1}
    [record] = failures(cloud)
    assert record["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    info = record["KinesisBatchInfo"]
    assert (info["shardId"], info["startSequenceNumber"], info["endSequenceNumber"], info["batchSize"]) == \
        ("shardId-000000000000", seqs[0], seqs[1], 2)
    stops = [i.stop_reason for i in cloud.journal.invocations("Worker") if i.stop_reason]
    assert stops == ["RetryAttemptsExhausted"]


def test_bisect_isolates_the_poison_record(make_cloud: Any) -> None:
    """[KIN],[KIN-ONF] BisectBatchOnFunctionError halves failing batches until the bad record is
    alone; splits do not use retries; only the poison record is discarded."""
    events = "StartingPosition: TRIM_HORIZON\nBatchSize: 8\nMaximumRetryAttempts: 1\nBisectBatchOnFunctionError: true"
    cloud = start(make_cloud, events + ON_FAILURE)
    put(cloud, *[{"id": n, "poison": n == 5} for n in range(8)], shard=0)
    cloud.run_until_idle()
    [record] = failures(cloud)
    assert record["KinesisBatchInfo"]["batchSize"] == 1
    stats = cloud.event_source_mapping("Worker").stats
    assert (stats.discarded, stats.checkpointed, stats.bisected) == (1, 7, 3)
    assert times_seen(cloud)[5] == 3 + 2  # in 3 halving steps, then once more after its single retry


def test_report_batch_item_failures_retries_from_the_failed_record_only(make_cloud: Any) -> None:
    """[KIN] With ReportBatchItemFailures, Lambda checkpoints below the reported record: what came
    before it is never delivered again."""
    cloud = start(make_cloud, "StartingPosition: TRIM_HORIZON\nBatchSize: 10\nMaximumRetryAttempts: 2\n"
                              "FunctionResponseTypes: [ReportBatchItemFailures]" + ON_FAILURE, report=True)
    put(cloud, *[{"id": n, "poison": n == 3} for n in range(6)], shard=0)
    cloud.run_until_idle()
    assert times_seen(cloud) == {0: 1, 1: 1, 2: 1, 3: 3}
    [record] = failures(cloud)
    assert record["KinesisBatchInfo"]["batchSize"] == 3  # the reported record and what followed it


def test_report_batch_item_failures_with_bisect_loses_only_the_poison_record(make_cloud: Any) -> None:
    """[KIN] With bisect on as well, the batch is split at the reported record, then halved until
    the poison record is alone: only it is discarded."""
    cloud = start(make_cloud, "StartingPosition: TRIM_HORIZON\nBatchSize: 10\nMaximumRetryAttempts: 1\n"
                              "BisectBatchOnFunctionError: true\n"
                              "FunctionResponseTypes: [ReportBatchItemFailures]" + ON_FAILURE, report=True)
    put(cloud, *[{"id": n, "poison": n == 3} for n in range(6)], shard=0)
    cloud.run_until_idle()
    counts = times_seen(cloud)
    assert {n: counts[n] for n in (0, 1, 2, 4, 5)} == {0: 1, 1: 1, 2: 1, 4: 1, 5: 1}
    [record] = failures(cloud)
    assert record["KinesisBatchInfo"]["batchSize"] == 1


def test_records_past_the_maximum_age_are_discarded(make_cloud: Any) -> None:
    """[KIN-ONF],[KT] With infinite retries, a failing batch is discarded once its records are older
    than MaximumRecordAgeInSeconds (ages on the engine's clock)."""
    cloud = start(make_cloud, "StartingPosition: TRIM_HORIZON\nMaximumRecordAgeInSeconds: 60" + ON_FAILURE)
    put(cloud, {"id": "x", "poison": True}, {"id": "y"}, shard=0)
    cloud.run_until_idle()
    [record] = failures(cloud)
    assert record["requestContext"]["condition"] == "MaximumRecordAgeExceeded"
    assert record["KinesisBatchInfo"]["batchSize"] == 2
    assert cloud.now() - cloud.journal.origin >= 60


def test_forced_failures_are_retried_and_nothing_is_lost(make_cloud: Any) -> None:
    """[KIN] A failing invoke (scripted) is retried with the same batch until it succeeds."""
    cloud = start(make_cloud, "StartingPosition: TRIM_HORIZON")
    cloud.faults.fail("Worker", times=2)
    put(cloud, {"id": 1}, {"id": 2}, shard=0)
    cloud.run_until_idle()
    outcomes = [(i.attempt, i.outcome) for i in cloud.journal.invocations("Worker")]
    assert outcomes == [(1, "Error"), (2, "Error"), (3, "Success")]
    assert times_seen(cloud) == {1: 1, 2: 1}


def test_a_replayed_batch_is_delivered_twice(make_cloud: Any) -> None:
    """[ESM],[KIN] Delivery is at least once: the replay fault delivers a checkpointed batch again."""
    cloud = start(make_cloud, "StartingPosition: TRIM_HORIZON")
    cloud.faults.replay("Events")
    put(cloud, {"id": 1}, {"id": 2}, shard=0)
    cloud.run_until_idle()
    assert times_seen(cloud) == {1: 2, 2: 2}
    assert cloud.event_source_mapping("Worker").stats.replays == 1


def test_on_failure_records_reach_an_sns_topic(make_cloud: Any) -> None:
    """[CFN-ONF],[KIN-ONF] An SNS topic can be the on-failure destination; it gets the same record."""
    events = "StartingPosition: TRIM_HORIZON\nMaximumRetryAttempts: 0\nDestinationConfig:\n  OnFailure:\n" \
             "    Type: SNS\n    Destination: !Ref FailureTopic"
    cloud = start(make_cloud, events)
    sqs, sns = cloud.client("sqs"), cloud.client("sns")
    url = sqs.create_queue(QueueName="spy")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=cloud.resource("FailureTopic"), Protocol="sqs", Endpoint=arn,
                  Attributes={"RawMessageDelivery": "true"})
    put(cloud, {"id": 1, "poison": True}, shard=1)
    cloud.run_until_idle()
    [message] = sqs.receive_message(QueueUrl=url).get("Messages", [])
    assert json.loads(message["Body"])["KinesisBatchInfo"]["shardId"] == "shardId-000000000001"
    assert [e["id"] for e in seen(cloud)] == [1]
