"""``lambdalab labs build|check|verify-starters|verify-mutants|run-notebooks``, ``lambdalab grade`` and
``grade-class``: the course pipeline."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from lambdalab_course import labsource
from lambdalab_course.layout import lab_name
from lambdalab_course.report import markdown
from lambdalab_course.runner import NoSuchLab, run_checks

DEFAULT_TIME_LIMIT_S = 300.0  # one learner's clone and grading, in grade-class


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


def cmd_labs_run_notebooks(root: Path) -> int:
    """A learner's Run All on the untouched starters must reach each notebook's last cell without an error."""
    from lambdalab_course import starter_notebooks

    return starter_notebooks.run_notebooks(root)


def cmd_labs_verify_mutants(root: Path, labs: list[str], jobs: int = 1) -> int:
    """Every mutant must lose a point and every alternative keep full marks; a variant that cannot
    be graded is named, and the others run."""
    from lambdalab_course import variants

    found, problems = variants.find(root, labs)
    for problem in problems:
        print(f"lambdalab: {problem}", file=sys.stderr)
    if not found:
        print("no mutants or alternatives to verify" + (f" for {', '.join(labs)}" if labs else ""))
        return 1 if problems else 0
    print(f"grading {len(found)} variants of the solutions ({jobs} at a time)", flush=True)
    began = time.perf_counter()
    verdicts = variants.verify(root, found, jobs, progress=lambda v: print(variants.describe(v), flush=True))
    print(f"graded {len(verdicts)} variants in {time.perf_counter() - began:.0f} s")
    wrong = [v for v in verdicts if not v.ok]
    for lab in sorted({v.variant.lab for v in verdicts}):
        mine = [v for v in verdicts if v.variant.lab == lab]
        mutants = [v for v in mine if v.variant.kind == "mutant"]
        alternatives = [v for v in mine if v.variant.kind == "alternative"]
        print(f"{lab}: {sum(v.ok for v in mutants)}/{len(mutants)} mutants caught, "
              f"{sum(v.ok for v in alternatives)}/{len(alternatives)} alternatives keep full marks")
    for verdict in wrong:
        v = verdict.variant
        if verdict.problem:
            print(f"lambdalab: {verdict.problem}", file=sys.stderr)
        elif v.kind == "mutant":
            print(f"lambdalab: no check catches {v.label} ({v.summary})", file=sys.stderr)
        else:
            print(f"lambdalab: {v.label} is correct but loses points:", file=sys.stderr)
            for check in verdict.lost:
                print(f"  {check['check']}: {check['failure']}", file=sys.stderr)
    return 1 if wrong or problems else 0


def cmd_grade(root: Path, lab: str | None, target: str, verbose: bool = False) -> int:
    """Grade and leave grade-report.json / grade-report.md in the course root; ``verbose`` adds the
    log lines of the functions that failed during each failed check."""
    try:
        report = run_checks(root, lab, target, root / "grade-report")
    except NoSuchLab as exc:
        print(f"lambdalab: {exc}", file=sys.stderr)
        return 2
    print(markdown(report, verbose))
    return 0 if report["earned"] == report["points"] else 1


def cmd_grade_labs_from(root: Path, lab: str | None, source: Path) -> int:
    """Grade a learner's labs/ with this kit; grade-report.json / .md in the course root say what
    of theirs was ignored."""
    from lambdalab_course.learner import LearnerError
    from lambdalab_course.trusted import grade_learner, learner_markdown

    try:
        report = grade_learner(root, source, lab, root / "grade-report")
    except LearnerError as exc:
        print(f"lambdalab: {exc}", file=sys.stderr)
        return 2
    print(learner_markdown(report))
    return 0 if report["earned"] == report["points"] else 1


def cmd_grade_class(root: Path, roster: Path, lab: str | None, out: Path, cache: Path, jobs: int | None,
                    time_limit: float, step: str = "fetch-and-grade") -> int:
    """Grade every learner of the roster and write the gradebook; fails only when the roster does.
    ``step`` "fetch" only fills the clone cache; "grade-cached" grades it without fetching."""
    from lambdalab_course import classgrading
    from lambdalab_course.gradebook import write_gradebook

    try:
        learners = classgrading.read_roster(roster)
    except (OSError, classgrading.RosterError) as exc:
        print(f"lambdalab: {exc}", file=sys.stderr)
        return 2
    run = classgrading.ClassRun(kit=root, roster_dir=roster.resolve().parent, cache=cache.resolve(),
                                reports=(out / "reports").resolve(), lab=lab, time_limit=time_limit,
                                fetch=step != "grade-cached")

    def progress(row: dict[str, object]) -> None:
        score = (f"{row['earned']}/{row['points']}" if row["earned"] is not None
                 else f"{row['status']}: {row['reason']}" if row["reason"] else f"{row['status']} {row['commit']}")
        print(f"  {row['learner']}: {score}{'  (flagged)' if row['flagged'] else ''}  [{row['seconds']} s]", flush=True)

    if step == "fetch":
        print(f"fetching {len(learners)} repositories into {cache} ...", flush=True)
        rows = classgrading.grade_class(run, learners, jobs, progress, task=classgrading.fetch_one)
        print(f"{sum(row['status'] == classgrading.FETCHED for row in rows)} of {len(rows)} fetched")
        return 0
    print(f"grading {len(learners)} learners ({lab or 'all labs'}) ...", flush=True)
    rows = classgrading.grade_class(run, learners, jobs, progress)
    write_gradebook(out, rows, lab)
    print(f"wrote {out / 'gradebook.csv'}, gradebook.json, gradebook.html and reports/")
    return 0
