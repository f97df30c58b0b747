"""Which ``lambdalab up`` is running for a project: ``up`` records its endpoints and functions in
``.lambdalab/up.json`` while it runs, so ``invoke`` and ``logs`` reach that cloud instead of
starting one of their own."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

RECORD = Path(".lambdalab") / "up.json"


def record_path(project: Path) -> Path:
    return project / RECORD


def write(project: Path, environment: dict[str, str], functions: list[str]) -> Path:
    """Say that this process serves the project's cloud, at these endpoints."""
    path = record_path(project)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"pid": os.getpid(), "environment": environment, "functions": functions}))
    return path


def remove(project: Path) -> None:
    """Only our own record: another ``up`` may have started since."""
    found = read(project)
    if found is not None and found.get("pid") == os.getpid():
        record_path(project).unlink(missing_ok=True)


def read(project: Path) -> dict[str, Any] | None:
    """The running ``up``'s record, or None when none runs (a record left by a killed one is stale)."""
    try:
        found = json.loads(record_path(project).read_text())
        os.kill(int(found["pid"]), 0)  # signal 0: is it alive?
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return found if isinstance(found, dict) else None
