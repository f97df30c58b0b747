"""Nothing a function starts outlives its cloud, and MemorySize counts everything it starts.

A function's process may fork children, leave threads running, or start a grandchild in a session
of its own (``setsid``); closing the cloud, or the script that opened it ending without closing it,
must end them all. Memory that children use counts as the function's, as it does on AWS, where the
whole execution environment shares the memory size [ENV].
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from lambdalab import LocalCloud
from lambdalab.runtime.environment import MEMORY_LIMIT_ENFORCED, ExecutionEnvironment
from tests.engine.apps import function, write_app

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc (Linux, WSL)")

ROOT = Path(__file__).resolve().parents[2]
ARN = "arn:aws:lambda:us-east-1:123456789012:function:Fn"

# Handlers that leave something behind, each answering the pid of what it left.
LEAVERS = """\
import os
import signal
import threading


def _forever():
    while True:
        signal.pause()


def thread(event, context):
    threading.Thread(target=threading.Event().wait).start()  # a non-daemon thread: the runtime cannot exit
    return os.getpid()


def fork(event, context):
    pid = os.fork()
    if pid == 0:
        _forever()
    return pid


def grandchild(event, context):
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # a daemon, the classic way: its own session, and its parent gone
        os.setsid()
        if os.fork() == 0:
            os.write(write, str(os.getpid()).encode())
            _forever()
        os._exit(0)
    os.waitpid(child, 0)
    return int(os.read(read, 32))
"""


def alive(pid: int) -> bool:
    """Running (a zombie has ended: it only waits for its parent to read its status)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


def survivors(pids: list[int], within: float = 2.0) -> list[int]:
    """The pids still running once they had ``within`` seconds to go (SIGKILL is not instant)."""
    end = time.monotonic() + within
    while any(alive(pid) for pid in pids) and time.monotonic() < end:
        time.sleep(0.02)
    return [pid for pid in pids if alive(pid)]


def test_closing_a_cloud_ends_a_grandchild_in_a_session_of_its_own(make_cloud: Callable[..., LocalCloud]):
    """A handler's daemon (forked twice, ``setsid``) is outside the function's session, so killing the
    session misses it; the engine still finds it, because orphans come back to the engine, and ends it."""
    cloud = make_cloud(function("Daemon", "leavers.grandchild"), {"leavers.py": LEAVERS})
    pid = cloud.invoke("Daemon").json
    assert alive(pid)

    cloud.close()
    assert survivors([pid]) == []


def test_a_cloud_its_script_never_closes_leaves_nothing_running(tmp_path: Path):
    """A script that opens a cloud and ends without closing it (no ``with``, no ``close()``) still ends
    its functions and all they started: a non-daemon thread, a forked child, a daemon grandchild."""
    resources = "".join(function(name, f"leavers.{name.lower()}") for name in ("Thread", "Fork", "Grandchild"))
    template = write_app(tmp_path, resources, {"leavers.py": LEAVERS})
    script = textwrap.dedent(f"""\
        import json
        from lambdalab import LocalCloud
        cloud = LocalCloud.start({str(template)!r}, clock="real")
        print(json.dumps([cloud.invoke(name).json for name in ("Thread", "Fork", "Grandchild")]), flush=True)
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    pids = json.loads(done.stdout.splitlines()[-1])

    assert len(pids) == 3
    assert survivors(pids) == []


CHILD_HOLDS = """\
import subprocess
import sys

HOLD = "import sys, time; data = b'x' * ({mb} << 20); sys.stdout.write('held'); sys.stdout.flush(); time.sleep({hold})"


def handler(event, context):
    child = subprocess.run([sys.executable, "-c", HOLD.format(**event)], capture_output=True, text=True)
    return child.stdout
"""


def environment(tmp_path: Path, memory_mb: int) -> ExecutionEnvironment:
    (tmp_path / "app.py").write_text(CHILD_HOLDS)
    return ExecutionEnvironment(
        env_id="e1", function_name="Fn", handler="app.handler", code_dir=tmp_path, timeout_s=30.0,
        memory_mb=memory_mb, environ={"PATH": os.environ.get("PATH", "/usr/bin:/bin")}, function_arn=ARN,
        log_group="/aws/lambda/Fn", log_stream="s")


@pytest.mark.skipif(not MEMORY_LIMIT_ENFORCED, reason="memory limits need /proc (Linux, WSL)")
def test_a_child_over_the_functions_memory_size_ends_the_invocation_as_out_of_memory(tmp_path: Path):
    """A 128 MB function whose child process takes 300 MB is over its memory size: the environment
    is one memory budget, whatever process inside it allocates [ENV]."""
    env = environment(tmp_path, 128)
    try:
        result = env.invoke("r-child", json.dumps({"mb": 300, "hold": 20}).encode())
    finally:
        env.shutdown()

    assert (result.error_type, result.reset, result.max_memory_used_mb) == ("Runtime.OutOfMemory", True, 128)


@pytest.mark.skipif(not MEMORY_LIMIT_ENFORCED, reason="memory limits need /proc (Linux, WSL)")
def test_max_memory_used_counts_what_a_child_process_used(tmp_path: Path):
    """REPORT's Max Memory Used is the environment's, children included, not the runtime process's own."""
    env = environment(tmp_path, 1024)
    try:
        result = env.invoke("r-child", json.dumps({"mb": 200, "hold": 0.3}).encode())
    finally:
        env.shutdown()

    assert result.payload == b'"held"' and result.function_error is None
    assert result.max_memory_used_mb >= 200
    assert f"Max Memory Used: {result.max_memory_used_mb} MB" in result.log_lines[-1]
