"""Mutants and alternatives of the reference solutions: the proof that a lab's checks discriminate.

A mutant (``mutants/<lab>/<mistake>/``) is a realistic wrong solution: only the files that differ
from ``solutions/<lab>/``, each starting with a ``#`` comment naming the mistake. It must lose at
least one point. An alternative (``alternatives/<lab>/<design>/``) is a correct design in another
style (AWS Lambda Powertools, say): it must keep full marks. An alternative that needs a package
names it in its own ``requirements.txt``. Each one is graded as a learner's ``labs/`` would be: the
reference solutions with the variant's files laid over them, in a copy of the kit, hidden checks
included; so an instructor proves hidden checks the same way.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from lambdalab_course.learner import LABS, NOISE_DIRS, NOISE_SUFFIXES
from lambdalab_course.runner import run_checks

MUTANTS = "mutants"
ALTERNATIVES = "alternatives"
KINDS = {MUTANTS: "mutant", ALTERNATIVES: "alternative"}
REQUIREMENTS = "requirements.txt"  # an alternative's extra packages; never copied into the lab
TIME_LIMIT_S = 300.0  # one variant's grading: a mutant that loops forever must not stall the run
_REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


@dataclass(frozen=True)
class Variant:
    """One mutant or alternative: which lab, its folder, and the lab files it replaces."""

    kind: str  # "mutant" | "alternative"
    lab: str
    name: str
    folder: Path
    files: tuple[str, ...]  # paths inside the lab, "/"-separated

    @property
    def label(self) -> str:
        return f"{self.kind} {self.lab}/{self.name}"

    @property
    def summary(self) -> str:
        """What the variant is: a mutant's mistake (its first line), an alternative's design (its name)."""
        if self.kind != "mutant" or not self.files:
            return self.name.replace("_", " ")
        first = (self.folder / self.files[0]).read_text(errors="replace").splitlines()[:1]
        return first[0].lstrip("#").strip() if first else self.name


@dataclass
class Verdict:
    """How one variant fared: points earned, the checks it lost and why, and whether that is right."""

    variant: Variant
    earned: int = 0
    points: int = 0
    lost: list[dict[str, Any]] = field(default_factory=list)
    problem: str = ""  # the variant could not be graded

    @property
    def ok(self) -> bool:
        if self.problem:
            return False
        caught = self.earned < self.points
        return caught if self.variant.kind == "mutant" else not caught


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                  if p.is_file() and not NOISE_DIRS.intersection(p.relative_to(folder).parts)
                  and not p.name.endswith(NOISE_SUFFIXES))


def missing_packages(requirements: Path) -> list[str]:
    """The packages a requirements file names that this Python does not have."""
    wanted = []
    for line in requirements.read_text().splitlines():
        found = _REQUIREMENT_NAME.match(line.split("#", 1)[0])
        if found:
            wanted.append(found.group(1))
    missing = []
    for name in wanted:
        try:
            metadata.version(name)
        except metadata.PackageNotFoundError:
            missing.append(name)
    return missing


def _problems(kind: str, lab_folder: Path, folder: Path, files: list[str]) -> list[str]:
    where = f"{folder.parent.parent.name}/{folder.parent.name}/{folder.name}"
    if not files:
        return [f"{where}: has no files"]
    problems = [f"{where}/{name}: {lab_folder.name} has no file {name} (a variant only replaces files of its lab)"
                for name in files if not (lab_folder / name).is_file()]
    if kind == "mutant":
        problems += [f"{where}/{name}: the first line must be a # comment naming the mistake"
                     for name in files if (lab_folder / name).is_file()
                     and not (folder / name).read_text(errors="replace").startswith("#")]
    requirements = folder / REQUIREMENTS
    if requirements.is_file():
        problems += [f"{where}: needs {name}, which this Python does not have (pip install {name})"
                     for name in missing_packages(requirements)]
    return problems


def find(root: Path, labs: Iterable[str] = ()) -> tuple[list[Variant], list[str]]:
    """Every mutant and alternative of ``labs`` (all when empty), and what is wrong with those
    that cannot be graded (one line each, naming the folder or file); those are left out."""
    solutions, wanted = root / "solutions", set(labs)
    known = sorted(p.name for p in solutions.iterdir() if p.is_dir()) if solutions.is_dir() else []
    variants: list[Variant] = []
    problems = [f"no lab {lab} (labs: {', '.join(known)})" for lab in sorted(wanted - set(known))]
    for top, kind in KINDS.items():
        if not (root / top).is_dir():
            continue
        for lab_dir in sorted(p for p in (root / top).iterdir() if p.is_dir()):
            if lab_dir.name not in known:
                problems.append(f"{top}/{lab_dir.name}: no lab {lab_dir.name} in solutions/ (labs: {', '.join(known)})")
                continue
            if wanted and lab_dir.name not in wanted:
                continue
            for folder in sorted(p for p in lab_dir.iterdir() if p.is_dir() and p.name not in NOISE_DIRS):
                files = [f for f in _files(folder) if f != REQUIREMENTS]
                found = _problems(kind, solutions / lab_dir.name, folder, files)
                if found:
                    problems += found
                else:
                    variants.append(Variant(kind, lab_dir.name, folder.name, folder, tuple(files)))
    return variants, problems


def lay_over(root: Path, variant: Variant, labs: Path) -> None:
    """``labs`` becomes the reference solutions with the variant's files in place of the lab's."""
    if labs.exists():
        shutil.rmtree(labs)
    shutil.copytree(root / "solutions", labs, ignore=shutil.ignore_patterns(*NOISE_DIRS, "*.pyc"))
    for name in variant.files:
        shutil.copyfile(variant.folder / name, labs / variant.lab / name)


def grade(root: Path, variant: Variant, kit: Path) -> Verdict:
    """Grade one variant in ``kit`` (a grading copy of the course), which it reuses."""
    from lambdalab_course.trusted import failure_reasons

    lay_over(root, variant, kit / LABS)
    junit = kit / "checks.xml"
    junit.unlink(missing_ok=True)
    try:
        report = run_checks(kit, variant.lab, LABS, kit / "grade-report", timeout=TIME_LIMIT_S, workers=1,
                            junit=junit)
    except (TimeoutError, RuntimeError) as exc:
        return Verdict(variant, problem=f"{variant.label}: {exc}")
    reasons = failure_reasons(junit)
    lost = [{"check": c["check"], "lost": c["points"] - c["earned"], "hint": c["hint"],
             "failure": reasons.get((c["lab"], c["check"]), c["outcome"])}
            for c in report["checks"] if c["earned"] < c["points"]]
    return Verdict(variant, report["earned"], report["points"], lost)


Grader = Callable[[Path, Variant, Path], Verdict]


def verify(root: Path, variants: list[Variant], jobs: int = 1, grader: Grader = grade,
           progress: Callable[[Verdict], None] | None = None) -> list[Verdict]:
    """Grade every variant, ``jobs`` at a time, each worker in its own copy of the kit."""
    from lambdalab_course.trusted import grading_kit

    with tempfile.TemporaryDirectory(prefix="lambdalab-variants-") as scratch:
        kits: list[Path] = []
        for n in range(max(1, min(jobs, len(variants)))):
            kit = Path(scratch) / f"kit{n}"
            grading_kit(root, kit)
            kits.append(kit)
        free = list(kits)

        def one(variant: Variant) -> Verdict:
            kit = free.pop()
            try:
                verdict = grader(root, variant, kit)
            finally:
                free.append(kit)
            if progress:
                progress(verdict)
            return verdict

        with ThreadPoolExecutor(max_workers=len(kits)) as pool:
            return list(pool.map(one, variants))


def describe(verdict: Verdict) -> str:
    """One line for the run's log: the variant, its score, and whether that is what it should get."""
    v = verdict.variant
    if verdict.problem:
        return f"  {v.kind:<11} {v.name:<32} could not be graded: {verdict.problem}"
    score = f"{verdict.earned}/{verdict.points}"
    if v.kind == "mutant":
        caught = ", ".join(c["check"].removeprefix("test_") for c in verdict.lost)
        status = f"caught by {caught}" if verdict.ok else "NOT CAUGHT: keeps full marks"
    else:
        status = "full marks" if verdict.ok else "LOSES POINTS: " + "; ".join(
            f"{c['check']}: {c['failure']}" for c in verdict.lost)
    return f"  {v.kind:<11} {v.name:<32} {score:>7}  {status}"
