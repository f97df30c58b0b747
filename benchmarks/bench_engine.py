"""Engine speed figures, measured in one run so the ratios hold on a noisy machine.

    .venv/bin/python benchmarks/bench_engine.py

Prints: local cloud start (moto server + provisioning the root template; also a first start in a
fresh interpreter with no transform cache), warm invoke overhead
through ``cloud.invoke`` against a bare subprocess pipe round trip, the boto3 ``lambda`` client
against a plain moto call, and 1,000 sync invokes from 10 threads with reserved concurrency 5.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lambdalab import LocalCloud, TooManyRequestsException  # noqa: E402
from lambdalab.template import load_template  # noqa: E402

ECHO = "def handler(event, context):\n    return event\n"
TEMPLATE = textwrap.dedent("""\
    Transform: AWS::Serverless-2016-10-31
    Resources:
      Echo:
        Type: AWS::Serverless::Function
        Properties: {CodeUri: src/, Handler: app.handler, Runtime: python3.12}
      Limited:
        Type: AWS::Serverless::Function
        Properties:
          {CodeUri: src/, Handler: app.handler, Runtime: python3.12, ReservedConcurrentExecutions: 5}
""")


def median_ms(fn, n: int) -> float:
    samples = []
    for _ in range(n):
        began = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - began) * 1000)
    return statistics.median(samples)


# The floor: a child that echoes bytes. The fair baseline: a child that decodes a JSON event, calls a
# handler and encodes its result, which any function runner must do.
ECHO_LOOP = "import sys\nfor line in sys.stdin.buffer:\n    sys.stdout.buffer.write(line)"
JSON_LOOP = (
    "import json, sys\n"
    "def handler(event, context):\n    return event\n"
    "for line in sys.stdin.buffer:\n"
    "    sys.stdout.buffer.write(json.dumps(handler(json.loads(line), None)).encode() + b'\\n')"
)


def bare_pipe_round_trip_ms(n: int, loop: str = ECHO_LOOP) -> float:
    child = subprocess.Popen(
        [sys.executable, "-u", "-c", loop],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
    )
    assert child.stdin and child.stdout

    def once() -> None:
        child.stdin.write(b'{"id": 1}\n')
        child.stdin.flush()
        child.stdout.readline()

    once()
    result = median_ms(once, n)
    child.kill()
    child.wait()
    return result


FIRST_START = """
import sys, time
began = time.perf_counter()
sys.path.insert(0, {root!r})
from lambdalab import LocalCloud
with LocalCloud.start({template!r}):
    print(time.perf_counter() - began)
"""


def first_cloud_up_s() -> float:
    """A newcomer's first start: a fresh interpreter, imports included, no transform cache."""
    cache = ROOT / ".lambdalab" / "cache"
    aside = cache.with_name("cache-aside")
    if cache.exists():
        cache.rename(aside)
    try:
        code = FIRST_START.format(root=str(ROOT), template=str(ROOT / "template.yaml"))
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        return float(done.stdout.strip().splitlines()[-1])
    finally:
        if aside.exists():
            import shutil

            shutil.rmtree(cache, ignore_errors=True)
            aside.rename(cache)


def cloud_up_s() -> tuple[float, float]:
    """The first start in this process (it pays moto's backend imports, e.g. SSM pulls in EC2) and
    the next one, as a notebook or a test suite sees them; the transform cache is warm for both."""
    load_template(ROOT / "template.yaml")
    times = []
    for _ in range(2):
        began = time.perf_counter()
        with LocalCloud.start(ROOT / "template.yaml"):
            times.append(time.perf_counter() - began)
    return times[0], times[1]


def burst(cloud: LocalCloud, total: int = 1000, threads: int = 10) -> tuple[int, int, float]:
    ok = throttled = 0
    lock = threading.Lock()

    def worker(count: int) -> None:
        nonlocal ok, throttled
        for _ in range(count):
            try:
                cloud.invoke("Limited", {"x": 1})
                with lock:
                    ok += 1
            except TooManyRequestsException:
                with lock:
                    throttled += 1

    began = time.perf_counter()
    pool = [threading.Thread(target=worker, args=(total // threads,)) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return ok, throttled, time.perf_counter() - began


def main() -> None:
    first, again = cloud_up_s()
    print(f"local cloud up (root template, transform cached): first in a process {first:.2f} s, "
          f"then {again:.2f} s   (target < 2 s)")
    print(f"first start in a fresh interpreter (imports, SAM transform, moto, provisioning): "
          f"{first_cloud_up_s():.2f} s")
    with tempfile.TemporaryDirectory() as scratch:
        (Path(scratch) / "src").mkdir()
        (Path(scratch) / "src" / "app.py").write_text(ECHO)
        (Path(scratch) / "template.yaml").write_text(TEMPLATE)
        with LocalCloud.start(Path(scratch) / "template.yaml") as cloud:
            pipe = bare_pipe_round_trip_ms(1000)
            json_pipe = bare_pipe_round_trip_ms(1000, JSON_LOOP)
            cloud.invoke("Echo", {"id": 1})
            warm = median_ms(lambda: cloud.invoke("Echo", {"id": 1}), 1000)
            print(f"bare pipe round trip, byte echo:     {pipe:.3f} ms")
            print(f"bare pipe round trip, JSON handler:  {json_pipe:.3f} ms")
            print(f"warm cloud.invoke:                   {warm:.3f} ms   ratio {warm / json_pipe:.2f}x the JSON "
                  f"round trip, {warm / pipe:.2f}x the byte echo; overhead beyond the JSON round trip "
                  f"{(warm - json_pipe) / json_pipe:.2f}x it (target <= 2x)")
            lam, sqs = cloud.client("lambda"), cloud.client("sqs")
            lam.invoke(FunctionName="Echo", Payload=b"{}")
            via_boto3 = median_ms(lambda: lam.invoke(FunctionName="Echo", Payload=b"{}"), 200)
            moto_call = median_ms(lambda: sqs.list_queues(), 200)
            print(f"boto3 lambda.invoke (warm):      {via_boto3:.2f} ms   "
                  f"ratio {via_boto3 / moto_call:.2f}x a plain moto call ({moto_call:.2f} ms)")
            ok, throttled, seconds = burst(cloud)
            journal = cloud.journal.counts("Limited")
            print(f"1,000 sync invokes, 10 threads, reserved concurrency 5: {ok} ok, {throttled} throttled "
                  f"(journal: {dict(journal)}), {seconds:.2f} s, {1000 / seconds:.0f} invokes/s, "
                  f"{len(cloud.service.environments('Limited'))} environments")
            assert ok + throttled == 1000 and journal["Throttled"] == throttled


if __name__ == "__main__":
    main()
