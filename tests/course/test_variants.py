"""``lambdalab labs verify-mutants``: which variants it finds, what it refuses (and goes on without),
and its verdicts. Grading itself is replaced by a stand-in here; CI runs the real one on the kit."""

from __future__ import annotations

from pathlib import Path

import pytest

from lambdalab_course import cli_labs, variants


@pytest.fixture
def course(tmp_path: Path) -> Path:
    """A course with one lab of two files, one mutant and one alternative."""
    lab = tmp_path / "solutions" / "01_demo"
    (lab / "fn").mkdir(parents=True)
    (lab / "fn" / "app.py").write_text("def handler(event, context):\n    return 1\n")
    (lab / "fn" / "core.py").write_text("X = 1\n")
    write(tmp_path / "mutants" / "01_demo" / "off_by_one" / "fn" / "app.py",
          "# Mistake: returns one too many\ndef handler(event, context):\n    return 2\n")
    write(tmp_path / "alternatives" / "01_demo" / "other_style" / "fn" / "core.py", "X = 0 + 1\n")
    return tmp_path


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def fake_grader(scores: dict[str, int]) -> variants.Grader:
    """Grades a variant by name: its points out of 10, the checks lost named after it."""
    def grade(root: Path, variant: variants.Variant, kit: Path) -> variants.Verdict:
        variants.lay_over(root, variant, kit / "labs")
        earned = scores[variant.name]
        lost = [] if earned == 10 else [{"check": f"test_{variant.name}", "lost": 10 - earned,
                                          "hint": "", "failure": "AssertionError: wrong"}]
        return variants.Verdict(variant, earned, 10, lost)
    return grade


def test_finds_mutants_and_alternatives_with_the_files_they_replace(course: Path) -> None:
    found, problems = variants.find(course)
    assert problems == []
    assert [(v.kind, v.lab, v.name, v.files) for v in found] == [
        ("mutant", "01_demo", "off_by_one", ("fn/app.py",)),
        ("alternative", "01_demo", "other_style", ("fn/core.py",))]
    assert found[0].summary == "Mistake: returns one too many"


def test_a_variant_is_laid_over_the_reference(course: Path, tmp_path: Path) -> None:
    mutant = variants.find(course)[0][0]
    variants.lay_over(course, mutant, tmp_path / "kit" / "labs")
    lab = tmp_path / "kit" / "labs" / "01_demo" / "fn"
    assert (lab / "app.py").read_text().startswith("# Mistake") and (lab / "core.py").read_text() == "X = 1\n"


def test_bad_variants_are_named_and_the_others_still_found(course: Path) -> None:
    write(course / "mutants" / "09_nowhere" / "m" / "app.py", "# Mistake\n")
    write(course / "mutants" / "01_demo" / "stray" / "fn" / "extra.py", "# Mistake: a file the lab lacks\n")
    write(course / "mutants" / "01_demo" / "untitled" / "fn" / "app.py", "def handler(e, c):\n    return 3\n")
    write(course / "alternatives" / "01_demo" / "needs_pkg" / "fn" / "core.py", "X = 1\n")
    write(course / "alternatives" / "01_demo" / "needs_pkg" / "requirements.txt", "no-such-package-here==1.0\n")
    found, problems = variants.find(course)
    assert {v.name for v in found} == {"off_by_one", "other_style"}
    assert len(problems) == 4
    text = "\n".join(problems)
    assert "mutants/09_nowhere: no lab 09_nowhere in solutions/ (labs: 01_demo)" in text
    assert "mutants/01_demo/stray/fn/extra.py: 01_demo has no file fn/extra.py" in text
    assert "mutants/01_demo/untitled/fn/app.py: the first line must be a # comment naming the mistake" in text
    assert "alternatives/01_demo/needs_pkg: needs no-such-package-here, which this Python does not have" in text


def test_an_unknown_lab_asked_for_is_named(course: Path) -> None:
    found, problems = variants.find(course, ["01_demo", "02_missing"])
    assert len(found) == 2 and problems == ["no lab 02_missing (labs: 01_demo)"]


def test_verdicts_a_caught_mutant_and_a_full_marks_alternative_pass(course: Path) -> None:
    found, _ = variants.find(course)
    verdicts = variants.verify(course, found, jobs=2, grader=fake_grader({"off_by_one": 8, "other_style": 10}))
    assert [v.ok for v in verdicts] == [True, True]
    assert "caught by off_by_one" in variants.describe(verdicts[0])


@pytest.mark.parametrize("scores", [{"off_by_one": 10, "other_style": 10}, {"off_by_one": 8, "other_style": 9}])
def test_an_uncaught_mutant_or_a_penalised_alternative_fails_the_run(course: Path, scores: dict[str, int],
                                                                     monkeypatch: pytest.MonkeyPatch,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    real = variants.verify
    monkeypatch.setattr(variants, "verify", lambda root, found, jobs, progress=None:
                        real(root, found, jobs, fake_grader(scores), progress))
    assert cli_labs.cmd_labs_verify_mutants(course, []) == 1
    err = capsys.readouterr().err
    assert ("no check catches mutant 01_demo/off_by_one (Mistake: returns one too many)" in err
            if scores["off_by_one"] == 10 else "alternative 01_demo/other_style is correct but loses points" in err)


def test_bad_input_fails_the_run_after_grading_the_rest(course: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    write(course / "mutants" / "09_nowhere" / "m" / "app.py", "# Mistake\n")
    real = variants.verify
    monkeypatch.setattr(variants, "verify", lambda root, found, jobs, progress=None:
                        real(root, found, jobs, fake_grader({"off_by_one": 8, "other_style": 10}), progress))
    assert cli_labs.cmd_labs_verify_mutants(course, []) == 1
    out, err = capsys.readouterr()
    assert "01_demo: 1/1 mutants caught, 1/1 alternatives keep full marks" in out
    assert "lambdalab: mutants/09_nowhere: no lab 09_nowhere" in err and "Traceback" not in err
