"""The fixtures graded checks use: the chosen target's tree and clouds of the course template
running it, or under ``--cloud aws`` the deployed stack in their place.

The plugin (``lambdalab_course.plugin``) registers this module; the engine is imported only when a
fixture starts a local cloud.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lambdalab_course.observed import watch_of
from lambdalab_course.options import cloud_of, stack_of, target_of
from lambdalab_course.targets import code_path_for


@pytest.fixture(scope="session")
def lab_stack(request: pytest.FixtureRequest) -> Any:
    """The deployed stack under ``--cloud aws`` (a ``StackCloud``); local runs skip checks that use it."""
    from lambdalab_course.stack import API_URL_VARIABLE, ENDPOINT_VARIABLE, StackCloud

    stack = stack_of(request.config)
    if cloud_of(request.config) != "aws" or not stack:
        pytest.skip("needs a deployed stack: --cloud aws --stack NAME")
    return StackCloud(stack, endpoint_url=os.environ.get(ENDPOINT_VARIABLE) or None,
                      api_url_format=os.environ.get(API_URL_VARIABLE) or None)


@pytest.fixture
def lab_run_tag(request: pytest.FixtureRequest) -> str:
    """A suffix for ids a check creates, so it counts only its own: unique in this process on a
    local cloud (checks may share one), unique across runs on a deployed stack (its tables keep
    what earlier runs wrote)."""
    if cloud_of(request.config) != "aws":
        return f"-{next(_LOCAL_RUN_TAGS)}"
    import uuid

    return f"-{uuid.uuid4().hex[:8]}"


_LOCAL_RUN_TAGS = itertools.count(1)


@pytest.fixture(scope="session")
def lab_target(request: pytest.FixtureRequest) -> str:
    """Which tree graded checks run: "labs" or "solutions"."""
    return target_of(request.config)


@pytest.fixture(scope="session")
def lab_root(request: pytest.FixtureRequest, lab_target: str) -> Path:
    """The chosen target's tree: ``<course>/labs`` or ``<course>/solutions``."""
    return Path(request.config.rootpath) / lab_target


@pytest.fixture
def lab_cloud_factory(request: pytest.FixtureRequest, lab_target: str) -> Iterator[Callable[..., Any]]:
    """Starts local clouds of the project's template on the chosen target's code; closes them after.

    Keyword arguments go to ``LocalCloud.start`` (e.g. ``env_vars``, ``account_concurrency``).
    Under ``--cloud aws`` it gives the deployed stack, which takes no such arguments.
    """
    from lambdalab import LocalCloud

    if cloud_of(request.config) == "aws":
        yield lambda **kwargs: _stack_cloud(request, kwargs)
        return
    template = Path(request.config.rootpath) / "template.yaml"
    started: list[Any] = []

    watch = watch_of(request.config)

    def start(**kwargs: Any) -> Any:
        cloud = LocalCloud.start(template, code_path=code_path_for(lab_target), **kwargs)
        started.append(cloud)
        watch.add(cloud)
        return cloud

    yield start
    for cloud in started:
        watch.discard(cloud)
        cloud.close()


def _stack_cloud(request: pytest.FixtureRequest, options: dict[str, Any]) -> Any:
    from lambdalab_course.stack import StackError

    if options:
        raise StackError(f"{sorted(options)} cannot be set on a deployed stack: "
                         f"mark the check @pytest.mark.local_only(reason=...)")
    return request.getfixturevalue("lab_stack")


@pytest.fixture
def lab_cloud(lab_cloud_factory: Callable[..., Any]) -> Any:
    """A fresh local cloud of the project's template, running the chosen target's code; under
    ``--cloud aws``, the deployed stack."""
    return lab_cloud_factory()


@pytest.fixture(scope="module")
def lab_module_cloud(request: pytest.FixtureRequest, lab_target: str) -> Iterator[Any]:
    """One local cloud for every check of a module that takes ``lab_shared_cloud``: one start instead
    of one a check, and environments stay warm between checks. Under ``--cloud aws``, the stack."""
    if cloud_of(request.config) == "aws":
        yield request.getfixturevalue("lab_stack")
        return
    from lambdalab import LocalCloud

    template = Path(request.config.rootpath) / "template.yaml"
    cloud = LocalCloud.start(template, code_path=code_path_for(lab_target))
    watch = watch_of(request.config)
    watch.add(cloud)
    try:
        yield cloud
    finally:
        watch.discard(cloud)
        cloud.close()


@pytest.fixture
def lab_shared_cloud(request: pytest.FixtureRequest, lab_module_cloud: Any) -> Any:
    """The module's cloud, settled for the next check: what an earlier check left running (its
    retries, a message still in flight) finishes first, then faults and the journal start empty.
    Checks on a shared cloud read back only their own data (their ids, keys, accounts)."""
    if cloud_of(request.config) != "aws":
        lab_module_cloud.run_until_idle()
        lab_module_cloud.faults.clear()
        lab_module_cloud.journal.clear()
    return lab_module_cloud
