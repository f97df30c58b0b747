"""``lambdalab labs run-notebooks``: every notebook must run top to bottom on the untouched starters
(``labs/``), as a learner's Run All does, and reach its grade cell.

A cell that runs the learner's unfinished code prints one friendly line and lets the run go on; an
``error`` output or a line on stderr is a problem. Each notebook runs from a copy read into memory:
the committed notebook, with its full-marks outputs, is never written.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from unittest import mock

CELL_TIMEOUT_S = 600

# stderr lines a correct run prints too: they say nothing about the learner's code.
HARMLESS_STDERR = (
    re.compile(r"lambdalab: functions declare Runtime .*"),  # the local Python stands in for the runtime
    # the engine's notice on a shard a lesson blocks on purpose
    re.compile(r"lambdalab:0: BlockedShardWarning: lambdalab: .*"),
)


def problems(notebook: Mapping[str, Any], name: str) -> list[str]:
    """One line per problem of an executed notebook: each error, the first stderr line of a cell
    that is not known noise, a run that stopped before the last cell (the grade cell). Cells are
    numbered as nbval numbers them: code cells, from 0."""
    cells = [c for c in notebook.get("cells", []) if c.get("cell_type") == "code"]
    found: list[str] = []
    for number, cell in enumerate(cells):
        outputs = cell.get("outputs", [])
        errors = [o for o in outputs if o.get("output_type") == "error"]
        found += [f"{name}::Cell {number}: {_error_line(o)}" for o in errors]
        stderr = "".join(_text(o) for o in outputs if o.get("output_type") == "stream" and o.get("name") == "stderr")
        noise = [line.strip() for line in stderr.splitlines() if line.strip() and not _harmless(line.strip())]
        if noise:
            found.append(f"{name}::Cell {number}: stderr: {noise[0]}")
    if cells and cells[-1].get("execution_count") is None:
        found.append(f"{name}::Cell {len(cells) - 1}: never ran (the run stopped before the last cell)")
    return found


def _error_line(output: Mapping[str, Any]) -> str:
    message = f"{output.get('ename', 'Error')}: {output.get('evalue', '')}".strip().rstrip(":")
    return message.splitlines()[0]


def _harmless(line: str) -> bool:
    return any(pattern.fullmatch(line) for pattern in HARMLESS_STDERR)


def _text(output: Mapping[str, Any]) -> str:
    text = output.get("text", "")
    return text if isinstance(text, str) else "".join(text)


def execute(notebook: Any, root: Path) -> None:
    """Run a notebook read into memory on ``labs/``, every cell even after an error, in a kernel
    whose working directory is the course's notebooks folder (so ``../template.yaml`` resolves).
    The outputs land in that copy; no file is written."""
    from nbclient import NotebookClient

    client = NotebookClient(notebook, timeout=CELL_TIMEOUT_S, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(root / "notebooks")}})
    with mock.patch.dict(os.environ, {"LAMBDALAB_TARGET": "labs", "MPLBACKEND": "Agg"}):
        client.execute()


def notebooks(root: Path) -> Iterator[Path]:
    yield from sorted((root / "notebooks").glob("*.ipynb"))


def run_notebooks(root: Path) -> int:
    """Execute every notebook on the starters; print its time, then each problem on one line."""
    paths = list(notebooks(root))
    if not paths:
        print("no notebooks in notebooks/")
        return 0
    import nbformat

    found: list[str] = []
    for path in paths:
        began = time.perf_counter()
        notebook = nbformat.read(path, as_version=4)
        mine = []
        try:
            execute(notebook, root)
        except Exception as err:  # a cell past its timeout, a kernel that died
            mine.append(f"{path.name}: {type(err).__name__}: {(str(err).strip().splitlines() or [''])[0]}")
        mine += problems(notebook, path.name)
        verdict = "ok" if not mine else f"{len(mine)} problem(s)"
        print(f"{path.name}: {time.perf_counter() - began:.0f} s, {verdict}", flush=True)
        found += mine
    if found:
        print("a learner's Run All on the untouched starters (labs/) breaks here:", file=sys.stderr)
        for line in found:
            print(f"  {line}", file=sys.stderr)
        return 1
    print(f"{len(paths)} notebooks run to their last cell on the untouched starters (labs/)")
    return 0
