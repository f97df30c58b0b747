"""``lambdalab labs build|check|verify-starters`` and ``lambdalab grade``: the course pipeline."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from lambdalab_course import labsource
from lambdalab_course.layout import lab_name
from lambdalab_course.report import markdown
from lambdalab_course.runner import run_checks


def cmd_labs_build(root: Path) -> int:
    names = labsource.build_all(root)
    print(f"built labs/ from solutions/: {', '.join(names) or 'nothing to build'}")
    return 0


def cmd_labs_check(root: Path) -> int:
    """Fails when labs/ is not exactly what ``labs build`` would write from solutions/."""
    with tempfile.TemporaryDirectory() as scratch:
        stale = labsource.stale_files(root, Path(scratch))
    if stale:
        print("labs/ is stale against solutions/ (run `lambdalab labs build`):", file=sys.stderr)
        for path in stale:
            print(f"  {path}", file=sys.stderr)
        return 1
    print("labs/ matches solutions/")
    return 0


def cmd_labs_verify_starters(root: Path) -> int:
    """Every graded check must fail on the untouched starter: a check that passes there proves nothing."""
    tests = sorted((root / "tests" / "labs").glob("test_*.py"))
    if not tests:
        print("no graded checks yet (tests/labs/ is empty)")
        return 0
    bad: list[str] = []
    with tempfile.TemporaryDirectory() as scratch:
        for path in tests:
            lab = lab_name(path)
            report = run_checks(root, lab, "labs", Path(scratch) / f"{lab}-report")
            passing = [c["check"] for c in report["checks"] if c["earned"]]
            print(f"{lab}: {len(report['checks'])} graded checks, {len(passing)} pass on the starter")
            bad += [f"{lab}::{name}" for name in passing]
    if bad:
        print("these graded checks pass on the untouched starter, so they cannot tell a learner anything:",
              file=sys.stderr)
        for name in bad:
            print(f"  {name}", file=sys.stderr)
        return 1
    return 0


def cmd_grade(root: Path, lab: str | None, target: str) -> int:
    """Grade and leave grade-report.json / grade-report.md in the course root."""
    report = run_checks(root, lab, target, root / "grade-report")
    print(markdown(report))
    return 0 if report["earned"] == report["points"] else 1
