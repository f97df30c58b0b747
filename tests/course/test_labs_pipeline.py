"""The course pipeline: starters generated from solutions, and graded checks with points and hints."""

from __future__ import annotations

import json
import textwrap
from dataclasses import asdict
from pathlib import Path

import pytest

from lambdalab_course import code_path_for, grade, labsource, plugin
from lambdalab_course.layout import lab_name
from lambdalab_course.report import CheckResult
from lambdalab_course.runner import MAX_GRADING_WORKERS, grading_workers, run_checks

SOLUTION = textwrap.dedent('''\
    def add(a, b):
        # BEGIN SOLUTION hint: return the sum
        return a + b
        # END SOLUTION
''')


def test_a_marked_region_becomes_a_todo_that_raises_with_its_hint():
    """A starter must fail loudly where the learner has work to do, and say what that work is."""
    starter = labsource.starter_text(SOLUTION)
    assert "return a + b" not in starter
    namespace: dict = {}
    exec(starter, namespace)
    with pytest.raises(NotImplementedError, match="return the sum"):
        namespace["add"](1, 2)


def test_a_concept_comes_first_and_the_step_by_step_hint_stays_behind_it():
    """The error a learner meets says what must hold and why; the TODO keeps the detailed hint."""
    solution = SOLUTION.replace("# BEGIN SOLUTION hint:", "# BEGIN SOLUTION concept: sums must be exact hint:")
    starter = labsource.starter_text(solution)
    assert "# TODO: sums must be exact\n" in starter and "#   step by step: return the sum\n" in starter
    namespace: dict = {}
    exec(starter, namespace)
    with pytest.raises(NotImplementedError, match="^sums must be exact$"):
        namespace["add"](1, 2)


@pytest.mark.parametrize("broken", [
    "# BEGIN SOLUTION\nx = 1\n",
    "x = 1\n# END SOLUTION\n",
    "# BEGIN SOLUTION\n# BEGIN SOLUTION\n# END SOLUTION\n",
])
def test_unpaired_solution_markers_are_refused_with_the_line(broken):
    with pytest.raises(labsource.MarkerError, match=r"f.py:\d"):
        labsource.starter_text(broken, "f.py")


def test_labs_check_reports_a_starter_that_no_longer_matches_its_solution(tmp_path):
    (tmp_path / "solutions" / "01_x").mkdir(parents=True)
    (tmp_path / "solutions" / "01_x" / "app.py").write_text(SOLUTION)
    labsource.build_all(tmp_path)
    assert labsource.stale_files(tmp_path, tmp_path / "scratch1") == []
    (tmp_path / "labs" / "01_x" / "app.py").write_text("edited by hand\n")
    (tmp_path / "labs" / "01_x" / "extra.py").write_text("")
    assert labsource.stale_files(tmp_path, tmp_path / "scratch2") == ["01_x/app.py", "01_x/extra.py (extra)"]


def test_the_repository_labs_are_generated_from_its_solutions(tmp_path):
    root = Path(__file__).resolve().parents[2]
    assert labsource.stale_files(root, tmp_path) == []


def test_labs_codeuris_are_pointed_at_the_chosen_target():
    assert code_path_for("solutions")("labs/01_x/orders/") == "solutions/01_x/orders/"
    assert code_path_for("labs")("labs/01_x/orders/") == "labs/01_x/orders/"
    assert code_path_for("solutions")("elsewhere/fn") == "elsewhere/fn"


def test_a_graded_run_writes_points_hints_and_a_total(tmp_path):
    """Graded checks earn their points only when they pass; failures carry the learner's hint."""
    tests = tmp_path / "tests" / "labs"
    tests.mkdir(parents=True)
    (tmp_path / "template.yaml").write_text("Resources: {}\n")
    (tests / "test_01_demo.py").write_text(textwrap.dedent('''\
        import pytest

        @pytest.mark.points(2, hint="make it pass")
        def test_good():
            assert True

        @pytest.mark.points(3, hint="retry with backoff")
        def test_bad():
            assert False

        def test_not_graded():
            assert True
    '''))
    report = run_checks(tmp_path, "01_demo", "solutions", tmp_path / "report")
    assert (report["earned"], report["points"], report["target"]) == (2, 5, "solutions")
    assert [(c["check"], c["earned"]) for c in report["checks"]] == [("test_good", 2), ("test_bad", 0)]
    table = (tmp_path / "report.md").read_text()
    assert "| 01_demo | test_bad | 0/3 | failed |" in table
    assert "- test_bad: retry with backoff" in table
    assert json.loads((tmp_path / "report.json").read_text()) == report


def test_hidden_checks_in_tests_labs_hidden_are_graded_with_their_lab(tmp_path):
    """An instructor's hidden checks, fetched into tests/labs/hidden/ before grading, run with the
    lab their file name starts with and appear as their own lab in the report; grading every lab
    runs all of them. A notebook's grade cell leaves them out, so its table still matches the
    committed outputs (docs/instructors.md, hidden checks)."""
    tests = tmp_path / "tests" / "labs"
    (tests / "hidden").mkdir(parents=True)
    (tmp_path / "template.yaml").write_text("Resources: {}\n")
    check = "import pytest\n\n@pytest.mark.points({points})\ndef test_{name}():\n    assert True\n"
    (tests / "test_01_demo.py").write_text(check.format(points=1, name="public"))
    (tests / "hidden" / "test_01_demo_hidden.py").write_text(check.format(points=2, name="unseen"))
    (tests / "hidden" / "test_02_other_hidden.py").write_text(check.format(points=4, name="elsewhere"))
    one = run_checks(tmp_path, "01_demo", "solutions", tmp_path / "one")
    assert [(c["lab"], c["check"], c["earned"]) for c in one["checks"]] == [
        ("01_demo", "test_public", 1), ("01_demo_hidden", "test_unseen", 2)]
    every = run_checks(tmp_path, None, "solutions", tmp_path / "every")
    assert sorted(c["lab"] for c in every["checks"]) == ["01_demo", "01_demo_hidden", "02_other_hidden"]
    notebook = grade("01_demo", "solutions", tmp_path)  # must match the committed outputs
    assert [c["lab"] for c in notebook["checks"]] == ["01_demo"]


class _Config:
    """As much of pytest.Config as the grade report's hooks read."""

    def __init__(self, report: Path, worker: bool = False):
        self.stash = pytest.Stash()
        self._options = {"--grade-report": str(report), "--target": "solutions", "--cloud": None, "--stack": None}
        if worker:
            self.workerinput: dict[str, str] = {}

    def getoption(self, name: str) -> str | None:
        return self._options[name]


def _arriving(config: _Config, reports: list[pytest.TestReport]) -> None:
    config.stash[plugin._RESULTS] = []
    collector = plugin._ResultCollector(config)  # type: ignore[arg-type]
    for report in reports:
        collector.pytest_runtest_logreport(report)


def _report(path: str, line: int, name: str) -> pytest.TestReport:
    result = CheckResult(lab_name(Path(path)), name, 1, 1, "passed", "")
    return pytest.TestReport(f"{path}::{name}", (path, line, name), {}, "passed", None, "call",
                             user_properties=[(plugin._RESULT_PROPERTY, asdict(result))])


def test_the_report_lists_checks_as_written_whichever_worker_finished_first(tmp_path):
    """Graded runs spread checks over pytest-xdist workers, whose results reach the controller in any
    order; the report (and so a notebook's committed grade table) keeps file and line order, hidden
    checks last, and only the controller writes it."""
    written = [("tests/labs/test_01_a.py", 10, "test_first"), ("tests/labs/test_01_a.py", 40, "test_second"),
               ("tests/labs/test_02_b.py", 5, "test_third"), ("tests/labs/hidden/test_01_a_x.py", 3, "test_hidden")]
    controller = _Config(tmp_path / "report")
    _arriving(controller, [_report(*w) for w in reversed(written)])
    plugin.pytest_sessionfinish(type("Session", (), {"config": controller})())
    report = json.loads((tmp_path / "report.json").read_text())
    assert [c["check"] for c in report["checks"]] == [name for _, _, name in written]
    worker = _Config(tmp_path / "worker", worker=True)
    _arriving(worker, [_report(*w) for w in written])
    plugin.pytest_sessionfinish(type("Session", (), {"config": worker})())
    assert not (tmp_path / "worker.json").exists()


def test_labs_are_graded_by_a_worker_each_up_to_the_cores_and_four_and_a_stack_by_one(monkeypatch):
    """A lab's checks share warm clouds, so one lab is graded in one process; several labs spread
    over workers, a file each (design: grading)."""
    monkeypatch.setattr("os.cpu_count", lambda: 16)
    assert grading_workers("local", 6) == MAX_GRADING_WORKERS == 4
    assert grading_workers("local", 1) == 1 and grading_workers("local", 3) == 3
    monkeypatch.setattr("os.cpu_count", lambda: 1)
    assert grading_workers("local", 4) == 1
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert grading_workers("local", 4) == 2 and grading_workers("aws", 4) == 1
