"""One source for exercise and solution: ``labs/NN`` is generated from ``solutions/NN``.

Inside a solution file, a region between ``# BEGIN SOLUTION concept: <concept> hint: <hint>`` and
``# END SOLUTION`` is what the learner writes. The starter keeps everything else and replaces the
region with a TODO: the concept first (what must hold, and why), the step-by-step hint behind it,
and a ``NotImplementedError(<concept>)``, so an untouched starter fails loudly, never silently, and
its error names what to achieve rather than what to type. ``concept:`` is optional.

A YAML file (a state machine's definition) takes the same markers as comments; its starter keeps
only the TODO comment, so the starter still loads and runs, without what the region adds.
"""

from __future__ import annotations

import filecmp
import re
import shutil
from pathlib import Path

BEGIN = re.compile(r"^(?P<indent>\s*)# BEGIN SOLUTION(?: concept: (?P<concept>.*?))?(?: hint: (?P<hint>.*))?$")
END = re.compile(r"^\s*# END SOLUTION\s*$")
SKIP = {"__pycache__", ".pytest_cache", ".ipynb_checkpoints"}


class MarkerError(ValueError):
    """A solution file whose markers do not pair up: the starter would be wrong."""


MARKED_SUFFIXES = (".py", ".yaml", ".yml")


def starter_text(source: str, name: str = "<solution>", raises: bool = True) -> str:
    """The starter version of one solution file; ``raises=False`` (YAML) leaves out the raise."""
    out: list[str] = []
    region_start: int | None = None
    for number, line in enumerate(source.splitlines(keepends=True), 1):
        stripped = line.rstrip("\n")
        begin = BEGIN.match(stripped)
        if begin:
            if region_start is not None:
                raise MarkerError(f"{name}:{number}: BEGIN SOLUTION inside the region of line {region_start}")
            region_start = number
            indent = begin.group("indent")
            hint = (begin.group("hint") or "write this part").strip()
            concept = (begin.group("concept") or "").strip()
            if concept:
                out.append(f"{indent}# TODO: {concept}\n")
                out.append(f"{indent}#   step by step: {hint}\n")
                if raises:
                    out.append(f"{indent}raise NotImplementedError({concept!r})\n")
            else:
                out.append(f"{indent}# TODO: {hint}\n")
                if raises:
                    out.append(f"{indent}raise NotImplementedError({hint!r})\n")
        elif END.match(stripped):
            if region_start is None:
                raise MarkerError(f"{name}:{number}: END SOLUTION without a BEGIN SOLUTION")
            region_start = None
        elif region_start is None:
            out.append(line)
    if region_start is not None:
        raise MarkerError(f"{name}:{region_start}: BEGIN SOLUTION is never closed")
    return "".join(out)


def _files(root: Path) -> list[Path]:
    return sorted(
        p.relative_to(root) for p in root.rglob("*")
        if p.is_file() and not SKIP.intersection(p.relative_to(root).parts) and p.suffix != ".pyc"
    )


def build_lab(solution: Path, lab: Path) -> None:
    """Write ``lab`` from ``solution`` (replacing what was there)."""
    if lab.exists():
        shutil.rmtree(lab)
    for rel in _files(solution):
        target = lab / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if rel.suffix in MARKED_SUFFIXES:
            target.write_text(starter_text((solution / rel).read_text(), str(solution / rel),
                                           raises=rel.suffix == ".py"))
        else:
            shutil.copyfile(solution / rel, target)


def build_all(root: Path, out: Path | None = None) -> list[str]:
    """Build every ``labs/NN`` (or into ``out``); returns the lab names."""
    labs = out or root / "labs"
    names = []
    for solution in sorted(p for p in (root / "solutions").iterdir() if p.is_dir() and p.name not in SKIP):
        build_lab(solution, labs / solution.name)
        names.append(solution.name)
    return names


def stale_files(root: Path, scratch: Path) -> list[str]:
    """Files where ``labs/`` differs from what ``build_all`` would write now."""
    build_all(root, scratch)
    labs = root / "labs"
    fresh, current = set(_files(scratch)), set(_files(labs)) if labs.is_dir() else set()
    differ = [str(p) for p in fresh & current if not filecmp.cmp(scratch / p, labs / p, shallow=False)]
    missing = [f"{p} (missing)" for p in fresh - current]
    extra = [f"{p} (extra)" for p in current - fresh]
    return sorted([*differ, *missing, *extra])
