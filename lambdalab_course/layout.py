"""Where a course keeps things: its root, the graded-check files and the labs they name, and a
learner's modules loaded from their files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

HIDDEN_CHECKS = "hidden"  # tests/labs/hidden/: checks learners do not see, fetched by the grading job


def lab_name(path: Path) -> str:
    """``tests/labs/test_01_request_response.py`` -> ``01_request_response``."""
    return path.stem.removeprefix("test_")


def find_root(start: Path) -> Path:
    """The course root at or above ``start``: a folder with template.yaml and tests/."""
    for folder in (start, *start.parents):
        if (folder / "template.yaml").is_file() and (folder / "tests").is_dir():
            return folder
    raise FileNotFoundError("cannot find the course root (a folder with template.yaml and tests/)")


def load_module(path: Path, name: str | None = None) -> Any:
    """Import a learner's module (e.g. a client library) from a file, fresh every time."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name or f"lab_{path.stem}_{abs(hash(path))}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def handler_file(function: Any) -> Path:
    """The file of a function's handler (``CodeUri`` + the module of ``Handler``), e.g.
    ``.../labs/01_request_response/orders/app.py``: what a learner opens to finish it."""
    module = str(function.Handler).rpartition(".")[0].replace(".", "/") + ".py"
    return Path(function.CodeUri) / module
