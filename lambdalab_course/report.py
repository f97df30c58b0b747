"""The grade report: one result per graded check, written as ``<path>.json`` and the ``<path>.md``
table people read."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

LOCAL_ONLY = "local only"


@dataclass(frozen=True)
class CheckResult:
    lab: str
    check: str
    points: int
    earned: int
    outcome: str  # passed | failed | skipped | local only
    hint: str
    reason: str = ""  # why a local-only check did not run


def summary(results: list[CheckResult], target: str, cloud: str = "local", stack: str | None = None) -> dict[str, Any]:
    where = {"cloud": cloud, **({"stack": stack} if cloud == "aws" else {})}
    return {
        "target": target,
        **where,
        "earned": sum(r.earned for r in results),
        "points": sum(r.points for r in results),
        "checks": [asdict(r) for r in results],
    }


def markdown(report: dict[str, Any]) -> str:
    """The grade table people read: one row per check, the total last."""
    lines = ["| lab | check | points | result |", "|---|---|---|---|"]
    if report.get("cloud") == "aws":
        lines.insert(0, f"Graded on the deployed stack {report.get('stack')}; local-only checks earn no points.\n")
    for c in report["checks"]:
        mark = c["outcome"] if c["outcome"] == LOCAL_ONLY or c["earned"] < c["points"] else "passed"
        lines.append(f"| {c['lab']} | {c['check']} | {c['earned']}/{c['points']} | {mark} |")
    lines.append(f"| **total** | | **{report['earned']}/{report['points']}** | |")
    local = [c for c in report["checks"] if c["outcome"] == LOCAL_ONLY]
    hints = [c for c in report["checks"] if c["earned"] < c["points"] and c["hint"] and c not in local]
    if hints:
        lines += ["", "Hints:"] + [f"- {c['check']}: {c['hint']}" for c in hints]
    if local:
        lines += ["", "Not run (grade these with `lambdalab grade` on the local cloud):"]
        lines += [f"- {c['check']}: {c['reason']}" for c in local]
    return "\n".join(lines)


def write_report(path: Path, results: list[CheckResult], target: str, cloud: str = "local",
                 stack: str | None = None) -> dict[str, Any]:
    report = summary(results, target, cloud, stack)
    path.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    path.with_suffix(".md").write_text(markdown(report) + "\n")
    return report
