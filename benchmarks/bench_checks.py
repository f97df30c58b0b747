"""Each lab's graded checks now against an earlier revision's, in one run, and how long proving them
with the kit's mutants and alternatives takes.

    .venv/bin/python benchmarks/bench_checks.py --before REV [--repeat N] [--mutants]

The earlier revision's checks and solutions are checked out in a temporary worktree and graded with
this environment's engine, alternating with the current ones (these machines drift: only ratios
within one run mean much). ``--mutants`` also times ``lambdalab labs verify-mutants --jobs 2``, as
CI runs it (target < 6 min on 2 cores).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAMBDALAB = str(Path(sys.executable).with_name("lambdalab"))


def grade_seconds(root: Path, lab: str) -> tuple[float, int]:
    began = time.perf_counter()
    done = subprocess.run([LAMBDALAB, "--template", str(root / "template.yaml"), "grade", lab,
                           "--target", "solutions"], cwd=root, capture_output=True, check=False)
    return time.perf_counter() - began, done.returncode


def main() -> None:
    before = sys.argv[sys.argv.index("--before") + 1]
    repeat = int(sys.argv[sys.argv.index("--repeat") + 1]) if "--repeat" in sys.argv else 3
    labs = sorted(p.stem.removeprefix("test_") for p in (ROOT / "tests" / "labs").glob("test_*.py"))
    with tempfile.TemporaryDirectory() as scratch:
        old = Path(scratch) / "before"
        subprocess.run(["git", "worktree", "add", "--detach", str(old), before], cwd=ROOT, check=True,
                       capture_output=True)
        try:
            print(f"lab                   before ({before[:7]})   now            ratio (medians)")
            for lab in labs:
                runs: dict[str, list[float]] = {"before": [], "now": []}
                for _ in range(repeat):  # alternate, so a drift in the machine's speed hits both
                    for name, root in (("before", old), ("now", ROOT)):
                        seconds, code = grade_seconds(root, lab)
                        runs[name].append(seconds if code == 0 else float("nan"))
                median = {k: sorted(v)[len(v) // 2] for k, v in runs.items()}
                text = {k: f"{min(v):4.1f}-{max(v):4.1f} s" for k, v in runs.items()}
                print(f"{lab:22} {text['before']:18} {text['now']:14} {median['now'] / median['before']:.2f}")
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(old)], cwd=ROOT, check=False)
    if "--mutants" in sys.argv:
        began = time.perf_counter()
        done = subprocess.run([LAMBDALAB, "labs", "verify-mutants", "--jobs", "2"], cwd=ROOT, capture_output=True,
                              text=True, check=False)
        summary = [line for line in done.stdout.splitlines() if "mutants caught" in line]
        print(f"verify-mutants --jobs 2: {time.perf_counter() - began:.0f} s (exit {done.returncode})")
        print("\n".join(f"  {line}" for line in summary))


if __name__ == "__main__":
    main()
