"""Engine test fixtures."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lambdalab import LocalCloud
from tests.engine.apps import write_app


@pytest.fixture
def make_cloud(tmp_path: Path) -> Iterator[Callable[..., LocalCloud]]:
    """Start a cloud from resources + handlers; every cloud started is closed after the test."""
    started: list[LocalCloud] = []

    def start(resources: str, handlers: dict[str, str], **kwargs: Any) -> LocalCloud:
        cloud = LocalCloud.start(write_app(tmp_path, resources, handlers), **kwargs)
        started.append(cloud)
        return cloud

    yield start
    for cloud in started:
        cloud.close()
