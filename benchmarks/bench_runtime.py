"""What an execution environment costs over the bare minimum, measured in one run.

* Warm invoke vs a bare round trip on a subprocess pipe (the floor for any out-of-process runtime).
  Both are measured as the scheduler places the processes (on two CPUs a round trip is dominated by
  cross-CPU wake-ups) and again with everything pinned to one CPU, where Python overhead shows most.
* Cold start (spawn, Init, first invoke answered) vs ``python -c "import app"`` of the same module.
  The latter also pays for interpreter shutdown, which is why a boto3 module can come out ahead.

Run: ``.venv/bin/python benchmarks/bench_runtime.py`` (``--quick`` for fewer rounds).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from lambdalab.runtime.environment import ExecutionEnvironment

ECHO = "import sys\nr, w = sys.stdin.buffer, sys.stdout.buffer\nfor line in r:\n    w.write(line)\n    w.flush()\n"
MODULES = {
    "app": "def handler(event, context):\n    return event\n",
    "app_boto3": "import boto3\n\n\ndef handler(event, context):\n    return event\n",
}
BODY = b'{"x": 1}'


def environment(code_dir: Path, module: str) -> ExecutionEnvironment:
    return ExecutionEnvironment(
        env_id="bench", function_name="Bench", handler=f"{module}.handler", code_dir=code_dir, timeout_s=30.0,
        memory_mb=512, environ={"PATH": os.environ.get("PATH", "/usr/bin:/bin")}, log_group="/aws/lambda/Bench",
        function_arn="arn:aws:lambda:us-east-1:123456789012:function:Bench", log_stream="bench",
    )


def per_call_us(call: Callable[[int], object], calls: int) -> float:
    began = time.perf_counter()
    for i in range(calls):
        call(i)
    return (time.perf_counter() - began) / calls * 1e6


def warm_versus_bare(code_dir: Path, calls: int, rounds: int) -> tuple[float, float]:
    """Best per-call time of each, in interleaved rounds so both see the same machine state."""
    echo = subprocess.Popen([sys.executable, "-c", ECHO], stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
    env = environment(code_dir, "app")
    assert echo.stdin is not None and echo.stdout is not None
    stdin, stdout = echo.stdin, echo.stdout

    def bare(_: int) -> None:
        stdin.write(BODY + b"\n")
        stdout.readline()

    try:
        env.invoke("warm-up", BODY)
        warm, floor = float("inf"), float("inf")
        for _ in range(rounds):
            floor = min(floor, per_call_us(bare, calls))
            warm = min(warm, per_call_us(lambda i: env.invoke(f"r{i}", BODY), calls))
        return warm, floor
    finally:
        env.shutdown()
        stdin.close()
        echo.wait()


def cold_start_ms(code_dir: Path, module: str, runs: int) -> float:
    times = []
    for i in range(runs):
        env = environment(code_dir, module)
        began = time.perf_counter()
        result = env.invoke(f"cold{i}", BODY)
        times.append((time.perf_counter() - began) * 1000)
        env.shutdown()
        assert result.cold and result.function_error is None, result.payload
    return statistics.median(times)


def bare_import_ms(code_dir: Path, module: str, runs: int) -> float:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        subprocess.run([sys.executable, "-c", f"import {module}"], cwd=code_dir, check=True)
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def report_warm(label: str, code_dir: Path, calls: int, rounds: int) -> None:
    warm, bare = warm_versus_bare(code_dir, calls, rounds)
    print(f"warm invoke {label:<9} {warm:7.1f} us   bare pipe round trip {bare:7.1f} us   ratio {warm / bare:5.2f}x")


def main() -> None:
    calls, rounds, runs = (1000, 3, 5) if "--quick" in sys.argv else (5000, 5, 15)
    with tempfile.TemporaryDirectory() as tmp:
        code_dir = Path(tmp)
        for name, source in MODULES.items():
            (code_dir / f"{name}.py").write_text(source)
        report_warm("as placed", code_dir, calls, rounds)
        for name in MODULES:
            bare_import_ms(code_dir, name, 2)  # warm the page cache and __pycache__
            cold, plain = cold_start_ms(code_dir, name, runs), bare_import_ms(code_dir, name, runs)
            print(f"cold start {name:<10} {cold:7.1f} ms   python -c 'import {name}' {plain:6.1f} ms   "
                  f"ratio {cold / plain:5.2f}x   difference {cold - plain:+6.1f} ms")
        if hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # children inherit it
            report_warm("one CPU", code_dir, calls, rounds)


if __name__ == "__main__":
    main()
