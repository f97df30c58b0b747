"""An engine killed outright leaves nothing running.

A script opens a cloud whose handlers spin in a Python loop, spin in a C loop (no Python signal
handler could run), leave a non-daemon thread, fork a child, and start a daemon grandchild in a
session of its own; it is then killed with SIGKILL (nothing of it runs again) or SIGTERM. Within
2 s no process carrying the script's marker may be left, and the script still dies of the signal.
Prints the survivors, the processes found before the kill, and the seconds until the last was gone.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from tests.engine.apps import function, write_app

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc"), reason="finds processes in /proc (Linux, WSL)")

HANDLERS = """\
import itertools
import os
import signal
import threading


def _forever():
    while True:
        signal.pause()


def spin(event, context):
    while True:
        pass


def spin_in_c(event, context):
    return sum(itertools.repeat(1))  # never returns to the interpreter's loop


def thread(event, context):
    threading.Thread(target=threading.Event().wait).start()
    return "left a thread"


def fork(event, context):
    if os.fork() == 0:
        _forever()
    return "forked"


def grandchild(event, context):
    child = os.fork()
    if child == 0:
        os.setsid()
        if os.fork() == 0:
            _forever()
        os._exit(0)
    os.waitpid(child, 0)
    return "left a daemon"
"""
NAMES = {"Spin": "spin", "SpinInC": "spin_in_c", "Thread": "thread", "Fork": "fork", "Grandchild": "grandchild"}
SCRIPT = """\
import sys
import threading
from lambdalab import LocalCloud

template, mark = sys.argv[1:3]
names = {names!r}
cloud = LocalCloud.start(template, clock="real", env_vars={{name: {{"CHAOS_MARK": mark}} for name in names}})
for name in ("Spin", "SpinInC"):
    threading.Thread(target=cloud.invoke, args=(name,), daemon=True).start()
for name in ("Thread", "Fork", "Grandchild"):
    cloud.invoke(name)
print("ready", flush=True)
threading.Event().wait()
"""
EXPECTED = 7  # five function processes, the forked child and the daemon


def marked(mark: str) -> list[int]:
    """Running processes whose environment carries ``mark`` (zombies have ended)."""
    needle = f"CHAOS_MARK={mark}".encode()
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/environ", "rb") as environ:
                if needle not in environ.read().split(b"\0"):
                    continue
            with open(f"/proc/{entry.name}/stat", "rb") as stat:
                if stat.read().rsplit(b")", 1)[1].split()[0] != b"Z":
                    found.append(int(entry.name))
        except OSError:
            continue
    return found


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_a_killed_engine_leaves_no_function_process_and_nothing_they_started(tmp_path: Path, sig: int):
    resources = "".join(function(name, f"handlers.{handler}", Timeout=900) for name, handler in NAMES.items())
    template = write_app(tmp_path, resources, {"handlers.py": HANDLERS})
    mark = uuid.uuid4().hex
    script = textwrap.dedent(SCRIPT.format(names=list(NAMES)))
    engine = subprocess.Popen([sys.executable, "-c", script, str(template), mark], cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert engine.stdout is not None and engine.stdout.readline() == "ready\n"
        end = time.monotonic() + 10
        while len(before := marked(mark)) < EXPECTED and time.monotonic() < end:
            time.sleep(0.05)  # the two spinning invocations start in threads of their own
        engine.send_signal(sig)
        engine.wait(timeout=30)
        killed = time.monotonic()
        left = marked(mark)
        while left and time.monotonic() - killed < 2.0:
            time.sleep(0.05)
            left = marked(mark)
        gone_after = time.monotonic() - killed
    finally:
        if engine.poll() is None:
            engine.kill()
            engine.wait()
        stray = marked(mark)
        for pid in stray:  # never leave a spinning core behind, even when the test fails
            os.kill(pid, signal.SIGKILL)
    print(f"\n{signal.Signals(sig).name}: {len(before)} marked processes before, {len(left)} survivors "
          f"after {gone_after:.2f} s")
    assert len(before) >= EXPECTED
    assert left == []
    assert engine.returncode == -sig  # the engine still dies of the signal, as a host program expects
