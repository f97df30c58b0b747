"""Graded checks as a pytest plugin: points, learner-facing hints, a grade report.

A graded check is an ordinary test marked ``@pytest.mark.points(n, hint="...")``. It runs against
``labs/`` (what the learner wrote, the default) or ``solutions/`` (``--target=solutions``, or the
``LAMBDALAB_TARGET`` variable, which is how notebooks and the kit's own CI choose). Every run that
collects graded checks can write ``<path>.json`` and ``<path>.md`` with ``--grade-report=<path>``.

``--cloud aws --stack NAME`` grades a deployed stack instead of a local cloud: ``lab_cloud`` is then
a ``StackCloud``. A check that needs the engine (faults, the journal, the virtual clock) is marked
``@pytest.mark.local_only(reason="...")``; on AWS it is skipped as "local only: <reason>" and earns
none of its points, so a grade never counts what was not checked.

The course's own runs load it with ``-p lambdalab_course.plugin`` (pyproject.toml's pytest
options, and every grading process), never for every project in the environment.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import asdict
from pathlib import Path
from typing import Any, cast

import pytest

from lambdalab_course.layout import HIDDEN_CHECKS, lab_name
from lambdalab_course.observed import short_reason, watch_of
from lambdalab_course.options import add_options, cloud_of, stack_of, target_of
from lambdalab_course.report import LOCAL_ONLY, CheckResult, write_report
from lambdalab_course.targets import STACK_VARIABLE

pytest_plugins = ["lambdalab_course.fixtures"]


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "points(n, hint=''): a graded check worth n points")
    config.addinivalue_line("markers", "local_only(reason): a check that needs the local engine")
    config.stash[_RESULTS] = []
    config.pluginmanager.register(_ResultCollector(config), "lambdalab-grade-results")
    if cloud_of(config) == "aws" and not stack_of(config):
        raise pytest.UsageError(f"--cloud aws needs --stack NAME (or ${STACK_VARIABLE})")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On AWS, local-only checks are skipped before any fixture starts a local cloud."""
    if cloud_of(config) != "aws":
        return
    for item in items:
        reason = local_only_reason(item)
        if reason is not None:
            item.add_marker(pytest.mark.skip(reason=reason))


def local_only_reason(item: pytest.Item) -> str | None:
    """"local only: <reason>" for a check marked local_only, else None."""
    marker = item.get_closest_marker("local_only")
    if marker is None:
        return None
    why = marker.kwargs.get("reason") or (marker.args[0] if marker.args else "")
    return f"{LOCAL_ONLY}: {why}" if why else LOCAL_ONLY


# Each result with where its check is defined: (hidden?, file, line, node id) orders the report as
# the files and checks are written, whichever process or worker finished first.
_RESULTS = pytest.StashKey[list[tuple[tuple[bool, str, int, str], CheckResult]]]()
_RESULT_PROPERTY = "lambdalab-check-result"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report: pytest.TestReport = yield
    marker = item.get_closest_marker("points")
    if marker is None:
        return report
    points = int(marker.args[0]) if marker.args else 1
    hint = str(marker.kwargs.get("hint", ""))
    if report.when == "call" or (report.when == "setup" and not report.passed):
        if report.failed and hint:
            report.sections.append(("Hint", hint))
        earned = points if report.passed else 0
        lab = lab_name(Path(str(item.fspath)))
        reason = local_only_reason(item) if report.skipped and cloud_of(item.config) == "aws" else None
        outcome = LOCAL_ONLY if reason else report.outcome
        functions, logs = "", cast(list[str], [])
        if report.failed:
            reason = short_reason(_failure_message(report))
            functions, logs = watch_of(item.config).failures()
        result = CheckResult(lab, item.name, points, earned, outcome, hint, reason or "", functions, logs)
        report.user_properties.append((_RESULT_PROPERTY, asdict(result)))  # travels to xdist's controller
    return report


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """What the check's clouds did before it is not its doing: the watch starts here."""
    watch_of(item.config).start()
    return (yield)


def _failure_message(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    return str(getattr(crash, "message", "") or report.longreprtext or report.outcome)


class _ResultCollector:
    """Gathers the checks' results where reports arrive: in the one pytest process, or in the
    controller when pytest-xdist runs checks in workers (which then write no report)."""

    def __init__(self, config: pytest.Config):
        self.config = config

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        for name, value in report.user_properties:
            if name == _RESULT_PROPERTY:
                path, line = report.location[0], report.location[1] or 0
                where = (HIDDEN_CHECKS in Path(path).parts, path, line, report.nodeid)
                self.config.stash[_RESULTS].append((where, CheckResult(**cast(dict[str, Any], value))))


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    if hasattr(config, "workerinput"):  # an xdist worker: its controller writes the report
        return
    found = config.stash.setdefault(_RESULTS, [])
    results = [result for _, result in sorted(found, key=lambda pair: pair[0])]
    path = config.getoption("--grade-report")
    if path and results:
        write_report(Path(path), results, target_of(config), cloud_of(config), stack_of(config))
