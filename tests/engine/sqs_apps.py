"""SQS apps for engine tests: a queue with a dead-letter queue, and a worker whose behaviour each
message's body chooses, so one handler serves every scenario."""

from __future__ import annotations

import json
import textwrap
from typing import Any

from tests.engine.apps import function

# A message body is JSON: {"id": ..., "raise": bool, "fail_below": n, "report": [...], "sleep": s}.
WORKER = '''
import json, time

def handler(event, context):
    failures = []
    for record in event["Records"]:
        body = json.loads(record["body"])
        count = int(record["attributes"]["ApproximateReceiveCount"])
        print(json.dumps({"id": body.get("id"), "count": count, "messageId": record["messageId"],
                          "group": record["attributes"].get("MessageGroupId")}))
        if body.get("raise"):
            raise ValueError(f"cannot process {body.get('id')}")
        if count < body.get("fail_below", 0):
            failures.append({"itemIdentifier": record["messageId"]})
        if body.get("bad_report"):
            failures.append(body["bad_report"])
    if any(json.loads(r["body"]).get("echo") for r in event["Records"]):
        print("EVENT " + json.dumps(event))
    return {"batchItemFailures": failures}
'''


def queue_app(*, visibility: int = 30, max_receive: int | None = 5, fifo: bool = False, timeout: int = 3,
              events: str = "", reserved: int | None = None) -> tuple[str, dict[str, str]]:
    """Resources and handlers: queue ``Jobs`` (DLQ ``JobsDlq``) feeding ``Worker`` through ``events``."""
    suffix = ".fifo" if fifo else ""
    fifo_props = ["    FifoQueue: true", "    ContentBasedDeduplication: true"] if fifo else []
    redrive = ["    RedrivePolicy:", "      deadLetterTargetArn: !GetAtt JobsDlq.Arn",
               f"      maxReceiveCount: {max_receive}"] if max_receive else []
    lines = ["Jobs:", "  Type: AWS::SQS::Queue", "  Properties:", f"    QueueName: Jobs{suffix}",
             f"    VisibilityTimeout: {visibility}", *fifo_props, *redrive,
             "JobsDlq:", "  Type: AWS::SQS::Queue", "  Properties:", f"    QueueName: JobsDlq{suffix}", *fifo_props]
    queues = "\n".join(lines) + "\n"
    props: dict[str, Any] = {"Timeout": timeout}
    if reserved is not None:
        props["ReservedConcurrentExecutions"] = reserved
    extra = "Events:\n  Jobs:\n    Type: SQS\n    Properties:\n      Queue: !GetAtt Jobs.Arn\n"
    extra += textwrap.indent(textwrap.dedent(events).strip("\n"), "      ") + "\n" if events.strip() else ""
    return queues + function("Worker", "worker.handler", extra=extra, **props), {"worker.py": WORKER}


def send(cloud: Any, *bodies: dict[str, Any], group: str | None = None) -> None:
    sqs, url = cloud.client("sqs"), cloud.resource("Jobs")
    for start in range(0, len(bodies), 10):
        entries = []
        for index, body in enumerate(bodies[start:start + 10]):
            entry: dict[str, Any] = {"Id": str(index), "MessageBody": json.dumps(body)}
            if group is not None or body.get("group"):
                entry["MessageGroupId"] = body.get("group", group)
            entries.append(entry)
        answer = sqs.send_message_batch(QueueUrl=url, Entries=entries)
        assert not answer.get("Failed"), answer


def seen(cloud: Any) -> list[dict[str, Any]]:
    """What the worker printed for each record it was given, in log order."""
    return [json.loads(line) for line in cloud.logs("Worker") if line.startswith('{"id"')]


def queue_depth(cloud: Any, queue: str) -> int:
    attributes = cloud.queue_attributes(queue)
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def dead_letters(cloud: Any) -> list[dict[str, Any]]:
    sqs, url, out = cloud.client("sqs"), cloud.resource("JobsDlq"), []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"],
                                       VisibilityTimeout=43200).get("Messages", [])
        if not messages:
            return out
        out += [{"body": json.loads(m["Body"]), "count": int(m["Attributes"]["ApproximateReceiveCount"])}
                for m in messages]


def max_concurrency(invocations: list[Any]) -> int:
    """The most invocations running at one instant (an end frees its slot before a start at that time)."""
    edges = sorted([(i.start, 1) for i in invocations if i.env_id] + [(i.end, -1) for i in invocations if i.env_id],
                   key=lambda e: (e[0], e[1]))
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    return peak
