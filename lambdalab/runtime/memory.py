"""A function's memory, read from ``/proc`` where Linux (and WSL) expose it.

Lambda kills a function that goes over its memory size, and the size is the execution
environment's, not one process's: children a handler starts use it too. Locally the parent enforces
the same limit by reading the function process's resident set size and, once it has started any,
the proportional set size (shared pages counted once) of every process it started: those it forked,
their children, and those that left its session or lost their parent (``ProcessTree.family``).
Without ``/proc`` (macOS) the limit is reported, not enforced: ``MEMORY_LIMIT_ENFORCED`` says which.
"""

from __future__ import annotations

import os

MEMORY_LIMIT_ENFORCED = os.path.exists("/proc/self/status")
_KIB_PER_MB = 1024
_PAGE_KIB = (os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096) // 1024
# Fields of /proc/<pid>/stat after the command name.
STATE, PPID, PGRP, SESSION, CMINFLT, THREADS, START, RSS = 0, 1, 2, 3, 8, 17, 19, 21


def _kib_to_mb(kib: int) -> int:
    return -(-kib // _KIB_PER_MB)


def stat_fields(pid: int) -> list[bytes] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (which may hold spaces), or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None


def children(pid: int, threads: int = 1) -> list[int]:
    """Its children now, from each thread's ``children`` file (a child belongs to the thread that
    forked it); empty where the kernel has no such file."""
    tids = [str(pid)]
    if threads > 1:
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            return []
    found: list[int] = []
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as listing:
                found += map(int, listing.read().split())
        except (OSError, ValueError):
            continue
    return found


def _proportional_kib(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as rollup:
            return int(rollup.read().split(b"\nPss:", 1)[1].split()[0])
    except (OSError, IndexError, ValueError):
        return None


class ProcessTree:
    """A function process and every process it started, as one memory budget."""

    def __init__(self, pid: int):
        self.pid = pid
        self.family: dict[int, bytes] = {}  # every process it started that was seen alive: pid -> start time

    def resident_mb(self) -> tuple[int, int] | None:
        """(current, peak) memory in MB, rounded up; None when it cannot be read. Alone, the process's
        resident size and its own peak; with processes it started, the sum of their proportional sizes."""
        try:
            with open(f"/proc/{self.pid}/status", "rb") as status:
                text = status.read()
        except OSError:
            return None
        values = {}
        for line in text.splitlines():
            if line.startswith((b"VmRSS:", b"VmHWM:", b"Threads:")):
                name, number = line.split()[:2]
                values[name] = int(number)
        if b"VmRSS:" not in values:
            return None  # a zombie: no memory left to read
        rss, peak = values[b"VmRSS:"], values.get(b"VmHWM:", 0)
        members = self._members(values.get(b"Threads:", 1))
        if members:
            rss = sum(_proportional_kib(pid) or 0 for pid in members) + (_proportional_kib(self.pid) or rss)
            peak = max(peak, rss)
        return _kib_to_mb(rss), _kib_to_mb(peak)

    def _members(self, threads: int) -> list[int]:
        """The live processes it started: below it now, or seen below it before (their parent gone)."""
        todo = [(pid, False) for pid in self.family]  # a stack: those below it now are looked at first
        todo += [(pid, True) for pid in children(self.pid, threads)]
        seen, found = {self.pid}, []
        while todo:
            pid, below = todo.pop()
            if pid in seen:
                continue
            seen.add(pid)
            fields = stat_fields(pid)
            if fields is None or fields[STATE] == b"Z" or (not below and self.family.get(pid) != fields[START]):
                self.family.pop(pid, None)  # ended, or its pid now names another process
                continue
            self.family[pid] = fields[START]
            found.append(pid)
            todo += [(child, True) for child in children(pid, int(fields[THREADS]))]
        return found

    def started_any(self) -> bool:
        """Whether it has started a process: one was seen, it has children now, or it waited for one
        (the minor faults of waited-for children count in its own ``stat``)."""
        fields = stat_fields(self.pid)
        if self.family or fields is None or fields[STATE] == b"Z":
            return True  # gone already: what it started may be anywhere
        return fields[CMINFLT] != b"0" or bool(children(self.pid, int(fields[THREADS])))

    def family_alive(self) -> list[int]:
        """The processes it started that are still the ones seen (not ended, pid not reused)."""
        alive = []
        for pid, start in list(self.family.items()):
            fields = stat_fields(pid)
            if fields is not None and fields[STATE] != b"Z" and fields[START] == start:
                alive.append(pid)
        return alive
