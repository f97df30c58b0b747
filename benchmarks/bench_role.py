"""What checking a function's calls against its execution role costs, measured in one run.

    .venv/bin/python benchmarks/bench_role.py [calls]

Two functions run the same handler: ``Checked`` has SAM's role (``DynamoDBCrudPolicy`` on the table),
so each of its calls is evaluated [ROLE]; ``Unchecked`` names a role outside the template, so it
keeps the engine's credentials and nothing is evaluated. Prints, for each, the cold start (its first
invoke, which makes 1 call) and a warm invoke making ``calls`` DynamoDB GetItem calls (1,000 by
default); then the cloud's start.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lambdalab import LocalCloud  # noqa: E402

HANDLER = textwrap.dedent("""\
    import boto3

    ddb = boto3.client("dynamodb")

    def handler(event, context):
        for _ in range(event["calls"]):
            ddb.get_item(TableName="Items", Key={"id": {"S": "a"}})
        return event["calls"]
""")
TEMPLATE = textwrap.dedent("""\
    Transform: AWS::Serverless-2016-10-31
    Globals:
      Function: {CodeUri: src/, Handler: app.handler, Runtime: python3.12, Timeout: 900}
    Resources:
      Items:
        Type: AWS::DynamoDB::Table
        Properties:
          TableName: Items
          AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
          KeySchema: [{AttributeName: id, KeyType: HASH}]
      Checked:
        Type: AWS::Serverless::Function
        Properties:
          Policies: [{DynamoDBCrudPolicy: {TableName: !Ref Items}}]
      Unchecked:
        Type: AWS::Serverless::Function
        Properties:
          Role: arn:aws:iam::123456789012:role/made-elsewhere
""")


def timed(cloud: LocalCloud, function: str, calls: int) -> float:
    began = time.perf_counter()
    result = cloud.invoke(function, {"calls": calls})
    elapsed = time.perf_counter() - began
    assert result.function_error is None and result.json == calls, result.payload
    return elapsed


def main(calls: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "src").mkdir()
        (root / "src" / "app.py").write_text(HANDLER)
        (root / "template.yaml").write_text(TEMPLATE)
        starts = []
        for _ in range(3):
            began = time.perf_counter()
            cloud = LocalCloud.start(root / "template.yaml")
            starts.append(time.perf_counter() - began)
            if len(starts) < 3:
                cloud.close()
        with cloud:
            for name in ("Unchecked", "Checked"):
                cold = timed(cloud, name, 1)
                warm = [timed(cloud, name, calls) for _ in range(3)]
                best = min(warm)
                print(f"{name:9}  cold start (1 call) {cold * 1000:6.0f} ms   {calls} GetItem calls: best "
                      f"{best * 1000:6.0f} ms ({best / calls * 1e6:4.0f} us a call), median "
                      f"{statistics.median(warm) * 1000:6.0f} ms")
    print(f"cloud start: median of 3 {statistics.median(starts) * 1000:.0f} ms (first {starts[0] * 1000:.0f} ms)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
