"""Grading a class from a roster: each learner's repository cloned on the instructor's side and
graded with the instructor's kit, side by side in a process pool, each within a time limit.

A learner whose repository cannot be cloned, whose tree cannot be graded, or whose grading crashes
or runs out of time gets a row that says why, and the class goes on.
"""

from __future__ import annotations

import csv
import os
import re
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lambdalab_course.clones import cached, fetch
from lambdalab_course.learner import LearnerError
from lambdalab_course.trusted import grade_learner

GRADED, NOT_CLONED, NOT_GRADED, TIMED_OUT, CRASHED = "graded", "not cloned", "not graded", "timed out", "crashed"
FETCHED = "fetched"
_HEADER_WORDS = {"learner", "id", "learner_id", "learner id", "student", "name"}


@dataclass(frozen=True)
class Learner:
    """One roster row: who, and where their repository is (a URL, or a path from the roster's folder)."""

    id: str
    repository: str

    @property
    def slug(self) -> str:
        """The id as a file name (for the clone cache and the learner's report)."""
        return re.sub(r"[^A-Za-z0-9._-]", "_", self.id).lstrip(".") or "_"


class RosterError(ValueError):
    """The roster cannot be read: the message names the line."""


def read_roster(path: Path) -> list[Learner]:
    """``learner id, repository`` rows; blank lines, ``#`` comments and a header row are skipped."""
    learners: list[Learner] = []
    seen: dict[str, int] = {}
    with path.open(newline="") as handle:
        for number, row in enumerate(csv.reader(handle), 1):
            cells = [cell.strip() for cell in row]
            if not any(cells) or cells[0].startswith("#"):
                continue
            if not learners and number == 1 and cells[0].lower() in _HEADER_WORDS:
                continue
            if len(cells) < 2 or not cells[0] or not cells[1]:
                raise RosterError(f"{path}:{number}: expected `learner id, repository`, got {row}")
            learner = Learner(cells[0], cells[1])
            if learner.slug in seen:
                raise RosterError(f"{path}:{number}: learner {learner.id!r} is already on line {seen[learner.slug]}")
            seen[learner.slug] = number
            learners.append(learner)
    return learners


@dataclass(frozen=True)
class ClassRun:
    """What every learner's grading shares."""

    kit: Path
    roster_dir: Path
    cache: Path
    reports: Path
    lab: str | None
    time_limit: float
    fetch: bool = True  # False: grade the clones an earlier --fetch-only left in the cache, fetching nothing


def blank_row(learner: Learner, status: str = GRADED, reason: str = "") -> dict[str, Any]:
    """A gradebook row before (or without) a grade."""
    return {"learner": learner.id, "repository": learner.repository, "commit": None, "status": status,
            "reason": reason, "flagged": False, "ignored": [], "earned": None, "points": None, "checks": [],
            "seconds": None}


def grade_one(run: ClassRun, learner: Learner) -> dict[str, Any]:
    """One learner's gradebook row; never raises (a failure is the row's status and reason)."""
    began = time.monotonic()
    row = blank_row(learner)
    try:
        if run.fetch:
            tree, row["commit"] = fetch(learner.repository, run.roster_dir, run.cache / learner.slug, run.time_limit)
        else:
            tree, row["commit"] = cached(learner.repository, run.roster_dir, run.cache / learner.slug)
    except LearnerError as exc:
        return {**row, "status": NOT_CLONED, "reason": str(exc), "seconds": round(time.monotonic() - began, 1)}
    left = max(run.time_limit - (time.monotonic() - began), 1.0)
    try:
        result = grade_learner(run.kit, tree, run.lab, run.reports / learner.slug, timeout=left, workers=1,
                               skip=(run.cache, run.reports.parent))
    except TimeoutError:
        row.update(status=TIMED_OUT, reason=f"fetching and grading took longer than {run.time_limit:g} s (the limit)")
    except LearnerError as exc:
        row.update(status=NOT_GRADED, reason=str(exc))
    except Exception as exc:  # the class goes on; the row keeps what went wrong
        last = traceback.extract_tb(exc.__traceback__)[-1]
        row.update(status=CRASHED, reason=f"{type(exc).__name__}: {exc} ({Path(last.filename).name}:{last.lineno})")
    else:
        row.update(earned=result["earned"], points=result["points"], checks=result["checks"],
                   ignored=result["ignored"], flagged=result["flagged"])
    row["seconds"] = round(time.monotonic() - began, 1)
    return row


def fetch_one(run: ClassRun, learner: Learner) -> dict[str, Any]:
    """Clone or update one learner's repository in the cache, grading nothing."""
    began = time.monotonic()
    row = blank_row(learner, FETCHED)
    try:
        _, row["commit"] = fetch(learner.repository, run.roster_dir, run.cache / learner.slug, run.time_limit)
    except LearnerError as exc:
        row.update(status=NOT_CLONED, reason=str(exc))
    row["seconds"] = round(time.monotonic() - began, 1)
    return row


def grade_class(run: ClassRun, learners: list[Learner], jobs: int | None = None,
                progress: Callable[[dict[str, Any]], None] | None = None,
                task: Callable[[ClassRun, Learner], dict[str, Any]] = grade_one) -> list[dict[str, Any]]:
    """Every learner's row, in roster order; ``jobs`` learners at a time (default: one per core),
    each graded by one process so the pool keeps every core busy without crowding it. ``task`` is
    ``grade_one``, or ``fetch_one`` to only fill the clone cache."""
    workers = max(1, min(jobs or os.cpu_count() or 1, len(learners) or 1))
    rows: dict[int, dict[str, Any]] = {}
    with ProcessPoolExecutor(max_workers=workers) as pool:
        pending = {pool.submit(task, run, learner): index for index, learner in enumerate(learners)}
        for future in as_completed(pending):
            index = pending[future]
            try:
                row = future.result()
            except Exception as exc:  # the worker process itself died
                row = blank_row(learners[index], CRASHED, f"{type(exc).__name__}: {exc}")
            rows[index] = row
            if progress is not None:
                progress(row)
    return [rows[index] for index in range(len(learners))]
