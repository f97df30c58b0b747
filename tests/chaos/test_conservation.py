"""Conservation at volume: whatever goes wrong, no event is lost and none is done twice.

* SQS: 10,000 messages through a mapped function that (seeded) raises, reports partial batch
  failures, times out and crashes: each message is processed successfully once or lands in the
  dead-letter queue [SQS-a],[SQS-E],[ESM].
* Kinesis: 1,000 records with poison records among them, bisect on error and an on-failure
  destination: each record is applied once or reported on failure [KIN],[KIN-ONF].
* Async S3: 200 uploads against reserved concurrency 2: every event runs [A-ERR],[A-THR].

Each test prints its figures: wall seconds and the rate, CPU seconds of the engine and of the
function processes.
"""

from __future__ import annotations

import random
import resource
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lambdalab import LocalCloud
from tests.engine.apps import ITEMS_TABLE, write_app
from tests.engine.async_apps import bodies, events_seen, messages, start
from tests.engine.sqs_apps import dead_letters, queue_app, queue_depth, send
from tests.engine.stream_apps import failures, put_keyed, seen, stream_app

SEED = 20260101

# Each invocation's fate is drawn from a generator seeded by its batch, so a run repeats itself. Each
# message the function reports done is written to the table under its id and receive count: a
# message done twice shows as two items. (BatchWriteItem: 25 items a call, so 10,000 stay cheap.)
CHAOS_WORKER = '''
import json, os, random, time

import boto3

db = boto3.client("dynamodb")
RAISE, CRASH, TIMEOUT, REPORTED = 0.08, 0.02, 0.02, 0.04


def record_done(done):
    for start in range(0, len(done), 25):
        pending = {"Items": [{"PutRequest": {"Item": {"id": {"S": key}}}} for key in done[start:start + 25]]}
        while pending:
            pending = db.batch_write_item(RequestItems=pending).get("UnprocessedItems")


def handler(event, context):
    records = event["Records"]
    bodies = [json.loads(r["body"]) for r in records]
    count = int(records[0]["attributes"]["ApproximateReceiveCount"])
    rng = random.Random(f"{bodies[0]['id']}:{count}:{len(records)}")
    fate = rng.random()
    if fate < RAISE:
        raise RuntimeError("chaos: the whole batch fails")
    if fate < RAISE + CRASH:
        os._exit(1)
    if fate < RAISE + CRASH + TIMEOUT:
        time.sleep(10)  # past the 3-s timeout
    failed, done = [], []
    for record, body in zip(records, bodies):
        if body.get("poison") or rng.random() < REPORTED:
            failed.append({"itemIdentifier": record["messageId"]})
        else:
            done.append(f"{body['id']}#{record['attributes']['ApproximateReceiveCount']}")
    record_done(done)
    return {"batchItemFailures": failed}
'''


@pytest.fixture
def make_cloud(tmp_path: Path) -> Iterator[Any]:
    """Start a cloud from resources + handlers (as the engine tests do); closed after the test."""
    started: list[LocalCloud] = []

    def start_cloud(resources: str, handlers: dict[str, str]) -> LocalCloud:
        started.append(LocalCloud.start(write_app(tmp_path, resources, handlers)))
        return started[-1]

    yield start_cloud
    for cloud in started:
        cloud.close()


class Meter:
    """Wall seconds until ``stop()``; CPU seconds of the engine process and of its function processes
    (counted once the cloud is closed and they are reaped) until ``report``."""

    def __init__(self) -> None:
        self.cpu, self.children, self.wall = time.process_time(), _children_cpu(), time.perf_counter()

    def stop(self) -> None:
        self.wall = time.perf_counter() - self.wall

    def report(self, cloud: LocalCloud, label: str, items: int, detail: str) -> None:
        cloud.close()
        cpu, children = time.process_time() - self.cpu, _children_cpu() - self.children
        print(f"\n{label}: {items} in {self.wall:.1f} s wall ({items / self.wall:.0f}/s); CPU {cpu:.1f} s engine "
              f"+ {children:.1f} s functions; {detail}")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def scan_ids(cloud: Any) -> list[str]:
    db, found, start_key = cloud.client("dynamodb"), [], None
    while True:
        page = db.scan(TableName="Items", **({"ExclusiveStartKey": start_key} if start_key else {}))
        found += [item["id"]["S"] for item in page["Items"]]
        start_key = page.get("LastEvaluatedKey")
        if not start_key:
            return found


def test_ten_thousand_sqs_messages_are_each_processed_once_or_dead_lettered(make_cloud: Any) -> None:
    """Seeded raises, reported failures, timeouts and crashes; maxReceiveCount 4: every message is
    done exactly once or is in the DLQ (never both), the queue ends empty: no message is lost, and
    none is delivered again after a delivery that succeeded."""
    total = 10_000
    rng = random.Random(SEED)
    poison = set(rng.sample(range(total), 50))
    events = ("BatchSize: 100\nMaximumBatchingWindowInSeconds: 1\nFunctionResponseTypes: [ReportBatchItemFailures]\n"
              "ScalingConfig:\n  MaximumConcurrency: 2")
    resources, _ = queue_app(visibility=30, max_receive=4, timeout=3, events=events)
    worker_policies = "    Policies: [{DynamoDBCrudPolicy: {TableName: !Ref Items}}]\n"  # the Worker's last property
    cloud = make_cloud(resources + worker_policies + ITEMS_TABLE, {"worker.py": CHAOS_WORKER})
    meter = Meter()
    send(cloud, *({"id": n, "poison": n in poison} for n in range(total)))
    cloud.run_until_idle()
    meter.stop()
    done = Counter(int(key.split("#")[0]) for key in scan_ids(cloud))
    dead = [d["body"]["id"] for d in dead_letters(cloud)]
    depth = queue_depth(cloud, "Jobs")
    outcomes = cloud.journal.counts("Worker")
    runs = cloud.journal.invocations("Worker")
    meter.report(cloud, "SQS messages", total, f"done {len(done)}, dead-lettered {len(dead)}, "
                                               f"invocations {dict(outcomes)}")
    assert depth == 0
    assert set(done.values()) == {1}, "a message was delivered again after it succeeded"
    assert len(dead) == len(set(dead)), "a message reached the dead-letter queue twice"
    assert not set(done) & set(dead), "a message both succeeded and was dead-lettered"
    assert set(done) | set(dead) == set(range(total)), "a message was lost"
    assert poison <= set(dead)
    assert outcomes["Error"] > 0 and outcomes["Success"] > 0
    assert {"Runtime.ExitError", "Sandbox.Timedout", "RuntimeError"} <= {i.detail for i in runs}


def test_a_thousand_kinesis_records_are_applied_or_reported_with_bisect(make_cloud: Any) -> None:
    """Poison records among 1,000 on two shards; bisect on error isolates each one: every other record
    is applied by exactly one successful invocation, and exactly the poison records reach the
    on-failure destination."""
    total = 1_000
    rng = random.Random(SEED)
    poison = set(rng.sample(range(total), 8))
    events = ("StartingPosition: TRIM_HORIZON\nBatchSize: 100\nMaximumRetryAttempts: 1\n"
              "BisectBatchOnFunctionError: true\n"
              "DestinationConfig:\n  OnFailure:\n    Type: SQS\n    Destination: !GetAtt Failures.Arn")
    cloud = make_cloud(*stream_app(shards=2, events=events))
    meter = Meter()
    put_keyed(cloud, *({"id": n, "key": f"k{n}", "poison": n in poison} for n in range(total)))
    cloud.run_until_idle()
    meter.stop()
    ok = {i.request_id for i in cloud.journal.invocations("Worker") if i.outcome == "Success"}
    lines = seen(cloud)
    applied = Counter(line["id"] for line in lines if line["request"] in ok)
    by_seq = {(line["shard"], int(line["seq"])): line["id"] for line in lines}
    reported = set()
    for record in failures(cloud):
        info = record["KinesisBatchInfo"]
        first, last = int(info["startSequenceNumber"]), int(info["endSequenceNumber"])
        reported |= {i for (shard, seq), i in by_seq.items() if shard == info["shardId"] and first <= seq <= last}
    stats = cloud.event_source_mapping("Worker").stats
    meter.report(cloud, "Kinesis records", total, f"applied {len(applied)}, reported {len(reported)}, "
                 f"bisected {stats.bisected}, invocations {dict(cloud.journal.counts('Worker'))}")
    assert reported == poison
    assert set(applied) == set(range(total)) - poison and set(applied.values()) == {1}


def test_two_hundred_s3_events_against_reserved_concurrency_two_all_run(make_cloud: Any) -> None:
    """200 uploads, reserved concurrency 2: every event runs once, none ages out or fails."""
    total = 200
    cloud = start(make_cloud)
    cloud.client("lambda").put_function_concurrency(FunctionName="Fn", ReservedConcurrentExecutions=2)
    s3, bucket = cloud.client("s3"), cloud.resource("Uploads")
    meter = Meter()
    for n in range(total):
        s3.put_object(Bucket=bucket, Key=f"in/{n:03d}.txt", Body=b"x")
    cloud.run_until_idle()
    meter.stop()
    keys = Counter(e["Records"][0]["s3"]["object"]["key"] for e in events_seen(cloud))
    outcomes = cloud.journal.counts("Fn")
    failed, dead = bodies(cloud, "Failed"), messages(cloud, "Dlq")
    drained = max(i.end for i in cloud.journal.invocations("Fn")) - cloud.journal.origin
    meter.report(cloud, "S3 events", total, f"invocations {dict(outcomes)}, drained in {drained:.2f} s virtual")
    assert keys == {f"in/{n:03d}.txt": 1 for n in range(total)}
    assert outcomes["Success"] == total and set(outcomes) <= {"Success", "Throttled"}
    assert failed == [] and dead == []
