"""Keeping function processes out of the engine process (Linux): its environment and its memory.

The kernel keeps a process's initial environment block as it was at exec (``/proc/<pid>/environ``),
whatever ``os.environ`` says later, and the engine's memory holds the learner's variables that an
open cloud saved to restore on close. While a cloud is open the engine is not dumpable
(``PR_SET_DUMPABLE`` 0): ``/proc/<pid>/environ``, ``/proc/<pid>/mem``, ``process_vm_readv`` and
ptrace then need ``CAP_SYS_PTRACE``, which function processes do not hold (the runtime drops it when
it runs as root, ``runtime/bootstrap.py``). Function processes are ``exec``'d, so they are dumpable
again. Elsewhere (macOS, Windows) this does nothing; see docs/architecture.md, Isolation.
"""

from __future__ import annotations

from collections.abc import Callable

from lambdalab.runtime.lifetime import libc_prctl

PR_GET_DUMPABLE = 3
PR_SET_DUMPABLE = 4


def keep_functions_out() -> Callable[[], None]:
    """Make this process not dumpable; returns what makes it dumpable again, if it was."""
    prctl = libc_prctl()
    # 0 and 2 (set-user-id programs) are not the owner's to read already; only 1 is.
    if prctl is None or prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 1 or prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        return _nothing

    def restore() -> None:
        prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)

    return restore


def _nothing() -> None:
    pass
