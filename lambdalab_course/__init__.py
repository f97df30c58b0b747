"""The course tooling on top of the engine: graded checks, reports, the labs pipeline, stack grading.

Notebooks and graded checks use the names below. They are imported lazily, so ``import
lambdalab_course`` imports neither pytest nor the engine; the pytest plugin is
``lambdalab_course.plugin``.
"""

from importlib import import_module
from typing import Any

__all__ = ["code_path_for", "course_cloud", "course_module", "grade", "load_module", "unfinished", "your_code"]

_HOMES = {
    "code_path_for": "lambdalab_course.targets",
    "course_cloud": "lambdalab_course.notebook",
    "course_module": "lambdalab_course.notebook",
    "grade": "lambdalab_course.notebook",
    "load_module": "lambdalab_course.layout",
    "unfinished": "lambdalab_course.notebook",
    "your_code": "lambdalab_course.notebook",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'lambdalab_course' has no attribute {name!r}")
