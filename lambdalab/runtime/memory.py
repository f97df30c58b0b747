"""A function process's memory, read from ``/proc`` where Linux (and WSL) expose it.

Lambda kills a function that goes over its memory size; locally the parent enforces the same limit
by reading the child's resident set size. Without ``/proc`` (macOS) the limit is reported, not
enforced: ``MEMORY_LIMIT_ENFORCED`` says which.
"""

from __future__ import annotations

import os

MEMORY_LIMIT_ENFORCED = os.path.exists("/proc/self/status")
_KIB_PER_MB = 1024


def _kib_to_mb(kib: int) -> int:
    return -(-kib // _KIB_PER_MB)


def resident_mb(pid: int) -> tuple[int, int] | None:
    """(current, peak) resident memory in MB, rounded up; None when it cannot be read."""
    try:
        with open(f"/proc/{pid}/status", "rb") as status:
            text = status.read()
    except OSError:
        return None
    values = {}
    for line in text.splitlines():
        if line.startswith((b"VmRSS:", b"VmHWM:")):
            name, kib = line.split()[:2]
            values[name] = int(kib)
    if not values:
        return None  # a zombie: no memory left to read
    return _kib_to_mb(values.get(b"VmRSS:", 0)), _kib_to_mb(values.get(b"VmHWM:", 0))
