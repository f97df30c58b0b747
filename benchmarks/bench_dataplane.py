"""Data plane speed figures, measured in one run so the ratios hold on a noisy machine.

    .venv/bin/python benchmarks/bench_dataplane.py

Prints: import + start + first call of the data plane (in a fresh interpreter), the per-call latency
of a few calls, SQS at depth 1,000 with moto as released against the patched moto (send 1,000 in
batches of 10, receive, delete), and moving 10,000 messages through a queue with the patches.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lambdalab.dataplane import patches  # noqa: E402
from lambdalab.dataplane.server import ENGINE_VISIBILITY_TIMEOUT, DataPlane  # noqa: E402

REGION = "us-east-1"
COLD_START = """
import json, time
began = time.perf_counter()
from lambdalab.dataplane.server import DataPlane
imported = time.perf_counter()
dataplane = DataPlane("us-east-1").start()
started = time.perf_counter()
dataplane.reset()
dataplane.client("sqs").list_queues()
called = time.perf_counter()
dataplane.stop()
print(json.dumps({"import": imported - began, "start": started - imported, "first call": called - started}))
"""


def cold_start() -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", COLD_START], cwd=ROOT, capture_output=True, text=True, check=True)
    return dict(json.loads(out.stdout))


def median_ms(fn: Callable[[], Any], n: int) -> float:
    samples = []
    for _ in range(n):
        began = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - began) * 1000)
    return statistics.median(samples)


def per_call_ms(dp: DataPlane) -> dict[str, float]:
    sqs, s3, ddb = dp.client("sqs"), dp.client("s3"), dp.client("dynamodb")
    url = sqs.create_queue(QueueName="latency")["QueueUrl"]
    s3.create_bucket(Bucket="latency")
    ddb.create_table(TableName="latency", BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}])
    item = iter(range(10**6))
    return {
        "sqs send_message": median_ms(lambda: sqs.send_message(QueueUrl=url, MessageBody="x"), 200),
        "s3 put_object": median_ms(lambda: s3.put_object(Bucket="latency", Key="k", Body=b"x" * 100), 200),
        "dynamodb put_item": median_ms(
            lambda: ddb.put_item(TableName="latency", Item={"id": {"S": str(next(item))}}), 200),
    }


def send(dp: DataPlane, url: str, n: int) -> float:
    """Seconds to send ``n`` messages in batches of 10."""
    sqs, began = dp.client("sqs"), time.perf_counter()
    for i in range(0, n, 10):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(k), "MessageBody": f"m{i + k}"} for k in range(10)])
    return time.perf_counter() - began


def receive(dp: DataPlane, url: str) -> list[dict[str, Any]]:
    answer = dp.client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                              VisibilityTimeout=ENGINE_VISIBILITY_TIMEOUT)
    return list(answer.get("Messages", []))


def delete(dp: DataPlane, url: str, messages: list[dict[str, Any]]) -> None:
    dp.client("sqs").delete_message_batch(QueueUrl=url, Entries=[
        {"Id": str(k), "ReceiptHandle": m["ReceiptHandle"]} for k, m in enumerate(messages)])


def at_depth_1000(dp: DataPlane, name: str) -> dict[str, float]:
    """Send 1,000 in batches of 10, then receive and delete batches of 10 at that depth."""
    dp.reset()
    url = dp.client("sqs").create_queue(QueueName=name)["QueueUrl"]
    figures = {"send 1,000 (s)": send(dp, url, 1000)}
    batches: list[list[dict[str, Any]]] = []
    figures["receive 10 (ms)"] = median_ms(lambda: batches.append(receive(dp, url)), 5)
    figures["delete 10 (ms)"] = median_ms(lambda: delete(dp, url, batches.pop()), 5)
    return figures


def move(dp: DataPlane, n: int) -> tuple[float, float]:
    """Seconds to send ``n`` messages, then to drain them as a poller does (receive 10, delete 10)."""
    dp.reset()
    url = dp.client("sqs").create_queue(QueueName="move")["QueueUrl"]
    sent = send(dp, url, n)
    began, moved = time.perf_counter(), 0
    while batch := receive(dp, url):
        delete(dp, url, batch)
        moved += len(batch)
    assert moved == n, moved
    return sent, time.perf_counter() - began


def main() -> None:
    began = time.perf_counter()
    cold = cold_start()
    print(f"data plane cold start: import {cold['import']:.3f} s + start {cold['start']:.3f} s "
          f"+ first call {cold['first call']:.3f} s = {sum(cold.values()):.3f} s")
    with DataPlane(REGION).start() as dp:
        dp.reset()
        for call, ms in per_call_ms(dp).items():
            print(f"{call:>20}: {ms:.2f} ms per call (median of 200)")
        with patches.unpatched():
            released = at_depth_1000(dp, "released")
        patched = at_depth_1000(dp, "patched")
        print(f"SQS at depth 1,000{'moto 5.2.5':>16}{'patched':>12}{'ratio':>10}")
        for figure, before in released.items():
            print(f"{figure:>24}{before:>10.3f}{patched[figure]:>12.3f}{before / patched[figure]:>9.0f}x")
        sent, drained = move(dp, 10_000)
        print(f"10,000 messages, patched: send {sent:.2f} s, drain (receive 10 + delete 10) {drained:.2f} s")
    print(f"benchmark took {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
