"""The same scenario gives the same journal on a fast machine and on a loaded one.

On the virtual clock an invocation lasts its sleeps plus fixed costs (never the wall time it took),
and invocations due together take turns call by call in a seeded order, so nothing the journal
records (order, times, environments, outcomes, scaling and throttles, every AWS call) may depend on
how busy the machine is. The scenario mixes three sources: an SQS mapping that scales, an async
burst throttled by reserved concurrency, and handlers that sleep and call DynamoDB.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lambdalab import LocalCloud
from tests.engine.apps import ITEMS_TABLE, function, write_app

TABLE = ITEMS_TABLE + """\
Jobs:
  Type: AWS::SQS::Queue
  Properties:
    QueueName: Jobs
    VisibilityTimeout: 180
"""

HANDLERS = {"app.py": '''
import json, time
import boto3

table = boto3.client("dynamodb")

def work(key, seconds):
    found = table.get_item(TableName="Items", Key={"id": {"S": key}}).get("Item")
    time.sleep(seconds)
    if found is None:
        table.put_item(TableName="Items", Item={"id": {"S": key}, "at": {"N": str(time.time())}})
    return found is None

def worker(event, context):
    for record in event["Records"]:
        body = json.loads(record["body"])
        work(body["key"], body["sleep"])

def background(event, context):
    return work(event["key"], event["sleep"])
'''}

CRUD = "Policies:\n  - DynamoDBCrudPolicy: {TableName: !Ref Items}\n"
RESOURCES = TABLE + function(
    "Worker", "app.worker", Timeout=30,
    extra="Events:\n  Jobs:\n    Type: SQS\n    Properties:\n      Queue: !GetAtt Jobs.Arn\n      BatchSize: 1\n"
          + CRUD,
) + function("Background", "app.background", Timeout=30, ReservedConcurrentExecutions=2, extra=CRUD)


def scenario(tmp_path: Path) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Run the scenario on a fresh cloud; its invocations and calls as comparable tuples."""
    cloud = LocalCloud.start(write_app(tmp_path, RESOURCES, HANDLERS))
    try:
        sqs = cloud.client("sqs")
        for n in range(14):
            sqs.send_message(QueueUrl=cloud.resource("Jobs"),
                             MessageBody=json.dumps({"key": f"job-{n % 9}", "sleep": 0.2 + (n % 3) * 0.5}))
        for n in range(8):
            cloud.invoke("Background", {"key": f"bg-{n % 5}", "sleep": 1.5}, invocation_type="Event")
        cloud.run_until_idle()
        invocations = [(i.request_id, i.function, i.source, i.attempt, i.env_id, i.cold, round(i.start, 6),
                        round(i.end, 6), str(i.outcome), i.detail) for i in cloud.journal.invocations()]
        calls = [(c.request_id, c.name, round(c.start, 6), round(c.end, 6), c.outcome)
                 for c in cloud.journal.calls()]
        return invocations, calls
    finally:
        cloud.close()


@contextmanager
def cpu_burners(count: int) -> Iterator[None]:
    """``count`` processes that keep a core busy each, ended (by PID) however the block ends."""
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        yield
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()


def test_a_scenario_gives_the_same_journal_on_an_idle_and_on_a_loaded_machine(tmp_path):
    """Two runs, the second with every core kept busy by burners: the same invocations (order,
    virtual times, environments, cold starts, outcomes, throttles) and the same AWS calls."""
    quiet = scenario(tmp_path / "quiet")
    with cpu_burners(2):
        loaded = scenario(tmp_path / "loaded")
    assert len(quiet[0]) > 20 and any(i[8] == "Throttled" for i in quiet[0]), "the scenario exercises throttles"
    assert len({i[4] for i in quiet[0] if i[1] == "Worker"}) >= 5, "the SQS mapping runs batches at once"
    assert loaded[0] == quiet[0]
    assert loaded[1] == quiet[1]
