"""A state machine's batch speed figure: a Map over 500 items whose Lambda task is throttled now and then.

    .venv/bin/python benchmarks/bench_batch.py

The Map runs 20 items at once; each item's task invokes a function, and throttles are absorbed by
a Retry on Lambda.TooManyRequestsException (1 s, backoff 2, 6 attempts, FULL jitter) on the
virtual clock. Two runs: a trivial function whose first 50 attempts are throttled
(``faults.throttle``), and a function that waits 1 s (a call to a partner) with a reserved
concurrency of 18, so throttles come all along the run, as a partner's limit makes them. Prints
the wall seconds of each run (StartExecution and ``run_until_idle``), the virtual seconds it covers,
and the attempts by outcome.
"""

from __future__ import annotations

import json
import sys
import tempfile
import textwrap
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lambdalab import LocalCloud  # noqa: E402

ITEMS = 500
THROTTLES = 50
HANDLER = textwrap.dedent("""\
    import time

    def handler(event, context):
        return {"n": event["n"] + 1}

    def partner(event, context):
        time.sleep(1)  # the partner's answer takes a second
        return {"n": event["n"] + 1}
""")
TEMPLATE = textwrap.dedent("""\
    Transform: AWS::Serverless-2016-10-31
    Resources:
      Work:
        Type: AWS::Serverless::Function
        Properties:
          CodeUri: src/
          Handler: app.handler
          Runtime: python3.12
          ReservedConcurrentExecutions: RESERVED
          Timeout: 5
      Batch:
        Type: AWS::Serverless::StateMachine
        Properties:
          Type: STANDARD
          Policies:
            - LambdaInvokePolicy: {FunctionName: !Ref Work}
          DefinitionSubstitutions: {WorkArn: !GetAtt Work.Arn}
          Definition:
            StartAt: Each
            States:
              Each:
                Type: Map
                ItemsPath: $.items
                MaxConcurrency: 20
                ItemProcessor:
                  StartAt: Work
                  States:
                    Work:
                      Type: Task
                      Resource: "${WorkArn}"
                      Retry:
                        - ErrorEquals: [Lambda.TooManyRequestsException]
                          IntervalSeconds: 1
                          BackoffRate: 2
                          MaxAttempts: 6
                          JitterStrategy: FULL
                      End: true
                End: true
""")


def run(handler: str, reserved: int, throttles: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "src").mkdir()
        (root / "src" / "app.py").write_text(HANDLER)
        (root / "template.yaml").write_text(TEMPLATE.replace("app.handler", f"app.{handler}")
                                            .replace("RESERVED", str(reserved)))
        cloud = LocalCloud.start(root / "template.yaml")
        try:
            sfn = cloud.client("stepfunctions")
            arn = cloud.resource("Batch")
            items = json.dumps({"items": [{"n": n} for n in range(ITEMS)]})
            cloud.invoke("Work", {"n": 0})  # warm: the first environment's start is not the batch's
            cloud.journal.clear()
            if throttles:
                cloud.faults.throttle("Work", times=throttles)
            virtual, wall = cloud.now(), time.perf_counter()
            execution = sfn.start_execution(stateMachineArn=arn, input=items)["executionArn"]
            cloud.run_until_idle()
            wall = time.perf_counter() - wall
            virtual = cloud.now() - virtual
            status = sfn.describe_execution(executionArn=execution)["status"]
            outcomes = Counter(i.outcome for i in cloud.journal.invocations("Work"))
        finally:
            cloud.close()
    why = f"first {throttles} attempts throttled" if throttles else f"reserved concurrency {reserved}"
    print(f"Map of {ITEMS} items (MaxConcurrency 20), {why}, FULL jitter: {status}")
    print(f"  wall {wall:.2f} s for {virtual:.1f} virtual s")
    print(f"  attempts: {dict(sorted(outcomes.items()))}")


def main() -> None:
    run("handler", 100, THROTTLES)
    run("partner", 18, 0)


if __name__ == "__main__":
    main()
