"""Stream polling: batches per shard in order, events in AWS's shape, starting positions,
ParallelizationFactor, throttles, batching windows, filters, DynamoDB Streams view types and the
mapping through the Lambda API."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from lambdalab import RESERVED_LIMIT
from tests.engine.stream_apps import max_concurrency, put, put_keyed, seen, stream_app


def start(make_cloud: Any, events: str, **kwargs: Any) -> Any:
    return make_cloud(*stream_app(events=events, **kwargs))


def events_of(cloud: Any) -> list[dict[str, Any]]:
    return [json.loads(line[len("EVENT "):]) for line in cloud.logs("Worker") if line.startswith("EVENT ")]


def test_each_shard_delivers_batches_in_sequence_order(make_cloud: Any) -> None:
    """[KIN],[ESM] One batch holds one shard's records, at most BatchSize of them, in order; the
    event has AWS's shape with base64 data."""
    cloud = start(make_cloud, "StartingPosition: LATEST\nBatchSize: 3")
    put(cloud, *[{"id": f"a{n}", "echo": n == 0} for n in range(7)], shard=0)
    put(cloud, *[{"id": f"b{n}"} for n in range(2)], shard=1)
    cloud.run_until_idle()
    by_shard: dict[str, list[int]] = {}
    for entry in seen(cloud):
        by_shard.setdefault(entry["shard"], []).append(int(entry["seq"]))
    assert by_shard == {"shardId-000000000000": list(range(1, 8)), "shardId-000000000001": [1, 2]}
    assert len([i for i in cloud.journal.invocations("Worker")]) == 3 + 1
    [event] = events_of(cloud)
    record = event["Records"][0]
    assert json.loads(base64.b64decode(record["kinesis"]["data"])) == {"id": "a0", "echo": True}
    assert record["eventSourceARN"] == cloud.attribute("Events", "Arn")
    assert record["kinesis"]["approximateArrivalTimestamp"] == pytest.approx(cloud.journal.origin, abs=1)
    assert len(event["Records"]) == 3


def test_latest_delivers_records_written_after_the_mapping_was_created(make_cloud: Any) -> None:
    """[ESM-API] LATEST starts at the tip of the stream when the mapping is created: every record
    written afterwards is delivered, even when the clock moved before the first poll."""
    cloud = start(make_cloud, "StartingPosition: LATEST")
    cloud.advance(30)
    put(cloud, {"id": 1}, shard=0)
    cloud.advance(30)
    put(cloud, {"id": 2}, shard=0)
    cloud.run_until_idle()
    assert [e["id"] for e in seen(cloud)] == [1, 2]


def test_at_timestamp_delivers_only_records_that_arrived_from_the_timestamp_on(make_cloud: Any) -> None:
    """[ESM-API] AT_TIMESTAMP starts reading at StartingPositionTimestamp: records that arrived
    before it are skipped, later ones delivered in order (arrival on the engine's clock)."""
    from lambdalab.clock import VIRTUAL_EPOCH

    cloud = start(make_cloud, f"StartingPosition: AT_TIMESTAMP\nStartingPositionTimestamp: {VIRTUAL_EPOCH + 60}")
    put(cloud, {"id": "early"}, shard=0)
    cloud.advance(120)
    put(cloud, {"id": "late-0"}, shard=0)
    put(cloud, {"id": "late-1"}, shard=1)
    cloud.run_until_idle()
    assert sorted(e["id"] for e in seen(cloud)) == ["late-0", "late-1"]


def test_parallelization_factor_runs_shards_times_factor_batches_and_keeps_key_order(make_cloud: Any) -> None:
    """[KIN],[ESM-API] With ParallelizationFactor N each shard runs up to N batches at once
    (concurrency = shards x N), and records of one partition key stay in order."""
    cloud = start(make_cloud, "StartingPosition: TRIM_HORIZON\nBatchSize: 2\nParallelizationFactor: 3")
    put_keyed(cloud, *[{"id": f"{k}-{n}", "key": f"k{k}", "n": n} for n in range(4) for k in range(40)])
    cloud.run_until_idle()
    assert max_concurrency(cloud.journal.invocations("Worker")) == 2 * 3
    order: dict[str, list[int]] = {}
    for entry in seen(cloud):
        order.setdefault(entry["key"], []).append(int(entry["id"].split("-")[1]))
    assert order == {f"k{k}": list(range(4)) for k in range(40)}


def test_reserved_concurrency_below_the_shard_count_throttles_and_loses_nothing(make_cloud: Any) -> None:
    """[KIN],[KIN-ONF] Throttled batches are retried (without using retries) until they run; with
    reserved concurrency 1 and two busy shards the journal shows throttles and every record is
    processed once."""
    cloud = start(make_cloud, "StartingPosition: TRIM_HORIZON\nBatchSize: 2\nMaximumRetryAttempts: 0", reserved=1)
    put(cloud, *[{"id": f"a{n}"} for n in range(6)], shard=0)
    put(cloud, *[{"id": f"b{n}"} for n in range(6)], shard=1)
    cloud.run_until_idle()
    throttles = cloud.journal.invocations("Worker", outcome="Throttled")
    assert throttles and {t.detail for t in throttles} == {RESERVED_LIMIT}
    assert sorted(e["id"] for e in seen(cloud)) == sorted([f"a{n}" for n in range(6)] + [f"b{n}" for n in range(6)])
    assert cloud.event_source_mapping("Worker").stats.discarded == 0
    assert max_concurrency(cloud.journal.invocations("Worker")) == 1


def test_a_batching_window_waits_for_a_full_batch_or_its_end(make_cloud: Any) -> None:
    """[ESM-API] With MaximumBatchingWindowInSeconds, records wait until the batch is full or the
    window (counted from the first record) ends."""
    cloud = start(make_cloud, "StartingPosition: TRIM_HORIZON\nBatchSize: 3\nMaximumBatchingWindowInSeconds: 20")
    put(cloud, {"id": 1}, shard=0)
    cloud.advance(10)
    assert seen(cloud) == []
    put(cloud, {"id": 2}, shard=0)
    cloud.run_until_idle()
    [only] = cloud.journal.invocations("Worker")
    assert round(only.start - cloud.journal.origin) == 20
    put(cloud, {"id": 3}, {"id": 4}, {"id": 5}, shard=0)
    cloud.advance(1)
    assert len(cloud.journal.invocations("Worker")) == 2


def test_filter_criteria_skip_records_that_match_no_filter(make_cloud: Any) -> None:
    """[FILTER] Only records whose decoded JSON data matches a filter reach the function."""
    cloud = start(make_cloud, "StartingPosition: TRIM_HORIZON\nFilterCriteria:\n  Filters:\n"
                              "    - Pattern: '{\"data\": {\"kind\": [\"keep\"]}}'")
    put(cloud, {"id": 1, "kind": "keep"}, {"id": 2, "kind": "drop"}, {"id": 3, "kind": "keep"}, shard=0)
    cloud.run_until_idle()
    assert [e["id"] for e in seen(cloud)] == [1, 3]
    assert cloud.event_source_mapping("Worker").stats.filtered == 1


@pytest.mark.parametrize(("view", "images"), [
    ("NEW_AND_OLD_IMAGES", [{"NewImage"}, {"NewImage", "OldImage"}, {"OldImage"}]),
    ("KEYS_ONLY", [set(), set(), set()]),
    ("NEW_IMAGE", [{"NewImage"}, {"NewImage"}, set()]),
])
def test_dynamodb_stream_records_carry_the_images_of_the_view_type(make_cloud: Any, view: str,
                                                                    images: list[set[str]]) -> None:
    """[DDB],[DDBS] INSERT, MODIFY and REMOVE records, in order per item, with NewImage/OldImage as
    the table's StreamViewType says."""
    cloud = make_cloud(*stream_app(table=view, events="StartingPosition: TRIM_HORIZON"))
    ddb, table = cloud.client("dynamodb"), cloud.resource("Items")
    ddb.put_item(TableName=table, Item={"pk": {"S": "a"}, "v": {"N": "1"}, "echo": {"BOOL": True}})
    ddb.put_item(TableName=table, Item={"pk": {"S": "a"}, "v": {"N": "2"}})
    ddb.delete_item(TableName=table, Key={"pk": {"S": "a"}})
    cloud.run_until_idle()
    [event] = [json.loads(line[6:]) for line in cloud.logs("Worker") if line.startswith("EVENT ")]
    records = event["Records"]
    assert [r["eventName"] for r in records] == ["INSERT", "MODIFY", "REMOVE"]
    assert [set(r["dynamodb"]) & {"NewImage", "OldImage"} for r in records] == images
    assert {r["eventSourceARN"] for r in records} == {cloud.attribute("Items", "StreamArn")}
    assert all(r["dynamodb"]["StreamViewType"] == view and r["eventSource"] == "aws:dynamodb" for r in records)


def test_the_mapping_is_read_and_updated_through_the_lambda_api(make_cloud: Any) -> None:
    """[ESM-API] Get/ListEventSourceMappings show the mapping; UpdateEventSourceMapping disables and
    re-enables it (processing resumes where it stopped) and changes BatchSize, with AWS's
    validation; what the engine cannot change is refused by name."""
    cloud = start(make_cloud, "StartingPosition: TRIM_HORIZON\nBatchSize: 1")
    lam = cloud.client("lambda")
    [listed] = lam.list_event_source_mappings(FunctionName="Worker")["EventSourceMappings"]
    uuid = listed["UUID"]
    assert (listed["BatchSize"], listed["State"], listed["MaximumRetryAttempts"]) == (1, "Enabled", -1)
    assert lam.update_event_source_mapping(UUID=uuid, Enabled=False)["State"] == "Disabled"
    put(cloud, {"id": 1}, {"id": 2}, {"id": 3}, shard=0)
    cloud.run_until_idle()
    assert seen(cloud) == []
    lam.update_event_source_mapping(UUID=uuid, Enabled=True, BatchSize=10)
    cloud.run_until_idle()
    assert [e["id"] for e in seen(cloud)] == [1, 2, 3]
    assert len(cloud.journal.invocations("Worker")) == 1
    assert lam.get_event_source_mapping(UUID=uuid)["BatchSize"] == 10
    with pytest.raises(ClientError, match="Member must have value less than or equal to 10000"):
        lam.update_event_source_mapping(UUID=uuid, BatchSize=20000)
    assert lam.update_event_source_mapping(UUID=uuid, ParallelizationFactor=2)["ParallelizationFactor"] == 2
    with pytest.raises(ClientError, match="TumblingWindowInSeconds is not supported locally"):
        lam.update_event_source_mapping(UUID=uuid, TumblingWindowInSeconds=60)
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        lam.get_event_source_mapping(UUID="00000000-0000-0000-0000-000000000000")


def test_dynamodb_streams_survive_cancelled_transactions_and_updates_that_create_items(make_cloud: Any) -> None:
    """[DDBS] Each change appears once in the stream: an UpdateItem that creates an item is one
    INSERT, and a cancelled TransactWriteItems writes nothing (moto defects the data plane fixes)."""
    cloud = make_cloud(*stream_app(table="NEW_AND_OLD_IMAGES", events="StartingPosition: TRIM_HORIZON"))
    ddb, table = cloud.client("dynamodb"), cloud.resource("Items")
    ddb.update_item(TableName=table, Key={"pk": {"S": "a"}}, UpdateExpression="SET v = :v",
                    ExpressionAttributeValues={":v": {"N": "1"}})
    cloud.run_until_idle()
    with pytest.raises(ClientError, match="TransactionCanceledException"):
        ddb.transact_write_items(TransactItems=[
            {"Update": {"TableName": table, "Key": {"pk": {"S": "b"}}, "UpdateExpression": "SET v = :v",
                        "ExpressionAttributeValues": {":v": {"N": "2"}}}},
            {"ConditionCheck": {"TableName": table, "Key": {"pk": {"S": "a"}},
                                "ConditionExpression": "attribute_not_exists(pk)"}}])
    ddb.put_item(TableName=table, Item={"pk": {"S": "c"}})
    cloud.run_until_idle()
    assert [(e["id"], e["seq"][-2:]) for e in seen(cloud)] == [("a", "09"), ("c", "10")]
