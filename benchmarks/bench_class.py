"""How long grading a class takes: ``lambdalab grade-class`` on a roster of local repositories.

    .venv/bin/python benchmarks/bench_class.py [--learners 30] [--lab LAB] [--jobs N] [--warm] [--out DIR]

Builds the learners in a temporary folder as git repositories made from this kit (as learners get
it: every committed file), a quarter each: the full solution, the untouched starter, a mutant (lab
02's retry setting broken) and a half done (labs 01-02 solved, 03-04 the starter). Grades them all
(every lab unless ``--lab``) with the kit, one learner per core at a time, and prints the wall time,
the CPU time, the time per learner and the figure for a class of 30 (target < 10 min on two cores).
``--warm`` grades the class a second time from the clone cache; ``--out`` keeps the gradebook and
the learners' reports. Nothing is asserted: these machines
are shared, so the figures vary.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

from lambdalab_course.classgrading import ClassRun, Learner, grade_class
from lambdalab_course.gradebook import write_gradebook

ROOT = Path(__file__).resolve().parents[1]
CLASS_SIZE = 30
TARGET_S = 600.0
KINDS = ("solution", "starter", "mutant", "half")


def git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", "-c", "user.name=learner", "-c", "user.email=learner@example.com",
                    "-c", "init.defaultBranch=main", *args], cwd=cwd, check=True, capture_output=True)


def make_learner(dest: Path, kind: str, files: list[str]) -> None:
    for name in files:
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, dest / name)
    solved = {"solution": ("01", "02", "03", "04"), "mutant": ("01", "02", "03", "04"), "half": ("01", "02")}
    for lab in (ROOT / "solutions").iterdir():
        if lab.is_dir() and lab.name[:2] in solved.get(kind, ()):
            shutil.rmtree(dest / "labs" / lab.name, ignore_errors=True)
            shutil.copytree(lab, dest / "labs" / lab.name, ignore=shutil.ignore_patterns("__pycache__"))
    if kind == "mutant":
        configure = dest / "labs" / "02_async" / "ops" / "configure.py"
        configure.write_text(configure.read_text().replace("MaximumRetryAttempts=1", "MaximumRetryAttempts=2"))
    git("init", "-q", cwd=dest)
    git("add", "-A", cwd=dest)
    git("commit", "-q", "-m", "work", cwd=dest)


def cpu_seconds() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def timed_class(run: ClassRun, learners: list[Learner], jobs: int | None) -> tuple[float, float, list[dict]]:
    cpu, began = cpu_seconds(), time.perf_counter()
    rows = grade_class(run, learners, jobs)
    return time.perf_counter() - began, cpu_seconds() - cpu, rows


def report(label: str, wall: float, cpu: float, rows: list[dict], learners: int) -> None:
    statuses = Counter(row["status"] for row in rows)
    per_learner = wall / learners
    print(f"{label}: {learners} learners in {wall:.1f} s wall ({per_learner:.1f} s a learner), "
          f"{cpu:.0f} s CPU; {dict(statuses)}")
    if learners != CLASS_SIZE:
        print(f"  extrapolated to {CLASS_SIZE} learners: {per_learner * CLASS_SIZE:.0f} s "
              f"(target < {TARGET_S:.0f} s)")
    else:
        print(f"  target < {TARGET_S:.0f} s")


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--learners", type=int, default=CLASS_SIZE)
    options.add_argument("--lab", default=None)
    options.add_argument("--jobs", type=int, default=None)
    options.add_argument("--warm", action="store_true", help="grade again from the clone cache")
    options.add_argument("--out", type=Path, default=None, help="keep the gradebook and reports here")
    args = options.parse_args()
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    files = [name for name in files if (ROOT / name).is_file()]
    with tempfile.TemporaryDirectory(prefix="bench-class-") as scratch:
        base = Path(scratch)
        began = time.perf_counter()
        learners = []
        for number in range(args.learners):
            kind = KINDS[number % len(KINDS)]
            make_learner(base / f"learner{number:02}", kind, files)
            learners.append(Learner(f"learner{number:02}-{kind}", f"learner{number:02}"))
        print(f"built {args.learners} learner repositories in {time.perf_counter() - began:.1f} s; grading "
              f"{args.lab or 'every lab'} with {args.jobs or os.cpu_count()} learners at a time on "
              f"{os.cpu_count()} cores")
        out = args.out.resolve() if args.out else base / "out"
        run = ClassRun(kit=ROOT, roster_dir=base, cache=base / "cache", reports=out / "reports", lab=args.lab,
                       time_limit=300)
        wall, cpu, rows = timed_class(run, learners, args.jobs)
        report("cold (clone)", wall, cpu, rows, args.learners)
        began = time.perf_counter()
        write_gradebook(out, rows, args.lab)
        print(f"  gradebook written in {time.perf_counter() - began:.2f} s")
        for kind in KINDS:
            scores = sorted({f"{row['earned']}/{row['points']}" for row in rows if row["learner"].endswith(kind)})
            print(f"  {kind:8}: {', '.join(scores)}")
        if args.warm:
            wall, cpu, rows = timed_class(run, learners, args.jobs)
            report("warm (fetch)", wall, cpu, rows, args.learners)


if __name__ == "__main__":
    main()
