"""``lambdalab grade`` answers a mistake on its command line in one line, never a traceback."""

from __future__ import annotations

from pathlib import Path

from lambdalab_course.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_grading_a_lab_that_does_not_exist_says_which_labs_exist_in_one_line(capsys):
    labs = sorted(p.stem.removeprefix("test_") for p in (ROOT / "tests" / "labs").glob("test_*.py"))
    assert main(["--template", str(ROOT / "template.yaml"), "grade", "no_such_lab"]) == 2
    out = capsys.readouterr()
    assert out.out == ""
    assert out.err == f"lambdalab: no lab named 'no_such_lab'; the labs are: {', '.join(labs)}\n"
