"""Compare an engine event with an AWS sample from ``events/``: the same keys and the same JSON value
types, recursively, so a handler written against the sample reads the engine's event unchanged.

Values that are request data (headers, stage variables, item images ...) are maps whose keys belong
to the request, not to AWS's format: for those only the map itself and the type of its values are
compared. A sample value of ``null`` says nothing about the type, so any value passes there.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).resolve().parents[2] / "events"
_JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean", dict: "object", list: "array",
               type(None): "null"}


def sample(path: str) -> Any:
    """A copy of ``sam local generate-event ...`` kept in ``events/``."""
    return json.loads((EVENTS / path).read_text())


def _type(value: object) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


def shape_differences(event: Any, expected: Any, *, data_maps: Iterable[str] = (),
                      extra: Iterable[str] = (), absent: Iterable[str] = ()) -> list[str]:
    """Every key or value type of ``event`` that differs from ``expected``, as ``path: what``.

    ``data_maps`` names keys holding request data; ``extra`` / ``absent`` are dotted paths
    (``requestContext.domainName``) AWS documents beyond the sample or leaves out in cases the sample
    does not show: each use must say where AWS documents it.
    """
    found: list[str] = []
    _compare(event, expected, "", frozenset(data_maps), frozenset(extra), frozenset(absent), found)
    return found


def _compare(event: Any, expected: Any, path: str, data_maps: frozenset[str], extra: frozenset[str],
             absent: frozenset[str], found: list[str]) -> None:
    if expected is None:
        return
    if _type(event) != _type(expected):
        found.append(f"{path or '(event)'}: {_type(event)}, AWS sends {_type(expected)}")
        return
    name = path.rsplit(".", 1)[-1].removesuffix("[]")
    if isinstance(expected, dict) and name in data_maps:
        if expected:
            first = next(iter(expected.values()))
            for key, value in event.items():
                if first is not None and _type(value) != _type(first):
                    found.append(f"{path}.{key}: {_type(value)}, AWS sends {_type(first)}")
        return
    if isinstance(expected, dict):
        for key in sorted(set(event) | set(expected)):
            where = f"{path}.{key}" if path else key
            if key not in expected:
                if where not in extra:
                    found.append(f"{where}: not in AWS's event")
            elif key not in event:
                if where not in absent:
                    found.append(f"{where}: missing")
            else:
                _compare(event[key], expected[key], where, data_maps, extra, absent, found)
    elif isinstance(expected, list) and expected:
        for item in event:
            _compare(item, expected[0], f"{path}[]", data_maps, extra, absent, found)
