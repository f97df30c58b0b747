"""Grading a learner's ``labs/`` with the instructor's kit: the only learner files that run are
those under ``labs/``; the checks (hidden ones included), ``conftest.py``, the template and the
installed engine are the instructor's.

The learner's ``labs/`` is copied into a temporary copy of the kit (the course root), which is
graded there. The copy leaves out ``lambdalab/`` and ``lambdalab_course/``, so the grading process
imports the installed ones, never a copy a learner could have shaped.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from lambdalab_course.layout import lab_name
from lambdalab_course.learner import LABS, NOISE_DIRS, NOISE_NAMES, copy_labs, differences, open_tree
from lambdalab_course.observed import short_reason
from lambdalab_course.report import markdown
from lambdalab_course.runner import run_checks

# Not copied into the grading kit: the learner's part, what grading never reads (the reference
# solutions and grade-class's default gradebook least of all: learners' code runs there), and the
# packages that must come from the instructor's installation.
KIT_LEFT_OUT = frozenset({LABS, "solutions", "mutants", "alternatives", "gradebook", "notebooks", "docs",
                          "benchmarks", ".github", "lambdalab", "lambdalab_course"})
TEMPLATE_CACHE = Path(".lambdalab") / "cache"  # the SAM transform, keyed by the template's content


def grading_kit(kit: Path, dest: Path, skip: Iterable[Path] = ()) -> None:
    """Copy the kit to ``dest`` without ``labs/`` (the learner's goes there), what grading never
    reads, and ``skip`` (a gradebook or clone cache inside the kit: other learners' work); the
    template's transform cache comes along, since the template is the kit's."""
    top, skipped = kit.resolve(), {path.resolve() for path in skip}

    def left_out(folder: str, names: list[str]) -> set[str]:
        here = Path(folder).resolve()
        return {n for n in names if n in NOISE_DIRS or n in NOISE_NAMES or n.endswith((".pyc", ".egg-info"))
                or (here == top and n in KIT_LEFT_OUT) or here / n in skipped}

    shutil.copytree(kit, dest, ignore=left_out, symlinks=True)
    if (kit / TEMPLATE_CACHE).is_dir():
        shutil.copytree(kit / TEMPLATE_CACHE, dest / TEMPLATE_CACHE)


def failure_reasons(junit: Path) -> dict[tuple[str, str], str]:
    """(lab, check) -> the first line of why it failed, from pytest's JUnit XML."""
    reasons: dict[tuple[str, str], str] = {}
    if not junit.is_file():
        return reasons
    for case in ElementTree.parse(junit).iter("testcase"):
        for tag in ("failure", "error"):
            found = case.find(tag)
            if found is not None:
                key = (lab_name(Path(case.get("classname", "").rsplit(".", 1)[-1])), case.get("name", ""))
                text = found.text or ""
                if text.startswith("E   "):  # --tb=no: the whole exception, "E   " then lines indented by 4
                    message = "\n".join(line[4:] for line in text.splitlines())
                else:  # the message attribute is cut after a few lines
                    message = found.get("message") or text or tag
                reasons.setdefault(key, short_reason(message))
                break
    return reasons


def grade_learner(kit: Path, source: Path, lab: str | None, report: Path | None = None, *,
                  timeout: float | None = None, workers: int | None = None, skip: Iterable[Path] = ()
                  ) -> dict[str, Any]:
    """Grade the ``labs/`` of ``source`` (a clone, or a .zip / .tar.gz of one) with the kit at
    ``kit``. The report is the usual one plus ``ignored`` (learner files that were not used, and
    why), ``flagged`` (any were) and, per failed check, ``failure``; written to ``report``.json/.md
    when given. ``skip``: folders of the kit not to copy (see ``grading_kit``). Raises
    ``LearnerError`` for a tree that cannot be graded, ``TimeoutError`` past ``timeout`` seconds."""
    with tempfile.TemporaryDirectory(prefix="lambdalab-grade-") as scratch:
        where = Path(scratch)
        root, unsafe = open_tree(source, where / "learner")
        work = where / "kit"
        grading_kit(kit, work, skip)
        ignored = unsafe + copy_labs(root, work / LABS) + differences(root, kit)
        junit = where / "checks.xml"
        result = run_checks(work, lab, LABS, where / "grade-report", timeout=timeout, workers=workers, junit=junit)
        reasons = failure_reasons(junit)
    for check in result["checks"]:
        if check["earned"] < check["points"]:
            check["failure"] = reasons.get((check["lab"], check["check"]), check["outcome"])
    result["ignored"] = [asdict(entry) for entry in ignored]
    result["flagged"] = bool(ignored)
    if report is not None:
        write(report, result)
    return result


def learner_markdown(result: dict[str, Any]) -> str:
    """The grade table, then what of the learner's was ignored."""
    text = markdown(result)
    if result.get("ignored"):
        text += "\n\nIgnored (graded with the kit's files instead; only labs/ is the learner's):\n"
        text += "\n".join(f"- {entry['path']}: {entry['why']}" for entry in result["ignored"])
    return text


def write(report: Path, result: dict[str, Any]) -> None:
    """``report``.json and ``report``.md (the name is kept whole: a learner id may hold a dot)."""
    report.parent.mkdir(parents=True, exist_ok=True)
    (report.parent / f"{report.name}.json").write_text(json.dumps(result, indent=2) + "\n")
    (report.parent / f"{report.name}.md").write_text(learner_markdown(result) + "\n")
