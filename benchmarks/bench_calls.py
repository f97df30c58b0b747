"""What the virtual clock's call points cost, measured in one run so the ratios hold.

    .venv/bin/python benchmarks/bench_calls.py

A function makes N DynamoDB ``GetItem`` calls and times them itself (``perf_counter``, which the
virtual clock leaves alone). Printed: the mean wall time of one call from inside a function on the
virtual clock (every call a scheduling point: one pipe round trip to the engine) and on the real
clock (no points), and of the same call made by a plain boto3 client in the engine's process.
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

CALLS = 300
ROUNDS = 5
HANDLER = textwrap.dedent("""\
    import time, boto3
    ddb = boto3.client("dynamodb")

    def handler(event, context):
        ddb.get_item(TableName="Items", Key={"id": {"S": "warm-up"}})
        began = time.perf_counter()
        for _ in range(event["calls"]):
            ddb.get_item(TableName="Items", Key={"id": {"S": "a"}})
        return (time.perf_counter() - began) / event["calls"]
""")
TEMPLATE = textwrap.dedent("""\
    Transform: AWS::Serverless-2016-10-31
    Resources:
      Caller:
        Type: AWS::Serverless::Function
        Properties: {CodeUri: src/, Handler: app.handler, Runtime: python3.12, Timeout: 60}
      Items:
        Type: AWS::DynamoDB::Table
        Properties:
          TableName: Items
          BillingMode: PAY_PER_REQUEST
          AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
          KeySchema: [{AttributeName: id, KeyType: HASH}]
""")


def per_call(template: Path, clock: str) -> tuple[float, float]:
    """(mean seconds per call inside the function, per plain call from the engine's process)."""
    with LocalCloud.start(template, clock=clock) as cloud:
        inside = [cloud.invoke("Caller", {"calls": CALLS}).json for _ in range(ROUNDS)]
        ddb = cloud.client("dynamodb")
        plain = []
        for _ in range(ROUNDS):
            began = time.perf_counter()
            for _ in range(CALLS):
                ddb.get_item(TableName="Items", Key={"id": {"S": "a"}})
            plain.append((time.perf_counter() - began) / CALLS)
    return statistics.median(inside), statistics.median(plain)


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "src").mkdir()
        (root / "src" / "app.py").write_text(HANDLER)
        (root / "template.yaml").write_text(TEMPLATE)
        virtual, plain_v = per_call(root / "template.yaml", "virtual")
        real, plain_r = per_call(root / "template.yaml", "real")
    plain = min(plain_v, plain_r)
    print(f"GetItem from a function, virtual clock (a point per call): {virtual * 1000:6.2f} ms "
          f"({virtual / plain:.2f}x a plain call)")
    print(f"GetItem from a function, real clock (no points):            {real * 1000:6.2f} ms "
          f"({real / plain:.2f}x a plain call)")
    print(f"GetItem from the engine's process (plain boto3):            {plain * 1000:6.2f} ms")
    extra = virtual - real
    print(f"call point overhead: {extra * 1000:.2f} ms per call ({extra / plain:.2f}x a plain call)")


if __name__ == "__main__":
    main()
