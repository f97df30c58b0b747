"""A learner's Run All on the untouched starters: unfinished code prints one friendly line and the
notebook goes on; ``lambdalab labs run-notebooks`` fails on an error, on stderr that is not known
noise, and on a run that stopped before the last cell. No kernel runs here."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import nbformat
import pytest

from lambdalab_course import starter_notebooks, unfinished, your_code

RUNTIME_NOTICE = ("lambdalab: functions declare Runtime python3.12 but run on this machine's python3.11; "
                  "code that relies on a difference between them may behave differently on AWS.\n")
FRIENDLY = "this cell runs your post_with_retries (labs/01/client.py): finish it, then run the notebook again\n"


def code(*outputs: dict[str, Any], ran: bool = True) -> dict[str, Any]:
    return {"cell_type": "code", "execution_count": 1 if ran else None, "source": "", "outputs": list(outputs)}


def stream(name: str, text: str) -> dict[str, Any]:
    return {"output_type": "stream", "name": name, "text": text}


def error(ename: str, evalue: str) -> dict[str, Any]:
    return {"output_type": "error", "ename": ename, "evalue": evalue, "traceback": ["..."]}


def test_a_clean_run_with_friendly_lines_and_the_runtime_notice_has_no_problem() -> None:
    notebook = {"cells": [code(stream("stderr", RUNTIME_NOTICE), stream("stdout", "Prod\n")),
                          {"cell_type": "markdown", "source": "text"},
                          code(stream("stdout", FRIENDLY)),
                          code({"output_type": "display_data", "data": {"text/plain": "| total |"}})]}
    assert starter_notebooks.problems(notebook, "01.ipynb") == []


def test_each_error_and_each_cell_with_stray_stderr_is_one_line_numbered_as_nbval_numbers_cells() -> None:
    thread_traceback = "Exception in thread Thread-158 (<lambda>):\nTraceback (most recent call last):\n"
    notebook = {"cells": [code(stream("stderr", RUNTIME_NOTICE)),
                          {"cell_type": "markdown", "source": "text"},
                          code(stream("stderr", thread_traceback), stream("stderr", thread_traceback),
                               error("AttributeError", "'NoneType' object has no attribute 'status'")),
                          code(error("KeyError", "'Item'")),
                          code(stream("stdout", "grade table\n"))]}
    assert starter_notebooks.problems(notebook, "01.ipynb") == [
        "01.ipynb::Cell 1: AttributeError: 'NoneType' object has no attribute 'status'",
        "01.ipynb::Cell 1: stderr: Exception in thread Thread-158 (<lambda>):",
        "01.ipynb::Cell 2: KeyError: 'Item'",
    ]


def test_a_run_that_stops_before_the_grade_cell_is_a_problem() -> None:
    notebook = {"cells": [code(stream("stdout", "ok\n")), code(ran=False)]}
    assert starter_notebooks.problems(notebook, "04.ipynb") == [
        "04.ipynb::Cell 1: never ran (the run stopped before the last cell)"]


def test_run_notebooks_prints_each_notebook_then_one_line_per_problem_and_never_writes_a_notebook(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "notebooks").mkdir()
    for name in ("00_fine", "01_broken"):
        nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(name)]),
                       tmp_path / "notebooks" / f"{name}.ipynb")
    before = {p.name: p.read_bytes() for p in (tmp_path / "notebooks").iterdir()}

    def execute(notebook: Any, root: Path) -> None:  # what a kernel would leave in the copy
        [cell] = notebook.cells
        cell.execution_count = 1
        if cell.source == "01_broken":
            cell.outputs = [nbformat.v4.new_output("error", ename="KeyError", evalue="'Item'", traceback=[])]

    monkeypatch.setattr(starter_notebooks, "execute", execute)
    assert starter_notebooks.run_notebooks(tmp_path) == 1
    out, err = capsys.readouterr()
    assert "00_fine.ipynb: 0 s, ok" in out and "01_broken.ipynb: 0 s, 1 problem(s)" in out
    assert "  01_broken.ipynb::Cell 0: KeyError: 'Item'" in err.splitlines()
    assert {p.name: p.read_bytes() for p in (tmp_path / "notebooks").iterdir()} == before


def test_your_code_turns_an_unfinished_todo_into_one_line_and_lets_other_errors_through(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAMBDALAB_TARGET", "labs")  # a learner's run (the kit's CI sets solutions)
    with your_code("post_with_retries", "01_request_response/client/orders_client.py"):
        raise NotImplementedError("loop up to max_attempts ...")
    assert capsys.readouterr().out == (
        "this cell runs your post_with_retries (labs/01_request_response/client/orders_client.py): "
        "finish it, then run the notebook again\n")
    with pytest.raises(KeyError), your_code("post_with_retries", "01_request_response/client/orders_client.py"):
        raise KeyError("Item")


def test_unfinished_names_each_function_whose_handler_stopped_at_a_todo(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs = [SimpleNamespace(function="ExportWorkerFunction", detail="NotImplementedError"),
            SimpleNamespace(function="ExportWorkerFunction", detail="NotImplementedError"),
            SimpleNamespace(function="GatewayDemoFunction", detail="RuntimeError")]
    code_uri = tmp_path / "labs" / "04_queues" / "export_worker"
    cloud = SimpleNamespace(journal=SimpleNamespace(invocations=lambda: runs),
                            function=lambda name: SimpleNamespace(CodeUri=code_uri, Handler="app.handler"))
    unfinished(cloud)
    assert capsys.readouterr().out == (
        f"this cell runs your ExportWorkerFunction ({(code_uri / 'app.py').as_posix()}): "
        "finish it, then run the notebook again\n")
