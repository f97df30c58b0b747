"""The chaos suite: conservation at volume, killed engines, hostile handlers, broken templates.
Every test here is marked ``chaos``: CI runs them (``tasks.py test``); skip them locally with
``pytest -m "not chaos"``. Each prints its figures (run with ``-s`` to see them)."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.chaos)
