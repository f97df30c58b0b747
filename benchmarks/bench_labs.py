"""How long a learner waits: each lab's graded checks, and each notebook under strict nbval.

    .venv/bin/python benchmarks/bench_labs.py [--notebooks]

Runs every lab's checks on ``solutions/`` (full marks, so every check runs to its end) with
``lambdalab grade``, as a learner does, and prints the wall time of each against its target
(< 10 s a lab; < 30 s for notebook 01 under nbval). Timing a whole pytest process includes its
start-up, which a learner pays too.
"""

from __future__ import annotations

import os
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


def main() -> None:
    pytest = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    grade = [str(Path(sys.executable).with_name("lambdalab")), "grade", "--target", "solutions"]
    for checks in sorted((ROOT / "tests" / "labs").glob("test_*.py")):
        seconds, code = timed([*grade, checks.stem.removeprefix("test_")])  # what a learner runs
        verdict = "passed" if code == 0 else f"FAILED (exit {code})"
        print(f"{checks.stem.removeprefix('test_'):22} graded checks: {seconds:5.1f} s  (target < {LAB_TARGET_S:.0f} s)"
              f"  {verdict}")
    if "--notebooks" in sys.argv:
        for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
            seconds, code = timed([*pytest, "--nbval", "--nbval-sanitize-with", "notebooks/sanitize.cfg",
                                   str(notebook.relative_to(ROOT))])
            verdict = "passed" if code == 0 else f"FAILED (exit {code})"
            print(f"{notebook.stem:22} under nbval:   {seconds:5.1f} s  "
                  f"(notebook 01 target < {NOTEBOOK_TARGET_S:.0f} s)  {verdict}")


if __name__ == "__main__":
    main()
