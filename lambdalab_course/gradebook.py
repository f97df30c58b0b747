"""The class's gradebook: ``gradebook.csv`` (a spreadsheet: one row per learner, one column per lab
and per check), ``gradebook.json`` (for an LMS import: per learner, per check, points, earned and
outcome) and ``gradebook.html`` (``gradebook_html``: what the class got, and what to re-teach).

Rows come from ``classgrading``; a learner without a grade keeps an empty score and says why.
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

TOP_REASONS = 3


@dataclass(frozen=True)
class Check:
    """A graded check as a gradebook column."""

    lab: str
    check: str
    points: int

    @property
    def id(self) -> str:
        return f"{self.lab}::{self.check}"


def checks_of(rows: list[dict[str, Any]]) -> list[Check]:
    """Every check any learner was graded on, in the order the reports list them."""
    found: dict[str, Check] = {}
    for row in rows:
        for c in row["checks"]:
            check = Check(c["lab"], c["check"], c["points"])
            found.setdefault(check.id, check)
    return list(found.values())


def labs_of(checks: list[Check]) -> dict[str, int]:
    """Each lab's points, in order."""
    labs: dict[str, int] = {}
    for check in checks:
        labs[check.lab] = labs.get(check.lab, 0) + check.points
    return labs


def results_of(row: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A learner's check results by check id."""
    return {f"{c['lab']}::{c['check']}": c for c in row["checks"]}


def lab_scores(row: dict[str, Any], labs: dict[str, int]) -> dict[str, int | None]:
    """Points earned per lab; None for a learner without a grade."""
    if row["earned"] is None:
        return {lab: None for lab in labs}
    scores: dict[str, int | None] = dict.fromkeys(labs, 0)
    for c in row["checks"]:
        scores[c["lab"]] = (scores.get(c["lab"]) or 0) + c["earned"]
    return scores


def percent(row: dict[str, Any]) -> float | None:
    if row["earned"] is None or not row["points"]:
        return None
    return round(100 * row["earned"] / row["points"], 1)


def check_stats(rows: list[dict[str, Any]], checks: list[Check]) -> list[dict[str, Any]]:
    """Per check, across the learners graded: how many passed, and the commonest reasons for failing."""
    graded = [results_of(row) for row in rows if row["earned"] is not None]
    stats = []
    for check in checks:
        results = [found[check.id] for found in graded if check.id in found]
        passed = sum(1 for r in results if r["earned"] == r["points"])
        failures = [r.get("failure") or r["outcome"] for r in results if r["earned"] < r["points"]]
        reasons = Counter(_kind(reason) for reason in failures)
        example = {_kind(reason): reason for reason in reversed(failures)}  # the first seen of each kind
        stats.append({
            "id": check.id, "lab": check.lab, "check": check.check, "points": check.points,
            "graded": len(results), "passed": passed,
            "pass_rate": round(passed / len(results), 3) if results else None,
            "failure_reasons": [{"reason": example[kind], "learners": count}
                                for kind, count in reasons.most_common(TOP_REASONS)],
        })
    return stats


def _kind(reason: str) -> str:
    """A failure reason without its numbers: the same mistake with other ids or counts is one kind."""
    return re.sub(r"\d+", "#", reason)


def as_json(rows: list[dict[str, Any]], lab: str | None, generated: str) -> dict[str, Any]:
    checks = checks_of(rows)
    labs = labs_of(checks)
    learners = []
    for row in rows:
        results = results_of(row)
        scores = lab_scores(row, labs)
        learners.append({
            "learner": row["learner"], "repository": row["repository"], "commit": row["commit"],
            "status": row["status"], "reason": row["reason"], "flagged": row["flagged"], "ignored": row["ignored"],
            "earned": row["earned"], "points": row["points"], "percent": percent(row), "seconds": row["seconds"],
            "labs": [{"lab": name, "points": points, "earned": scores[name]} for name, points in labs.items()],
            "checks": [_check_entry(check, results.get(check.id), graded=row["earned"] is not None)
                       for check in checks],
        })
    return {
        "generated": generated, "lab": lab, "points": sum(labs.values()),
        "labs": [{"lab": name, "points": points} for name, points in labs.items()],
        "checks": check_stats(rows, checks),
        "learners": learners,
    }


def _check_entry(check: Check, result: dict[str, Any] | None, graded: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": check.id, "lab": check.lab, "check": check.check, "points": check.points}
    if result is None:
        return {**entry, "earned": None, "outcome": "not run" if graded else None, "failure": None}
    return {**entry, "earned": result["earned"], "outcome": result["outcome"], "failure": result.get("failure")}


def write_csv(path: Path, book: dict[str, Any]) -> None:
    labs = [lab["lab"] for lab in book["labs"]]
    checks = [check["id"] for check in book["checks"]]
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["learner", "status", "flagged", "earned", "points", "percent", *labs, *checks,
                      "repository", "commit", "seconds", "reason", "ignored"])
        for learner in book["learners"]:
            by_lab = {lab["lab"]: lab["earned"] for lab in learner["labs"]}
            by_check = {check["id"]: check["earned"] for check in learner["checks"]}
            out.writerow([
                learner["learner"], learner["status"], "yes" if learner["flagged"] else "",
                _cell(learner["earned"]), _cell(learner["points"]), _cell(learner["percent"]),
                *(_cell(by_lab.get(lab)) for lab in labs), *(_cell(by_check.get(check)) for check in checks),
                learner["repository"], learner["commit"] or "", _cell(learner["seconds"]), learner["reason"],
                "; ".join(f"{entry['path']} ({entry['why']})" for entry in learner["ignored"]),
            ])


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def write_gradebook(out: Path, rows: list[dict[str, Any]], lab: str | None = None) -> dict[str, Any]:
    """Write gradebook.csv, gradebook.json and gradebook.html into ``out``; returns the JSON."""
    from lambdalab_course.gradebook_html import write_html

    out.mkdir(parents=True, exist_ok=True)
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    book = as_json(rows, lab, generated)
    (out / "gradebook.json").write_text(json.dumps(book, indent=2) + "\n")
    write_csv(out / "gradebook.csv", book)
    write_html(out / "gradebook.html", book)
    return book
