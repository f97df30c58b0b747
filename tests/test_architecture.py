"""Import rules, read from the source with ``ast`` (nothing is imported, no cloud starts).

The engine never depends on the course; the course, the graded checks, the notebooks and the
solutions reach the engine only through ``from lambdalab import <public name>``; and the engine's
layers import downwards only: the function runtime imports nothing of lambdalab, the data plane,
the service and the observers know nothing of event sources, ``LocalCloud`` or the command line,
and event sources know nothing of ``LocalCloud`` or the command line. Imports under
``if TYPE_CHECKING:`` and inside functions count like any other.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SKIP = {"__pycache__", ".ipynb_checkpoints"}


@dataclass(frozen=True)
class Import:
    """One import statement and every module it can load (``from a import b`` may load ``a.b``)."""

    where: str  # "path:line", or "path cell N line M" in a notebook
    statement: str
    module: str  # what it imports from ("" for a plain ``import``)
    names: tuple[str, ...]  # the names after ``import``
    targets: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.where}: {self.statement}"


def _package_of(path: Path) -> list[str]:
    """The dotted package a source file's relative imports start from."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return parts[:-1]  # a package's __init__ and its modules start from the same package


def _imports(tree: ast.AST, path: Path, where: str) -> Iterator[Import]:
    for node in sorted(ast.walk(tree), key=lambda n: getattr(n, "lineno", 0)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(where.format(line=node.lineno), ast.unparse(node), "", (alias.name,), (alias.name,))
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                package = _package_of(path)
                base = package[: len(package) - node.level + 1]
                module = ".".join([*base, *([module] if module else [])])
            names = tuple(alias.name for alias in node.names)
            targets = (module, *(f"{module}.{name}" for name in names if name != "*"))
            yield Import(where.format(line=node.lineno), ast.unparse(node), module, names, targets)


def python_imports(path: Path) -> list[Import]:
    rel = path.relative_to(ROOT)
    return list(_imports(ast.parse(path.read_text(), str(rel)), path, f"{rel}:{{line}}"))


def notebook_imports(path: Path) -> list[Import]:
    """Each code cell parsed on its own; IPython's ``%magic`` and ``!shell`` lines are left out."""
    rel = path.relative_to(ROOT)
    found: list[Import] = []
    cells = json.loads(path.read_text())["cells"]
    for number, cell in enumerate(cells, 1):
        if cell["cell_type"] != "code":
            continue
        source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        lines = ["" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()]
        tree = ast.parse("\n".join(lines), f"{rel} cell {number}")
        found += _imports(tree, path, f"{rel} cell {number} line {{line}}")
    return found


def files(*patterns: str) -> list[Path]:
    found = sorted({p for pattern in patterns for p in ROOT.glob(pattern)
                    if p.is_file() and not SKIP.intersection(p.relative_to(ROOT).parts)})
    assert found, f"no files match {patterns}: the rule would check nothing"
    return found


def imports_of(*patterns: str) -> list[Import]:
    return [imp for path in files(*patterns)
            for imp in (notebook_imports(path) if path.suffix == ".ipynb" else python_imports(path))]


def public_names(package: str) -> set[str]:
    """``<package>.__all__`` as written in its ``__init__.py``."""
    init = ROOT / package / "__init__.py"
    for node in ast.parse(init.read_text()).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            return set(ast.literal_eval(node.value))
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == "__all__":
            assert node.value is not None
            return set(ast.literal_eval(node.value))
    raise AssertionError(f"{init.relative_to(ROOT)} declares no __all__")


def within(target: str, packages: Iterable[str]) -> bool:
    return any(target == p or target.startswith(f"{p}.") for p in packages)


def reaching(imports: list[Import], packages: Iterable[str]) -> list[str]:
    """The imports that can load any of ``packages`` (or a module inside one)."""
    packages = tuple(packages)
    return [str(imp) for imp in imports if any(within(t, packages) for t in imp.targets)]


def outside_public_api(imports: list[Import], package: str) -> list[str]:
    """Imports of ``package`` other than ``import package`` or ``from package import <__all__ names>``."""
    allowed = public_names(package)
    bad = []
    for imp in imports:
        if imp.module == "":
            bad += [f"{imp} (import {name}: use `from {package} import ...`)"
                    for name in imp.names if within(name, [package]) and name != package]
        elif imp.module == package:
            private = sorted(set(imp.names) - allowed)
            if private:
                bad.append(f"{imp} ({', '.join(private)} not in {package}.__all__)")
        elif within(imp.module, [package]):
            bad.append(f"{imp} ({imp.module} is not public: use `from {package} import ...`)")
    return bad


def explain(rule: str, violations: list[str]) -> str:
    return f"{rule}:\n  " + "\n  ".join(violations)


COURSE_SIDE = ("lambdalab_course/**/*.py", "tests/labs/**/*.py", "notebooks/*.ipynb", "solutions/**/*.py")
LEARNER_SIDE = ("tests/labs/**/*.py", "notebooks/*.ipynb", "solutions/**/*.py")


def test_the_engine_never_imports_the_course() -> None:
    violations = reaching(imports_of("lambdalab/**/*.py"), ["lambdalab_course"])
    assert not violations, explain("the engine (lambdalab/) must not import lambdalab_course", violations)


@pytest.mark.parametrize("pattern", COURSE_SIDE)
def test_the_course_checks_notebooks_and_solutions_use_only_the_engines_public_api(pattern: str) -> None:
    violations = outside_public_api(imports_of(pattern), "lambdalab")
    assert not violations, explain(f"{pattern} may import from the engine only `from lambdalab import "
                                   f"<name in lambdalab.__all__>`", violations)


@pytest.mark.parametrize("pattern", LEARNER_SIDE)
def test_checks_notebooks_and_solutions_use_only_the_courses_public_names(pattern: str) -> None:
    violations = outside_public_api(imports_of(pattern), "lambdalab_course")
    assert not violations, explain(f"{pattern} may import from the course only `from lambdalab_course import "
                                   f"<name in lambdalab_course.__all__>`", violations)


def test_the_function_runtime_imports_nothing_of_lambdalab() -> None:
    """It runs in every function process: a cold start must cost no engine imports."""
    violations = reaching(imports_of("lambdalab/runtime/bootstrap.py"), ["lambdalab", "lambdalab_course"])
    assert not violations, explain("lambdalab/runtime/bootstrap.py must import nothing of lambdalab", violations)


@pytest.mark.parametrize("layer", ["dataplane", "observe", "service"])
def test_lower_layers_know_nothing_of_sources_the_cloud_or_the_command_line(layer: str) -> None:
    above = ["lambdalab.sources", "lambdalab.cloud", "lambdalab.cli"]
    violations = reaching(imports_of(f"lambdalab/{layer}/**/*.py"), above)
    assert not violations, explain(f"lambdalab/{layer}/ must not import {', '.join(above)}", violations)


def test_event_sources_know_nothing_of_the_cloud_or_the_command_line() -> None:
    above = ["lambdalab.cloud", "lambdalab.cli"]
    violations = reaching(imports_of("lambdalab/sources/**/*.py"), above)
    assert not violations, explain(f"lambdalab/sources/ must not import {', '.join(above)}", violations)


def test_the_rules_see_every_form_of_import() -> None:
    """Relative, aliased, nested and TYPE_CHECKING imports are all found and resolved."""
    package = ROOT / "lambdalab" / "sources" / "sqs"
    source = ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ...cloud import LocalCloud\n"
              "def f():\n    import lambdalab.cli as c\nfrom . import poller\nfrom lambdalab import cloud\n")
    found = list(_imports(ast.parse(source), package / "__init__.py", "x:{line}"))
    assert reaching(found, ["lambdalab.cloud", "lambdalab.cli"]) == [
        "x:3: from ...cloud import LocalCloud", "x:5: import lambdalab.cli as c",
        "x:7: from lambdalab import cloud"]
    assert [i.targets for i in found if i.where == "x:6"] == [("lambdalab.sources.sqs", "lambdalab.sources.sqs.poller")]
    assert outside_public_api(list(_imports(ast.parse("import lambdalab\nfrom lambdalab import LocalCloud\n"),
                                            package / "x.py", "x:{line}")), "lambdalab") == []
