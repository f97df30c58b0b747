"""The function side of an execution environment: Init once, then one invocation per request.

Run by file path in a fresh interpreter, so it imports nothing of ``lambdalab`` and only light
stdlib modules: a cold start costs an interpreter start plus the handler's own imports. It behaves
like AWS's Python runtime (awslambdaric): the same error types and messages, logging format and
context object.

Requests and responses travel on two dedicated pipes, never on stdout. Everything the function
writes (``print``, ``logging``, raw writes to fd 1/2) goes to fd 1/2, which the parent turns into
log lines; a multi-line log event is written with ``\\r`` between its lines, as the runtime's
standard log sink does. Wire format, one header line then exactly ``length`` bytes::

    parent -> runtime  I <request id> <length> <remaining ms> <clock offset ms> <client context|-> <now ms>
    runtime -> parent  N|R <ok|error> <length> <max memory used MB> [<error type>]

``N`` answers Init, ``R`` an invocation. On the virtual clock, ``points.py`` (beside this file)
adds questions (``P``, answered ``G``) and notes (``T``) at every AWS SDK call and sleep, and the
handler's clock is the engine's.
"""

from __future__ import annotations

import json
import logging
import os
import resource
import sys
import time
import traceback
from typing import Any

LOG_EVENT_LINE_BREAK = "\r"
ERROR_LOG_INDENT = "\u00a0"  # the runtime indents traceback lines with NO-BREAK SPACE
LAMBDA_WARNING = (
    "LAMBDA_WARNING: Unhandled exception. The most likely cause is an issue in the function code. "
    "However, in rare cases, a Lambda runtime update can cause unexpected function behavior. "
    "For functions using managed runtimes, runtime updates can be triggered by a function change, "
    "or can be applied automatically. To determine if the runtime has been updated, check the runtime "
    "version in the INIT_START log entry. If this error correlates with a change in the runtime version, "
    "you may be able to mitigate this error by temporarily rolling back to the previous runtime version. "
    "For more information, see https://docs.aws.amazon.com/lambda/latest/dg/runtimes-update.html"
)
_RSS_UNIT = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux


class FaultException(Exception):
    """An error the runtime itself reports, with its dotted ``Runtime.*`` type."""

    MARSHAL_ERROR = "Runtime.MarshalError"
    UNMARSHAL_ERROR = "Runtime.UnmarshalError"
    USER_CODE_SYNTAX_ERROR = "Runtime.UserCodeSyntaxError"
    HANDLER_NOT_FOUND = "Runtime.HandlerNotFound"
    IMPORT_MODULE_ERROR = "Runtime.ImportModuleError"
    BUILT_IN_MODULE_CONFLICT = "Runtime.BuiltInModuleConflict"
    MALFORMED_HANDLER_NAME = "Runtime.MalformedHandlerName"
    LAMBDA_CONTEXT_UNMARSHAL_ERROR = "Runtime.LambdaContextUnmarshalError"

    def __init__(self, exception_type: str, msg: str, trace: list[str] | None = None):
        super().__init__(msg)
        self.exception_type = exception_type
        self.msg = msg
        self.trace = trace


# -- the context object ---------------------------------------------------------------------------
class _Record:
    """Attribute bag built from a dict, as the runtime's ``make_obj_from_dict`` does."""

    __slots__: tuple[str, ...] = ()

    def __init__(self, values: dict[str, Any]):
        for name in self.__slots__:
            setattr(self, name, values.get(name))

    def __repr__(self) -> str:
        fields = ",".join(f"{name}={getattr(self, name)}" for name in self.__slots__)
        return f"{type(self).__name__}([{fields}])"


class CognitoIdentity(_Record):
    __slots__ = ("cognito_identity_id", "cognito_identity_pool_id")


class Client(_Record):
    __slots__ = ("installation_id", "app_title", "app_version_name", "app_version_code", "app_package_name")


class ClientContext(_Record):
    __slots__ = ("custom", "env", "client")
    client: Any


class LambdaContext:
    """The handler's second argument, with the attributes and methods of the Python runtime's."""

    function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
    function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
    memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")  # a str, as on AWS
    log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
    log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")

    def __init__(self, request_id: str, function_arn: str, deadline_ms: int, client_context: str | None):
        self.aws_request_id = request_id
        self.invoked_function_arn = function_arn
        self.identity = CognitoIdentity({})
        self.client_context = None if client_context is None else _client_context(client_context)
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(self._deadline_ms - int(time.time() * 1000), 0)

    def log(self, msg: object) -> None:
        sys.stdout.write(str(msg))

    def __repr__(self) -> str:
        names = ("aws_request_id", "log_group_name", "log_stream_name", "function_name", "memory_limit_in_mb",
                 "function_version", "invoked_function_arn", "client_context", "identity")
        return f"LambdaContext([{','.join(f'{n}={getattr(self, n)}' for n in names)}])"


def _client_context(encoded: str) -> ClientContext:
    import base64

    try:
        values = json.loads(base64.b64decode(encoded))
    except Exception as exc:
        raise FaultException(FaultException.LAMBDA_CONTEXT_UNMARSHAL_ERROR,
                             f"Unable to parse Client Context JSON: {exc}") from None
    context = ClientContext(values if isinstance(values, dict) else {})
    if context.client is not None:
        context.client = Client(context.client)
    return context


# -- logging: every record is one log event tagged with the current request id ------------------
_request_id = ""
_clock_offset_s = 0.0  # the engine's clock minus this machine's, so log times match the engine's


def _write_event(text: str) -> None:
    """One log event, possibly of several lines, as one line on fd 1. A handler that closed fd 1
    loses its log, never the runtime."""
    try:
        _stdout.write(text.rstrip("\n").replace("\n", LOG_EVENT_LINE_BREAK) + "\n")
    except (OSError, ValueError):
        pass


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = _request_id
        if _clock_offset_s:
            record.created += _clock_offset_s
            record.msecs = (record.created - int(record.created)) * 1000
        return True


class _LambdaLogHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            _write_event(self.format(record))
        except Exception:
            self.handleError(record)


def _setup_logging() -> None:
    logging.Formatter.converter = time.gmtime
    handler = _LambdaLogHandler()
    handler.setFormatter(logging.Formatter(
        "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s", "%Y-%m-%dT%H:%M:%S"))
    handler.addFilter(_RequestIdFilter())
    root = logging.getLogger()
    level = os.environ.get("AWS_LAMBDA_LOG_LEVEL", "").upper().replace("TRACE", "DEBUG")
    if isinstance(logging.getLevelName(level), int):
        root.setLevel(level)  # otherwise the root logger stays at WARNING, as on AWS
    root.addHandler(handler)


def _text_stream(fd: int) -> Any:
    return open(fd, "w", buffering=1, encoding="utf-8", errors="backslashreplace", closefd=False)


_stdout = sys.stdout


def _flush_streams() -> None:
    """Output written before an answer must reach the parent before the answer does."""
    try:
        _stdout.flush()
        sys.stderr.flush()
        if sys.stdout is not _stdout:
            sys.stdout.flush()
    except Exception:
        pass


# -- errors, in the runtime's shapes ----------------------------------------------------------------
def _safe_str(value: object) -> str:
    try:
        return str(value)
    except Exception:
        return f"<unprintable {type(value).__name__} object>"


def make_error(message: str, error_type: str, stack_trace: list[str] | None,
               request_id: str | None = None) -> dict[str, Any]:
    return {"errorMessage": message or "", "errorType": error_type or "", "requestId": request_id or "",
            "stackTrace": stack_trace or []}


def _user_frames(tb: Any) -> list[str]:
    """The traceback without the runtime's own leading frames, formatted without column markers."""
    frames: list[traceback.FrameSummary] = list(traceback.extract_tb(tb))
    for i, frame in enumerate(frames):
        if "/bootstrap.py" not in frame.filename:
            frames = frames[i:]
            break
    return traceback.format_list([(f.filename, f.lineno or 0, f.name, f.line) for f in frames])


def _error_from(exc: BaseException, request_id: str | None) -> dict[str, Any]:
    if isinstance(exc, FaultException):
        return make_error(exc.msg, exc.exception_type, exc.trace, request_id)
    return make_error(_safe_str(exc), type(exc).__name__, _user_frames(exc.__traceback__), request_id)


def _log_error(error: dict[str, Any]) -> None:
    description = "[ERROR]"
    if error["errorType"]:
        description += " " + error["errorType"] + (":" if error["errorMessage"] else "")
    if error["errorMessage"]:
        description += " " + error["errorMessage"]
    lines = [description, "Traceback (most recent call last):"]
    for element in error["stackTrace"]:
        for line in element.splitlines() or [""]:
            stripped = line.lstrip(" ")
            lines.append(ERROR_LOG_INDENT * (len(line) - len(stripped)) + stripped)
    _write_event("\n".join(lines))


# -- Init -----------------------------------------------------------------------------------------
def get_handler(name: str) -> Any:
    """Import the handler's module (this is Init) and find the function, or raise a FaultException."""
    import importlib

    try:
        module_name, function_name = name.rsplit(".", 1)
    except ValueError as exc:
        raise FaultException(FaultException.MALFORMED_HANDLER_NAME, f"Bad handler '{name}': {exc}") from None
    try:
        if module_name.split(".")[0] in sys.builtin_module_names:
            raise FaultException(FaultException.BUILT_IN_MODULE_CONFLICT,
                                 f"Cannot use built-in module {module_name} as a handler module")
        module = importlib.import_module(module_name.replace("/", "."))
    except ImportError as exc:
        raise FaultException(FaultException.IMPORT_MODULE_ERROR,
                             f"Unable to import module '{module_name}': {exc}") from None
    except SyntaxError as exc:
        trace = [f'  File "{exc.filename}" Line {exc.lineno}\n    {exc.text}']
        raise FaultException(FaultException.USER_CODE_SYNTAX_ERROR,
                             f"Syntax error in module '{module_name}': {exc}", trace) from None
    try:
        return getattr(module, function_name)
    except AttributeError:
        raise FaultException(FaultException.HANDLER_NOT_FOUND,
                             f"Handler '{function_name}' missing on module '{module_name}'") from None


# -- marshalling ----------------------------------------------------------------------------------
def _json_default(value: Any) -> Any:
    decimal = sys.modules.get("decimal")
    if decimal is not None and isinstance(value, decimal.Decimal):  # DynamoDB numbers
        if value.is_nan():
            return float("nan")
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _runtime_version() -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in os.environ.get("AWS_EXECUTION_ENV", "").rsplit("python", 1)[1].split("."))
    except (IndexError, ValueError):
        return ()


# awslambdaric writes raw UTF-8 from python3.12 on, \u escapes before
_encoder = json.JSONEncoder(default=_json_default, ensure_ascii=_runtime_version() < (3, 12))


def marshal(response: Any) -> bytes:
    if isinstance(response, bytes):
        return response
    try:
        return _encoder.encode(response).encode()
    except Exception as exc:
        raise FaultException(FaultException.MARSHAL_ERROR, f"Unable to marshal response: {exc}") from None


# -- the invocation loop ----------------------------------------------------------------------------
class MemoryGauge:
    """Max Memory Used so far, cheaply. ``ru_maxrss`` alone would lie: Linux carries the spawning
    process's peak into it across exec, so it only counts once it passes that inherited value.
    Below it, the resident size is read again only after new page faults (none: no growth)."""

    _PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096

    def __init__(self) -> None:
        self._inherited = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * _RSS_UNIT
        self._faults = -1
        try:
            self._statm: int | None = os.open("/proc/self/statm", os.O_RDONLY)
            with open("/proc/self/status", "rb") as status:
                self.peak = int(status.read().split(b"VmHWM:")[1].split()[0]) * 1024
        except (OSError, IndexError, ValueError):
            self._statm, self.peak = None, self._inherited  # no /proc: ru_maxrss is all there is

    def used_mb(self) -> int:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        maxrss = usage.ru_maxrss * _RSS_UNIT
        if maxrss > self._inherited:  # the process's own peak: exact
            self.peak = max(self.peak, maxrss)
        elif self._statm is not None and usage.ru_minflt != self._faults:
            self._faults = usage.ru_minflt
            self.peak = max(self.peak, int(os.pread(self._statm, 128, 0).split()[1]) * self._PAGE)
        return -(-self.peak // (1024 * 1024))


_memory: MemoryGauge | None = None


def _send(fd: int, kind: str, status: str, payload: bytes, error_type: str = "") -> None:
    _flush_streams()
    used = _memory.used_mb() if _memory is not None else 0
    head = f"{kind} {status} {len(payload)} {used} {error_type}".rstrip()
    view = memoryview(head.encode() + b"\n" + payload)
    while view:
        view = view[os.write(fd, view):]


def invoke(handler: Any, request_id: str, body: bytes, function_arn: str, deadline_ms: int,
           client_context: str | None) -> tuple[str, bytes, str]:
    """Run the handler once: (status, payload, error type)."""
    try:
        context = LambdaContext(request_id, function_arn, deadline_ms, client_context)
        try:
            event = json.loads(body.decode())
        except ValueError as exc:
            raise FaultException(FaultException.UNMARSHAL_ERROR, f"Unable to unmarshal input: {exc}") from None
        return "ok", marshal(handler(event, context)), ""
    except Exception as exc:
        error = _error_from(exc, request_id)
    _log_error(error)
    return "error", _encoder.encode(error).encode(), error["errorType"]


def serve(handler: Any, requests: Any, response_fd: int, function_arn: str, points: Any = None) -> None:
    global _request_id, _clock_offset_s
    while True:
        header = requests.readline()
        if not header:
            return
        _, request_id, length, remaining_ms, offset_ms, client_context, now_ms = header.decode().split()
        body = requests.read(int(length))
        _request_id = request_id
        if points is not None:  # the handler's clock is the engine's: no offset to add
            points.clock.move_to(int(now_ms) / 1000)
            points.channel.activate()
        else:
            _clock_offset_s = int(offset_ms) / 1000
        deadline_ms = int(time.time() * 1000) + int(remaining_ms)
        status, payload, error_type = invoke(handler, request_id, body, function_arn, deadline_ms,
                                             None if client_context == "-" else client_context)
        if points is not None:
            points.channel.freeze()
        _send(response_fd, "R", status, payload, error_type)


def _load_points(requests: Any, response_fd: int, now_ms: int) -> Any:
    """``points.py`` from this runtime's folder (not the handler's path), with its channel."""
    import importlib.util

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "points.py")
    spec = importlib.util.spec_from_file_location("_lambdalab_points", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    send = lambda kind, data: _send(response_fd, kind, "ok", data)  # noqa: E731
    module.__dict__["channel"] = module.install(requests, send, now_ms / 1000)
    return module


def _limit_resources(address_space_mb: int) -> None:
    """No core files in the code directory; an address-space cap as a safety net behind the watchdog."""
    limits = [(resource.RLIMIT_CORE, 0)]
    if address_space_mb > 0:
        limits.append((resource.RLIMIT_AS, address_space_mb * 1024 * 1024))
    for which, soft in limits:
        try:
            hard = resource.getrlimit(which)[1]
            resource.setrlimit(which, (soft if hard == resource.RLIM_INFINITY else min(soft, hard), hard))
        except (ValueError, OSError):
            pass


# Linux capabilities that reach other processes' memory or the kernel's: SYS_MODULE, SYS_RAWIO,
# SYS_PTRACE, SYS_ADMIN, PERFMON, BPF. No handler needs them; run as root with them, a function
# would read the engine's environment and memory (lambdalab/isolation.py).
_OTHER_PROCESSES_CAPABILITIES = (16, 17, 19, 21, 38, 39)


def _drop_capabilities() -> None:
    """Drop those capabilities for this process and whatever it runs (the bounding set), if held."""
    try:
        with open("/proc/self/status") as status:
            held = next(int(line.split()[1], 16) for line in status if line.startswith("CapPrm:"))
    except (OSError, StopIteration, ValueError, IndexError):
        return  # not Linux
    if not any(held >> cap & 1 for cap in _OTHER_PROCESSES_CAPABILITIES):
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    pr_capbset_drop, version_3 = 24, 0x20080522
    for cap in _OTHER_PROCESSES_CAPABILITIES:
        libc.prctl(pr_capbset_drop, cap, 0, 0, 0)
    header = (ctypes.c_uint32 * 2)(version_3, 0)
    sets = (ctypes.c_uint32 * 6)()  # effective, permitted, inheritable: low 32 bits, then high
    if libc.capget(header, sets) != 0:
        return
    for cap in _OTHER_PROCESSES_CAPABILITIES:
        for which in range(3):
            sets[which + 3 * (cap // 32)] &= ~(1 << cap % 32) & 0xFFFFFFFF
    libc.capset(header, sets)


def _die_with_the_engine() -> None:
    """Ask the kernel for SIGKILL when the engine dies (Linux), however it dies, then check it has not
    died already: its pid leads the engine's mark. The cheapest way to ``prctl`` is ``_ctypes``
    itself (``ctypes`` costs 2 ms more to import, on every cold start)."""
    mark = os.environ.get("_LAMBDALAB_ENGINE", "")
    if not sys.platform.startswith("linux") or not mark:
        return
    try:
        import _ctypes

        class _Int(_ctypes._SimpleCData):
            _type_ = "i"

        class _Function(_ctypes.CFuncPtr):
            _flags_ = _ctypes.FUNCFLAG_CDECL
            _restype_ = _Int

        class _Process:
            _handle = _ctypes.dlopen(None)  # type: ignore[arg-type]  # this program and its libraries

        _Function(("prctl", _Process()))(PR_SET_PDEATHSIG, 9, 0, 0, 0)  # type: ignore[arg-type]  # SIGKILL
    except Exception:
        return
    if str(os.getppid()) != mark.split(".", 1)[0]:  # the engine died before the request took effect
        os._exit(1)


PR_SET_PDEATHSIG = 1


def main() -> None:
    global _stdout, _clock_offset_s, _memory
    _die_with_the_engine()
    _memory = MemoryGauge()
    request_fd, response_fd, handler_name, function_arn, address_space_mb, offset_ms, clock, now_ms = sys.argv[1:9]
    del sys.argv[1:]
    _clock_offset_s = int(offset_ms) / 1000 if clock != "virtual" else 0.0
    sys.path[0] = os.getcwd()  # the code directory (Lambda's /var/task), not this runtime's
    _limit_resources(int(address_space_mb))
    _drop_capabilities()
    out = int(response_fd)
    for fd in (int(request_fd), out):
        os.set_inheritable(fd, False)  # a handler's subprocesses must not hold the protocol pipes
    _stdout = sys.stdout = _text_stream(1)
    sys.stderr = _text_stream(2)
    _setup_logging()
    requests = open(int(request_fd), "rb")  # noqa: SIM115 - read for the life of the process
    points = _load_points(requests, out, int(now_ms)) if clock == "virtual" else None
    try:
        handler = get_handler(handler_name)
    except Exception as exc:
        error = _error_from(exc, None)
        logging.warning(LAMBDA_WARNING)
        _log_error(error)
        if points is not None:
            points.channel.freeze()
        _send(out, "N", "error", _encoder.encode(error).encode(), error["errorType"])
        os._exit(1)
    if points is not None:
        points.channel.freeze()
    _send(out, "N", "ok", b"")
    with requests:
        serve(handler, requests, out, function_arn, points)


if __name__ == "__main__":
    main()
