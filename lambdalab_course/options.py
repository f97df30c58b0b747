"""A graded run's choices on pytest's command line: ``--target``, ``--cloud``, ``--stack`` (each
falling back to its environment variable) and ``--grade-report``."""

from __future__ import annotations

import os

import pytest

from lambdalab_course.targets import CLOUD_VARIABLE, CLOUDS, STACK_VARIABLE, TARGET_VARIABLE, TARGETS


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("lambdalab", "lambdalab graded checks")
    group.addoption("--target", choices=TARGETS, default=None,
                    help=f"grade labs/ (default) or solutions/; also ${TARGET_VARIABLE}")
    group.addoption("--grade-report", default=None, metavar="PATH",
                    help="write the grade report to PATH.json and PATH.md")
    group.addoption("--cloud", choices=CLOUDS, default=None,
                    help=f"grade on the local cloud (default) or a deployed stack (aws); also ${CLOUD_VARIABLE}")
    group.addoption("--stack", default=None, metavar="NAME",
                    help=f"with --cloud aws: the CloudFormation stack to grade; also ${STACK_VARIABLE}")


def target_of(config: pytest.Config) -> str:
    value = config.getoption("--target") or os.environ.get(TARGET_VARIABLE) or "labs"
    if value not in TARGETS:
        raise pytest.UsageError(f"{TARGET_VARIABLE} must be one of {TARGETS}, got {value!r}")
    return str(value)


def cloud_of(config: pytest.Config) -> str:
    value = config.getoption("--cloud") or os.environ.get(CLOUD_VARIABLE) or "local"
    if value not in CLOUDS:
        raise pytest.UsageError(f"{CLOUD_VARIABLE} must be one of {CLOUDS}, got {value!r}")
    return str(value)


def stack_of(config: pytest.Config) -> str | None:
    return config.getoption("--stack") or os.environ.get(STACK_VARIABLE) or None
