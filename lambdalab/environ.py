"""Setting and restoring process environment variables (``None`` removes one)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager


def set_environ(values: Mapping[str, str | None]) -> dict[str, str | None]:
    """Apply ``values``; returns what was there before, for ``set_environ`` to restore."""
    previous = {key: os.environ.get(key) for key in values}
    for key, value in values.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    return previous


@contextmanager
def environ(values: Mapping[str, str | None]) -> Iterator[None]:
    previous = set_environ(values)
    try:
        yield
    finally:
        set_environ(previous)
