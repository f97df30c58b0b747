"""The grade report: one result per graded check, written as ``<path>.json`` and the ``<path>.md``
table people read."""

from __future__ import annotations

import html as _html
import json
from dataclasses import asdict, dataclass, field
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
    reason: str = ""  # what a failed check observed; why a local-only check did not run
    functions: str = ""  # functions that failed while a failed check ran: error, request id, file
    logs: list[str] = field(default_factory=list)  # their log lines (``lambdalab grade -v``)


def summary(results: list[CheckResult], target: str, cloud: str = "local", stack: str | None = None) -> dict[str, Any]:
    where = {"cloud": cloud, **({"stack": stack} if cloud == "aws" else {})}
    return {
        "target": target,
        **where,
        "earned": sum(r.earned for r in results),
        "points": sum(r.points for r in results),
        "checks": [asdict(r) for r in results],
    }


def markdown(report: dict[str, Any], verbose: bool = False) -> str:
    """The grade table people read: one row per check, the total last; then, for each failed check,
    its hint and what it observed (with ``verbose``, the failing functions' log lines too)."""
    lines = ["| lab | check | points | result |", "|---|---|---|---|"]
    if report.get("cloud") == "aws":
        lines.insert(0, f"Graded on the deployed stack {report.get('stack')}; local-only checks earn no points.\n")
    for c in report["checks"]:
        mark = c["outcome"] if c["outcome"] == LOCAL_ONLY or c["earned"] < c["points"] else "passed"
        lines.append(f"| {c['lab']} | {c['check']} | {c['earned']}/{c['points']} | {mark} |")
    lines.append(f"| **total** | | **{report['earned']}/{report['points']}** | |")
    local = [c for c in report["checks"] if c["outcome"] == LOCAL_ONLY]
    hints = [c for c in report["checks"] if c["earned"] < c["points"] and c not in local
             and (c["hint"] or c.get("reason") or c.get("functions"))]
    if hints:
        lines += ["", "Hints:"]
        for c in hints:
            lines.append(f"- {c['check']}: {c['hint']}" if c["hint"] else f"- {c['check']}")
            observed = "; ".join(part for part in (c.get("reason"), c.get("functions")) if part)
            if observed:
                lines.append(f"  - what happened: {observed}")
            if verbose and c.get("logs"):
                lines += ["    ```", *(f"    {line}" for line in c["logs"]), "    ```"]
    if local:
        lines += ["", "Not run (grade these with `lambdalab grade` on the local cloud):"]
        lines += [f"- {c['check']}: {c['reason']}" for c in local]
    return "\n".join(lines)


def html(report: dict[str, Any]) -> str:
    """The grade table for a notebook: points, result, and for a failed check its hint and what
    happened, as HTML (Jupyter shows Markdown printed by a cell as raw text)."""
    esc = _html.escape
    rows = []
    for c in report["checks"]:
        passed = c["earned"] == c["points"] and c["outcome"] != LOCAL_ONLY
        mark = "passed" if passed else c["outcome"]
        detail = "" if passed else "<br>".join(esc(part) for part in (
            c["hint"], *(f"what happened: {x}" for x in (c.get("reason"), c.get("functions")) if x)) if part)
        colour = "#1a7f37" if passed else "#cf222e"
        rows.append(f"<tr><td>{esc(c['check'])}</td><td>{c['earned']}/{c['points']}</td>"
                    f"<td style='color:{colour}'>{esc(mark)}</td><td style='text-align:left'>{detail}</td></tr>")
    return ("<table><thead><tr><th>check</th><th>points</th><th>result</th><th>hint</th></tr></thead><tbody>"
            + "".join(rows) + f"<tr><td><b>total</b></td><td><b>{report['earned']}/{report['points']}</b></td>"
            "<td></td><td></td></tr></tbody></table>")


def write_report(path: Path, results: list[CheckResult], target: str, cloud: str = "local",
                 stack: str | None = None) -> dict[str, Any]:
    report = summary(results, target, cloud, stack)
    path.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    path.with_suffix(".md").write_text(markdown(report) + "\n")
    return report
