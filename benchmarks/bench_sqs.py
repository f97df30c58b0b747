"""SQS polling speed figures, measured in one run so the ratios hold on a noisy machine.

    .venv/bin/python benchmarks/bench_sqs.py [--messages 10000]

Prints: 10,000 messages through a trivial function with BatchSize 10 (wall time, messages/s) next to
raw moto send + receive + delete of the same messages in the same run (the floor any poller built on
this data plane has), and the redrive scenario (maxReceiveCount 5, VisibilityTimeout 30 s: five
failing receives, then the DLQ) in wall time against the virtual time it covers.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import textwrap
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lambdalab import LocalCloud  # noqa: E402
from lambdalab.dataplane.server import ENGINE_VISIBILITY_TIMEOUT  # noqa: E402

TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  Jobs:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 30
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt JobsDlq.Arn
        maxReceiveCount: 5
  JobsDlq:
    Type: AWS::SQS::Queue
  Raw:
    Type: AWS::SQS::Queue
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: app.handler
      Runtime: python3.12
      Timeout: 3
      Events:
        Jobs:
          Type: SQS
          Properties:
            Queue: !GetAtt Jobs.Arn
            BatchSize: 10
"""
HANDLER = """\
def handler(event, context):
    for record in event["Records"]:
        if record["body"] == "poison":
            raise ValueError("poison")
"""


def send(cloud: LocalCloud, queue: str, count: int) -> None:
    client, url = cloud.client("sqs"), cloud.resource(queue)
    for start in range(0, count, 10):
        client.send_message_batch(QueueUrl=url, Entries=[
            {"Id": str(n), "MessageBody": json.dumps({"n": start + n})} for n in range(min(10, count - start))])


def raw_moto(cloud: LocalCloud, count: int) -> float:
    """send + receive + delete of ``count`` messages, 10 per call, straight to moto."""
    client, url = cloud.client("sqs"), cloud.resource("Raw")
    began = time.perf_counter()
    send(cloud, "Raw", count)
    while True:
        messages = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                          VisibilityTimeout=ENGINE_VISIBILITY_TIMEOUT).get("Messages", [])
        if not messages:
            break
        client.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)])
    return time.perf_counter() - began


def engine(cloud: LocalCloud, count: int) -> float:
    """send ``count`` messages, then poll them all through the function (BatchSize 10)."""
    began = time.perf_counter()
    send(cloud, "Jobs", count)
    cloud.run_until_idle()
    elapsed = time.perf_counter() - began
    stats = cloud.event_source_mapping("Worker").stats
    assert stats.deleted == count, stats
    return elapsed


def redrive(cloud: LocalCloud) -> tuple[float, float]:
    cloud.journal.clear()
    virtual_start = cloud.now()
    began = time.perf_counter()
    cloud.client("sqs").send_message(QueueUrl=cloud.resource("Jobs"), MessageBody="poison")
    cloud.run_until_idle()
    wall = time.perf_counter() - began
    attributes = cloud.queue_attributes("JobsDlq")
    assert attributes["ApproximateNumberOfMessages"] == "1", attributes
    assert len(cloud.journal.invocations("Worker")) == 5
    return wall, cloud.now() - virtual_start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "src").mkdir()
        (Path(tmp) / "src" / "app.py").write_text(textwrap.dedent(HANDLER))
        (Path(tmp) / "template.yaml").write_text(TEMPLATE)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cloud = LocalCloud.start(Path(tmp) / "template.yaml")
        with cloud:
            raw = raw_moto(cloud, args.messages)
            polled = engine(cloud, args.messages)
            redrive_wall, redrive_virtual = redrive(cloud)
    n = args.messages
    print(f"raw moto send+receive+delete, {n:,} messages: {raw:6.2f} s  {n / raw:8,.0f} messages/s")
    print(f"engine send + poll + invoke + delete, {n:,}:   {polled:6.2f} s  {n / polled:8,.0f} messages/s  "
          f"({polled / raw:.2f} x raw moto; target < 20 s for 10,000)")
    print(f"redrive after maxReceiveCount=5, VisibilityTimeout 30 s: {redrive_wall:.3f} s wall for "
          f"{redrive_virtual:.0f} s of virtual time (target < 1 s wall)")


if __name__ == "__main__":
    main()
