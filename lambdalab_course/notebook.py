"""What a notebook calls: a local cloud and lab modules from ``labs/`` (or, with
``LAMBDALAB_TARGET=solutions``, the reference solutions its committed outputs show), one friendly
line where a learner's code is still unfinished, and the grade table of its last cell."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lambdalab_course.layout import find_root, handler_file, load_module
from lambdalab_course.report import html, markdown
from lambdalab_course.runner import run_checks
from lambdalab_course.targets import code_path_for, target_from_environment


def course_cloud(template: str | Path = "../template.yaml", **kwargs: Any) -> Any:
    """A local cloud for a notebook: it runs ``labs/`` (the learner's code) or, when
    ``LAMBDALAB_TARGET=solutions``, the reference solutions, which is what committed outputs show."""
    from lambdalab import LocalCloud

    return LocalCloud.start(template, code_path=code_path_for(target_from_environment()), **kwargs)


def course_module(relative: str, root: str | Path | None = None) -> Any:
    """Import a lab file for a notebook (e.g. a client library), from ``labs/`` or, when
    ``LAMBDALAB_TARGET=solutions``, from ``solutions/``."""
    base = Path(root) if root else find_root(Path.cwd())
    return load_module(base / target_from_environment() / relative)


UNFINISHED = "NotImplementedError"  # what a starter's TODO raises


@contextmanager
def your_code(what: str, relative: str) -> Iterator[None]:
    """Around the lines of a cell that call the learner's code in the notebook (e.g. a client
    library, ``relative`` to ``labs/``): an unfinished TODO becomes one line naming the file, and
    Run All goes on."""
    try:
        yield
    except NotImplementedError:
        _say_unfinished(what, f"{target_from_environment()}/{relative}")


def unfinished(cloud: Any) -> None:
    """At the end of a cell that ran the learner's functions: one line for each function whose
    handler stopped at an unfinished TODO (in the journal since it was last cleared), naming the
    handler's file. A finished lab prints nothing."""
    for name in sorted({i.function for i in cloud.journal.invocations() if i.detail == UNFINISHED}):
        module = handler_file(cloud.function(name))
        try:
            shown = module.relative_to(find_root(Path.cwd()))
        except (FileNotFoundError, ValueError):
            shown = module
        _say_unfinished(name, shown.as_posix())


def _say_unfinished(what: str, where: str) -> None:
    # Run again from the top: a module or a warm function environment loaded earlier keeps the old code.
    print(f"this cell runs your {what} ({where}): finish it, then run the notebook again")


def grade(lab: str, target: str | None = None, root: str | Path | None = None) -> dict[str, Any]:
    """For a notebook's last cell: grade one lab and print its table.

    The target comes from ``LAMBDALAB_TARGET`` (default ``labs``): the kit's CI sets
    ``solutions``; an instructor's CI leaves it, so the notebook passes only on full marks.
    Hidden checks are left out: the table must match the notebook's committed outputs even where a
    grading job has fetched them, and a learner's table must not show them.
    """
    chosen = target or target_from_environment()
    base = Path(root) if root else find_root(Path.cwd())
    with tempfile.TemporaryDirectory() as scratch:
        report = run_checks(base, lab, chosen, Path(scratch) / "grade-report", hidden=False)
    show(report)
    return report


def show(report: dict[str, Any]) -> None:
    """The table as HTML in Jupyter, with the same Markdown as its plain text (what nbval compares
    and a terminal prints)."""
    if not _in_kernel():  # a terminal, a script
        print(markdown(report))
        return
    from IPython.display import display

    display({"text/plain": markdown(report), "text/html": html(report)}, raw=True)


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    return get_ipython() is not None
