"""The sample events in events/course/ fit their functions: each one, invoked on the reference
solutions, runs without a function error and answers what events/course/index.json says.

index.json is the one mapping of event file to function; events/README.md's table must agree with it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events" / "course"
INDEX: dict[str, dict[str, Any]] = json.loads((EVENTS / "index.json").read_text())
EVENT_FILES = sorted(p.name for p in EVENTS.glob("*.json") if p.name != "index.json")


@pytest.fixture(scope="module")
def cloud() -> Iterator[Any]:
    from lambdalab import LocalCloud
    from lambdalab_course.targets import code_path_for

    with LocalCloud.start(ROOT / "template.yaml", code_path=code_path_for("solutions")) as running:
        yield running


def test_index_lists_every_event_file() -> None:
    assert sorted(INDEX) == EVENT_FILES


def test_readme_table_matches_index() -> None:
    rows = re.findall(r"^\| `course/([^`]+)` \| `(\w+)` \| (\w+) \|", (ROOT / "events" / "README.md").read_text(),
                      flags=re.MULTILINE)
    assert sorted(rows) == sorted((name, entry["function"], entry["lab"]) for name, entry in INDEX.items())


@pytest.mark.parametrize("name", EVENT_FILES)
def test_event_fits_its_function(cloud: Any, name: str) -> None:
    entry = INDEX[name]
    result = cloud.invoke(entry["function"], json.loads((EVENTS / name).read_text()))
    assert result.function_error is None, result.payload.decode(errors="replace")
    answer, expected = result.json, entry["answer"]
    if isinstance(expected, dict):
        assert isinstance(answer, dict), answer
        assert {key: answer.get(key) for key in expected} == expected, answer
    else:
        assert answer == expected
