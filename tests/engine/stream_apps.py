"""Stream apps for engine tests: a Kinesis stream (or a table's stream) feeding a worker whose
behaviour each record's data chooses, so one handler serves every scenario."""

from __future__ import annotations

import json
import textwrap
from typing import Any

from tests.engine.apps import function

# Kinesis data is JSON: {"id": ..., "poison": bool}. With REPORT=1 the worker answers with
# batchItemFailures (from the first poison record on) instead of raising.
WORKER = '''
import base64, json, os

def handler(event, context):
    report = os.environ.get("REPORT") == "1"
    for record in event["Records"]:
        if "kinesis" in record:
            body = json.loads(base64.b64decode(record["kinesis"]["data"]))
            seq, key = record["kinesis"]["sequenceNumber"], record["kinesis"]["partitionKey"]
        else:
            body = {"id": record["dynamodb"]["Keys"]["pk"]["S"],
                    "echo": record is event["Records"][0]}
            seq, key = record["dynamodb"]["SequenceNumber"], body["id"]
        print(json.dumps({"id": body["id"], "key": key, "seq": seq, "shard": record["eventID"].split(":")[0],
                          "request": context.aws_request_id}))
        if body.get("echo"):
            print("EVENT " + json.dumps(event))
        if body.get("poison"):
            if report:
                return {"batchItemFailures": [{"itemIdentifier": seq}]}
            raise ValueError(f"poison record {body['id']}")
    return {"batchItemFailures": []} if report else None
'''
SHARD_HASH_KEYS = {1: ["0"], 2: ["0", str(2 ** 127 + 1)], 4: [str(i * 2 ** 126 + 1) for i in range(4)]}


def stream_app(*, shards: int = 2, events: str = "", report: bool = False, reserved: int | None = None,
               table: str = "") -> tuple[str, dict[str, str]]:
    """Resources and handlers: stream ``Events`` (``shards`` shards), queue ``Failures`` and topic
    ``FailureTopic`` (on-failure destinations), and ``Worker`` with the mapping ``events``
    (properties of a SAM ``Kinesis`` event, or of a ``DynamoDB`` event on table ``Items`` when
    ``table`` names a StreamViewType)."""
    resources = textwrap.dedent(f"""\
        Events:
          Type: AWS::Kinesis::Stream
          Properties:
            ShardCount: {shards}
        Failures:
          Type: AWS::SQS::Queue
        FailureTopic:
          Type: AWS::SNS::Topic
        """)
    if table:
        resources += textwrap.dedent(f"""\
            Items:
              Type: AWS::DynamoDB::Table
              Properties:
                BillingMode: PAY_PER_REQUEST
                AttributeDefinitions: [{{AttributeName: pk, AttributeType: S}}]
                KeySchema: [{{AttributeName: pk, KeyType: HASH}}]
                StreamSpecification: {{StreamViewType: {table}}}
            """)
    props: dict[str, Any] = {}
    if reserved is not None:
        props["ReservedConcurrentExecutions"] = reserved
    kind, source = ("DynamoDB", "!GetAtt Items.StreamArn") if table else ("Kinesis", "!GetAtt Events.Arn")
    extra = f"Events:\n  Stream:\n    Type: {kind}\n    Properties:\n      Stream: {source}\n"
    body = textwrap.dedent(events).strip("\n") or "StartingPosition: TRIM_HORIZON"
    extra += textwrap.indent(body, "      ") + "\n"
    if report:
        extra += "Environment:\n  Variables:\n    REPORT: \"1\"\n"
    return resources + function("Worker", "worker.handler", extra=extra, **props), {"worker.py": WORKER}


def put(cloud: Any, *items: dict[str, Any], shard: int = 0, shards: int = 2, key: str | None = None) -> list[str]:
    """Put records on one shard (by explicit hash key), in order; returns their sequence numbers."""
    kinesis, name, out = cloud.client("kinesis"), cloud.resource("Events"), []
    for item in items:
        answer = kinesis.put_record(StreamName=name, Data=json.dumps(item).encode(),
                                    PartitionKey=key or item.get("key") or str(item["id"]),
                                    ExplicitHashKey=SHARD_HASH_KEYS[shards][shard])
        out.append(answer["SequenceNumber"])
    return out


def put_keyed(cloud: Any, *items: dict[str, Any]) -> None:
    """Put records routed by their partition key ``key`` (moto hashes it to a shard)."""
    kinesis, name = cloud.client("kinesis"), cloud.resource("Events")
    for start in range(0, len(items), 500):
        entries = [{"Data": json.dumps(i).encode(), "PartitionKey": str(i["key"])} for i in items[start:start + 500]]
        assert not kinesis.put_records(StreamName=name, Records=entries).get("FailedRecordCount")


def seen(cloud: Any) -> list[dict[str, Any]]:
    """What the worker printed for each record it was given, in log order."""
    return [json.loads(line) for line in cloud.logs("Worker") if line.startswith('{"id"')]


def times_seen(cloud: Any) -> dict[Any, int]:
    counts: dict[Any, int] = {}
    for entry in seen(cloud):
        counts[entry["id"]] = counts.get(entry["id"], 0) + 1
    return counts


def failures(cloud: Any) -> list[dict[str, Any]]:
    sqs, url, out = cloud.client("sqs"), cloud.resource("Failures"), []
    while True:
        answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=43200)
        messages = answer.get("Messages", [])
        if not messages:
            return out
        out += [json.loads(m["Body"]) for m in messages]


def max_concurrency(invocations: list[Any]) -> int:
    """The most invocations running at one instant (an end frees its slot before a start at that time)."""
    edges = sorted([(i.start, 1) for i in invocations if i.env_id] + [(i.end, -1) for i in invocations if i.env_id],
                   key=lambda e: (e[0], e[1]))
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    return peak
