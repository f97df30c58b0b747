"""How long a learner waits: each lab's graded checks, and each notebook under strict nbval.

    .venv/bin/python benchmarks/bench_labs.py [--notebooks] [--repeat N]

Runs every lab's checks on ``solutions/`` (full marks, so every check runs to its end) with
``lambdalab grade``, as a learner does, and prints the wall time of each against its target
(< 10 s a lab; < 30 s for notebook 01 under nbval). Timing a whole pytest process includes its
start-up, which a learner pays too. These machines are noisy: ``--repeat N`` runs each N times and
prints the fastest and the slowest.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAB_TARGET_S = 10.0
NOTEBOOK_TARGET_S = 30.0


def timed(cmd: list[str]) -> tuple[float, int]:
    env = {**os.environ, "LAMBDALAB_TARGET": "solutions", "MPLBACKEND": "Agg"}
    began = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - began, done.returncode


def cpu_seconds() -> float:
    """CPU time of every finished child process so far (user + system): steadier than wall time
    on a machine whose speed drifts."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def timed_runs(cmd: list[str], repeat: int) -> tuple[float, float, str]:
    """Fastest and slowest of ``repeat`` runs, and "passed" unless one failed, with the CPU time
    a run used on average."""
    cpu_before = cpu_seconds()
    runs = [timed(cmd) for _ in range(repeat)]
    cpu = (cpu_seconds() - cpu_before) / repeat
    failed = [code for _, code in runs if code != 0]
    seconds = [s for s, _ in runs]
    verdict = f"FAILED (exit {failed[0]})" if failed else "passed"
    return min(seconds), max(seconds), f"{verdict}, {cpu:.1f} s CPU"


def spread(fastest: float, slowest: float) -> str:
    return f"{fastest:5.1f} s" if fastest == slowest else f"{fastest:5.1f}-{slowest:4.1f} s"


def main() -> None:
    repeat = int(sys.argv[sys.argv.index("--repeat") + 1]) if "--repeat" in sys.argv else 1
    pytest = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    grade = [str(Path(sys.executable).with_name("lambdalab")), "grade", "--target", "solutions"]
    for checks in sorted((ROOT / "tests" / "labs").glob("test_*.py")):
        lab = checks.stem.removeprefix("test_")
        fastest, slowest, verdict = timed_runs([*grade, lab], repeat)  # what a learner runs
        print(f"{lab:22} graded checks: {spread(fastest, slowest)}  (target < {LAB_TARGET_S:.0f} s)  {verdict}")
    if "--notebooks" in sys.argv:
        for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
            fastest, slowest, verdict = timed_runs([*pytest, "--nbval", "--nbval-sanitize-with",
                                                    "tests/nbval-sanitize.cfg", str(notebook.relative_to(ROOT))],
                                                   repeat)
            print(f"{notebook.stem:22} under nbval:   {spread(fastest, slowest)}  "
                  f"(notebook 01 target < {NOTEBOOK_TARGET_S:.0f} s)  {verdict}")


if __name__ == "__main__":
    main()
