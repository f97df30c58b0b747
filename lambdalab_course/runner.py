"""Grading in a fresh pytest process: which check files run, how many pytest-xdist workers, and
the report that process leaves behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from lambdalab_course.layout import HIDDEN_CHECKS
from lambdalab_course.processtree import stop_tree
from lambdalab_course.targets import CLOUD_VARIABLE, TARGET_VARIABLE

PLUGIN = "lambdalab_course.plugin"
MAX_GRADING_WORKERS = 4

# pytest, then exit without tearing the interpreter down: once the report is written, freeing
# botocore's and moto's heap object by object only makes a learner wait (about 0.9 s).
_PYTEST_THEN_EXIT = (
    "import atexit, os, sys, pytest\n"
    "code = int(pytest.main(sys.argv[1:]))\n"
    "atexit._run_exitfuncs(); sys.stdout.flush(); sys.stderr.flush(); os._exit(code)"
)


class NoSuchLab(FileNotFoundError):
    """No graded checks for the lab asked for; the message names the labs there are, in one line."""

    def __init__(self, lab: str | None, tests: Path):
        labs = sorted(p.stem.removeprefix("test_") for p in tests.glob("test_*.py"))
        there = f"the labs are: {', '.join(labs)}" if labs else f"{tests} has no graded checks"
        super().__init__(f"no lab named {lab!r}; {there}" if lab else f"no graded checks in {tests}")
        self.lab = lab
        self.labs = labs


def grading_workers(cloud: str, check_files: int) -> int:
    """How many pytest-xdist workers grade: one per lab file, up to the cores (and four). A lab's
    checks share warm clouds, so they run in one process: split over workers, each would start
    those clouds and cold-start their functions again (on two cores a lab took 10-20% longer, with
    half again the CPU). A deployed stack is graded in one process."""
    if cloud != "local":
        return 1
    return max(1, min(MAX_GRADING_WORKERS, os.cpu_count() or 1, check_files))


def run_checks(root: Path, lab: str | None, target: str, report: Path, quiet: bool = True,
               cloud: str | None = None, stack: str | None = None, hidden: bool = True,
               timeout: float | None = None, workers: int | None = None, junit: Path | None = None) -> dict[str, Any]:
    """Run a lab's graded checks (all labs when ``lab`` is None) in a fresh pytest process;
    ``cloud``/``stack`` default to ``$LAMBDALAB_CLOUD``/``$LAMBDALAB_STACK``, then the local cloud.

    An instructor's hidden checks, copied into ``tests/labs/hidden/`` before grading, run with them
    unless ``hidden`` is False: ``hidden/test_<lab>*.py`` with a lab's checks, every
    ``hidden/test_*.py`` with all labs. The process loads the grading plugin itself, whatever the
    course root's pytest configuration says.

    ``timeout`` (seconds) stops the process and every function it started, then raises
    ``TimeoutError``; ``workers`` overrides how many pytest-xdist workers run (grading a class runs
    learners side by side, one process each); ``junit`` also writes JUnit XML there, whose failure
    messages say why a check failed."""
    tests = root / "tests" / "labs"
    files = sorted(tests.glob(f"test_{lab}.py" if lab else "test_*.py"))
    if hidden:
        files += sorted((tests / HIDDEN_CHECKS).glob(f"test_{lab}*.py" if lab else "test_*.py"))
    if not files:
        raise NoSuchLab(lab, tests)
    env = {**os.environ, TARGET_VARIABLE: target}
    # Plugins grading never needs, each costing start-up or exit time: nbval (a second of imports:
    # nbformat -> jsonschema formats), anyio's (0.15 s), and the unraisable-exception collector (a
    # full collection of the heap at exit).
    skipped = ("cacheprovider", "nbval", "anyio", "unraisableexception")
    cmd = [sys.executable, "-c", _PYTEST_THEN_EXIT, "-p", PLUGIN, *(f"-pno:{name}" for name in skipped),
           "--target", target, "--grade-report", str(report), *map(str, files)]
    if cloud:
        cmd += ["--cloud", cloud]
    if stack:
        cmd += ["--stack", stack]
    if workers is None:
        workers = grading_workers(cloud or os.environ.get(CLOUD_VARIABLE) or "local", len(files))
    if workers > 1:
        cmd += ["-n", str(workers), "--dist", "loadfile"]
    if quiet:
        cmd += ["-q", "--no-header", "-rN", "--tb=no"]
    if junit:
        cmd += ["--junitxml", str(junit)]
    own_group = timeout is not None  # a session of its own, so a timeout can stop all of it
    with subprocess.Popen(cmd, cwd=root, env=env, stdout=subprocess.DEVNULL if quiet else None,
                          start_new_session=own_group) as process:
        try:
            process.wait(timeout=timeout)
        except BaseException as exc:
            stop_tree(process, own_group)
            if isinstance(exc, subprocess.TimeoutExpired):
                raise TimeoutError(f"grading took longer than {timeout:.3g} s") from None
            raise
    report_file = report.with_suffix(".json")
    if not report_file.exists():
        raise RuntimeError(f"the graded checks did not run: see `pytest {' '.join(map(str, files))}`")
    data: dict[str, Any] = json.loads(report_file.read_text())
    return data
