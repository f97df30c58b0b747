"""Ends what an engine's functions left running once the engine itself is gone, however it ended.

Started once per engine process, in a session of its own, with the read end of a pipe as its stdin
whose write end only the engine holds. The engine writes ``+pid`` when a function process starts
(in a session of its own, which ``pid`` names) and ``-pid`` when it ended it with all its session.
End of file means the engine is gone, ``kill -9`` included: the guardian then kills every session
still listed and every process whose environment carries the engine's mark (``_LAMBDALAB_ENGINE``,
which children inherit, even those that left the session with ``setsid``), until none is left.

Run by file path with ``python -I -S``, so it imports nothing of ``lambdalab`` and starts in a few
milliseconds. Without ``/proc`` (macOS) only the listed sessions are killed.
"""

from __future__ import annotations

import os
import signal
import sys
import time

ROUNDS = 50  # a process may fork while it is being looked for: look again until nothing is found
ROUND_PAUSE_S = 0.01


def marked(needle: bytes, exact: bool = False, among: list[int] | None = None) -> list[int]:
    """Processes (not zombies) whose environment holds ``needle`` (a whole ``NAME=value`` when ``exact``,
    its beginning otherwise), among all of this user's or the pids given."""
    if among is None:
        try:
            among = [int(name) for name in os.listdir("/proc") if name.isdigit()]
        except OSError:
            return []
    me, found = os.getpid(), []
    for pid in among:
        if pid == me:
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as environ:
                entries = environ.read().split(b"\0")
        except OSError:  # gone, or another user's
            continue
        if any(entry == needle if exact else entry.startswith(needle) for entry in entries):
            found.append(pid)
    return found


def _kill(pid: int, group: bool = False) -> bool:
    try:
        (os.killpg if group else os.kill)(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def end_all(needle: bytes, sessions: set[int]) -> int:
    """Kill the sessions and every marked process, round after round until a round finds none."""
    killed = 0
    for _ in range(ROUNDS):
        found = sum(_kill(sid, group=True) for sid in sessions)
        found += sum(_kill(pid) for pid in marked(needle))
        if not found:
            break
        killed += found
        time.sleep(ROUND_PAUSE_S)
    return killed


def main() -> None:
    needle = sys.argv[1].encode()
    for name in ("SIGINT", "SIGHUP"):  # outlive the engine's terminal
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_IGN)
    sessions: set[int] = set()
    pending = b""
    while True:
        try:
            data = os.read(0, 4096)
        except InterruptedError:
            continue
        except OSError:  # no pipe to watch: better to end nothing than to end live functions
            return
        if not data:
            break
        *lines, pending = (pending + data).split(b"\n")
        for line in lines:
            if line[:1] == b"+":
                sessions.add(int(line[1:]))
            elif line[:1] == b"-":
                sessions.discard(int(line[1:]))
    end_all(needle, sessions)


if __name__ == "__main__":
    main()
