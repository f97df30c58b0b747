"""Grading a class on the instructor's side: only a learner's labs/ runs, with the instructor's checks
(hidden ones included); whatever else a learner changed is ignored and flags them.

The class is built in tmp_path from a copy of this kit with one hidden check added: learners are git
repositories made from it (a full solution, the starter, a mutant, a learner who rewrote the checks to
pass and left the starter, a path that does not exist), graded end to end on lab 02_async alone.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import tarfile
import textwrap
import zipfile
from pathlib import Path

import pytest

from lambdalab_course import cli
from lambdalab_course.classgrading import TIMED_OUT, ClassRun, Learner, RosterError, grade_one, read_roster
from lambdalab_course.clones import CloneError, cached, fetch
from lambdalab_course.learner import copy_labs, differences, open_tree
from lambdalab_course.trusted import grading_kit, short_reason

ROOT = Path(__file__).resolve().parents[2]
LAB = "02_async"
HIDDEN_CHECK = textwrap.dedent('''\
    import pytest

    from lambdalab_course import load_module


    @pytest.mark.points(1, hint="retry a failed event once")
    def test_configure_retries_once(lab_root):
        calls = []

        class Lambda:
            def put_function_event_invoke_config(self, **settings):
                calls.append(settings)

        load_module(lab_root / "02_async" / "ops" / "configure.py").configure(Lambda(), "intake", "arn:queue")
        assert [c["MaximumRetryAttempts"] for c in calls] == [1]
''')
ALWAYS_PASSES = "import pytest\n\n\n@pytest.mark.points(17)\ndef test_everything():\n    pass\n"


def lab_points() -> list[int]:
    """The points of each graded check of LAB, as its markers declare them."""
    from lambdalab_course import load_module

    module = load_module(ROOT / "tests" / "labs" / f"test_{LAB}.py")
    return [m.args[0] for name, fn in vars(module).items() if name.startswith("test_")
            for m in getattr(fn, "pytestmark", []) if m.name == "points"]


LAB_POINTS = sum(lab_points())
TOTAL = LAB_POINTS + 1  # the hidden check's point
CHECKS = len(lab_points()) + 1


def git(*args: str, cwd: Path) -> str:
    done = subprocess.run(["git", "-c", "user.name=learner", "-c", "user.email=learner@example.com",
                           "-c", "init.defaultBranch=main", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def copy_kit(dest: Path) -> Path:
    """What grading needs of this kit (the packages themselves come from the installation)."""
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", "hidden")
    for folder in ("events", "solutions", "labs", "tests/labs"):
        shutil.copytree(ROOT / folder, dest / folder, ignore=skip)
    for name in ("template.yaml", "pyproject.toml", "tasks.py", "tests/__init__.py", "tests/conftest.py"):
        shutil.copy2(ROOT / name, dest / name)
    if (ROOT / ".lambdalab" / "cache").is_dir():  # the template's transform: saves each grading a second
        shutil.copytree(ROOT / ".lambdalab" / "cache", dest / ".lambdalab" / "cache")
    return dest


def make_learner(kit: Path, dest: Path, labs_from: str = "labs") -> Path:
    """A learner's repository: the kit as handed out (no hidden checks), labs/ from ``labs_from``."""
    shutil.copytree(kit, dest, ignore=shutil.ignore_patterns("hidden", ".lambdalab", "__pycache__"))
    if labs_from != "labs":
        shutil.rmtree(dest / "labs")
        shutil.copytree(kit / labs_from, dest / "labs")
    return dest


def commit(repo: Path) -> str:
    if not (repo / ".git").exists():
        git("init", "-q", cwd=repo)
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "work", cwd=repo)
    return git("rev-parse", "HEAD", cwd=repo)


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    kit = copy_kit(tmp_path_factory.mktemp("kit") / "course")
    (kit / "tests" / "labs" / "hidden").mkdir()
    (kit / "tests" / "labs" / "hidden" / f"test_{LAB}_hidden.py").write_text(HIDDEN_CHECK)
    return kit


@pytest.fixture(scope="module")
def learners(kit: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The roster's folder: four repositories and a roster naming a fifth that does not exist."""
    base = tmp_path_factory.mktemp("class")
    commit(make_learner(kit, base / "ada", labs_from="solutions"))
    commit(make_learner(kit, base / "bo"))
    mutant = make_learner(kit, base / "cy", labs_from="solutions")
    configure = mutant / "labs" / LAB / "ops" / "configure.py"
    configure.write_text(configure.read_text().replace("MaximumRetryAttempts=1", "MaximumRetryAttempts=2"))
    commit(mutant)
    tamper = make_learner(kit, base / "dee")
    (tamper / "tests" / "labs" / f"test_{LAB}.py").write_text(ALWAYS_PASSES)
    (tamper / "conftest.py").write_text("import os\nprint(os.listdir('tests/labs/hidden'))\n")
    (tamper / "labs" / "notes.txt").symlink_to("../tasks.py")
    commit(tamper)
    (base / "roster.csv").write_text("learner,repository\nada,ada\nbo,bo\n# a comment\ncy,cy\ndee,dee\neve,nowhere\n")
    return base


@pytest.fixture(scope="module")
def gradebook(kit: Path, learners: Path) -> Path:
    out = learners / "out"
    code = cli.main(["--template", str(kit / "template.yaml"), "grade-class", str(learners / "roster.csv"),
                     "--lab", LAB, "--out", str(out), "--cache", str(learners / "cache"), "--jobs", "2"])
    assert code == 0
    return out


def by_learner(out: Path) -> dict[str, dict]:
    return {row["learner"]: row for row in json.loads((out / "gradebook.json").read_text())["learners"]}


def test_the_solution_gets_full_marks_hidden_check_included(gradebook):
    ada = by_learner(gradebook)["ada"]
    assert ada["status"] == "graded" and ada["earned"] == ada["points"] == TOTAL
    assert {lab["lab"] for lab in ada["labs"]} == {LAB, f"{LAB}_hidden"}
    assert not ada["flagged"] and ada["ignored"] == []


def test_a_mutant_loses_points_with_the_reason(gradebook):
    cy = by_learner(gradebook)["cy"]
    assert 0 < cy["earned"] < cy["points"]
    failed = [c for c in cy["checks"] if c["earned"] < c["points"]]
    assert "test_configure_retries_once" in {c["check"] for c in failed}
    assert all(c["failure"] and c["outcome"] == "failed" for c in failed)


def test_rewriting_the_checks_earns_what_the_starter_earns_and_flags_the_learner(gradebook):
    rows = by_learner(gradebook)
    starter, tamper = rows["bo"], rows["dee"]
    assert tamper["earned"] == starter["earned"] == 0
    outcomes = [[(c["check"], c["outcome"]) for c in row["checks"]] for row in (starter, tamper)]
    assert outcomes[0] == outcomes[1]
    assert tamper["flagged"] and not starter["flagged"]
    ignored = {entry["path"]: entry["why"] for entry in tamper["ignored"]}
    assert set(ignored) == {f"tests/labs/test_{LAB}.py", "conftest.py", "labs/notes.txt"}
    assert "not followed" in ignored["labs/notes.txt"]
    report = (gradebook / "reports" / "dee.md").read_text()
    assert f"tests/labs/test_{LAB}.py" in report and f"0/{TOTAL}" in report


def test_a_missing_repository_gets_a_row_that_says_why(gradebook, learners):
    eve = by_learner(gradebook)["eve"]
    assert eve["status"] == "not cloned" and str(learners / "nowhere") in eve["reason"]
    assert eve["earned"] is None and all(c["earned"] is None for c in eve["checks"])


def test_the_csv_has_a_row_per_learner_and_a_column_per_lab_and_check(gradebook):
    with (gradebook / "gradebook.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["learner"] for r in rows] == ["ada", "bo", "cy", "dee", "eve"]
    header = list(rows[0])
    assert header[:6] == ["learner", "status", "flagged", "earned", "points", "percent"]
    checks = [h for h in header if "::" in h]
    assert len(checks) == CHECKS and f"{LAB}_hidden::test_configure_retries_once" in checks
    assert {LAB, f"{LAB}_hidden"} <= set(header)
    assert rows[0]["earned"] == rows[0]["points"] == str(TOTAL) and rows[0][LAB] == str(LAB_POINTS)
    assert [r["flagged"] for r in rows] == ["", "", "", "yes", ""]
    assert rows[4]["earned"] == "" and "nowhere" in rows[4]["reason"]


def test_the_json_gives_each_learner_every_check_with_points_earned_and_outcome(gradebook):
    book = json.loads((gradebook / "gradebook.json").read_text())
    assert book["lab"] == LAB and book["points"] == TOTAL
    for learner in book["learners"]:
        assert len(learner["checks"]) == CHECKS
        assert all({"id", "lab", "check", "points", "earned", "outcome"} <= set(c) for c in learner["checks"])
    hidden = next(c for c in book["checks"] if c["check"] == "test_configure_retries_once")
    assert (hidden["passed"], hidden["graded"], hidden["pass_rate"]) == (1, 4, 0.25)
    assert hidden["failure_reasons"][0]["learners"] == 2  # the starter's NotImplementedError, twice


def test_the_html_page_has_the_sortable_table_and_the_pass_rates_and_needs_no_network(gradebook):
    page = (gradebook / "gradebook.html").read_text()
    assert '<table class="sortable learners">' in page and "<script>" in page
    assert "25% (1/4)" in page and "pass rate across the class" in page
    assert "⚑ flagged" in page and "no such repository or path" in page
    assert "NotImplementedError" in page  # a common failure reason
    assert "http://" not in page and "https://" not in page


def test_grading_past_the_time_limit_gives_a_row_that_says_so(kit, learners, tmp_path):
    run = ClassRun(kit=kit, roster_dir=learners, cache=tmp_path / "cache", reports=tmp_path / "reports", lab=LAB,
                   time_limit=0.5)
    row = grade_one(run, Learner("ada", "ada"))
    assert row["status"] == TIMED_OUT and "0.5 s" in row["reason"] and row["earned"] is None


def test_a_warm_run_fetches_into_the_cached_clone(kit, tmp_path):
    repo = make_learner(kit, tmp_path / "fay")
    first = commit(repo)
    cache = tmp_path / "cache" / "fay"
    tree, graded = fetch(str(repo), tmp_path, cache, timeout=60)
    assert tree == cache and graded == first
    (cache / ".git" / "kept").write_text("")  # still there after the next run: fetched, not cloned again
    (repo / "labs" / "new.py").write_text("x = 1\n")
    second = commit(repo)
    tree, graded = fetch("fay", tmp_path, cache, timeout=60)
    assert graded == second and (tree / "labs" / "new.py").is_file() and (cache / ".git" / "kept").exists()


def test_grade_labs_from_an_archive_grades_its_labs_and_lists_the_rest(kit, learners, tmp_path):
    archive = tmp_path / "dee.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted((learners / "dee").rglob("*")):
            if path.is_file() and ".git" not in path.parts and not path.is_symlink():
                zf.write(path, Path("dee-main") / path.relative_to(learners / "dee"))
    assert cli.main(["--template", str(kit / "template.yaml"), "grade", LAB, "--labs-from", str(archive)]) == 1
    report = json.loads((kit / "grade-report.json").read_text())
    assert report["earned"] == 0 and report["points"] == TOTAL and report["flagged"]
    assert {e["path"] for e in report["ignored"]} == {f"tests/labs/test_{LAB}.py", "conftest.py"}


def test_a_tar_archive_keeps_its_links_and_paths_inside(tmp_path):
    (tmp_path / "src" / "labs" / "02_async").mkdir(parents=True)
    (tmp_path / "src" / "labs" / "02_async" / "app.py").write_text("ok = True\n")
    (tmp_path / "outside.txt").write_text("secret\n")
    archive = tmp_path / "learner.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(tmp_path / "src" / "labs", "repo/labs")
        for name, target in (("repo/labs/up.py", "../../../outside.txt"), ("repo/labs/abs.py", "/etc/passwd")):
            link = tarfile.TarInfo(name)
            link.type, link.linkname = tarfile.SYMTYPE, target
            tf.addfile(link)
        escape = tarfile.TarInfo("../escape.txt")
        escape.size = 0
        tf.addfile(escape)
    root, unsafe = open_tree(archive, tmp_path / "scratch")
    assert root == tmp_path / "scratch" / "repo"
    assert {e.path for e in unsafe} == {"labs/up.py", "labs/abs.py", "../escape.txt"}
    assert not (tmp_path / "escape.txt").exists()
    copied = tmp_path / "copied"
    assert copy_labs(root, copied) == []
    assert [p.relative_to(copied).as_posix() for p in copied.rglob("*") if p.is_file()] == ["02_async/app.py"]


def test_links_in_labs_are_copied_as_files_only_inside_labs(tmp_path):
    labs = tmp_path / "learner" / "labs"
    (labs / "02_async").mkdir(parents=True)
    (labs / "02_async" / "app.py").write_text("ok = True\n")
    (labs / "02_async" / "same.py").symlink_to("app.py")
    (labs / "leak.py").symlink_to(tmp_path / "secret.py")
    (tmp_path / "secret.py").write_text("secret = 1\n")
    (labs / "tree").symlink_to(tmp_path, target_is_directory=True)
    ignored = copy_labs(tmp_path / "learner", tmp_path / "copied")
    assert {e.path for e in ignored} == {"labs/leak.py", "labs/tree"}
    assert (tmp_path / "copied" / "02_async" / "same.py").read_text() == "ok = True\n"
    assert not (tmp_path / "copied" / "02_async" / "same.py").is_symlink()
    assert sorted(os.listdir(tmp_path / "copied")) == ["02_async"]


def test_the_roster_skips_its_header_and_comments_and_refuses_a_learner_twice(tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("id,repository\n\n# week 3\nada, https://example.com/ada.git\nbo,git@example.com:bo/lab.git\n")
    assert read_roster(roster) == [Learner("ada", "https://example.com/ada.git"),
                                   Learner("bo", "git@example.com:bo/lab.git")]
    roster.write_text("ada,a\nada,b\n")
    with pytest.raises(RosterError, match=":2: learner 'ada' is already on line 1"):
        read_roster(roster)


def test_fetch_only_fills_the_cache_that_a_cached_run_grades_without_fetching(kit, learners, tmp_path):
    """In CI the step with the token only fetches; the grading step, where learners' code runs, has none."""
    roster = learners / "fetch-roster.csv"
    roster.write_text("ada,ada\neve,nowhere\n")
    cache = tmp_path / "cache"
    code = cli.main(["--template", str(kit / "template.yaml"), "grade-class", str(roster), "--fetch-only",
                     "--cache", str(cache), "--out", str(tmp_path / "out")])
    assert code == 0 and not (tmp_path / "out").exists()
    assert cached("ada", learners, cache / "ada") == (cache / "ada", git("rev-parse", "HEAD", cwd=learners / "ada"))
    with pytest.raises(CloneError, match="fetch first"):
        cached("bo", learners, cache / "bo")


def test_a_learner_who_has_not_pulled_the_kits_latest_changes_is_not_flagged(tmp_path):
    kit = tmp_path / "kit"
    (kit / "tests").mkdir(parents=True)
    (kit / "tests" / "test_x.py").write_text("version = 1\n")
    (kit / "old.txt").write_text("dropped later\n")
    commit(kit)
    learner = tmp_path / "learner"
    shutil.copytree(kit, learner, ignore=shutil.ignore_patterns(".git"))
    (learner / "labs").mkdir()
    (kit / "tests" / "test_x.py").write_text("version = 2\n")
    (kit / "old.txt").unlink()
    commit(kit)
    assert differences(learner, kit) == []
    (learner / "tests" / "test_x.py").write_text("version = 3\n")
    (learner / "new.txt").write_text("")
    assert [(e.path, e.why.split(";")[0]) for e in differences(learner, kit)] == [
        ("new.txt", "added"), ("tests/test_x.py", "changed")]


def test_the_grading_kit_has_the_checks_but_no_labs_solutions_or_other_learners_work(tmp_path):
    kit = tmp_path / "kit"
    for name in ("template.yaml", "tests/labs/test_01_x.py", "tests/labs/hidden/test_01_x_hidden.py",
                 "solutions/01_x/app.py", "labs/01_x/app.py", "gradebook/reports/ada.md",
                 ".lambdalab/cache/t.json", ".lambdalab/clones/ada/labs/01_x/app.py", "lambdalab/__init__.py"):
        (kit / name).parent.mkdir(parents=True, exist_ok=True)
        (kit / name).write_text("")
    grading_kit(kit, tmp_path / "copy", skip=[kit / "gradebook"])
    copied = sorted(p.relative_to(tmp_path / "copy").as_posix() for p in (tmp_path / "copy").rglob("*") if p.is_file())
    assert copied == [".lambdalab/cache/t.json", "template.yaml", "tests/labs/hidden/test_01_x_hidden.py",
                      "tests/labs/test_01_x.py"]


@pytest.mark.parametrize(("message", "reason"), [
    ("NotImplementedError: write the claim\n", "NotImplementedError: write the claim"),
    ("AssertionError: t   function  outcome\n  0   Fn  Error\nassert [(1, 'Error')] == [(1, 'Success')]\n",
     "AssertionError: assert [(1, 'Error')] == [(1, 'Success')]"),
    ("AssertionError: the job never completed: t   function  outcome\n  0   Fn  Error\nassert False\n",
     "AssertionError: the job never completed"),
])
def test_a_failure_reason_is_one_line_that_says_what_went_wrong(message, reason):
    assert short_reason(message) == reason
