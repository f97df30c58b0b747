"""Execution environments: Init, warm reuse, errors, timeouts, crashes and memory, as Lambda does them.

Tags in docstrings point to the rules listed in docs/aws-rules.md.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lambdalab.runtime.environment import (
    MEMORY_LIMIT_ENFORCED,
    EnvironmentShutDown,
    ExecutionEnvironment,
    InvocationResult,
)

HANDLERS = Path(__file__).parent / "handlers"
ARN = "arn:aws:lambda:us-east-1:123456789012:function:Fn"
STREAM = "2026/01/01/[$LATEST]00000000000000000000000000000001"
NOW_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z on the engine's clock
REPORT = re.compile(
    r"REPORT RequestId: (?P<id>\S+)\tDuration: \d+\.\d\d ms\tBilled Duration: \d+ ms\t"
    r"Memory Size: 128 MB\tMax Memory Used: (?P<used>\d+) MB(?P<rest>.*)"
)

MakeEnv = Callable[..., ExecutionEnvironment]


@pytest.fixture
def make_env() -> Iterator[MakeEnv]:
    made: list[ExecutionEnvironment] = []

    def make(handler: str, code_dir: Path = HANDLERS, **overrides: object) -> ExecutionEnvironment:
        extra = overrides.pop("environ", {})
        settings: dict = {
            "env_id": "e1", "function_name": "Fn", "handler": handler, "code_dir": code_dir, "timeout_s": 3.0,
            "memory_mb": 128, "environ": {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **extra},
            "function_arn": ARN, "log_group": "/aws/lambda/Fn", "log_stream": STREAM, **overrides,
        }
        env = ExecutionEnvironment(**settings)
        made.append(env)
        return env

    yield make
    for env in made:
        env.shutdown()


def invoke(env: ExecutionEnvironment, event: object = None, request_id: str = "r-1",
           client_context: str | None = None) -> InvocationResult:
    body = json.dumps({} if event is None else event).encode()
    return env.invoke(request_id, body, client_context=client_context, now_epoch_ms=NOW_MS)


def between_start_and_end(result: InvocationResult) -> list[str]:
    lines = result.log_lines
    start = next(i for i, line in enumerate(lines) if line.startswith("START RequestId: "))
    return lines[start + 1:lines.index(f"END RequestId: {lines[start].split()[2]}")]


def write_module(tmp_path: Path, source: str) -> Path:
    (tmp_path / "app.py").write_text(source)
    return tmp_path


# -- lifecycle ----------------------------------------------------------------------------------------
def test_a_cold_start_runs_init_once_and_warm_invokes_reuse_the_process_and_its_globals(make_env: MakeEnv):
    """Init runs on the first invoke only; warm invokes reuse the environment and its globals [ENV]."""
    env = make_env("hello.handler")
    first, second = invoke(env, request_id="r-1"), invoke(env, request_id="r-2")

    assert (first.cold, second.cold) == (True, False)
    assert first.init_duration_ms is not None and second.init_duration_ms is None
    assert json.loads(first.payload)["invocations"] == 1
    assert json.loads(second.payload) == {"invocations": 2, "pid": json.loads(first.payload)["pid"]}
    assert first.log_lines[0] == "init: hello imported"  # Init output comes before START
    assert not first.reset and not second.reset and env.alive


def test_start_end_and_report_lines_have_lambdas_format_with_init_duration_only_when_cold(make_env: MakeEnv):
    """START/END/REPORT as Lambda writes them; REPORT adds Init Duration on a cold start [ENV],[TRBL]."""
    env = make_env("hello.handler")
    cold, warm = invoke(env, request_id="r-1"), invoke(env, request_id="r-2")

    for result, request_id in ((cold, "r-1"), (warm, "r-2")):
        assert f"START RequestId: {request_id} Version: $LATEST" in result.log_lines
        assert result.log_lines[-2] == f"END RequestId: {request_id}"
        report = REPORT.fullmatch(result.log_lines[-1])
        assert report and report["id"] == request_id
        assert int(report["used"]) == result.max_memory_used_mb > 0
    assert re.fullmatch(r"\tInit Duration: \d+\.\d\d ms", REPORT.fullmatch(cold.log_lines[-1])["rest"])
    assert REPORT.fullmatch(warm.log_lines[-1])["rest"] == ""


def test_the_handler_gets_a_context_object_like_the_python_runtimes(make_env: MakeEnv):
    """The context carries the invocation's facts; ClientContext arrives base64 JSON, decoded [INV],[ENV]."""
    env = make_env("hello.describe")
    client_context = {"custom": {"tenant": "blue"}, "env": {}, "client": {"app_title": "lab"}}
    encoded = base64.b64encode(json.dumps(client_context).encode()).decode()

    seen = json.loads(invoke(env, request_id="r-ctx", client_context=encoded).payload)

    assert seen == {
        "aws_request_id": "r-ctx", "function_name": "Fn", "function_version": "$LATEST",
        "invoked_function_arn": ARN, "memory_limit_in_mb": "128", "log_group_name": "/aws/lambda/Fn",
        "log_stream_name": STREAM, "remaining_ms": seen["remaining_ms"], "identity_id": None,
        "custom": {"tenant": "blue"}, "app_title": "lab", "cwd": str(HANDLERS), "first_on_path": str(HANDLERS),
    }
    assert 0 < seen["remaining_ms"] <= 3000
    assert json.loads(invoke(env).payload)["custom"] is None  # no ClientContext, none in the context


def test_print_logging_and_raw_fd_output_become_log_lines_of_their_invocation(make_env: MakeEnv):
    """stdout, stderr and logging records land in the invocation's log; records use the runtime's format
    and the root logger stays at WARNING unless AWS_LAMBDA_LOG_LEVEL says otherwise [PYERR]."""
    env = make_env("hello.handler")
    lines = [re.sub(r"\t2026-01-01T00:00:0\d\.\d{3}Z\t", "\t<engine time>\t", line)
             for line in between_start_and_end(invoke(env, {"n": 1}, request_id="r-log"))]

    assert lines == [
        "event {'n': 1}",
        "[WARNING]\t<engine time>\tr-log\ta warning record",
        "[ERROR]\t<engine time>\tr-log\tfirst line\nsecond line",  # one event of two lines
        "raw bytes on fd 1", "raw bytes on fd 2", "on stderr",
    ]
    verbose = make_env("hello.handler", environ={"AWS_LAMBDA_LOG_LEVEL": "INFO"})
    assert any(line.startswith("[INFO]\t2026-01-01T00:00:0") and line.endswith("Z\tr-1\tan info record")
               for line in between_start_and_end(invoke(verbose)))


def test_decimals_are_returned_as_json_numbers_and_bytes_are_returned_as_they_are(make_env: MakeEnv):
    """The runtime marshals Decimal (DynamoDB's numbers) as numbers and returns bytes untouched [PYERR]."""
    assert json.loads(invoke(make_env("hello.decimals")).payload) == {"price": 1.5, "quantity": 3}
    assert invoke(make_env("hello.raw_bytes")).payload == b"not json at all"


def test_payloads_of_megabytes_cross_the_pipes_intact(make_env: MakeEnv):
    """Requests and responses up to Lambda's 6 MB pass whole, warm after warm [INV]."""
    env = make_env("hello.echo")
    event = {"blob": "z" * (5 * 1024 * 1024)}
    for request_id in ("r-1", "r-2"):
        result = invoke(env, event, request_id=request_id)
        assert result.function_error is None and json.loads(result.payload) == event


# -- function errors ----------------------------------------------------------------------------------
def test_a_handler_that_raises_gets_the_python_runtimes_error_body_and_stays_warm(make_env: MakeEnv):
    """errorMessage/errorType/requestId/stackTrace, FunctionError Unhandled, an [ERROR] log event;
    the environment is kept [PYERR],[RIC40],[ENV]."""
    env = make_env("fails.handler")
    result = invoke(env, request_id="r-err")

    body = json.loads(result.payload)
    assert (result.function_error, result.error_type, result.reset) == ("Unhandled", "KeyError", False)
    assert body["errorMessage"] == "'x'" and body["errorType"] == "KeyError" and body["requestId"] == "r-err"
    assert len(body["stackTrace"]) == 1 and 'fails.py", line 5, in handler' in body["stackTrace"][0]
    error_line = between_start_and_end(result)[0]
    assert error_line.startswith("[ERROR] KeyError: 'x'\nTraceback (most recent call last):\n")
    assert 'fails.py", line 5, in handler' in error_line
    assert env.alive and not invoke(env).cold


def test_a_return_value_that_is_not_json_is_a_marshal_error_and_the_environment_stays_warm(make_env: MakeEnv):
    """A value json cannot encode fails as Runtime.MarshalError, raised by the runtime itself [PYERR]."""
    env = make_env("fails.unmarshalable")
    result = invoke(env, request_id="r-set")

    assert json.loads(result.payload) == {
        "errorMessage": "Unable to marshal response: Object of type set is not JSON serializable",
        "errorType": "Runtime.MarshalError", "requestId": "r-set", "stackTrace": [],
    }
    assert result.function_error == "Unhandled" and not result.reset
    assert env.alive and not invoke(env).cold


@pytest.mark.parametrize(("source", "handler", "error_type", "message"), [
    ("import missing_dependency_xyz\n", "app.handler", "Runtime.ImportModuleError",
     "Unable to import module 'app': No module named 'missing_dependency_xyz'"),
    ("def handler(event, context:\n", "app.handler", "Runtime.UserCodeSyntaxError", "Syntax error in module 'app': "),
    ("def handler(event, context):\n    return 1\n", "app.nope", "Runtime.HandlerNotFound",
     "Handler 'nope' missing on module 'app'"),
    ("raise ValueError('bad config')\n", "app.handler", "ValueError", "bad config"),
    ("def handler(event, context):\n    return 1\n", "app", "Runtime.MalformedHandlerName", "Bad handler 'app': "),
], ids=["import-error", "syntax-error", "handler-not-found", "module-level-exception", "malformed-handler"])
def test_init_errors_are_reported_as_the_python_runtime_does_and_the_next_invoke_is_cold(
        make_env: MakeEnv, tmp_path: Path, source: str, handler: str, error_type: str, message: str):
    """An Init failure fails the invoke with the runtime's Runtime.* type (or the exception's class)
    and an INIT_REPORT; the environment is reset, so the next invoke runs Init again [PYERR],[ENV],[TRBL]."""
    env = make_env(handler, code_dir=write_module(tmp_path, source))
    result = invoke(env, request_id="r-init")

    body = json.loads(result.payload)
    assert (result.function_error, result.error_type, body["errorType"]) == ("Unhandled", error_type, error_type)
    assert body["errorMessage"].startswith(message)
    assert result.cold and result.reset and not env.alive
    assert any(line.startswith(f"[ERROR] {error_type}: {message}") for line in result.log_lines)
    assert any(re.fullmatch(rf"INIT_REPORT Init Duration: \d+\.\d\d ms\tPhase: init\tStatus: error\t"
                            rf"Error Type: {re.escape(error_type)}", line) for line in result.log_lines)
    assert REPORT.fullmatch(result.log_lines[-1])["rest"] == f"\tStatus: error\tError Type: {error_type}"
    assert invoke(env, request_id="r-again").cold


# -- timeouts -----------------------------------------------------------------------------------------
def test_a_handler_that_hangs_is_killed_at_its_timeout_and_the_next_invoke_is_cold(make_env: MakeEnv):
    """The timeout is enforced on the process; the error reads '<ts> <id> Task timed out after 1.00 seconds'
    and the environment is reset [TMO],[GH],[ENV]."""
    env = make_env("hangs.handler", timeout_s=1.0)
    invoke(env)  # warm it up first: the kill must also end a reused process
    result = invoke(env, {"hang": True}, request_id="r-hang")

    message = "2026-01-01T00:00:01.000Z r-hang Task timed out after 1.00 seconds"
    assert json.loads(result.payload) == {"errorMessage": message}
    assert (result.function_error, result.error_type, result.reset) == ("Unhandled", "Sandbox.Timedout", True)
    assert message in between_start_and_end(result)
    assert REPORT.fullmatch(result.log_lines[-1])["rest"] == "\tStatus: timeout"
    assert not env.alive
    after = invoke(env, request_id="r-after")
    assert after.cold and after.payload == b'"done"'


def test_an_init_over_the_init_limit_is_retried_under_the_function_timeout(make_env: MakeEnv, tmp_path: Path):
    """Init longer than its limit logs INIT_REPORT Status: timeout, then Lambda retries Init during the
    invocation, under the function timeout [ENV],[TRBL]."""
    environ = {"SLOW_INIT_MARKER": str(tmp_path / "imported-once")}
    env = make_env("slow_init.handler", init_timeout_s=0.3, timeout_s=3.0, environ=environ)
    result = invoke(env)

    assert result.payload == b'"initialised"' and result.cold and result.function_error is None
    assert result.log_lines[0] == "INIT_REPORT Init Duration: 300.00 ms\tPhase: init\tStatus: timeout"
    assert REPORT.fullmatch(result.log_lines[-1])["rest"] == ""  # the retried Init is part of Duration
    assert env.alive


def test_an_init_that_never_finishes_ends_as_a_function_timeout(make_env: MakeEnv):
    """When the retried Init also runs past the function timeout, the invocation times out [ENV],[TMO]."""
    env = make_env("hangs_at_init.handler", init_timeout_s=0.2, timeout_s=1.0)
    result = invoke(env, request_id="r-init-hang")

    assert result.error_type == "Sandbox.Timedout" and result.reset and result.cold
    assert json.loads(result.payload)["errorMessage"].endswith("r-init-hang Task timed out after 1.00 seconds")
    assert result.log_lines[0] == "INIT_REPORT Init Duration: 200.00 ms\tPhase: init\tStatus: timeout"


# -- crashes ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("how", "reason"), [
    ("os._exit", "Runtime exited with error: exit status 3"),
    ("sys.exit(2)", "Runtime exited with error: exit status 2"),
    ("sys.exit()", "Runtime exited without providing a reason"),
    ("segfault", "Runtime exited with error: signal: segmentation fault"),
    ("SIGKILL", "Runtime exited with error: signal: killed"),
    ("fork, then os._exit", "Runtime exited with error: exit status 4"),
])
def test_a_handler_that_takes_the_runtime_down_gets_runtime_exit_error_and_a_reset(
        make_env: MakeEnv, how: str, reason: str):
    """A runtime that exits or dies mid-invocation is Runtime.ExitError and the environment is reset,
    even when a child it forked still holds its pipes [ENV]."""
    env = make_env("crashes.handler")
    result = invoke(env, {"how": how}, request_id="r-crash")

    message = f"RequestId: r-crash Error: {reason}"
    assert json.loads(result.payload) == {"errorMessage": message, "errorType": "Runtime.ExitError"}
    assert (result.function_error, result.error_type, result.reset) == ("Unhandled", "Runtime.ExitError", True)
    assert between_start_and_end(result)[-2:] == [message, "Runtime.ExitError"]
    assert REPORT.fullmatch(result.log_lines[-1])["rest"].endswith("\tStatus: error\tError Type: Runtime.ExitError")
    assert not env.alive and invoke(env, {"how": "nothing"}).cold


def test_an_uncaught_exception_in_a_background_thread_is_logged_and_the_environment_stays_warm(
        make_env: MakeEnv):
    """On AWS a dying background thread does not end the Python runtime (threading.excepthook prints
    it); only a crash or timeout resets the environment [ENV]."""
    env = make_env("thread_fails.handler")
    result = invoke(env)

    assert result.payload == b'"handler finished"' and result.function_error is None and not result.reset
    log = "\n".join(between_start_and_end(result))
    assert "Exception in thread worker" in log and "RuntimeError: background work failed" in log
    assert env.alive and not invoke(env).cold


@pytest.mark.skipif(not MEMORY_LIMIT_ENFORCED, reason="memory limits need /proc (Linux, WSL)")
def test_a_function_over_its_memory_size_is_killed_as_out_of_memory(make_env: MakeEnv):
    """Going over MemorySize ends the invocation (Runtime.OutOfMemory) and resets the environment;
    REPORT shows the memory size as used [ENV]."""
    env = make_env("hogs_memory.handler", memory_mb=128)
    result = invoke(env, {"mb": 400}, request_id="r-oom")

    assert json.loads(result.payload) == {
        "errorMessage": "RequestId: r-oom Error: Runtime exited with error: signal: killed",
        "errorType": "Runtime.OutOfMemory",
    }
    assert (result.error_type, result.reset, result.max_memory_used_mb) == ("Runtime.OutOfMemory", True, 128)
    report = REPORT.fullmatch(result.log_lines[-1])
    assert report["used"] == "128" and report["rest"].endswith("\tStatus: error\tError Type: Runtime.OutOfMemory")
    assert not env.alive


def test_max_memory_used_is_the_functions_own_not_the_engines(make_env: MakeEnv):
    """Max Memory Used and the memory limit concern the function's process, however big the engine
    is: Linux passes the spawning process's peak into ru_maxrss, which must not count [ENV]."""
    ballast = b"\x01" * (300 * 1024 * 1024)  # the engine's own peak, well over the function's MemorySize
    env = make_env("hello.handler", memory_mb=128)
    results = [invoke(env), invoke(env)]
    del ballast

    assert all(r.function_error is None and 0 < r.max_memory_used_mb < 128 for r in results)


# -- robustness -------------------------------------------------------------------------------------
def test_a_handler_printing_megabytes_neither_blocks_nor_floods_the_log(make_env: MakeEnv):
    """Output is drained while the handler runs and kept up to a cap per invocation, with a marker
    saying how much was dropped; the environment is unharmed [ENV]."""
    env = make_env("floods_output.handler")
    result = invoke(env, {"lines": 30_000})

    assert result.payload == b'"flooded"'
    kept = between_start_and_end(result)
    assert re.fullmatch(r"\[truncated \d+ bytes\]", kept[-1])
    written = 30_000 * 100 + 1024 * 1024 + 1
    assert int(kept[-1].split()[1]) == written - 256 * 1024  # exactly the cap is kept
    assert kept[0] == "x" * 99
    assert env.alive and invoke(env, {"lines": 1}).payload == b'"flooded"'


def test_garbage_on_the_protocol_pipe_is_a_runtime_error_not_an_engine_crash(make_env: MakeEnv):
    """A runtime that answers something unreadable fails the invocation as Runtime.ExitError and is
    reset, as a crashed runtime is [ENV]."""
    env = make_env("garbles_protocol.handler")
    result = invoke(env, request_id="r-junk")

    body = json.loads(result.payload)
    assert body["errorType"] == "Runtime.ExitError" and result.reset
    assert body["errorMessage"].startswith("RequestId: r-junk Error: Runtime sent an invalid response: b'garbage")
    assert not env.alive and invoke(make_env("hello.handler")).function_error is None


def test_an_environment_killed_between_invokes_is_not_alive_and_the_next_invoke_starts_it_cold(
        make_env: MakeEnv):
    """A process that died while idle is noticed (alive is False, the pool drops it); invoking it anyway
    re-initialises it, as Lambda re-initialises a reset environment [ENV]."""
    env = make_env("hello.handler")
    pid = json.loads(invoke(env).payload)["pid"]
    os.kill(pid, signal.SIGKILL)
    os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)  # dead, not yet reaped by the environment

    assert not env.alive
    result = invoke(env)
    assert result.cold and result.function_error is None
    assert json.loads(result.payload)["invocations"] == 1 and json.loads(result.payload)["pid"] != pid


def test_shutdown_stops_the_process_is_idempotent_and_later_invokes_are_refused(make_env: MakeEnv):
    """Shutdown ends the environment for good (SIGTERM, then SIGKILL) [ENV]."""
    env = make_env("hello.handler")
    pid = json.loads(invoke(env).payload)["pid"]
    env.shutdown()
    env.shutdown()

    assert not env.alive
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with pytest.raises(EnvironmentShutDown):
        invoke(env)


def test_a_long_run_is_watched_less_and_less_often(make_env: MakeEnv, monkeypatch: pytest.MonkeyPatch):
    """While a handler runs, the engine checks its memory and liveness after 5 ms, then ever less often
    (up to every 50 ms): a one-second run is read a few dozen times, not two hundred."""
    from lambdalab.runtime import process

    watched = []
    real = process.FunctionProcess._watch

    def counting(self: process.FunctionProcess, memory_limit_mb: int) -> object:
        watched.append(1)
        return real(self, memory_limit_mb)

    env = make_env("hangs.handler", timeout_s=1.0)
    invoke(env, {})  # Init and a first run, unwatched from here
    monkeypatch.setattr(process.FunctionProcess, "_watch", counting)
    result = invoke(env, {"hang": True})
    assert result.error_type == "Sandbox.Timedout"
    assert 1 <= len(watched) <= 40, len(watched)  # at most 4 + 1000 / 50 in the second it runs
