"""Nothing a function starts outlives the engine: closed, crashed, killed, or never closed [ENV].

On Linux, four things see to it, each covering what the one before cannot:

* Every function process runs in a session of its own, killed as a whole when its environment
  ends, and carries the engine's mark in its environment (``ENGINE_MARK``: engine pid, a token, a
  serial number per process), which every process it starts inherits, ``setsid`` or not.
* It asks the kernel for SIGKILL when its parent dies (``PR_SET_PDEATHSIG``, set first thing by
  the runtime, which then checks that its parent has not died already). The kernel sends it when
  the *thread* that forked the process ends, so every function process is started by one
  long-lived thread (``spawn``), never by the short-lived thread of a request.
* The engine is a child subreaper (``PR_SET_CHILD_SUBREAPER``, from ``guard_process``, called when
  a cloud starts): what a function started whose parent ended (a daemon after ``setsid``) becomes
  the engine's child instead of init's, so ``sweep`` finds it among the engine's descendants by its
  mark, kills it and reaps it.
* A guardian process (``guardian.py``), one per engine process, outlives the engine: when the
  engine is gone, ``kill -9`` included, it kills the sessions still open and every marked process.

``guard_process`` also handles SIGTERM when nobody else does: every function process and all it
started are killed first, then the engine dies of SIGTERM as it would have.
"""

from __future__ import annotations

import itertools
import os
import queue
import secrets
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

from lambdalab.runtime.memory import PGRP, PPID, SESSION, STATE, ProcessTree, stat_fields

ENGINE_MARK = "_LAMBDALAB_ENGINE"
LINUX = sys.platform.startswith("linux")
GUARDIAN = Path(__file__).with_name("guardian.py")
SWEEP_ROUNDS = 50  # a process may fork while the engine looks: look again until a round finds nothing
SWEEP_PAUSE_S = 0.002
_PR_SET_CHILD_SUBREAPER = 36
T = TypeVar("T")


class _Engine:
    """This process's part: its token, the guardian's pipe, the thread that starts function processes,
    and the function processes not yet ended (pid, which names its session, to mark)."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.prefix = f"{self.pid}.{secrets.token_hex(4)}."
        self.serial = itertools.count(1)
        self.guardian = -1  # the write end of the guardian's pipe
        self.requests: queue.SimpleQueue[_Request] | None = None
        self.live: dict[int, str] = {}


class _Request:
    def __init__(self, start: Callable[[], object]):
        self.start, self.done = start, threading.Event()
        self.result: object = None
        self.error: BaseException | None = None


_lock = threading.Lock()
_engine: _Engine | None = None
_guarded = 0  # the pid that ran guard_process
_subreaper = False


def _this_engine() -> _Engine:
    global _engine
    engine = _engine
    if engine is None or engine.pid != os.getpid():  # a forked child starts afresh
        with _lock:
            if _engine is None or _engine.pid != os.getpid():
                _engine = _Engine()
            engine = _engine
    return engine


def new_mark() -> str:
    """The mark of a new function process: ``<engine pid>.<token>.<serial>``."""
    engine = _this_engine()
    return f"{engine.prefix}{next(engine.serial)}"


# -- starting ---------------------------------------------------------------------------------------
def spawn(start: Callable[[], T]) -> T:
    """``start()`` (which starts one function process) on the engine's spawning thread (Linux; right
    here elsewhere), once the engine's guardian runs."""
    engine = _this_engine()
    with _lock:
        if engine.guardian == -1:
            _start_guardian(engine)
        if LINUX and engine.requests is None:
            engine.requests = queue.SimpleQueue()
            threading.Thread(target=_serve, args=(engine.requests,), name="lambdalab-spawner", daemon=True).start()
        requests = engine.requests
    if requests is None:
        return start()
    request = _Request(start)
    requests.put(request)
    request.done.wait()
    if request.error is not None:
        raise request.error
    return request.result  # type: ignore[return-value]


def _serve(requests: queue.SimpleQueue[_Request]) -> None:
    while True:
        request = requests.get()
        try:
            request.result = request.start()
        except BaseException as exc:  # handed to the caller
            request.error = exc
        request.done.set()


def _start_guardian(engine: _Engine) -> None:
    """The guardian, in a session of its own, reading a pipe only this process writes to."""
    engine.guardian = -2  # tried: never twice
    if not hasattr(os, "posix_spawn"):
        return
    read, write = os.pipe()
    if read < 3:  # stdin was closed: keep the pipe clear of the guardian's standard streams
        import fcntl

        moved = fcntl.fcntl(read, fcntl.F_DUPFD_CLOEXEC, 3)
        os.close(read)
        read = moved
    actions: list[tuple[Any, ...]] = [(os.POSIX_SPAWN_DUP2, read, 0)]
    actions += [(os.POSIX_SPAWN_OPEN, fd, os.devnull, os.O_WRONLY, 0) for fd in (1, 2)]
    needle = f"{ENGINE_MARK}={engine.prefix}"
    argv = [sys.executable, "-I", "-S", str(GUARDIAN), needle]
    try:
        try:
            os.posix_spawn(sys.executable, argv, os.environ, file_actions=actions, setsid=True)
        except NotImplementedError:  # an older macOS: a process group of its own will do
            os.posix_spawn(sys.executable, argv, os.environ, file_actions=actions, setpgroup=0)
    except (OSError, NotImplementedError):  # run on without it: closing still ends everything
        os.close(write)
        return
    finally:
        os.close(read)
    os.set_blocking(write, False)
    engine.guardian = write


def _tell_guardian(engine: _Engine, line: str) -> None:
    if engine.guardian >= 0:
        try:
            os.write(engine.guardian, line.encode())
        except OSError:  # gone, or its pipe full: the marks still lead it to what is left
            pass


def started(pid: int, mark: str) -> None:
    """A function process started, in session ``pid``."""
    engine = _this_engine()
    engine.live[pid] = mark
    _tell_guardian(engine, f"+{pid}\n")


def ended(pid: int) -> None:
    """A function process and its session are gone."""
    engine = _this_engine()
    engine.live.pop(pid, None)
    _tell_guardian(engine, f"-{pid}\n")


def _after_fork_in_child() -> None:
    """A child forked from the engine (not a function: those are started by exec) holds no guardian pipe:
    the guardian waits for this process alone."""
    engine = _engine
    if engine is not None and engine.guardian >= 0:
        os.close(engine.guardian)
        engine.guardian = -1


os.register_at_fork(after_in_child=_after_fork_in_child)


# -- ending -----------------------------------------------------------------------------------------
def end_family(pid: int, mark: str, tree: ProcessTree) -> None:
    """After function process ``pid`` ended with its session: kill what it started that left the
    session, seen by the memory watchdog or found now by its mark, and reap what came back here."""
    for member in tree.family_alive():
        _kill(member)
    sweep(lambda found, sid, pgid: found == mark or pid in (sid, pgid))


def sweep_engine() -> int:
    """When the environments have ended (a cloud closes): kill whatever any of them left."""
    engine = _this_engine()
    live = dict(engine.live)
    marks = set(live.values())
    return sweep(lambda found, sid, pgid: (found is not None and found.startswith(engine.prefix)
                                           and found not in marks and sid not in live and pgid not in live))


def end_everything() -> None:
    """Kill every function process of this engine and all they started (the engine is about to die)."""
    engine = _this_engine()
    live = dict(engine.live)
    for pid in live:
        _kill(pid, group=True)
    sweep(lambda found, sid, pgid: (found is not None and found.startswith(engine.prefix))
          or sid in live or pgid in live)


def sweep(belongs: Callable[[str | None, int, int], bool]) -> int:
    """Kill the descendants of this process for which ``belongs(mark, session, group)`` holds, and
    all below them; reap those that came back to this process. Round after round until a round finds
    none. Only this process's descendants are looked at: as a subreaper, every orphan of what its
    functions started is one. Returns how many were killed."""
    if not os.path.isdir("/proc"):
        return 0
    me, killed = os.getpid(), 0
    for _ in range(SWEEP_ROUNDS):
        table = _processes()
        below: dict[int, list[int]] = {}
        for pid, fields in table.items():
            below.setdefault(int(fields[PPID]), []).append(pid)
        unreaped = _engine.live if _engine is not None else {}  # their Popen reaps them
        pending = 0
        for pid in _belonging(table, below, me, belongs):
            fields = table[pid]
            if fields[STATE] != b"Z":
                killed += _kill(pid)
            elif int(fields[PPID]) != me:
                pass  # ended: it comes back here when its parent ends
            elif pid in unreaped:
                continue
            else:
                _reap(pid)
            pending += 1
        if not pending:
            break
        time.sleep(SWEEP_PAUSE_S)
    return killed


def _belonging(table: dict[int, list[bytes]], below: dict[int, list[int]], me: int,
               belongs: Callable[[str | None, int, int], bool]) -> list[int]:
    found: list[int] = []
    todo = [(pid, False) for pid in below.get(me, [])]
    while todo:
        pid, inherited = todo.pop()
        fields = table[pid]
        sid, pgid = int(fields[SESSION]), int(fields[PGRP])
        mine = inherited or belongs(None if fields[STATE] == b"Z" else _mark_of(pid), sid, pgid)
        if mine:
            found.append(pid)
        todo += [(child, mine) for child in below.get(pid, [])]
    return found


def _processes() -> dict[int, list[bytes]]:
    table = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            fields = stat_fields(int(name))
            if fields is not None:
                table[int(name)] = fields
    return table


def _mark_of(pid: int) -> str | None:
    needle = ENGINE_MARK.encode() + b"="
    try:
        with open(f"/proc/{pid}/environ", "rb") as environ:
            entries = environ.read().split(b"\0")
    except OSError:
        return None
    for entry in entries:
        if entry.startswith(needle):
            return entry[len(needle):].decode(errors="replace")
    return None


def _kill(pid: int, group: bool = False) -> int:
    try:
        (os.killpg if group else os.kill)(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return 0
    return 1


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


# -- the engine's process -----------------------------------------------------------------------------
def guard_process() -> None:
    """Once per process, when a cloud starts: become a child subreaper (Linux), and on SIGTERM, when
    the host program has no handler of its own, end every function first, then die of it as before."""
    global _guarded
    if _guarded == os.getpid():
        return
    _guarded = os.getpid()
    become_subreaper()
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _terminated)


def become_subreaper() -> bool:
    """Orphans of this process's descendants become its children rather than init's (Linux)."""
    global _subreaper
    if LINUX and not _subreaper:
        prctl = libc_prctl()
        _subreaper = prctl is not None and prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    return _subreaper


def libc_prctl() -> Callable[..., int] | None:
    """The C library's ``prctl`` (Linux), or None where there is none."""
    if not LINUX:
        return None
    import ctypes

    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def _terminated(signum: int, frame: FrameType | None) -> None:
    end_everything()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
