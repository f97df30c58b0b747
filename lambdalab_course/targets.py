"""Which code a run grades and on which cloud: ``labs/`` or ``solutions/``, local or a deployed stack.

The choices come from the command line or, for notebooks and CI, from the environment; this module
holds their names and points a template's code at the chosen tree. It imports neither pytest nor
the engine, so a notebook can read it cheaply.
"""

from __future__ import annotations

import os
from collections.abc import Callable

TARGETS = ("labs", "solutions")
TARGET_VARIABLE = "LAMBDALAB_TARGET"
CLOUDS = ("local", "aws")
CLOUD_VARIABLE = "LAMBDALAB_CLOUD"
STACK_VARIABLE = "LAMBDALAB_STACK"


def target_from_environment() -> str:
    """``$LAMBDALAB_TARGET``, else ``labs``: the learner's code unless told otherwise."""
    return os.environ.get(TARGET_VARIABLE) or "labs"


def code_path_for(target: str) -> Callable[[str], str]:
    """Rewrites a template CodeUri ``labs/...`` to the chosen target's tree."""
    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, got {target!r}")

    def rewrite(uri: str) -> str:
        head, sep, rest = uri.partition("/")
        return f"{target}/{rest}" if sep and head == "labs" else uri

    return rewrite
