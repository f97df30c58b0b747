"""Stopping a grading process together with everything it started.

A learner's function runs in a process of its own session (the engine starts it so), so killing
the grading process's group is not enough when grading runs out of time: a handler stuck in a loop
would keep a core busy after the grade is written. Its descendants are found first, then all are
killed. ``/proc`` gives the parentage on Linux; elsewhere only the group is killed.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children, their children...), read from ``/proc``."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # gone while we looked
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ")".
        fields = text[text.rfind(")") + 2:].split()
        if len(fields) > 1:
            children.setdefault(int(fields[1]), []).append(int(text.split(" ", 1)[0]))
    found: list[int] = []
    todo = [pid]
    while todo:
        below = children.get(todo.pop(), [])
        found += below
        todo += below
    return found


def stop_tree(process: subprocess.Popen[bytes], own_group: bool) -> None:
    """Kill ``process`` (its whole group when it leads one) and every process it started."""
    below = descendants(process.pid)
    targets = [(os.killpg, process.pid)] if own_group and hasattr(os, "killpg") else [(os.kill, process.pid)]
    for kill, pid in [*targets, *((os.kill, pid) for pid in below)]:
        try:
            kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    process.wait()
