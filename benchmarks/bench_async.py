"""Async-invocation speed figures, measured in one run so the ratios hold on a noisy machine.

    .venv/bin/python benchmarks/bench_async.py

Prints, for each scenario, the virtual time it covers (what it takes on AWS) against the wall time
it took here: an event that fails three times (+1 min, +2 min, then the on-failure destination), a
burst of 50 events against reserved concurrency 1 (throttle backoff 1 s -> 5 min), and the warm
path from an S3 upload to the function's run.
"""

from __future__ import annotations

import json
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lambdalab import LocalCloud  # noqa: E402

HANDLER = textwrap.dedent("""\
    def handler(event, context):
        if isinstance(event, dict) and event.get("fail"):
            raise ValueError("failing on purpose")
        return "ok"
""")
TEMPLATE = textwrap.dedent("""\
    Transform: AWS::Serverless-2016-10-31
    Resources:
      Failures:
        Type: AWS::SQS::Queue
      Uploads:
        Type: AWS::S3::Bucket
      Worker:
        Type: AWS::Serverless::Function
        Properties:
          CodeUri: src/
          Handler: app.handler
          Runtime: python3.12
          EventInvokeConfig:
            DestinationConfig:
              OnFailure: {Type: SQS, Destination: !GetAtt Failures.Arn}
          Events:
            Upload:
              Type: S3
              Properties: {Bucket: !Ref Uploads, Events: "s3:ObjectCreated:*"}
""")


def measure(cloud: LocalCloud, act) -> tuple[float, float]:
    """(virtual seconds, wall seconds) for ``act`` then running the cloud to idle."""
    cloud.journal.clear()
    virtual, wall = cloud.now(), time.perf_counter()
    act()
    cloud.run_until_idle()
    return cloud.now() - virtual, time.perf_counter() - wall


def report(name: str, virtual: float, wall: float) -> None:
    print(f"{name:48} {virtual:>9.0f} s virtual  {wall:>6.2f} s wall  {virtual / wall:>10,.0f}x")


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        (base / "src").mkdir()
        (base / "src" / "app.py").write_text(HANDLER)
        (base / "template.yaml").write_text(TEMPLATE)
        with LocalCloud.start(base / "template.yaml") as cloud:
            cloud.invoke("Worker", {})  # a warm environment, as in a running course
            lam, s3 = cloud.client("lambda"), cloud.client("s3")

            virtual, wall = measure(cloud, lambda: cloud.invoke("Worker", {"fail": 1}, invocation_type="Event"))
            attempts = len(cloud.journal.invocations("Worker"))
            report(f"failing event, {attempts} attempts, to on-failure", virtual, wall)
            print(f"{'':48} target: < 1 s wall  ->  {'met' if wall < 1 else 'MISSED'}")

            lam.put_function_concurrency(FunctionName="Worker", ReservedConcurrentExecutions=1)
            virtual, wall = measure(cloud, lambda: [cloud.invoke("Worker", {"n": n}, invocation_type="Event")
                                                    for n in range(50)])
            counts = cloud.journal.counts("Worker")
            report(f"burst of 50, reserved 1 ({counts['Throttled']} throttles)", virtual, wall)
            lam.delete_function_concurrency(FunctionName="Worker")

            bucket = cloud.resource("Uploads")
            cloud.journal.clear()
            started = time.perf_counter()
            for n in range(100):  # one at a time: the warm path, S3 notification to the function's answer
                s3.put_object(Bucket=bucket, Key=f"k{n}", Body=json.dumps(n))
                cloud.run_until_idle()
            each = (time.perf_counter() - started) / 100
            runs = len(cloud.journal.invocations("Worker"))
            print(f"{'S3 upload -> async invoke (warm), ' + str(runs) + ' runs':48} {each * 1000:>9.1f} ms per event")

if __name__ == "__main__":
    main()
