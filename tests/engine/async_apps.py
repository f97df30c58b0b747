"""A small SAM app for the async-invocation tests: functions with retries, destinations and a DLQ,
fed by an S3 bucket and an SNS topic."""

from __future__ import annotations

import json
from itertools import pairwise
from typing import Any

from tests.engine.apps import function

HANDLER = '''
import json, time

def handler(event, context):
    print(json.dumps(event))
    if isinstance(event, dict) and event.get("fail"):
        raise ValueError(event["fail"])
    if isinstance(event, dict) and event.get("sleep"):
        time.sleep(event["sleep"])
    return {"handled": context.aws_request_id}
'''

RESOURCES = function("Fn", extra="""
EventInvokeConfig:
  MaximumRetryAttempts: 2
  DestinationConfig:
    OnSuccess:
      Type: SQS
      Destination: !GetAtt Succeeded.Arn
    OnFailure:
      Type: SQS
      Destination: !GetAtt Failed.Arn
DeadLetterQueue:
  Type: SQS
  TargetArn: !GetAtt Dlq.Arn
Events:
  Uploaded:
    Type: S3
    Properties:
      Bucket: !Ref Uploads
      Events: [s3:ObjectCreated:*, s3:ObjectRemoved:*]
      Filter:
        S3Key:
          Rules:
            - Name: prefix
              Value: in/
  Versioned:
    Type: S3
    Properties:
      Bucket: !Ref Archive
      Events: [s3:ObjectCreated:*, s3:ObjectRemoved:*]
  Docs:
    Type: SNS
    Properties:
      Topic: !Ref News
      FilterPolicy:
        kind: [doc]
""") + function("Watcher", extra="""
EventInvokeConfig:
  DestinationConfig:
    OnSuccess:
      Type: Lambda
      Destination: !GetAtt Recorder.Arn
    OnFailure:
      Type: SNS
      Destination: !Ref Failures
Events:
  Processed:
    Type: SNS
    Properties:
      Topic: !Ref News
      FilterPolicyScope: MessageBody
      FilterPolicy:
        status: [processed]
""") + function("Recorder") + """
Succeeded:
  Type: AWS::SQS::Queue
Failed:
  Type: AWS::SQS::Queue
Dlq:
  Type: AWS::SQS::Queue
FailuresCopy:
  Type: AWS::SQS::Queue
Failures:
  Type: AWS::SNS::Topic
FailuresToQueue:
  Type: AWS::SNS::Subscription
  Properties:
    TopicArn: !Ref Failures
    Protocol: sqs
    RawMessageDelivery: true
    Endpoint: !GetAtt FailuresCopy.Arn
Uploads:
  Type: AWS::S3::Bucket
Archive:
  Type: AWS::S3::Bucket
  Properties:
    VersioningConfiguration:
      Status: Enabled
News:
  Type: AWS::SNS::Topic
"""


def start(make_cloud: Any) -> Any:
    return make_cloud(RESOURCES, {"app.py": HANDLER})


def events_seen(cloud: Any, function: str = "Fn") -> list[Any]:
    """The events the function printed, in order."""
    return [json.loads(line) for line in cloud.logs(function) if line.startswith(("{", "["))]


def messages(cloud: Any, queue: str) -> list[dict[str, Any]]:
    """Every message in ``queue`` (received once, with attributes)."""
    sqs, found = cloud.client("sqs"), []
    while True:
        batch = sqs.receive_message(QueueUrl=cloud.resource(queue), MaxNumberOfMessages=10,
                                    MessageAttributeNames=["All"], VisibilityTimeout=300).get("Messages", [])
        if not batch:
            return found
        found += batch


def bodies(cloud: Any, queue: str) -> list[Any]:
    return [json.loads(m["Body"]) for m in messages(cloud, queue)]


def waits(invocations: list[Any]) -> list[int]:
    """Whole seconds from each attempt's end to the next one's start: the wait Lambda puts between
    attempts, independent of how long a handler took on this machine."""
    return [round(later.start - earlier.end) for earlier, later in pairwise(invocations)]


def offsets(cloud: Any, invocations: list[Any]) -> list[int]:
    """Start times as whole seconds since the cloud started."""
    return [round(i.start - cloud.journal.origin) for i in invocations]
