"""Offline template findings a person can act on: cfn-lint, the SAM transform, then the engine's
own rules (what it would refuse at start), each naming the logical id and property.

cfn-lint runs the SAM transform itself and lints the transformed template, so one pass covers
both forms. The engine's rules are checked by starting a local cloud from the template: whatever
``LocalCloud.start`` would refuse is a finding here too, with the same words.
"""

from __future__ import annotations

from pathlib import Path

from lambdalab.errors import ConfigurationError


def _where(match: object) -> str:
    """``Resources/Q/Properties/VisibilityTimeout: `` from a cfn-lint match, when it has a path."""
    parts = [str(p) for p in getattr(match, "path", None) or []]
    return "/".join(parts) + ": " if parts else ""


def check_template(path: Path) -> list[str]:
    from cfnlint.api import ManualArgs, lint_file

    findings = [
        f"{path.name}:{m.linenumber}: {m.rule.id} {_where(m)}{m.message}"
        for m in lint_file(path, ManualArgs(regions=["us-east-1"]))
        if m.rule.id.startswith("E")
    ]
    if findings:
        return findings
    from lambdalab.cloud import LocalCloud

    try:
        LocalCloud.start(path).close()
    except ConfigurationError as exc:
        findings.append(f"{path.name}: {exc}")
    return findings
